"""Logs, SOH samples and audit records: written in batches, read newest first.

Each row is size-capped (a message at MAX_MESSAGE_CHARS, extra fields and details at
MAX_EXTRA_BYTES), so one oversized event cannot bloat the database."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from .tx import transaction

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
MAX_MESSAGE_CHARS = 8192  # a stored log message (longer ones are cut, saying how much)
MAX_EXTRA_BYTES = 16 * 1024  # JSON of a log's extra fields or an audit record's details

LOG_SQL = "INSERT INTO logs(ts, process, level, level_no, message, extra) VALUES (?,?,?,?,?,?)"
SOH_SQL = "INSERT INTO soh(ts, process, data) VALUES (?,?,?)"
AUDIT_SQL = "INSERT INTO audit(ts, process, action, ok, user, role, details) VALUES (?,?,?,?,?,?,?)"


def as_text(value) -> str:
    """JSON of `value`, or a JSON string of its repr when it is not JSON (binary, odd keys)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def cap_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters, with a note of how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} characters cut]"


def cap_json(value, what: str, limit: int = MAX_EXTRA_BYTES) -> str | None:
    """JSON of `value`, replaced by a note naming its keys when it is over `limit` bytes."""
    if value is None:
        return None
    text = as_text(value)
    if len(text.encode("utf-8", "replace")) <= limit:
        return text
    keys = sorted(map(str, value))[:50] if isinstance(value, dict) else None
    return json.dumps({"cut": f"{what} of {len(text)} characters over the {limit}-byte cap", "keys": keys})


def epoch(value) -> float:
    """A row's time as a finite number of epoch seconds (NaN would be stored as NULL and refuse
    the whole batch it is in); ValueError or TypeError otherwise."""
    ts = float(value)
    if not math.isfinite(ts):
        raise ValueError(f"ts must be a finite number of seconds, got {value!r}")
    return ts


def log_values(r: dict) -> tuple:
    """The row of a log event {ts, process, level, message, extra}."""
    return (
        epoch(r["ts"]),
        r.get("process"),
        r.get("level"),
        LEVELS.get(r.get("level"), 20),
        None if r.get("message") is None else cap_text(str(r["message"])),
        cap_json(r.get("extra"), "extra"),
    )


def soh_values(r: dict) -> tuple:
    """The row of a SOH sample {ts, process, data}."""
    return epoch(r["ts"]), r.get("process"), cap_json(r.get("data"), "SOH sample")


def audit_values(r: dict) -> tuple:
    """The row of an audit record {ts, process, action, ok, user, role, details}."""

    def short(value):
        return None if value is None else cap_text(str(value), 200)

    return (
        epoch(r["ts"]),
        short(r.get("process")),
        short(r.get("action")) or "?",
        bool(r.get("ok")),
        short(r.get("user")),
        short(r.get("role")),
        cap_json(r.get("details") or None, "details"),
    )


def _filters(*conditions: tuple[str, object]) -> tuple[list[str], list]:
    """The WHERE terms and arguments of the (sql, value) conditions whose value is given."""
    given = [(sql, value) for sql, value in conditions if value is not None]
    return ["1", *(sql for sql, _ in given)], [value for _, value in given]


class Telemetry:
    """The Store's logs, SOH and audit tables (uses its `_db`, `_lock` and `counts`)."""

    def add_logs(self, rows: Iterable[dict]) -> int:
        """Insert log rows {ts, process, level, message, extra}; return how many.

        A message is cut at MAX_MESSAGE_CHARS and `extra` replaced by a note over
        MAX_EXTRA_BYTES, so one oversized event cannot bloat the database."""
        return self.add_events(logs=[log_values(r) for r in rows])

    def add_soh(self, rows: Iterable[dict]) -> int:
        """Insert SOH samples {ts, process, data}; return how many (data over MAX_EXTRA_BYTES: a note)."""
        return self.add_events(soh=[soh_values(r) for r in rows])

    def add_audit(self, rows: Iterable[dict]) -> int:
        """Insert audit records {ts, process, action, ok, user, role, details}; return how many."""
        return self.add_events(audit=[audit_values(r) for r in rows])

    def add_events(self, logs: list[tuple] = (), soh: list[tuple] = (), audit: list[tuple] = ()) -> int:
        """Insert rows made by `log_values`, `soh_values` and `audit_values` in ONE transaction
        (one commit, one sync of the card, whatever their number); return how many."""
        batches = [
            (table, sql, rows)
            for table, sql, rows in (("logs", LOG_SQL, logs), ("soh", SOH_SQL, soh), ("audit", AUDIT_SQL, audit))
            if rows
        ]
        if not batches:
            return 0
        with self._lock:
            with transaction(self._db, self._lock) as db:
                for _, sql, rows in batches:
                    db.executemany(sql, rows)
            for table, _, rows in batches:
                self.counts[table] += len(rows)
        return sum(len(rows) for _, _, rows in batches)

    def audit(
        self, limit: int = 200, since: float | None = None, user: str | None = None, action: str | None = None
    ) -> list[dict]:
        """Audit records, newest first, optionally since epoch `since`, of one user or one action."""
        where, args = _filters(("ts >= ?", since), ("user = ?", user), ("action = ?", action))
        with self._lock:
            rows = self._db.execute(
                "SELECT ts, process, action, ok, user, role, details FROM audit WHERE "
                f"{' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            {
                "ts": r[0],
                "process": r[1],
                "action": r[2],
                "ok": bool(r[3]),
                "user": r[4],
                "role": r[5],
                "details": json.loads(r[6]) if r[6] else {},
            }
            for r in rows
        ]

    def logs(
        self, limit: int = 200, level: str | None = None, process: str | None = None, since: float | None = None
    ) -> list[dict]:
        """The newest log rows first; `level` keeps that level and above."""
        if level is not None and level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        where, args = _filters(("level_no >= ?", LEVELS.get(level)), ("process = ?", process), ("ts >= ?", since))
        with self._lock:
            rows = self._db.execute(
                f"SELECT ts, process, level, message, extra FROM logs WHERE "
                f"{' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            {"ts": r[0], "process": r[1], "level": r[2], "message": r[3], "extra": json.loads(r[4]) if r[4] else None}
            for r in rows
        ]

    def soh(self, process: str | None = None, since: float | None = None, limit: int = 500) -> list[dict]:
        """The newest SOH samples first."""
        where, args = _filters(("process = ?", process), ("ts >= ?", since))
        with self._lock:
            rows = self._db.execute(
                f"SELECT ts, process, data FROM soh WHERE {' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [{"ts": r[0], "process": r[1], "data": json.loads(r[2])} for r in rows]
