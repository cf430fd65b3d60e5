"""Checks every request passes before any route sees it, and headers every response carries.

- `Host` must name this machine (`web.hosts`): a DNS-rebinding page gets a 400.
- `Origin`, when sent, must be this very origin on an allowed host; `Sec-Fetch-Site:
  cross-site` is refused too (another site's page never drives the instrument).
- A write with a body must say `Content-Type: application/json` (415): an HTML form cannot
  send that, and the body is never guessed at.
- Responses: no framing, a Content-Security-Policy without inline script, no sniffing, no
  referrer (a setup link's token must not leak), and API answers are never cached.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request

from .bus_access import ApiError
from .hosts import AllowedHosts, host_name

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def install(app: Flask, hosts: AllowedHosts) -> None:
    @app.before_request
    def check_request():
        host = host_name(request.headers.get("Host", ""))
        if not hosts.allows(host):
            raise ApiError(
                400,
                "bad_request",
                f"Host {request.headers.get('Host', '')[:100]!r} is not a name of "
                "this instrument (add it to [web] allowed_hosts if it is)",
                arg="Host",
                reason="host not allowed",
            )
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin, hosts):
            raise ApiError(
                403,
                "forbidden",
                "cross-origin request refused: use the page served by this gateway",
                origin=origin[:200],
                reason="cross-origin",
            )
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise ApiError(
                403, "forbidden", "cross-site request refused: use the page served by this gateway", reason="cross-site"
            )
        if request.method in WRITES and _has_body() and request.mimetype != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
                arg="Content-Type",
                reason=f"got {request.headers.get('Content-Type', 'none')[:100]!r}",
            )
        return None

    @app.after_request
    def add_headers(resp):
        for name, value in HEADERS.items():
            resp.headers.setdefault(name, value)
        if request.path.startswith("/api/") and "Cache-Control" not in resp.headers:
            resp.headers["Cache-Control"] = "no-store"
        return resp


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _same_origin(origin: str, hosts: AllowedHosts) -> bool:
    if origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return hosts.allows(host_name(parts.netloc)) and parts.netloc.lower() == request.headers.get("Host", "").lower()
