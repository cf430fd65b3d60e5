"""The account routes' handlers: login, refresh, logout, first-admin setup, tickets, users, tokens.

Handlers take the checked arguments (like every route of `web.api`); the caller is
`g.principal` (set by `web.auth.authorize` from the route's declared role).
"""

from __future__ import annotations

from flask import current_app, g, request

from bus.roles import allows

from . import auth
from .auth import CSRF_HEADER, REFRESH_COOKIE, audit, store
from .auth_store import TICKET_S, AuthError, unauthorized
from .bus_access import ApiError


def _json(body, status: int = 200):
    return current_app.response_class(current_app.json.dumps(body) + "\n", status=status, mimetype="application/json")


def _limiter():
    return current_app.extensions["ohmpi_login_limit"]


def _limited(keys: tuple[str, ...], action: str, user: str) -> None:
    wait = _limiter().retry_after(*keys)
    if wait:
        audit(action, ok=False, user=user, reason="rate limited")
        raise ApiError(429, "too_many_requests", f"too many failed attempts: try again in {wait} s", retry_after=wait)


def _session_response(issued):
    g.principal = issued.principal
    resp = _json(auth.session_body(issued))
    auth.set_session_cookies(resp, issued)
    return resp


def _shown(name: object) -> str:
    """A user name from the request, safe to put in the audit (it may be anything)."""
    return name[:64] if isinstance(name, str) and name else "?"


# ---- sessions ---------------------------------------------------------------------------------
def login(args):
    name = args["username"]
    keys = (f"user:{name[:64]}", f"addr:{request.remote_addr}")
    _limited(keys, "login", _shown(name))
    role = store().check_password(name, args["password"])
    if role is None:
        _limiter().failed(*keys)
        audit("login", ok=False, user=_shown(name), reason="wrong username or password")
        raise unauthorized("wrong username or password")
    _limiter().succeeded(*keys)
    issued = store().login(name, role)
    g.principal = issued.principal
    audit("login")
    return _session_response(issued)


def refresh(args):
    try:
        issued = store().refresh(request.cookies.get(REFRESH_COOKIE), request.headers.get(CSRF_HEADER))
    except AuthError as exc:
        if exc.details.get("reason") == "reused":
            audit("refresh_reused", ok=False, user=exc.details.pop("user", "?"), reason="session revoked")
        exc.details.pop("user", None)
        # a concurrent refresh may just have set new cookies: only clear them when the session is over
        exc.clear_session = exc.status == 401 and exc.details.get("reason") != "rotated"
        raise
    return _session_response(issued)


def logout(args):
    who = g.principal
    revoked = store().revoke_session(who.session) if who.auth == "password" else False
    audit("logout", revoked=revoked)
    resp = _json({"ok": True, "revoked": revoked})
    auth.clear_session_cookies(resp)
    return resp


def me(args):
    who = g.principal
    return {"username": who.name, "role": who.role, "auth": who.auth, "expires_in": who.expires_in()}


def tickets(args):
    return {"ticket": store().ticket(g.principal), "expires_in": TICKET_S}


def setup(args):
    keys = (f"addr:{request.remote_addr}",)
    _limited(keys, "setup", _shown(args["username"]))
    try:
        issued = store().use_setup_token(args["token"], args["username"], args["password"])
    except AuthError as exc:
        if exc.status == 401:
            _limiter().failed(*keys)
            audit("setup", ok=False, user=_shown(args["username"]), reason=exc.message)
        raise
    done = current_app.extensions.get("ohmpi_setup_done")
    if done is not None:
        done()
    g.principal = issued.principal
    audit("setup", created="admin")
    return _session_response(issued)


# ---- users and tokens (admin, but a user may change their own password) -----------------------
def users(args):
    return store().users()


def add_user(args):
    result = store().add_user(args["username"], args["role"], args["password"])
    audit("user_add", target=args["username"], target_role=args["role"])
    return result


def remove_user(args):
    result = store().remove_user(args["name"])
    audit("user_remove", target=args["name"])
    return result


def set_password(args):
    who, name = g.principal, args["name"]
    keep = who.session if who.auth == "password" and who.name == name else None
    if not allows(who.role, "admin"):  # `authorize` let a non-admin through for themselves only
        keys = (f"user:{name}", f"addr:{request.remote_addr}")
        _limited(keys, "user_passwd", who.user)
        if store().check_password(name, args.get("current_password") or "") is None:
            _limiter().failed(*keys)
            audit("user_passwd", ok=False, target=name, reason="wrong current password")
            raise ApiError(
                400, "bad_request", "current_password: wrong password", arg="current_password", reason="wrong password"
            )
    result = store().set_password(name, args["password"], keep_session=keep)
    audit("user_passwd", target=name)
    return result


def tokens(args):
    return store().tokens()


def create_token(args):
    result = store().create_token(args["name"], args["role"], args.get("expires_days"), created_by=g.principal.user)
    audit("token_create", target=args["name"], target_role=args["role"])
    return result


def revoke_token(args):
    result = store().revoke_token(args["name"])
    audit("token_revoke", target=args["name"])
    return result
