"""Alarm history: every change of state of every alarm (raised, acknowledged — by whom, with
what comment — cleared), and each alarm's latest state, which the alarm worker reads back when
it starts again. The table is made on first use (`IF NOT EXISTS`): it needs no migration of
the measurement tables, and a database without it reads as "no alarm yet". Bounded: past
MAX_ROWS the oldest changes go."""

from __future__ import annotations

import json
import re

from .telemetry import cap_json, cap_text
from .tx import transaction

MAX_ROWS = 100_000
STATES = ("ok", "active", "acknowledged", "cleared")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FIELDS = ("name", "state", "previous", "severity", "value", "since", "when", "user", "comment", "actions")
SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, previous TEXT,
    severity TEXT, value TEXT, user TEXT, comment TEXT, body TEXT);
CREATE INDEX IF NOT EXISTS alarm_history_name ON alarm_history(name, id);
"""


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
            over = db.execute("SELECT COUNT(*) FROM alarm_history").fetchone()[0] - MAX_ROWS
            if over > 0:
                db.execute(
                    "DELETE FROM alarm_history WHERE id IN (SELECT id FROM alarm_history ORDER BY id LIMIT ?)", (over,)
                )
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
