"""The gateway's way onto the bus: one command `Client` per thread, and bus errors as HTTP errors.

`bus.rpc.Client` owns a ZeroMQ socket, which must never be shared between threads; waitress
serves requests from a pool of threads, so each thread lazily gets its own client (kept for
the thread's life, closed with the app). Every call has a bounded wait: a dead service turns
into a 503 naming it, never into a hung request.
"""

from __future__ import annotations

import threading

import zmq

from bus.config import BusConfig, load_bus_config
from bus.errors import BusError
from bus.rpc import Client

# HTTP status of each bus error code (docs/protocol.md §4). Unknown codes are the service's fault.
STATUS = {
    "bad_request": 400,
    "unknown_command": 400,
    "forbidden": 403,  # the service refused the role the gateway acts with (it checks it again)
    "busy": 409,
    "aborted": 409,
    "fault": 502,
    "unavailable": 503,
    "timeout": 504,
    "internal": 502,
}


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", ...details}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


def bad_request(field: str, reason: str, message: str | None = None, **details) -> ApiError:
    """A 400 naming the culprit field (`arg`, like the bus's bad_request) and why."""
    return ApiError(400, "bad_request", message or f"{field}: {reason}", arg=field, reason=reason, **details)


def from_bus_error(exc: BusError, service: str) -> ApiError:
    """The HTTP form of a bus error raised by a call to `service`."""
    code = exc.code if isinstance(exc.code, str) else "internal"
    details = {k: v for k, v in exc.details.items() if k not in ("code", "message")}
    message = exc.message
    if code == "unavailable":
        who = details.get("service") or service
        details["service"] = who
        if exc.message.startswith("no hub answering"):
            message = f"{who} is unreachable: the bus hub is not running ({exc.message})"
        else:
            message = f"{who} is not running ({exc.message})"
    elif code == "timeout":
        details.setdefault("service", service)
        message = f"{service} did not answer in time ({exc.message})"
    return ApiError(STATUS.get(code, 502), code, message, **details)


class BusAccess:
    """Thread-local command clients on one bus address."""

    def __init__(
        self,
        address: str | None = None,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        name: str = "web",
    ):
        self.cfg = cfg or load_bus_config()
        self.address = address or self.cfg.resolved_address()
        self.ctx = ctx or zmq.Context.instance()
        self.name = name
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Client] = []
        self._closed = False

    def client(self) -> Client:
        c = getattr(self._local, "client", None)
        if c is None:
            if self._closed:
                raise ApiError(503, "unavailable", "the gateway is shutting down", service="web")
            c = Client(self.address, cfg=self.cfg, ctx=self.ctx, name=self.name)
            self._local.client = c
            with self._lock:
                self._clients.append(c)
        return c

    def call(
        self,
        service: str,
        cmd: str,
        *,
        timeout: float = 3.0,
        retries: int = 1,
        deadline: float | None = None,
        on_behalf: tuple[str, str] | None = None,
        **args,
    ):
        """Run a command (for the user `on_behalf=(user, role)` when acting for one: the service
        checks that role again and names the user in its audit); raise ApiError on any failure.
        A long command is waited for while its service says it is running, up to `deadline`."""
        try:
            return self.client().call(
                service, cmd, timeout=timeout, retries=retries, deadline=deadline, on_behalf=on_behalf, **args
            )
        except BusError as exc:
            raise from_bus_error(exc, service) from None
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # The request could not be packed: too big for the bus, an integer beyond 64 bits,
            # nesting too deep, a lone surrogate in a string...
            text = str(exc)
            if "over the limit" in text:
                raise ApiError(
                    413, "too_large", f"request too large for the bus: {text}", arg="body", reason="too large"
                ) from None
            raise bad_request("body", f"cannot be sent to {service}: {type(exc).__name__}: {text}") from None

    def call_paged(
        self,
        service: str,
        cmd: str,
        *,
        timeout: float = 3.0,
        retries: int = 1,
        on_behalf: tuple[str, str] | None = None,
        **args,
    ) -> list:
        """All items of a paged command (`{items, next_offset}`); ApiError on any failure."""
        try:
            return self.client().call_paged(service, cmd, timeout=timeout, retries=retries, on_behalf=on_behalf, **args)
        except BusError as exc:
            raise from_bus_error(exc, service) from None

    def call_chunked(
        self, service: str, cmd: str, *, on_behalf: tuple[str, str] | None = None, **args
    ) -> tuple[str, dict]:
        """The whole text of a chunked command, checked (`Client.call_chunked`); ApiError on any failure."""
        try:
            return self.client().call_chunked(service, cmd, on_behalf=on_behalf, **args)
        except BusError as exc:
            raise from_bus_error(exc, service) from None

    def close(self) -> None:
        """Close every client (at shutdown only: other threads must be done with theirs)."""
        with self._lock:
            self._closed = True
            clients, self._clients = self._clients, []
        for c in clients:
            try:
                c.close()
            except Exception:
                pass
