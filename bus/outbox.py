"""Acknowledged delivery that survives crashes: a durable outbox on the producing side.

Plain PUB/SUB may drop (a restarting consumer, a full queue). What must never be lost goes
through an Outbox: `put()` commits the item to SQLite (WAL, synchronous=FULL) before the
producer reports success; a delivery thread sends pending items in batches to a receiving
command and marks them delivered only when the receiver acknowledges them. A killed
producer replays what was not acknowledged when it comes back; a killed receiver is retried
with back-off. Receivers must insert idempotently by key (items can arrive twice, never zero
times). Delivered items are kept for a while so a producer can answer "already done".
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import msgpack

from .envelope import plain
from .errors import BusError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    delivered REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE delivered IS NULL;
"""


class Outbox:
    """A durable queue of `(key, kind, body)` items delivered to `service`.`command`."""

    def __init__(self, path: str | Path, service: str, command: str, *,
                 client_factory: Callable, batch_bytes: int = 256 * 1024, keep_delivered: int = 20_000,
                 call_timeout: float = 10.0, stats: Counter | None = None, coalesce_s: float = 0.02):
        self.service, self.command = service, command
        self.client_factory = client_factory
        self.batch_bytes = batch_bytes
        self.keep_delivered = keep_delivered
        self.call_timeout = call_timeout
        self.coalesce_s = coalesce_s  # after a delivery, let items gather this long: fewer, larger batches
        self.stats = stats if stats is not None else Counter()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a power cut must not lose an acknowledged item
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # ---- producer side -------------------------------------------------------------------
    def put(self, key: str, kind: str, body: object) -> bool:
        """Store an item durably; False if `key` was already there (nothing changes then)."""
        data = msgpack.packb(body, use_bin_type=True, default=plain)
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO outbox(key, kind, body, created) VALUES (?,?,?,?)",
                                   (key, kind, data, time.time()))
        self._wake.set()
        return cur.rowcount == 1

    def get(self, key: str) -> object | None:
        """The body stored under `key` (delivered or not), or None."""
        with self._lock:
            row = self._db.execute("SELECT body FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else msgpack.unpackb(row[0], raw=False)

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL").fetchone()[0]

    # ---- delivery ------------------------------------------------------------------------
    def _next_batch(self) -> list[tuple[int, str, str, bytes]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, key, kind, body FROM outbox WHERE delivered IS NULL "
                                    "ORDER BY seq LIMIT 500").fetchall()
        batch, size = [], 0
        for row in rows:
            if batch and size + len(row[3]) > self.batch_bytes:
                break
            batch.append(row)
            size += len(row[3])
        return batch

    def deliver_once(self, client) -> int:
        """Send one batch and mark what the receiver acknowledged; return how many."""
        batch = self._next_batch()
        if not batch:
            return 0
        items = [{"key": key, "kind": kind, "body": msgpack.unpackb(body, raw=False)}
                 for _, key, kind, body in batch]
        result = client.call(self.service, self.command, items=items, timeout=self.call_timeout, retries=0)
        acked = set(result.get("acked", [])) if isinstance(result, dict) else set()
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE outbox SET delivered = ? WHERE key = ? AND delivered IS NULL",
                                 [(now, key) for key in acked])
            self._db.execute("COMMIT")
        self.stats["outbox_delivered"] += len(acked)
        if len(acked) < len(batch):
            raise BusError(f"{self.service}.{self.command} acknowledged {len(acked)} of {len(batch)} items")
        return len(acked)

    def prune(self) -> None:
        """Forget delivered items beyond the newest `keep_delivered`."""
        with self._lock:
            self._db.execute(
                "DELETE FROM outbox WHERE delivered IS NOT NULL AND seq < (SELECT COALESCE(MIN(seq), 0) FROM "
                "(SELECT seq FROM outbox WHERE delivered IS NOT NULL ORDER BY seq DESC LIMIT ?))",
                (self.keep_delivered,))

    def _run(self) -> None:
        client = self.client_factory()
        backoff = 0.2
        sent_since_prune = 0
        try:
            while not self._stop.is_set():
                try:
                    sent = self.deliver_once(client)
                except BusError as exc:
                    self.last_error = str(exc)
                    self.stats["outbox_failures"] += 1
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.2
                self.last_error = None
                sent_since_prune += sent
                if sent_since_prune > 1000:
                    self.prune()
                    sent_since_prune = 0
                if not sent:
                    self._wake.wait(1.0)
                    self._wake.clear()
                elif self.coalesce_s > 0:
                    # a steady producer (a survey) then costs one call and one commit on each side
                    # per batch rather than per item; an item waits at most this much longer
                    self._stop.wait(self.coalesce_s)
        finally:
            client.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"outbox-{self.service}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.call_timeout + 1)
        with self._lock:
            self._db.close()

