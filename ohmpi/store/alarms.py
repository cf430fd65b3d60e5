"""Alarm history: every change of state of every alarm (raised, acknowledged — by whom, with
what comment — cleared), and each alarm's latest state, which the alarm worker reads back when
it starts again. The table is made on first use (`IF NOT EXISTS`): it needs no migration of
the measurement tables, and a database without it reads as "no alarm yet". Bounded: past
MAX_ROWS the oldest changes go.

Changes arrive through the alarm worker's durable outbox (`put`): each carries a key
`alarm:<name>:<seq>` and is stored once however often it is delivered. `check_item` is the one
validator of such an item, used by the producer before its outbox takes it and here on arrival;
an item it refuses is kept in `dead_letters` (named field, reason) and acknowledged, so nothing
waits behind it."""

from __future__ import annotations

import json
import math
import re

from ohmpi.items import ItemError

from .ingest import utc_now
from .telemetry import as_text, cap_json, cap_text
from .tx import transaction

MAX_ROWS = 100_000
STATES = ("ok", "active", "acknowledged", "cleared")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FIELDS = ("name", "state", "previous", "severity", "value", "since", "when", "user", "comment", "actions")
KIND = "alarm"
KEY_RE = re.compile(r"^alarm:([a-z0-9][a-z0-9_-]{0,63}):[0-9]{1,24}$")
SEVERITIES = ("critical", "warning", "info")
MAX_COMMENT = 500  # what `ack` accepts
MAX_TEXT = 500  # `when`, a text value
MAX_ACTIONS = 10
SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, previous TEXT,
    severity TEXT, value TEXT, user TEXT, comment TEXT, body TEXT);
