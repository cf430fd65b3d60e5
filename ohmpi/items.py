"""What may be stored: one validator per record type, shared by the producers and the store.

A producer checks a body before it enters its durable outbox; the store checks it again on
ingest (an older producer, a hand-edited outbox file). Both call the same function, so a
body one accepts the other accepts, and nothing the store would refuse can sit at the head
of a queue. A refusal is an `ItemError` naming the field (a dotted path in the body) and why.

Bodies are checked as they travel (msgpack types: dict, list, str, int, float, bool, None).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields as dataclass_fields
from datetime import datetime, timezone
from typing import get_type_hints

from ohmpi.measurement_cost import COST_FIELDS
from ohmpi.record import FIELD_INFO, FIELDS
from ohmpi.safety import MAX_CHANNELS
from ohmpi.survey import PROGRESS_FIELDS, STATES, Survey

KINDS = ("measurement", "rs_check", "survey")
MAX_ID = 200  # characters of a key, an id or an instrument name
MAX_ELECTRODE = 100_000
MAX_INT = 2**63 - 1  # what SQLite's INTEGER holds
ELECTRODES = ("a", "b", "m", "n")

_FIELD_TYPE = {info.name: info.type for info in FIELD_INFO}


class ItemError(ValueError):
    """A body the store would refuse: `field` is its dotted path in the body, `reason` why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


# ---- single values ---------------------------------------------------------------------------
def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ident(value, field: str, *, optional: bool = False):
    """A key, an id or a name: a string of 1..MAX_ID characters (or null when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        what = "a string of 1..200 characters" + (" or null" if optional else "")
        raise ItemError(field, f"must be {what}, got {_show(value)}")
    return value


def _int(value, field: str, low: int = 0, *, optional: bool = False, high: int = MAX_INT):
    if value is None and optional:
        return None
    if not _is_int(value) or not low <= value <= high:
        raise ItemError(
            field, f"must be an integer in {low}..{high}{' or null' if optional else ''}, got {_show(value)}"
        )
    return value


def iso_ts(value, field: str) -> float:
    """Epoch seconds of an ISO 8601 time string (UTC when no offset is given)."""
    if not isinstance(value, str) or not value:
        raise ItemError(field, f"must be an ISO 8601 time string, got {_show(value)}")
    try:
        dt = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    except (ValueError, OverflowError):
        raise ItemError(field, f"is not an ISO 8601 time: {_show(value)}") from None


def _json_map(value, field: str, *, optional: bool = False):
    """A map that can be stored as JSON (string keys, no binary)."""
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise ItemError(field, f"must be a map, got {type(value).__name__}")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ItemError(field, f"cannot be stored as JSON: {exc}") from None
    return value


# ---- measurement -----------------------------------------------------------------------------
def check_record(record, field: str = "record") -> dict:
    """A result record (ohmpi.record): every field of its type or null; floats as float."""
    if not isinstance(record, dict):
        raise ItemError(field, f"must be a map of result fields, got {type(record).__name__}")
    unknown = sorted(str(k) for k in record if k not in _FIELD_TYPE)
    if unknown:
        raise ItemError(field, f"has unknown field(s) {', '.join(unknown)}")
    out = {}
    for name in FIELDS:
        value, kind, where = record.get(name), _FIELD_TYPE[name], f"{field}.{name}"
        if name in ELECTRODES:
            value = _int(value, where, 0, high=MAX_ELECTRODE)
        elif name == "channel":  # the receiver channel (null: stored before there were several)
            value = _int(value, where, 1, optional=True, high=MAX_CHANNELS)
        elif kind == "list[str]":
            value = [] if value is None else value
            if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
                raise ItemError(where, f"must be a list of strings, got {_show(value)}")
        elif kind == "list[float]":
            value = _float_list(value, where)
        elif kind == "dict[str,float]":
            value = _float_map(value, where)
        elif value is not None:
            if kind == "int":
                value = _int(value, where, -MAX_INT)
            elif kind == "float":
                try:
                    value = float(value) if _is_num(value) else None
                except OverflowError:  # an integer beyond a double's range
                    value = None
                if value is None:
                    raise ItemError(where, f"must be float or null, got {_show(record.get(name))}")
            elif not isinstance(value, str):
                raise ItemError(where, f"must be str or null, got {_show(value)}")
        out[name] = value
    return out


def _finite(v) -> bool:
    return _is_num(v) and math.isfinite(v)


def _float_list(value, where: str, limit: int = 64):
    """A short list of finite numbers (as floats), or null."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limit or not all(_finite(v) for v in value):
        raise ItemError(where, f"must be a list of at most {limit} finite numbers or null, got {_show(value)}")
    return [float(v) for v in value]


