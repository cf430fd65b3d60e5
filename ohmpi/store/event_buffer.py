"""Log lines, SOH samples and audit records on their way to the store.

They arrive as events (`log.<process>.<level>`, `soh.<process>`, `audit.<process>`), far more
often than they are worth a commit each: they wait here, bounded (past `max_rows` the oldest
is dropped and counted), SOH down-sampled to one sample per process per `soh_every_s` of the
monotonic clock (a sender's wall clock may jump back) and not kept at all while the disk is
low (the space left is for measurements). `write` stores what waits."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_ROWS = 20_000  # events held while the database cannot be written
BATCH_ROWS = 1000  # a batch this large is written at once
MAX_SOH_NAMES = 10_000  # processes remembered for down-sampling (a storm of made-up names clears them)


class EventBuffer:
    """Pending log, SOH and audit rows, as ``Store.add_logs``/``add_soh``/``add_audit`` take them."""

    def __init__(self, soh_every_s: float, max_rows: int = MAX_ROWS, clock: Callable[[], float] = time.monotonic):
        self.soh_every_s = soh_every_s
        self.max_rows = max_rows
        self.clock = clock
        self.logs: deque = deque()
        self.soh: deque = deque()
        self.audits: deque = deque()
        self.hold_soh = False  # the disk is low: SOH samples are not kept
        self.dropped = 0  # rows dropped because the buffer was full
        self.soh_not_stored = 0  # SOH samples not kept while the disk was low
        self.bad_rows = 0  # rows the store could not take (left out, the others written)
        self._last_soh: dict[str, float] = {}  # monotonic arrival of the last sample kept, per process

    def __len__(self) -> int:
        return len(self.logs) + len(self.soh) + len(self.audits)

    def full(self) -> bool:
        """A batch worth writing now, whatever the time."""
        return len(self) >= BATCH_ROWS

    def add_event(self, topic: str, ts: float, body) -> bool:
        """Buffer the row of one event; False when it is not kept (down-sampled, held, not ours)."""
        parts = topic.split(".")
        if parts[0] == "log" and len(parts) >= 3:
            body = body if isinstance(body, dict) else {"message": body}
            extra = {k: v for k, v in body.items() if k != "message"}
            message = body.get("message")
            return self._add(self.logs, {"ts": ts, "process": parts[1], "level": parts[-1],
                                         "message": message if isinstance(message, str) else repr(message),
                                         "extra": extra or None})
        if parts[0] == "audit" and len(parts) >= 2:
            body = body if isinstance(body, dict) else {"body": body}
            details = {k: v for k, v in body.items() if k not in ("action", "ok", "user", "role")}
            return self._add(self.audits, {"ts": ts, "process": ".".join(parts[1:]), "action": body.get("action"),
                                           "ok": body.get("ok", True), "user": body.get("user"),
                                           "role": body.get("role"), "details": details})
        if parts[0] == "soh" and len(parts) >= 2:
            return self._add_soh(".".join(parts[1:]), ts, body)
        return False

    def _add_soh(self, process: str, ts: float, data) -> bool:
        now = self.clock()
        last = self._last_soh.get(process)
        if last is not None and now - last < self.soh_every_s:
            return False
        if self.hold_soh:
            self.soh_not_stored += 1
            return False
        if len(self._last_soh) >= MAX_SOH_NAMES and process not in self._last_soh:
            self._last_soh.clear()
        self._last_soh[process] = now
        return self._add(self.soh, {"ts": ts, "process": process, "data": data})

    def _add(self, queue: deque, row: dict) -> bool:
        if len(self) >= self.max_rows:
            queue.popleft() if queue else None
            self.dropped += 1
        queue.append(row)
        return True

    def write(self, store) -> int:
        """Store the pending rows; return how many left the buffer. A storage error
        (sqlite3.Error) propagates and keeps the rows not yet written for the next try; rows
        the store cannot take (ValueError, TypeError) are tried one by one, the bad ones
        left out and counted in `bad_rows`."""
        written = 0
        for queue, add in ((self.logs, store.add_logs), (self.soh, store.add_soh), (self.audits, store.add_audit)):
            if not queue:
                continue
            rows = list(queue)
            try:
                add(rows)
            except (ValueError, TypeError):
                self.bad_rows += sum(not _added(add, row) for row in rows)  # one bad row must not block the others
            for _ in rows:
                queue.popleft()
            written += len(rows)
        return written


def _added(add, row: dict) -> bool:
    try:
        add([row])
        return True
    except (ValueError, TypeError):
        return False
