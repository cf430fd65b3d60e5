"""The recorder's part of the alarms: every `alarm.<name>.<state>` event goes to the alarm
history (ohmpi.store.alarms); `alarm_states` (the latest state of each alarm: what the alarm
worker restores when it starts again) and `alarm_history` serve it. Events are batched like
logs: a flood of them costs one transaction a second, bounded in memory."""

from __future__ import annotations

from collections import deque

from bus.errors import BadRequest
from ohmpi.store.alarms import NAME_RE, AlarmLog

MAX_PENDING = 10_000
MAX_LIMIT = 5000
SOURCE = "alarms"  # the process whose alarm events are kept


def attach(node, store, flush_s: float = 1.0) -> AlarmLog:
    log = AlarmLog(store)
    pending: deque = deque(maxlen=MAX_PENDING)

    def on_event(msg) -> None:
        if msg.src != SOURCE:  # a script publishing alarm.* by mistake does not write the history
            return
        body = msg.body if isinstance(msg.body, dict) else {}
        pending.append({**body, "ts": body.get("since") if isinstance(body.get("since"), (int, float)) else msg.ts})

    def flush() -> None:
        rows = []
        while pending:
            rows.append(pending.popleft())
        if rows:
            try:
                log.add(rows)
            except Exception as exc:  # a full disk: the batch is lost, said once per batch
                node.log("error", f"{len(rows)} alarm events not stored: {type(exc).__name__}: {exc}")

    def alarm_states() -> list:
        """The latest state of every alarm (name, state, severity, since, value, user, comment)."""
        flush()
        return log.current()

    def alarm_history(name: str | None = None, limit: int = 200, before: int | None = None) -> list:
        """Alarm state changes, newest first (one alarm's with `name`); page back with `before` = an id."""
        if name is not None and not NAME_RE.match(name):
            raise BadRequest(f"name: not an alarm name: {name[:80]!r}", arg="name", reason="not an alarm name")
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be in 1..{MAX_LIMIT}, got {limit}", arg="limit", reason="out of range")
        flush()
        return log.history(name, limit, before)

    node.subscribe("alarm.#", on_event)
    node.command(alarm_states, role="viewer")
    node.command(alarm_history, role="viewer")
    node.every(flush_s, flush)
    node.stop_hooks.append(flush)
    return log
