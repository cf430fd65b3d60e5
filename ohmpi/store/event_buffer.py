"""Log lines, SOH samples and audit records on their way to the store.

They arrive as events (`log.<process>.<level>`, `soh.<process>`, `audit.<process>`), far more
often than each is worth a commit: on an SD card every commit is a sync of several pages, so
one SOH sample per commit cost ≈ 19 kB of writes. Rows wait here and go to the store in ONE
transaction once the oldest has waited `flush_s` (audit records within the next tick, a full
batch at once). A power cut loses at most that window of logs and SOH — never measurements,
which are ingested and acknowledged item by item.

Bounded: past `max_rows` the oldest row is dropped and counted. SOH is down-sampled to one
sample per process per slot of `soh_every_s` on the monotonic clock (a sender's wall clock may
jump back); the slots are common to all processes, so their samples arrive within one
heartbeat of each other and share a commit. While the disk is low no SOH is kept (the space
left is for measurements). A row that cannot be stored (a time that is not a finite number)
is refused when it arrives, so it can never block the batch it would be in."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from .telemetry import audit_values, log_values, soh_values

MAX_ROWS = 20_000  # events held while the database cannot be written
BATCH_ROWS = 1000  # a batch this large is written at once
FLUSH_S = 5.0  # the longest a log line or SOH sample waits for its commit
MAX_SOH_NAMES = 10_000  # processes remembered for down-sampling (a storm of made-up names clears them)


class EventBuffer:
    """Pending log, SOH and audit rows, ready for ``Store.add_events``."""

    def __init__(
        self,
        soh_every_s: float,
        flush_s: float = FLUSH_S,
        max_rows: int = MAX_ROWS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.soh_every_s = soh_every_s
        self.flush_s = flush_s
        self.max_rows = max_rows
        self.clock = clock
        self.logs: deque = deque()
        self.soh: deque = deque()
        self.audits: deque = deque()
        self.hold_soh = False  # the disk is low: SOH samples are not kept
        self.dropped = 0  # rows dropped because the buffer was full
        self.soh_not_stored = 0  # SOH samples not kept while the disk was low
        self.bad_rows = 0  # events refused: their row could not be stored
        self._soh_slot: dict[str, int] = {}  # the slot of the last sample kept, per process
        self._oldest: float | None = None  # when the oldest pending row arrived (clock)

    def __len__(self) -> int:
        return len(self.logs) + len(self.soh) + len(self.audits)

    def full(self) -> bool:
        """A batch worth writing now, whatever the time."""
        return len(self) >= BATCH_ROWS

    def due(self) -> bool:
        """Time to write: a full batch, an audit record, or a row that has waited `flush_s`."""
        if not len(self):
            return False
        return self.full() or bool(self.audits) or self.clock() - self._oldest >= self.flush_s

    def add_event(self, topic: str, ts: float, body) -> bool:
        """Buffer the row of one event; False when it is not kept (down-sampled, held, refused, not ours)."""
        parts = topic.split(".")
        if parts[0] == "log" and len(parts) >= 3:
            body = body if isinstance(body, dict) else {"message": body}
            extra = {k: v for k, v in body.items() if k != "message"}
            message = body.get("message")
            return self._add(
                self.logs,
                log_values,
                {
                    "ts": ts,
                    "process": parts[1],
                    "level": parts[-1],
                    "message": message if isinstance(message, str) else repr(message),
                    "extra": extra or None,
                },
            )
        if parts[0] == "audit" and len(parts) >= 2:
            body = body if isinstance(body, dict) else {"body": body}
            details = {k: v for k, v in body.items() if k not in ("action", "ok", "user", "role")}
            return self._add(
                self.audits,
                audit_values,
                {
                    "ts": ts,
                    "process": ".".join(parts[1:]),
                    "action": body.get("action"),
                    "ok": body.get("ok", True),
                    "user": body.get("user"),
                    "role": body.get("role"),
                    "details": details,
                },
            )
        if parts[0] == "soh" and len(parts) >= 2:
            process = ".".join(parts[1:])
            if not self._soh_due(process):
                return False
            if self.hold_soh:
                self.soh_not_stored += 1
                return False
            if not self._add(self.soh, soh_values, {"ts": ts, "process": process, "data": body}):
                return False
            if len(self._soh_slot) >= MAX_SOH_NAMES and process not in self._soh_slot:
                self._soh_slot.clear()
            self._soh_slot[process] = self._slot()
            return True
        return False

    def _slot(self) -> int:
        return math.floor(self.clock() / self.soh_every_s) if self.soh_every_s > 0 else 0

    def _soh_due(self, process: str) -> bool:
        """Is this the process's first sample in the current slot (every sample when soh_every_s is 0)?"""
        return self.soh_every_s <= 0 or self._soh_slot.get(process) != self._slot()

    def _add(self, queue: deque, make: Callable[[dict], tuple], row: dict) -> bool:
        try:
            values = make(row)
        except (ValueError, TypeError, OverflowError):
            self.bad_rows += 1
            return False
        if len(self) >= self.max_rows:
            queue.popleft() if queue else None
            self.dropped += 1
        if not len(self):
            self._oldest = self.clock()
        queue.append(values)
        return True

    def write(self, store) -> int:
        """Store every pending row in one transaction; return how many. A storage error
        (sqlite3.Error) propagates and keeps the rows for the next try."""
        if not len(self):
            return 0
        batches = [list(self.logs), list(self.soh), list(self.audits)]
        store.add_events(*batches)
        for queue, rows in zip((self.logs, self.soh, self.audits), batches):
            for _ in rows:
                queue.popleft()
        self._oldest = self.clock() if len(self) else None  # what came meanwhile waits its own window
        return sum(map(len, batches))
