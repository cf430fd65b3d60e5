"""Error codes of the command protocol and the exceptions that carry them.

A handler raises one of these to send a precise error reply; the client raises the same
class when it receives that reply, so both ends speak one vocabulary.
"""

from __future__ import annotations


class BusError(Exception):
    """Base of every error the bus reports. `code` is the wire error code."""

    code = "internal"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_wire(self) -> dict:
        return {"code": self.code, "message": self.message, **self.details}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class UnknownCommand(BusError):
    """The service has no command of that name (`known` lists the ones it has)."""

    code = "unknown_command"


class BadRequest(BusError):
    """An argument or frame is wrong (`arg` names it when there is one, `reason` says why)."""

    code = "bad_request"

    def __init__(self, message: str, *, arg: str | None = None, reason: str | None = None, **details):
        if arg is not None:
            details["arg"] = arg
        if reason is not None:
            details["reason"] = reason
        super().__init__(message, **details)


class Forbidden(BusError):
    """The caller's role is below the one the command needs (`role` names it, `have` is the caller's)."""

    code = "forbidden"


class Busy(BusError):
    """The service is doing something that excludes this command; try again later."""

    code = "busy"


class Timeout(BusError):
    """No answer in time: from the service (client side) or from something it waited for."""

    code = "timeout"


class Unavailable(BusError):
    """The service (or the hub itself) is not running or not registered on the bus."""

    code = "unavailable"


class Aborted(BusError):
    """The operation was stopped on request (e.g. `abort` during an injection)."""

    code = "aborted"


class Fault(BusError):
    """The device stopped the operation to protect itself (limit exceeded, I/O failure) and is safe."""

    code = "fault"


class InternalError(BusError):
    """The handler failed unexpectedly; the service logged it and keeps running."""

    code = "internal"


ERRORS: dict[str, type[BusError]] = {
    cls.code: cls
    for cls in (UnknownCommand, BadRequest, Forbidden, Busy, Timeout, Unavailable, Aborted, Fault, InternalError)
}


def from_wire(error: object) -> BusError:
    """Rebuild the exception of an error reply; unknown codes keep their code string."""
    if not isinstance(error, dict):
        return InternalError(f"malformed error reply: {error!r}")
    code = error.get("code")
    message = str(error.get("message", ""))
    details = {k: v for k, v in error.items() if k not in ("code", "message")}
    cls = ERRORS.get(code) if isinstance(code, str) else None
    if cls is None:
        exc = BusError(message, **details)
        exc.code = str(code)
        return exc
    exc = cls.__new__(cls)
    BusError.__init__(exc, message, **details)
    return exc
