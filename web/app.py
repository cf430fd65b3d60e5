"""The gateway's app factory: `create_app(config, bus_address=...)`.

The app reaches the instrument only through the bus (`web.bus_access`) and supervisord
(`web.supervisor`). Every error is JSON `{"error": {"code", "message", ...}}`; bad input is
a 4xx naming the field, never a 500.

Config keys (all optional): BUS_ADDRESS, SUPERVISOR_SOCKET (default: beside the ipc bus socket,
else `$OHMPI_VAR/supervisor.sock`), SELF_PROGRAM (our supervisord program name),
MAX_SSE_CLIENTS (5), SSE_KEEPALIVE_S (15), MAX_CONTENT_LENGTH (2 MiB).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from bus.config import load_bus_config, var_dir

from . import api
from .bus_access import ApiError, BusAccess
from .events import to_json
from .supervisor import Supervisor

MAX_BODY = 2 * 1024 * 1024
log = logging.getLogger("web")

HTTP_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              413: "too_large", 415: "unsupported_media_type"}


class SafeJSON(DefaultJSONProvider):
    """JSON a browser can parse: NaN and infinities become null."""

    def dumps(self, obj, **kwargs) -> str:
        return to_json(obj)


def _supervisor_socket(address: str) -> Path:
    scheme, _, rest = address.partition("://")
    if scheme == "ipc" and rest:
        return Path(rest).parent / "supervisor.sock"
    return var_dir() / "supervisor.sock"


def create_app(config: dict | None = None, *, bus_address: str | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.json = SafeJSON(app)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, MAX_SSE_CLIENTS=5, SSE_KEEPALIVE_S=15.0)
    app.config.update(config or {})
    cfg = load_bus_config()
    address = bus_address or app.config.get("BUS_ADDRESS") or cfg.resolved_address()
    bus = BusAccess(address, cfg, name="web")
    sup = Supervisor(app.config.get("SUPERVISOR_SOCKET") or _supervisor_socket(address),
                     self_program=app.config.get("SELF_PROGRAM"))
    gateway = api.Gateway(bus, sup, max_sse_clients=int(app.config["MAX_SSE_CLIENTS"]),
                          keepalive_s=float(app.config["SSE_KEEPALIVE_S"]))
    app.extensions["ohmpi"] = gateway
    app.extensions["ohmpi_close"] = gateway.close
    gateway.events.start()  # subscribe now: the first browser gets the snapshot at once
    api.register(app)

    @app.before_request
    def same_origin_only():
        # No login yet: at least refuse state changes from other sites' pages (CSRF via a form
        # or fetch in the operator's browser). Browsers send Origin on cross-origin writes.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site")
        if site == "cross-site" or (origin and origin != "null" and urlsplit(origin).netloc != request.host) \
                or origin == "null":
            raise ApiError(403, "forbidden", "cross-origin request refused: use the page served by this gateway",
                           origin=origin)
        return None

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/api/") and "Cache-Control" not in resp.headers:
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return app.response_class(to_json(exc.body()) + "\n", status=exc.status, mimetype="application/json")

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
        resp = app.response_class(to_json({"error": {"code": code, "message": message, **details}}) + "\n",
                                  status=exc.code or 500, mimetype="application/json")
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
