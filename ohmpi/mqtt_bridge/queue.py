"""The durable queue of stream messages (measurements, contact checks) waiting for the broker.

SQLite in $OHMPI_VAR, WAL with synchronous=NORMAL: a crash of the process loses nothing, a power
cut at most the last moments (the recorder's database holds every measurement anyway), and an SD
card is not worn by an fsync per message. Bounded: past `max_items` the oldest go first, counted
in `dropped` (kept across restarts). Rows leave only when the broker acknowledged them (PUBACK):
whatever was in flight when the process stopped is sent again (QoS 1 may duplicate, never lose).

Items with a key (a measurement id) are queued once: the keys of what was queued are remembered
(the newest MAX_KEYS), so the live event and a catch-up from the recorder never both go out."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

MAX_KEYS = 200_000


class DurableQueue:
    def __init__(self, path: Path, max_items: int):
        self.max_items = max_items
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queued (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL)"
        )
        row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        self.dropped = row[0] if row else 0
        self._cursor = 0  # rows up to here were handed to the client in this process
        self._count = self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0]  # kept: COUNT(*) scans

    def put_many(self, items: list[tuple[str, bytes, int, str | None]]) -> int:
        """Queue (topic, payload, qos, key) items in one transaction, skipping keys queued before;
        return how many old items were dropped to make room."""
        if not items:
            return 0
        added = 0
        with self._lock:
            self._db.execute("BEGIN")
            for topic, payload, qos, key in items:
                if (
                    key is not None
                    and not self._db.execute("INSERT OR IGNORE INTO queued(key) VALUES (?)", (key,)).rowcount
                ):
                    continue  # already queued once (and maybe delivered)
                self._db.execute("INSERT INTO queue(topic, payload, qos) VALUES (?, ?, ?)", (topic, payload, qos))
                added += 1
            self._db.execute("DELETE FROM queued WHERE id <= (SELECT MAX(id) FROM queued) - ?", (MAX_KEYS,))
            over = self._count + added - self.max_items
            if over > 0:
                self._db.execute("DELETE FROM queue WHERE seq IN (SELECT seq FROM queue ORDER BY seq LIMIT ?)", (over,))
                self._db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('dropped', ?)", (self.dropped + over,)
                )
            self._db.execute("COMMIT")
            self._count += added - max(over, 0)
            self.dropped += max(over, 0)
        return max(over, 0)

    def take(self, limit: int) -> list[tuple[int, str, bytes, int]]:
        """The next rows not yet handed out in this process (oldest first), marked handed out."""
        if limit <= 0:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos FROM queue WHERE seq > ? ORDER BY seq LIMIT ?", (self._cursor, limit)
            ).fetchall()
            if rows:
                self._cursor = rows[-1][0]
        return rows

    def rewind(self) -> None:
        """Hand out again everything still queued (a new client: the old one's in-flight is gone)."""
        with self._lock:
            self._cursor = 0

    def ack(self, seqs: list[int]) -> None:
        """The broker has these: forget them."""
        if seqs:
            with self._lock:
                self._db.execute("BEGIN")
                gone = self._db.executemany("DELETE FROM queue WHERE seq = ?", [(s,) for s in seqs]).rowcount
                self._db.execute("COMMIT")
                self._count -= gone  # a row dropped meanwhile (queue full) is not deleted twice

    def was_queued(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM queued WHERE key = ?", (key,)).fetchone() is not None

    def pending(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()
