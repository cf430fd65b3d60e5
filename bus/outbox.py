"""Acknowledged delivery that survives crashes: a durable outbox on the producing side.

Plain PUB/SUB may drop (a restarting consumer, a full queue). What must never be lost goes
through an Outbox: `put()` commits the item to SQLite (WAL, synchronous=FULL) before the
producer reports success; a delivery thread sends pending items in batches to a receiving
command and marks them delivered only when the receiver acknowledges them. A killed
producer replays what was not acknowledged when it comes back; a killed receiver is retried
with back-off. Receivers must insert idempotently by key (items can arrive twice, never zero
times). Delivered items are kept for a while so a producer can answer "already done".

One bad item must not block the queue behind it. The producer checks each body with its
`check` before it is stored (the same validator the receiver uses); a receiver answers
`{"acked": [keys], "refused": [{"key", "reason"}]}` (a refused item is one it kept aside);
and if a receiver refuses a whole batch (`bad_request`), the batch is delivered item by
item and an item refused on its own is marked refused here, with the reason, and skipped.
Transient errors (unavailable, timeout, internal) are retried with back-off.

A receiver may name the store it writes to (`"epoch"` in its answer, e.g. a database id; the
producer may also pass what the receiver announces to `receiver_epoch`). When that changes —
its database was corrupt and set aside, or deleted — what this outbox still holds (delivered
items are kept, `keep_delivered`) is delivered again: the new store refills. An epoch once
left is never gone back to (a stale announcement cannot cause a second refill).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import msgpack

from .envelope import plain
from .errors import BadRequest, BusError

# `delivered` is when the item was settled; `refused` (the reason) says it was refused, not stored
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    delivered REAL,
    refused TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE delivered IS NULL;
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS outbox_refused ON outbox(seq) WHERE refused IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Outbox:
    """A durable queue of `(key, kind, body)` items delivered to `service`.`command`."""

    def __init__(
        self,
        path: str | Path,
        service: str,
        command: str,
        *,
        client_factory: Callable,
        batch_bytes: int = 256 * 1024,
        keep_delivered: int = 20_000,
        call_timeout: float = 10.0,
        stats: Counter | None = None,
        coalesce_s: float = 0.02,
        check: Callable[[str, str, object], object] | None = None,
        log: Callable[[str, str], None] | None = None,
    ):
        self.service, self.command = service, command
        self.client_factory = client_factory
        self.batch_bytes = batch_bytes
        self.keep_delivered = keep_delivered
        self.call_timeout = call_timeout
        self.coalesce_s = coalesce_s  # after a delivery, let items gather this long: fewer, larger batches
        self.stats = stats if stats is not None else Counter()
        self.check = check  # (key, kind, body) -> raises ValueError for a body the receiver would refuse
        self.log = log  # (level, message): what the producer should tell (a refill)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a power cut must not lose an acknowledged item
        self._db.executescript(SCHEMA)
        if "refused" not in {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}:
            self._db.execute("ALTER TABLE outbox ADD COLUMN refused TEXT")  # a file of an older version
        self._db.executescript(INDEXES)
        meta = dict(self._db.execute("SELECT key, value FROM outbox_meta"))
        self.epoch: str | None = meta.get("epoch")  # the receiver's store we deliver to
        self._retired: list[str] = json.loads(meta.get("retired", "[]"))  # stores we moved away from
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified when items are delivered or refused
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_refused: str | None = None

    # ---- producer side -------------------------------------------------------------------
    def put(self, key: str, kind: str, body: object) -> bool:
        """Store an item durably; False if `key` was already there (nothing changes then).

        With a `check`, the body is checked as the receiver will see it (after encoding);
        its ValueError propagates and nothing is stored."""
        data = msgpack.packb(body, use_bin_type=True, default=plain)
        if self.check is not None:
            self.check(key, kind, msgpack.unpackb(data, raw=False))
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox(key, kind, body, created) VALUES (?,?,?,?)",
                (key, kind, data, time.time()),
            )
        self._wake.set()
        return cur.rowcount == 1

    def get(self, key: str) -> object | None:
        """The body stored under `key` (delivered or not), or None."""
        with self._lock:
            row = self._db.execute("SELECT body FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else msgpack.unpackb(row[0], raw=False)

    def undelivered(self, kind: str | None = None) -> list[tuple[str, object]]:
        """(key, body) of every item not yet delivered (nor refused), oldest first: what the
        receiver does not know yet, for a producer rebuilding its own state after a restart."""
        query = "SELECT key, body FROM outbox WHERE delivered IS NULL AND refused IS NULL"
        args: tuple = ()
        if kind is not None:
            query, args = query + " AND kind = ?", (kind,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [(key, msgpack.unpackb(body, raw=False)) for key, body in rows]

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL").fetchone()[0]

    def refused_count(self) -> int:
        """How many items held here were refused by the receiver (kept, never retried)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE refused IS NOT NULL").fetchone()[0]

    def refusals(self, limit: int = 20) -> list[dict]:
        """The newest refused items: key, kind, reason, created (epoch seconds)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, kind, refused, created FROM outbox WHERE refused IS NOT NULL ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [{"key": r[0], "kind": r[1], "reason": r[2], "created": r[3]} for r in rows]

    def _state_locked(self, key: str) -> str | None:
        row = self._db.execute("SELECT delivered, refused FROM outbox WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return "pending" if row[0] is None else "refused" if row[1] is not None else "delivered"

    def state(self, key: str) -> str | None:
        """ "pending", "delivered", "refused", or None for a key this outbox does not hold."""
        with self._lock:
            return self._state_locked(key)

    def wait_delivered(self, key: str, timeout: float) -> bool:
        """Wait at most `timeout` s until the receiver has acknowledged `key`; True if it has
        (False: refused, unknown, or still pending at the deadline)."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._settled:
            while (state := self._state_locked(key)) == "pending":
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._settled.wait(min(left, 1.0))
        return state == "delivered"

    # ---- delivery ------------------------------------------------------------------------
    def _next_batch(self) -> list[tuple[int, str, str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, kind, body FROM outbox WHERE delivered IS NULL ORDER BY seq LIMIT 500"
            ).fetchall()
        batch, size = [], 0
        for row in rows:
            if batch and size + len(row[3]) > self.batch_bytes:
                break
            batch.append(row)
            size += len(row[3])
        return batch

    def deliver_once(self, client) -> int:
        """Send one batch and settle what the receiver answered for; return how many.

        A batch refused as a whole (`bad_request`) is sent again item by item; an item refused
        on its own is marked refused and skipped. Other errors propagate (the caller retries)."""
        batch = self._next_batch()
        if not batch:
            return 0
        items = [{"key": key, "kind": kind, "body": msgpack.unpackb(body, raw=False)} for _, key, kind, body in batch]
        try:
            return self._send(client, items)
        except BadRequest as exc:
            if len(items) == 1:
                self._settle([], {items[0]["key"]: f"{self.service}.{self.command} refused it: {exc.message}"[:1000]})
                return 1
        settled = 0
        for item in items:  # find the culprit(s); the rest is delivered as usual
            try:
                settled += self._send(client, [item])
            except BadRequest as exc:
                self._settle([], {item["key"]: f"{self.service}.{self.command} refused it: {exc.message}"[:1000]})
                settled += 1
        return settled

    def _send(self, client, items: list[dict]) -> int:
        result = client.call(self.service, self.command, items=items, timeout=self.call_timeout, retries=0)
        result = result if isinstance(result, dict) else {}
        keys = {item["key"] for item in items}
        refused = {
            r["key"]: str(r.get("reason") or "refused")[:1000]
            for r in _list(result.get("refused"))
            if isinstance(r, dict) and isinstance(r.get("key"), str) and r["key"] in keys
        }
        acked = [k for k in _list(result.get("acked")) if isinstance(k, str) and k in keys and k not in refused]
        self._settle(acked, refused)
        self.receiver_epoch(result.get("epoch"))
        if len(set(acked)) + len(refused) < len(items):
            raise BusError(
                f"{self.service}.{self.command} acknowledged {len(set(acked)) + len(refused)} of {len(items)} items"
            )
        return len(items)

    def _settle(self, delivered: list[str], refused: dict[str, str]) -> None:
        """Mark `delivered` keys delivered and `refused` keys refused (with the reason), durably."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE outbox SET delivered = ? WHERE key = ? AND delivered IS NULL", [(now, key) for key in delivered]
            )
            self._db.executemany(
                "UPDATE outbox SET delivered = ?, refused = ? WHERE key = ? AND delivered IS NULL",
                [(now, reason, key) for key, reason in refused.items()],
            )
            self._db.execute("COMMIT")
            self._settled.notify_all()
        self.stats["outbox_delivered"] += len(delivered)
        if refused:
            self.stats["outbox_refused"] += len(refused)
            self.last_refused = next(iter(refused.values()))

    def receiver_epoch(self, epoch) -> None:
        """The receiver writes to the store `epoch`: if it is a new one, deliver again what was delivered."""
        if not isinstance(epoch, str) or epoch == self.epoch or epoch in self._retired:
            return
        with self._lock:
            if epoch == self.epoch or epoch in self._retired:
                return
            retired = (self._retired + [self.epoch])[-20:] if self.epoch is not None else self._retired
            self._db.execute("BEGIN")
            again = 0
            if self.epoch is not None:
                again = self._db.execute(
                    "UPDATE outbox SET delivered = NULL WHERE delivered IS NOT NULL AND refused IS NULL"
                ).rowcount
            self._db.executemany(
                "INSERT OR REPLACE INTO outbox_meta(key, value) VALUES (?, ?)",
                [("epoch", epoch), ("retired", json.dumps(retired))],
            )
            self._db.execute("COMMIT")
            old, self.epoch, self._retired = self.epoch, epoch, retired
        if again:
            self.stats["outbox_refilled"] += again
            if self.log is not None:
                self.log(
                    "warning",
                    f"{self.service} now writes to another store ({old} -> {epoch}): delivering "
                    f"the {again} items kept here again",
                )
        self._wake.set()

    def prune(self) -> None:
        """Forget delivered items beyond the newest `keep_delivered` (refused ones are kept: here may
        be their only copy)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM outbox WHERE delivered IS NOT NULL AND refused IS NULL AND seq < "
                "(SELECT COALESCE(MIN(seq), 0) FROM "
                "(SELECT seq FROM outbox WHERE delivered IS NOT NULL ORDER BY seq DESC LIMIT ?))",
                (self.keep_delivered,),
            )

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


def _list(value) -> list:
    return value if isinstance(value, list) else []