def _float_map(value, where: str, limit: int = 32):
    """A small map of names (at most 64 characters) to finite numbers, or null."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > limit
        or not all(isinstance(k, str) and 1 <= len(k) <= 64 and _finite(v) for k, v in value.items())
    ):
        raise ItemError(where, f"must be a map of at most {limit} names to finite numbers or null, got {_show(value)}")
    return {k: float(v) for k, v in value.items()}


def check_waveform(waveform, field: str = "waveform") -> dict | None:
    """A map of equally long lists, each all booleans or all numbers (integers within 64 bits)."""
    if waveform is None:
        return None
    if not isinstance(waveform, dict):
        raise ItemError(field, "must be a map of lists or null")
    lengths = set()
    for name, values in waveform.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not isinstance(values, list):
            raise ItemError(where, "must be a list")
        lengths.add(len(values))
        types = set(map(type, values))
        if types <= {bool}:
            continue
        if not types <= {int, float}:
            bad = next(v for v in values if type(v) not in (int, float))
            raise ItemError(where, f"holds a non-number {_show(bad)}")
        if int in types:
            ints = [v for v in values if type(v) is int]
            if min(ints) < -MAX_INT - 1 or max(ints) > MAX_INT:
                raise ItemError(where, "holds an integer out of 64-bit range")
    if len(lengths) > 1:
        raise ItemError(field, f"lists differ in length {sorted(lengths)}")
    return waveform


def check_cost(cost, field: str = "cost") -> dict | None:
    """What a measurement cost (ohmpi.measurement_cost): each figure a finite number >= 0 (relay
    operations an integer) or null; null or absent from older producers."""
    if cost is None:
        return None
    if not isinstance(cost, dict):
        raise ItemError(field, f"must be a map of {', '.join(COST_FIELDS)} or null, got {_show(cost)}")
    unknown = sorted(str(k) for k in cost if k not in COST_FIELDS)
    if unknown:
        raise ItemError(f"{field}.{unknown[0]}", f"is not a cost figure ({', '.join(COST_FIELDS)})")
    out = {}
    for name in COST_FIELDS:
        value, where = cost.get(name), f"{field}.{name}"
        if name == "relay_operations":
            out[name] = _int(value, where, 0, optional=True)
        elif value is not None and not (_finite(value) and value >= 0):
            raise ItemError(where, f"must be a finite number >= 0 or null, got {_show(value)}")
        else:
            out[name] = None if value is None else float(value)
    return out


MEASUREMENT_FIELDS = {
    "measurement_id": lambda v, f: _ident(v, f),
    "survey_id": lambda v, f: _ident(v, f, optional=True),
    "pass_index": lambda v, f: _int(v, f, optional=True),
    "seq_index": lambda v, f: _int(v, f, optional=True),
    "instrument": lambda v, f: _ident(v, f),
    "record": check_record,
    "waveform": check_waveform,
    "cost": check_cost,
}

RS_CHECK_FIELDS = {
    "id": lambda v, f: _ident(v, f),
    "time": lambda v, f: (iso_ts(v, f), v)[1],
    "survey_id": lambda v, f: _ident(v, f, optional=True),
    "instrument": lambda v, f: _ident(v, f),
    "result": _json_map,
}


# ---- survey ----------------------------------------------------------------------------------
def _name(value, field):
    if not isinstance(value, str) or len(value) > 1000:
        raise ItemError(field, f"must be a string of at most 1000 characters, got {_show(value)}")
    return value


def _every(value, field):
    if not _is_num(value) or not (math.isfinite(value) and value >= 0):
        raise ItemError(field, f"must be a finite number >= 0, got {_show(value)}")
    return float(value)


def _state(value, field):
    if value not in STATES:
        raise ItemError(field, f"must be one of {', '.join(STATES)}, got {_show(value)}")
    return value


def _positions(value, field):
    if not isinstance(value, list):
        raise ItemError(field, f"must be a list of [x, y, z], got {type(value).__name__}")
    for i, p in enumerate(value):
        if not (isinstance(p, list) and len(p) == 3 and all(_is_num(c) and math.isfinite(c) for c in p)):
            raise ItemError(f"{field}[{i}]", f"must be [x, y, z] in metres, got {_show(p)}")
    return value


def _sequence(value, field):
    if not isinstance(value, list):
        raise ItemError(field, f"must be a list of [a, b, m, n], got {type(value).__name__}")
    for i, q in enumerate(value):
        if not (isinstance(q, list) and len(q) == 4 and all(_is_int(e) and 0 <= e <= MAX_ELECTRODE for e in q)):
            raise ItemError(f"{field}[{i}]", f"must be [a, b, m, n] electrode numbers, got {_show(q)}")
    return value


def _time(value, field):
    iso_ts(value, field)
    return value


def _optional_name(value, field):
    return None if value is None else _name(value, field)


def survey_item_fields(survey_class: type = Survey) -> dict:
    """What a survey item holds: the `Survey` as its own dataclass describes it — every field
    fixed when it starts (all but its progress), its state and last update, and its total —
    each checked by its declared type, and by its meaning where the type says too little."""
    hints = {**get_type_hints(survey_class), "total": get_type_hints(survey_class.total.fget)["return"]}
    names = (
        *(f.name for f in dataclass_fields(survey_class) if f.name not in PROGRESS_FIELDS),
        "state",
        "updated",
        "total",
    )
    by_type = {
        str: _name,
        str | None: _optional_name,
        int: _int,
        float: _every,
        dict: _json_map,
        list[list[int]]: _sequence,
        list[list[float]]: _positions,
    }
    by_meaning = {
        "survey_id": _ident,
        "created": _time,
        "updated": _time,
        "state": _state,
        "n_electrodes": lambda v, f: _int(v, f, 1, high=MAX_ELECTRODE),
        "repeat": lambda v, f: _int(v, f, 1),
    }
    return {name: by_meaning.get(name) or by_type[hints[name]] for name in names}


SURVEY_FIELDS = survey_item_fields()


def _survey_consistent(body: dict) -> None:
    """The survey against its own description: its sequence, positions and counts agree."""
    n = body["n_electrodes"]
    if body["total"] != len(body["sequence"]):
        raise ItemError(
            "total", f"must equal the length of the sequence ({len(body['sequence'])}), got {body['total']}"
        )
    for i, quad in enumerate(body["sequence"]):
        if max(quad) > n:
            raise ItemError(f"sequence[{i}]", f"names electrode {max(quad)} beyond n_electrodes = {n}")
    if len(body["positions"]) != n:
        raise ItemError("positions", f"must hold one [x, y, z] per electrode ({n}), got {len(body['positions'])}")


def survey_body(survey: Survey, updated: str) -> dict:
    """The survey item a `Survey` is described by (what `check_body("survey", ...)` accepts)."""
    return {name: getattr(survey, name) for name in SURVEY_FIELDS if name != "updated"} | {"updated": updated}


# ---- bodies and items ------------------------------------------------------------------------
SCHEMAS = {"measurement": MEASUREMENT_FIELDS, "rs_check": RS_CHECK_FIELDS, "survey": SURVEY_FIELDS}
ID_FIELD = {"measurement": "measurement_id", "rs_check": "id"}


def check_fields(kind: str, values: dict) -> dict:
    """Check some fields of a `kind` body (a producer's request, before any hardware runs)."""
    schema = SCHEMAS[kind]
    return {name: schema[name](value, name) for name, value in values.items()}


def check_body(kind: str, body, key: str | None = None) -> dict:
    """The whole body of a `kind` item, normalized; ItemError naming the field otherwise.
    An item's id (measurement_id, id) must equal its `key` when one is given."""
    if kind not in SCHEMAS:
        raise ItemError("kind", f"must be one of {', '.join(KINDS)}, got {_show(kind)}")
    if not isinstance(body, dict):
        raise ItemError("body", f"must be a map, got {type(body).__name__}")
    schema = SCHEMAS[kind]
    unknown = sorted(str(k) for k in body if k not in schema)
    if unknown:
        raise ItemError(unknown[0], f"is not a field of a {kind} (fields: {', '.join(schema)})")
    out = {name: check(body.get(name), name) for name, check in schema.items()}
    id_field = ID_FIELD.get(kind)
    if id_field and key is not None and out[id_field] != key:
        raise ItemError(id_field, f"must equal the item key {key!r}, got {_show(out[id_field])}")
    if kind == "survey":
        _survey_consistent(out)
    return out


def check_item(item) -> tuple[str, str, dict]:
    """An outbox item `{key, kind, body}`: (key, kind, normalized body) or ItemError."""
    if not isinstance(item, dict):
        raise ItemError("item", f"must be a map with key, kind and body, got {type(item).__name__}")
    key = _ident(item.get("key"), "key")
    kind = item.get("kind")
    return key, kind, check_body(kind, item.get("body"), key)


def check_entry(key: str, kind: str, body) -> None:
    """The `check` of a producer's outbox: what the store would refuse never enters it."""
    check_item({"key": key, "kind": kind, "body": body})


__all__ = [
    "KINDS",
    "ItemError",
    "check_body",
    "check_entry",
    "check_fields",
    "check_item",
    "check_record",
    "check_waveform",
    "iso_ts",
    "survey_body",
]
