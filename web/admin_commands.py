"""The gateway's admin commands on the bus (`ohmpi users …`, `ohmpi tokens …`, `ohmpi web setup-link`).

Registered on the web process's node with `role="admin"`: the hub vouches for the caller
(on the ipc bus every local program is `service`, over tcp the key's role). Each change is
audited under the caller's name. Errors are bus `bad_request`s naming the argument.
"""

from __future__ import annotations

from bus.commands import current_caller
from bus.errors import BadRequest

from .auth_store import AuthError, AuthStore
from .setup_link import SetupLink


def _bus_error(exc: AuthError) -> BadRequest:
    details = {k: v for k, v in exc.details.items() if k not in ("arg", "reason")}
    return BadRequest(
        exc.message, arg=exc.details.get("arg", "args"), reason=exc.details.get("reason", exc.code), **details
    )


def register(node, accounts: AuthStore, setup: SetupLink | None = None) -> None:
    def checked(fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except AuthError as exc:
            raise _bus_error(exc) from None

    def users_add(name: str, role: str, password: str) -> dict:
        """Add a web user (role viewer, operator or admin; password of 8 characters or more)."""
        result = checked(accounts.add_user, name, role, password)
        node.audit("user_add", target=name, target_role=role)
        if setup is not None:
            setup.done()  # the first user exists: the setup link is no longer needed
        return result

    def users_list() -> list:
        """The web users: name, role, created, password changed, live sessions."""
        return accounts.users()

    def users_remove(name: str) -> dict:
        """Remove a web user; their login sessions end at once."""
        result = checked(accounts.remove_user, name)
        node.audit("user_remove", target=name)
        return result

    def users_passwd(name: str, password: str) -> dict:
        """Set a web user's password; their login sessions end."""
        result = checked(accounts.set_password, name, password)
        node.audit("user_passwd", target=name)
        return result

    def tokens_create(name: str, role: str, expires_days: float | None = None) -> dict:
        """Create an API token (shown once in the reply; only its hash is kept)."""
        caller = current_caller.get()
        result = checked(
            accounts.create_token, name, role, expires_days, created_by=f"bus:{caller.user}" if caller else None
        )
        node.audit("token_create", target=name, target_role=role)
        return result

    def tokens_list() -> list:
        """The API tokens: name, role, created, last used, expiry (never their values)."""
        return accounts.tokens()

    def tokens_revoke(name: str) -> dict:
        """Revoke an API token: its next request is refused."""
        result = checked(accounts.revoke_token, name)
        node.audit("token_revoke", target=name)
        return result

    def setup_link() -> dict:
        """The one-time link creating the first admin (null once the gateway has users)."""
        if setup is None:
            raise BadRequest("this gateway has no setup link", arg="setup", reason="unavailable")
        return setup.current()

    for fn in (
        users_add,
        users_list,
        users_remove,
        users_passwd,
        tokens_create,
        tokens_list,
        tokens_revoke,
        setup_link,
    ):
        node.command(fn, role="admin")
