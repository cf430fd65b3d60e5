"""The gateway's app factory: `create_app(config, bus_address=...)`.

The app reaches the instrument only through the bus (`web.bus_access`) and supervisord
(`web.supervisor`). Every error is JSON `{"error": {"code", "message", ...}}`; bad input is
a 4xx naming the field, never a 500.

Every route but the public ones needs a credential (`web.auth`); every request passes the
host, origin and content-type checks of `web.guard`.

Config keys (all optional): BUS_ADDRESS, SUPERVISOR_SOCKET (default: beside the ipc bus socket,
else `$OHMPI_VAR/supervisor.sock`), SELF_PROGRAM (our supervisord program name),
MAX_SSE_CLIENTS (16), MAX_SSE_PER_CLIENT (4), SSE_KEEPALIVE_S (15), MAX_CONTENT_LENGTH (2 MiB),
AUTH_DB (`$OHMPI_VAR/auth.db`), ALLOWED_HOSTS (None: this machine's names), BOUND_HOST (the
address served), HTTPS (served over TLS: Secure cookies), REFRESH_GRACE_S (5).

`audit(action, ok=True, **fields)` records security events (the web worker passes its bus
node's `audit`); `on_setup_done()` runs once the first admin exists (the worker removes the
setup link file).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Callable

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from bus.config import load_bus_config, var_dir

from . import api, guard
from .auth import clear_session_cookies
from .auth_store import AuthStore
from .bus_access import ApiError, BusAccess
from .events import to_json
from .hosts import AllowedHosts
from .ratelimit import FailureLimit
from .supervisor import Supervisor

MAX_BODY = 2 * 1024 * 1024
log = logging.getLogger("web")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class SafeJSON(DefaultJSONProvider):
    """JSON a browser can parse: NaN and infinities become null."""

    def dumps(self, obj, **kwargs) -> str:
        return to_json(obj)


def _supervisor_socket(address: str) -> Path:
    scheme, _, rest = address.partition("://")
    if scheme == "ipc" and rest:
        return Path(rest).parent / "supervisor.sock"
    return var_dir() / "supervisor.sock"


def create_app(
    config: dict | None = None,
    *,
    bus_address: str | None = None,
    audit: Callable[..., None] | None = None,
    on_setup_done: Callable[[], None] | None = None,
) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.json = SafeJSON(app)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_SSE_CLIENTS=16,
        MAX_SSE_PER_CLIENT=4,
        SSE_KEEPALIVE_S=15.0,
        REFRESH_GRACE_S=5.0,
        ALLOWED_HOSTS=None,
        BOUND_HOST=None,
        HTTPS=False,
    )
    app.config.update(config or {})
    cfg = load_bus_config()
    address = bus_address or app.config.get("BUS_ADDRESS") or cfg.resolved_address()
    bus = BusAccess(address, cfg, name="web")
    sup = Supervisor(
        app.config.get("SUPERVISOR_SOCKET") or _supervisor_socket(address), self_program=app.config.get("SELF_PROGRAM")
    )
    accounts = AuthStore(
        app.config.get("AUTH_DB") or var_dir() / "auth.db", refresh_grace_s=float(app.config["REFRESH_GRACE_S"])
    )
    gateway = api.Gateway(
        bus,
        sup,
        max_sse_clients=int(app.config["MAX_SSE_CLIENTS"]),
        max_sse_per_client=int(app.config["MAX_SSE_PER_CLIENT"]),
        keepalive_s=float(app.config["SSE_KEEPALIVE_S"]),
    )
    app.extensions.update(
        ohmpi=gateway,
        ohmpi_auth=accounts,
        ohmpi_audit=audit,
        ohmpi_setup_done=on_setup_done,
        ohmpi_login_limit=FailureLimit(limit=5, window_s=60.0),
    )

    def close():
        gateway.close()
        accounts.close()

    app.extensions["ohmpi_close"] = close
    gateway.events.start()  # subscribe now: the first browser gets the snapshot at once
    guard.install(app, AllowedHosts(app.config["BOUND_HOST"], app.config["ALLOWED_HOSTS"]))
    api.register(app)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        details = exc.body()
        resp = app.response_class(to_json(details) + "\n", status=exc.status, mimetype="application/json")
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="ohmpi"'
        if exc.details.get("retry_after"):
            resp.headers["Retry-After"] = str(exc.details["retry_after"])
        if getattr(exc, "clear_session", False):
            clear_session_cookies(resp)
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = HTTP_CODES.get(exc.code, "http_error")
        message = exc.description or exc.name
        details = {}
        if exc.code == 413:
            message = f"request body over {app.config['MAX_CONTENT_LENGTH']} bytes"
            details = {"arg": "body", "reason": "too large", "limit": app.config["MAX_CONTENT_LENGTH"]}
        elif exc.code == 404:
            message = f"no such route: {request.method} {request.path[:200]}"
        elif exc.code == 405:
            details = {"allowed": sorted(getattr(exc, "valid_methods", None) or [])}
            message = f"{request.method} is not allowed on {request.path[:200]}"
        elif exc.code == 400:
            details = {"arg": "request", "reason": message}
        resp = app.response_class(
            to_json({"error": {"code": code, "message": message, **details}}) + "\n",
            status=exc.code or 500,
            mimetype="application/json",
        )
        if exc.code == 405 and details.get("allowed"):
            resp.headers["Allow"] = ", ".join(details["allowed"])
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("unexpected error on %s %s: %s", request.method, request.path, traceback.format_exc())
        body = {"error": {"code": "internal", "message": f"gateway error: {type(exc).__name__}: {exc}"[:500]}}
        return app.response_class(to_json(body) + "\n", status=500, mimetype="application/json")

    return app


__all__ = ["create_app"]