CREATE INDEX IF NOT EXISTS alarm_history_name ON alarm_history(name, id);
"""
# the outbox key of a change (null in rows stored before changes came through an outbox)
KEY_SCHEMA = "CREATE UNIQUE INDEX IF NOT EXISTS alarm_history_key ON alarm_history(key) WHERE key IS NOT NULL"


def _text(body: dict, field: str, limit: int, *, optional: bool = True, choices: tuple = ()) -> None:
    value = body.get(field)
    if value is None and optional:
        return
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise ItemError(f"body.{field}", f"must be a text of 1..{limit} characters, got {_show(value)}")
    if choices and value not in choices:
        raise ItemError(f"body.{field}", f"must be one of {', '.join(choices)}, got {_show(value)}")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_item(key, kind, body) -> dict:
    """An alarm change as it travels from the alarm worker's outbox; ItemError naming the field
    (`key`, `kind`, `body.<field>`) of anything else: unknown fields, wrong types, long texts."""
    if not isinstance(key, str) or not (match := KEY_RE.match(key)):
        raise ItemError("key", f"must be alarm:<name>:<seq>, got {_show(key)}")
    if kind != KIND:
        raise ItemError("kind", f"must be {KIND!r}, got {_show(kind)}")
    if not isinstance(body, dict):
        raise ItemError("body", f"must be a map, got {type(body).__name__}")
    unknown = sorted(str(k)[:40] for k in body if k not in FIELDS and k != "mqtt")
    if unknown:
        raise ItemError(f"body.{unknown[0]}", "is not a field of an alarm change")
    _text(body, "name", 64, optional=False)
    if body["name"] != match.group(1):
        raise ItemError("body.name", f"must be the name in the key ({match.group(1)}), got {_show(body['name'])}")
    _text(body, "state", 20, optional=False, choices=STATES)
    _text(body, "previous", 20, choices=STATES)
    _text(body, "severity", 20, choices=SEVERITIES)
    _text(body, "when", MAX_TEXT)
    _text(body, "user", 200)
    _text(body, "comment", MAX_COMMENT)
    since = body.get("since")
    if isinstance(since, bool) or not isinstance(since, (int, float)) or not math.isfinite(since) or since < 0:
        raise ItemError("body.since", f"must be a time in epoch seconds, got {_show(since)}")
    value = body.get("value")
    if isinstance(value, str) and len(value) > MAX_TEXT or not isinstance(value, (type(None), bool, int, float, str)):
        raise ItemError("body.value", f"must be a number or a text of 1..{MAX_TEXT} characters, got {_show(value)}")
    actions = body.get("actions", [])
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise ItemError("body.actions", f"must be a list of at most {MAX_ACTIONS} names, got {_show(actions)}")
    for i, action in enumerate(actions):
        if not isinstance(action, str) or not 1 <= len(action) <= 40:
            raise ItemError(f"body.actions[{i}]", f"must be a name of 1..40 characters, got {_show(action)}")
    if not isinstance(body.get("mqtt", False), bool):
        raise ItemError("body.mqtt", f"must be true or false, got {_show(body['mqtt'])}")
    return body


def _short(value, limit: int = 500):
    return None if value is None else cap_text(str(value), limit)


def row_values(row: dict) -> tuple:
    """The stored row of an alarm event {ts, name, state, …}; ValueError naming a bad field."""
    if not isinstance(row, dict):
        raise ValueError(f"not a map: {type(row).__name__}")
    name, state = row.get("name"), row.get("state")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"name: not an alarm name: {name!r}")
    if state not in STATES:
        raise ValueError(f"state: must be one of {', '.join(STATES)}, got {state!r}")
    ts = row.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts != ts:
        raise ValueError(f"ts: not a time: {ts!r}")
    body = {k: row.get(k) for k in FIELDS if row.get(k) is not None}
    return (
        float(ts),
        name,
        state,
        _short(row.get("previous"), 20),
        _short(row.get("severity"), 20),
        cap_json(row.get("value"), "value", 1024),
        _short(row.get("user"), 200),
        _short(row.get("comment"), 1000),
        cap_json(body, "alarm event"),
    )


class AlarmLog:
    """The `alarm_history` table of a Store (its connection and lock)."""

    def __init__(self, store):
        self._db, self._lock = store._db, store._lock
        with transaction(self._db, self._lock) as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            if "key" not in {row[1] for row in db.execute("PRAGMA table_info(alarm_history)")}:
                db.execute("ALTER TABLE alarm_history ADD COLUMN key TEXT")  # a table of an older version
            db.execute(KEY_SCHEMA)

    def put(self, items, producer: str | None = None) -> dict:
        """Store outbox items of alarm changes in one transaction, each key once:
        `{"acked": keys, "refused": [{key, reason}]}` like the recorder's `ingest`. A refused item
        goes to `dead_letters` and is acknowledged too (an item without a usable key: `refused` only)."""
        received = utc_now()
        rows, dead, keys, refused = [], [], [], []
        for index, item in enumerate(items if isinstance(items, list) else []):
            raw = item if isinstance(item, dict) else {"body": item}
            key = raw.get("key") if isinstance(raw.get("key"), str) and len(raw["key"]) <= 200 else None
            try:
                body = check_item(raw.get("key"), raw.get("kind"), raw.get("body"))
                rows.append((key, row_values({**body, "ts": body["since"]})))
            except (ValueError, TypeError) as exc:
                reason = f"item {key!r}: {exc}" if key is not None else f"item {index}: {exc}"
                kind = raw.get("kind") if isinstance(raw.get("kind"), str) else None
                dead.append((key, kind and kind[:40], reason[:1000], as_text(raw.get("body")), received, producer))
                refused.append({"key": key, "reason": reason[:1000]})
            if key is not None:
                keys.append(key)
        if not rows and not dead:
            return {"acked": [], "refused": []}
        with transaction(self._db, self._lock) as db:
            # OR IGNORE: a change delivered again (its acknowledgement was lost) is stored once
            db.executemany(
                "INSERT OR IGNORE INTO alarm_history(key, ts, name, state, previous, severity, value, user, "
                "comment, body) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(key, *values) for key, values in rows],
            )
            db.executemany(
                "INSERT OR IGNORE INTO dead_letters(key, kind, reason, body, received, producer) VALUES (?,?,?,?,?,?)",
                dead,
            )
            self._bound(db)
        return {"acked": keys, "refused": refused}

    @staticmethod
    def _bound(db) -> None:
        over = db.execute("SELECT COUNT(*) FROM alarm_history").fetchone()[0] - MAX_ROWS
        if over > 0:
            db.execute(
                "DELETE FROM alarm_history WHERE id IN (SELECT id FROM alarm_history ORDER BY id LIMIT ?)", (over,)
            )

    def add(self, rows: list[dict]) -> int:
        """Store alarm events; one that is malformed is skipped (returned count is of those stored)."""
        values = []
        for row in rows:
            try:
                values.append(row_values(row))
            except (ValueError, TypeError):
                continue
        if not values:
            return 0
        with transaction(self._db, self._lock) as db:
            db.executemany(
                "INSERT INTO alarm_history(ts, name, state, previous, severity, value, user, comment, "
                "body) VALUES (?,?,?,?,?,?,?,?,?)",
                values,
            )
            self._bound(db)
        return len(values)

    @staticmethod
    def _row(r) -> dict:
        body = json.loads(r[9]) if r[9] else {}
        return {
            **body,
            "id": r[0],
            "ts": r[1],
            "name": r[2],
            "state": r[3],
            "previous": r[4],
            "severity": r[5],
            "value": json.loads(r[6]) if r[6] else None,
            "user": r[7],
            "comment": r[8],
        }

    def current(self) -> list[dict]:
        """The latest event of every alarm name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT h.id, h.ts, h.name, h.state, h.previous, h.severity, h.value, h.user, "
                "h.comment, h.body FROM alarm_history h JOIN (SELECT name, MAX(id) AS id "
                "FROM alarm_history GROUP BY name) last ON h.id = last.id "
                "ORDER BY h.name"
            ).fetchall()
        return [self._row(r) for r in rows]

    def history(self, name: str | None = None, limit: int = 200, before: int | None = None) -> list[dict]:
        """Alarm events newest first; `name` keeps one alarm's, `before` (an id) pages back."""
        where, args = ["1"], []
        if name is not None:
            where.append("name = ?")
            args.append(name)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, ts, name, state, previous, severity, value, user, comment, body "
                f"FROM alarm_history WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [self._row(r) for r in rows]
