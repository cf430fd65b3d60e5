"""Commands from MQTT: `<base>/cmd/<service>/<command>` with a JSON body `{id, args}`, answered on
`<base>/reply/<id>` (`<base>/reply/invalid` when no usable id could be read). Parsing only: who may
run what is the bus's job (the bridge calls on behalf of `mqtt` with its configured role)."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
COMMAND_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_PAYLOAD = 64 * 1024
RESERVED_ARGS = ("timeout", "retries", "on_behalf", "service", "cmd")  # the bus client's own parameters
INVALID = "invalid"


class Request(NamedTuple):
    id: str
    service: str
    command: str
    args: dict


class CommandError(Exception):
    """A request that cannot be run; `id` is None when the reply must go to `reply/invalid`."""

    def __init__(self, message: str, *, id: str | None = None, code: str = "bad_request", arg: str | None = None):
        super().__init__(message)
        self.id, self.code, self.arg = id, code, arg

    def reply(self) -> dict:
        error = {"code": self.code, "message": str(self)}
        if self.arg is not None:
            error["arg"] = self.arg
        return {"id": self.id, "ok": False, "error": error}


def parse(levels: list[str], payload: bytes) -> Request:
    """`levels`: the topic after `<base>/cmd/`; raise CommandError naming what is wrong."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"payload of {len(payload)} bytes is over the limit of {MAX_PAYLOAD}", arg="payload")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandError(f"payload is not JSON: {exc}", arg="payload") from None
    except RecursionError:
        raise CommandError("payload is nested too deeply", arg="payload") from None
    if not isinstance(body, dict):
        raise CommandError(f"payload must be a JSON object {{id, args}}, got {type(body).__name__}", arg="payload")
    req_id = body.get("id")
    if not isinstance(req_id, str) or not ID_RE.match(req_id):
        raise CommandError("id must be 1..64 letters, digits, '_' or '-' (it names the reply topic)", arg="id")
    unknown = sorted(set(body) - {"id", "args"})
    if unknown:
        raise CommandError(
            f"unknown field(s) {', '.join(unknown)}; a request is {{id, args}}", id=req_id, arg=unknown[0]
        )
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise CommandError(f"args must be a JSON object, got {type(args).__name__}", id=req_id, arg="args")
    reserved = sorted(set(args) & set(RESERVED_ARGS))
    if reserved:  # they would set how the bridge calls (its timeout, its role), not the command
        raise CommandError(f"args.{reserved[0]} cannot be given over MQTT", id=req_id, arg=f"args.{reserved[0]}")
    if len(levels) != 2:
        raise CommandError("the topic must be <prefix>/<instrument>/cmd/<service>/<command>", id=req_id, arg="topic")
    service, command = levels
    if not SERVICE_RE.match(service):
        raise CommandError(f"service {service[:64]!r} is not a service name", id=req_id, arg="service")
    if not COMMAND_RE.match(command):
        raise CommandError(f"command {command[:64]!r} is not a command name", id=req_id, arg="command")
    return Request(req_id, service, command, args)


def request_id(payload: bytes) -> str | None:
    """The request's id if one can be read (to answer a request refused for another reason), else None."""
    try:
        body = json.loads(payload.decode("utf-8")) if len(payload) <= MAX_PAYLOAD else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    req_id = body.get("id") if isinstance(body, dict) else None
    return req_id if isinstance(req_id, str) and ID_RE.match(req_id) else None


def ok_reply(req_id: str, result) -> dict:
    return {"id": req_id, "ok": True, "result": result}
