"""Who is calling: the credential of a request, checked against the role its route declares.

Credentials, in order: `Authorization: Bearer TOKEN` (an access token from a login, or an
API token); a `?ticket=` on the routes that accept one (EventSource and plain downloads
cannot send headers); the refresh cookie plus a matching `X-CSRF-Token` header on the routes
that accept cookies (logout). A missing or dead credential is a 401 (`WWW-Authenticate:
Bearer`); a role below the route's is a 403 `forbidden` naming the role needed, audited.
"""

from __future__ import annotations

from flask import current_app, g, request

from bus.roles import allows

from .auth_store import ACCESS_S, REFRESH_S, AuthError, AuthStore, Issued, Principal, unauthorized

REFRESH_COOKIE = "ohmpi_refresh"
CSRF_COOKIE = "ohmpi_csrf"
CSRF_HEADER = "X-CSRF-Token"


def store() -> AuthStore:
    return current_app.extensions["ohmpi_auth"]


def audit(action: str, ok: bool = True, **fields) -> None:
    """Record an audit event (the web node publishes it on `audit.web`); never fails a request."""
    fn = current_app.extensions.get("ohmpi_audit")
    if fn is None:
        return
    who = getattr(g, "principal", None)
    fields.setdefault("user", who.user if who else "anonymous")
    fields.setdefault("role", who.role if who else None)
    fields.setdefault("client", request.remote_addr)
    try:
        fn(action, ok=ok, **fields)
    except Exception:
        pass


def _bearer() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be `Bearer TOKEN`")
    return token.strip()


def credential(route) -> Principal | None:
    """The principal behind the request's credential (None if it presents none)."""
    token = _bearer()
    if token is not None:
        return store().authenticate(token)
    if route.ticket and request.args.get("ticket"):
        return store().redeem_ticket(request.args["ticket"])
    if route.cookie_auth and request.cookies.get(REFRESH_COOKIE):
        return store().session_of_refresh(request.cookies[REFRESH_COOKIE], request.headers.get(CSRF_HEADER))
    return None


def authorize(route) -> Principal | None:
    """Check the request against `route.role`; set and return `g.principal`."""
    g.principal = None
    if route.role is None:
        return None
    who = credential(route)
    if who is None:
        raise unauthorized()
    g.principal = who
    what = f"{route.method} {route.path}"
    if not allows(who.role, route.role):
        audit("forbidden", ok=False, route=what, needed=route.role)
        raise forbidden(route.role, who, what)
    if route.self_param and not allows(who.role, "admin") and not acts_on_self(who, route):
        audit("forbidden", ok=False, route=what, needed="admin", target=str(request.view_args.get(route.self_param)))
        raise forbidden("admin", who, f"{what} for another user")
    return who


def acts_on_self(who: Principal, route) -> bool:
    """Does the request name its own caller (a logged-in user) in `route.self_param`?"""
    return who.auth == "password" and (request.view_args or {}).get(route.self_param) == who.name


def forbidden(needed: str, who: Principal, what: str) -> AuthError:
    return AuthError(
        403, "forbidden", f"{what} needs the {needed} role; {who.user} has {who.role}", role=needed, have=who.role
    )


def session_body(issued: Issued) -> dict:
    who = issued.principal
    return {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_S,
        "role": who.role,
        "username": who.name,
        "csrf_token": issued.csrf_token,
    }


def set_session_cookies(resp, issued: Issued) -> None:
    secure = bool(current_app.config.get("HTTPS"))
    resp.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=REFRESH_S,
        path="/api/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )
    resp.set_cookie(
        CSRF_COOKIE, issued.csrf_token, max_age=REFRESH_S, path="/", secure=secure, httponly=False, samesite="Strict"
    )


def clear_session_cookies(resp) -> None:
    secure = bool(current_app.config.get("HTTPS"))
    resp.delete_cookie(REFRESH_COOKIE, path="/api/", secure=secure, httponly=True, samesite="Strict")
    resp.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="Strict")
