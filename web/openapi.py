"""The route table's types, request checking, and the OpenAPI 3 document built from the table.

`web/api.py` declares every route once, as a `Route` (method, path, handler, query fields,
body fields, responses). The same declaration registers the Flask rule, checks the request
(types, ranges, unknown fields: a 400 naming the field, never a 500) and describes the
route in `/api/openapi.json`; the two cannot drift.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

from bus.roles import HUMAN_ROLES

from .bus_access import bad_request

MAX_INT = 2**53  # beyond this JSON numbers are not exact in a browser, and msgpack stops at 64 bits


@dataclass(frozen=True)
class Field:
    """One query parameter or body field."""

    name: str
    type: str  # int | number | str | bool | object | array
    required: bool = False
    description: str = ""
    min: float | None = None
    max: float | None = None
    enum: tuple | None = None
    max_length: int | None = None
    default: object = None
    arg: str | None = None  # the bus argument it becomes, when named differently (`pass` -> `pass_index`)

    @property
    def target(self) -> str:
        return self.arg or self.name

    def schema(self) -> dict:
        kind = {
            "int": "integer",
            "number": "number",
            "str": "string",
            "bool": "boolean",
            "object": "object",
            "array": "array",
        }[self.type]
        out: dict = {"type": kind}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        if self.default is not None:
            out["default"] = self.default
        if self.description:
            out["description"] = self.description
        if self.type == "array":
            out["items"] = {}
        return out

    # ---- checking ---------------------------------------------------------------------------
    def _range(self, value):
        if self.min is not None and value < self.min:
            raise bad_request(self.name, f"must be >= {self.min:g}, got {value!r}")
        if self.max is not None and value > self.max:
            raise bad_request(self.name, f"must be <= {self.max:g}, got {value!r}")
        return value

    def check(self, value):
        """A JSON body value, checked."""
        t = self.type
        if value is None and not self.required:
            return None
        if t == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INT:
                    value = int(value)
                else:
                    raise bad_request(self.name, f"must be an integer, got {_kind(value)}")
            if abs(value) > MAX_INT:
                raise bad_request(self.name, f"integer out of range, got {value}")
            return self._range(value)
        if t == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad_request(self.name, f"must be a number, got {_kind(value)}")
            if isinstance(value, int) and abs(value) > MAX_INT:
                raise bad_request(self.name, f"number out of range, got {value}")
            if not math.isfinite(value):
                raise bad_request(self.name, "must be a finite number")
            return self._range(value)
        if t == "str":
            if not isinstance(value, str):
                raise bad_request(self.name, f"must be a string, got {_kind(value)}")
            if self.max_length is not None and len(value) > self.max_length:
                raise bad_request(self.name, f"longer than {self.max_length} characters")
            if self.enum is not None and value not in self.enum:
                raise bad_request(
                    self.name,
                    f"must be one of {', '.join(map(str, self.enum))}, got {value!r}",
                    allowed=list(self.enum),
                )
            return value
        if t == "bool":
            if not isinstance(value, bool):
                raise bad_request(self.name, f"must be true or false, got {_kind(value)}")
            return value
        if t == "object":
            if not isinstance(value, dict):
                raise bad_request(self.name, f"must be an object, got {_kind(value)}")
            _check_nested(value, self.name)
            return value
        if t == "array":
            if not isinstance(value, list):
                raise bad_request(self.name, f"must be an array, got {_kind(value)}")
            _check_nested(value, self.name)
            return value
        raise AssertionError(t)

    def parse(self, raw: str):
        """A query-string value, converted and checked."""
        t = self.type
        if t == "int":
            text = raw.strip()
            if not re.fullmatch(r"[+-]?\d{1,16}", text):
                raise bad_request(self.name, f"must be an integer, got {raw[:40]!r}")
            return self._range(int(text))
        if t == "number":
            try:
                value = float(raw)
            except ValueError:
                raise bad_request(self.name, f"must be a number, got {raw[:40]!r}") from None
            if not math.isfinite(value):
                raise bad_request(self.name, "must be a finite number")
            return self._range(value)
        if t == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise bad_request(self.name, f"must be true or false, got {raw[:40]!r}")
        return self.check(raw)


def _kind(value) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _check_nested(value, name: str, depth: int = 0) -> None:
    """Free-form values go to the bus as msgpack: bounded depth, integers within 64 bits."""
    if depth > 32:
        raise bad_request(name, "nested too deeply")
    if isinstance(value, dict):
        for v in value.values():
            _check_nested(v, name, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_nested(v, name, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise bad_request(name, f"integer out of range, got {value}")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad_request(name, "contains a lone surrogate (not valid Unicode)") from None


ROLE_UNSET = "<unset>"


@dataclass(frozen=True)
class Route:
    """One HTTP route: who may call it, how it is called, checked, answered and documented.

    `role` must be given: None (public) or the least role (bus.roles) a caller needs. `ticket`:
    a `?ticket=` from POST /api/tickets is accepted as the credential (EventSource, downloads).
    `cookie_auth`: the refresh cookie plus `X-CSRF-Token` is accepted (logout). `self_param`:
    the path parameter naming a user; callers below admin may only name themselves."""

    method: str
    path: str  # Flask syntax: /api/surveys/<survey_id>
    handler: Callable
    summary: str
    tag: str = "api"
    role: str | None = ROLE_UNSET
    query: tuple[Field, ...] = ()
    body: tuple[Field, ...] | None = None  # None: the route takes no body (one sent is ignored)
    body_required: bool = False
    response: dict = field(default_factory=lambda: {"type": "object"})
    content: str = "application/json"
    errors: tuple[int, ...] = ()
    path_params: tuple[Field, ...] = ()
    description: str = ""
    ticket: bool = False
    cookie_auth: bool = False
    self_param: str | None = None

    def __post_init__(self):
        if self.role == ROLE_UNSET:
            raise TypeError(f"route {self.method} {self.path}: declare its role (None for a public route)")
        if self.role is not None and self.role not in HUMAN_ROLES:
            raise ValueError(
                f"route {self.method} {self.path}: role {self.role!r} must be None or one of {', '.join(HUMAN_ROLES)}"
            )

    @property
    def endpoint(self) -> str:
        return f"{self.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', self.path.lower()).strip('_') or 'root'}"

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", self.path)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "bad_request, unknown_command, busy, timeout, unavailable, "
                    "aborted, fault, internal, not_found, too_large, "
                    "method_not_allowed, forbidden",
                },
                "message": {"type": "string"},
                "arg": {"type": "string", "description": "the field, argument or parameter at fault"},
                "reason": {"type": "string"},
                "errors": {
                    "type": "array",
                    "description": "sequence errors: [[line, reason], ...]",
                    "items": {"type": "array", "items": {}},
                },
                "service": {"type": "string", "description": "the service that is down or did not answer"},
            },
            "additionalProperties": True,
        }
    },
}

STATUS_TEXT = {
    400: "bad input: `arg` names the field, `reason` says why",
    401: "no credential, or an expired or revoked one (`WWW-Authenticate: Bearer`)",
    403: "`forbidden`: the caller's role (`have`) is below the one needed (`role`); or a cross-origin request",
    409: "busy or aborted: something else is running / the operation was stopped; or a name already taken",
    415: "a body must be sent as `Content-Type: application/json`",
    429: "too many failed attempts: wait `Retry-After` seconds",
    404: "not found",
    405: "method not allowed",
    413: "request body over 2 MiB (or too large for the bus)",
    502: "the device faulted or the service failed",
    503: "a service is not running (`service` names it)",
    504: "a service did not answer in time",
}

COMMON_ERRORS = (503, 504)


def document(routes: list[Route], *, title: str = "OhmPi gateway", version: str = "1") -> dict:
    paths: dict = {}
    for r in routes:
        op: dict = {"operationId": r.endpoint, "summary": r.summary, "tags": [r.tag]}
        if r.description:
            op["description"] = r.description
        params = [
            {
                "name": f.name,
                "in": "path",
                "required": True,
                "schema": f.schema(),
                **({"description": f.description} if f.description else {}),
            }
            for f in r.path_params
        ]
        params += [
            {
                "name": f.name,
                "in": "query",
                "required": f.required,
                "schema": f.schema(),
                **({"description": f.description} if f.description else {}),
            }
            for f in r.query
        ]
        if params:
            op["parameters"] = params
        if r.body is not None:
            props = {f.name: f.schema() for f in r.body}
            required = [f.name for f in r.body if f.required]
            schema = {"type": "object", "properties": props, "additionalProperties": False}
            if required:
                schema["required"] = required
            op["requestBody"] = {"required": r.body_required, "content": {"application/json": {"schema": schema}}}
        content = {r.content: {"schema": r.response}}
        responses = {"200": {"description": "success", "content": content}}
        op["x-role"] = r.role
        op["security"] = [] if r.role is None else [{"bearer": []}] + ([{"ticket": []}] if r.ticket else [])
        if r.self_param:
            op["x-role-others"] = "admin"
        codes = set(r.errors)
        if r.role is not None:
            codes |= {401, 403}
        if r.query or r.body is not None or r.path_params:
            codes.add(400)
        if r.body is not None:
            codes |= {413, 415}
        if r.path.startswith("/api/") and r.tag not in ("meta",):
            codes |= set(COMMON_ERRORS)
        for code in sorted(codes):
            responses[str(code)] = {
                "description": STATUS_TEXT.get(code, "error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        op["responses"] = responses
        paths.setdefault(r.openapi_path, {})[r.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": "JSON API of the OhmPi-style resistivity meter gateway. Every operation "
            "but the public ones needs a bearer token; `x-role` is the least role "
            "(viewer < operator < admin) it needs, null when public. Errors are "
            '`{"error": {"code", "message", ...}}`. Live events: `GET /api/events` '
            "(Server-Sent Events).",
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token (POST /api/login, 30 min) or an API token",
                },
                "ticket": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "ticket",
                    "description": "a 60 s ticket from POST /api/tickets (EventSource, downloads)",
                },
            },
        },
    }
