"""Command registry: explicit names, arguments checked against the handler's signature.

A service registers each handler under a name it chooses; nothing is ever dispatched to an
arbitrary attribute (OhmPi's remote `getattr` is the mistake we avoid). Argument names,
types and defaults come from the handler's signature, so `help` and validation can never
drift from the code.
"""

from __future__ import annotations

import inspect
import threading
import types
import typing
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import BadRequest, Forbidden, UnknownCommand
from .roles import Caller, allows, check_role

# Who is calling the command being run (set by the Node around each handler, thread by thread).
current_caller: ContextVar[Caller | None] = ContextVar("current_caller", default=None)
# Set (by the Node, in a lane's thread) while a background command runs: `Node.cancel_running`
# sets it, even before the handler has started, so a handler checking it can never miss an abort.
current_cancel: ContextVar[threading.Event | None] = ContextVar("current_cancel", default=None)


@dataclass(frozen=True)
class Later:
    """A deferred reply: a background handler returns `Later(finish)` when the rest of its work
    (a durable commit, say) need not hold its lane. The lane takes its next call at once;
    `finish()` runs on the node's one finisher thread, in the order the handlers returned, and
    its return value (or the BusError it raises) is the reply."""

    finish: Callable[[], object]


_TYPE_NAMES = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    list: "list",
    dict: "dict",
    Any: "any",
    object: "any",
}
_MISSING = inspect.Parameter.empty


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " | ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return f"list[{_type_name(inner)}]"
    if origin is dict:
        return "dict"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _conforms(value, tp) -> bool:
    if tp in (Any, object, _MISSING):
        return True
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return any(_conforms(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_conforms(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


@dataclass
class Param:
    name: str
    type: Any
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> dict:
        out = {"name": self.name, "type": _type_name(self.type), "required": self.required}
        if not self.required:
            out["default"] = self.default
        return out


@dataclass
class Command:
    """One registered command: its name, handler, parameters and execution lane."""

    name: str
    handler: Callable
    params: list[Param]
    role: str  # the least role a caller needs (bus.roles)
    doc: str = ""
    background: bool = False  # run in a thread so the service keeps answering meanwhile
    lane: str | None = None  # background commands sharing a lane exclude each other (busy)
    queue: int = 0  # calls that may wait (FIFO) for the busy lane instead of being refused `busy`
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_function(cls, name: str, fn: Callable, *, role: str, **options) -> "Command":
        hints = typing.get_type_hints(fn)
        params = []
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"command {name!r}: *args/**kwargs are not allowed; name every argument")
            params.append(Param(p.name, hints.get(p.name, Any), p.default))
        doc = inspect.getdoc(fn) or ""
        return cls(name, fn, params, check_role(role), doc.split("\n\n")[0].replace("\n", " "), **options)

    def authorize(self, caller: Caller) -> None:
        """Raise Forbidden unless `caller` has the role this command needs."""
        if not allows(caller.role, self.role):
            raise Forbidden(
                f"{self.name} needs the {self.role} role; {caller.user} has {caller.role}",
                role=self.role,
                have=caller.role,
            )

    def bind(self, args: object) -> dict:
        """Check request arguments against the signature; raise BadRequest naming the culprit."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise BadRequest(
                f"{self.name}: 'args' must be a map of argument names to values, got {type(args).__name__}",
                arg="args",
                reason="not a map",
            )
        known = {p.name: p for p in self.params}
        for key in args:
            if key not in known:
                raise BadRequest(
                    f"{self.name}: unknown argument {key!r}; known: {', '.join(known) or 'none'}",
                    arg=str(key),
                    reason="unknown argument",
                    known=list(known),
                )
        for p in self.params:
            if p.name not in args:
                if p.required:
                    raise BadRequest(
                        f"{self.name}: missing required argument {p.name!r} ({_type_name(p.type)})",
                        arg=p.name,
                        reason="missing",
                    )
                continue
            value = args[p.name]
            if not _conforms(value, p.type):
                raise BadRequest(
                    f"{self.name}: argument {p.name!r} must be {_type_name(p.type)}, got {_describe(value)}",
                    arg=p.name,
                    reason=f"must be {_type_name(p.type)}",
                )
            if p.type is float and isinstance(value, int):
                args = {**args, p.name: float(value)}
        return args

    def describe(self) -> dict:
        return {
            "name": self.name,
            "doc": self.doc,
            "role": self.role,
            "args": [p.describe() for p in self.params],
            "background": self.background,
            "queue": self.queue,
        }


class Registry:
    """The commands one service answers, by explicit name."""

    def __init__(self):
        self.commands: dict[str, Command] = {}

    def add(self, name: str, fn: Callable, *, role: str, **options) -> Command:
        """Register `fn` as command `name`; `role` is the least role allowed to call it.
        Services call `Node.command`, which lands here."""
        if not name.replace("_", "").isalnum() or not name.islower() or not name[0].isalpha():
            raise ValueError(f"command name {name!r} must be lowercase letters, digits and '_'")
        if name in self.commands:
            raise ValueError(f"command {name!r} is already registered")
        cmd = self.commands[name] = Command.from_function(name, fn, role=role, **options)
        return cmd

    def lookup(self, name: object) -> Command:
        if not isinstance(name, str) or name not in self.commands:
            known = sorted(self.commands)
            raise UnknownCommand(f"unknown command {name!r}; known: {', '.join(known)}", known=known)
        return self.commands[name]

    def help(self) -> list[dict]:
        return [self.commands[n].describe() for n in sorted(self.commands)]


def parse_request(body: object) -> tuple[str, object, object]:
    """Check a request body `{id, cmd, args}`; return its parts or raise BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"request body must be a map {{id, cmd, args}}, got {type(body).__name__}", arg="body", reason="not a map"
        )
    req_id = body.get("id")
    if not isinstance(req_id, str) or not req_id:
        raise BadRequest("request field 'id' must be a non-empty string", arg="id", reason="missing or not a string")
    cmd = body.get("cmd")
    if not isinstance(cmd, str):
        raise BadRequest("request field 'cmd' must be a string", arg="cmd", reason="missing or not a string")
    return req_id, cmd, body.get("args", {})


def ok_reply(req_id: str | None, result: object) -> dict:
    return {"id": req_id, "ok": True, "result": result}


def error_reply(req_id: str | None, error) -> dict:
    return {"id": req_id, "ok": False, "error": error.to_wire()}
