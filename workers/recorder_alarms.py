"""The recorder's part of the alarms: `alarm_put` stores the changes the alarm worker's durable
outbox delivers (each key `alarm:<name>:<seq>` once, however often it arrives; a refused item is
a dead letter, acknowledged, so nothing waits behind it) in the alarm history
(ohmpi.store.alarms); `alarm_states` (the latest state of each alarm: what the alarm worker
restores when it starts again) and `alarm_history` serve it. The live `alarm.*` events are for
the page and MQTT: a script publishing them writes nothing here."""

from __future__ import annotations

import sqlite3

from bus.commands import current_caller
from bus.errors import BadRequest, InternalError
from ohmpi.store.alarms import NAME_RE, AlarmLog

MAX_LIMIT = 5000


def attach(node, store) -> AlarmLog:
    log = AlarmLog(store)

    def alarm_put(items: list) -> dict:
        """Store outbox items of alarm changes: {acked: every key handled, refused: [{key, reason}]
        of those kept aside as dead letters, epoch: this database}."""
        caller = current_caller.get()
        producer = caller.user if caller else None
        try:
            result = log.put(items, producer=producer)
        except sqlite3.Error as exc:  # disk full: nothing acknowledged, the outbox retries
            node.log("error", f"alarm changes not stored: {type(exc).__name__}: {exc}")
            raise InternalError(f"storage failed, nothing stored: {exc}") from None
        for refusal in result["refused"][:5]:
            node.log("warning", f"dead letter from {producer or 'an unknown producer'}: {refusal['reason']}")
        return {**result, "epoch": store.db_id}  # a new database: the outbox delivers again

    def alarm_states() -> list:
        """The latest state of every alarm (name, state, severity, since, value, user, comment)."""
        return log.current()

    def alarm_history(name: str | None = None, limit: int = 200, before: int | None = None) -> list:
        """Alarm state changes, newest first (one alarm's with `name`); page back with `before` = an id."""
        if name is not None and not NAME_RE.match(name):
            raise BadRequest(f"name: not an alarm name: {name[:80]!r}", arg="name", reason="not an alarm name")
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be in 1..{MAX_LIMIT}, got {limit}", arg="limit", reason="out of range")
        return log.history(name, limit, before)

    node.command(alarm_put, role="service")  # only the system's own processes deliver changes
    node.command(alarm_states, role="viewer")
    node.command(alarm_history, role="viewer")
    return log
