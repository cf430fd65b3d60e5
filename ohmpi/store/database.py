"""The Store: one SQLite file, its connection and lock, opened after a health check.

WAL mode with ``synchronous=FULL``: once ``ingest()`` returns a key, that item survives a
killed process and a power cut. Each job on the data is its own module (ingest, queries,
exports, telemetry, retention); this class only holds the connection they share."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

from ohmpi.durable import set_aside

from .exports import Exports
from .ingest import Ingest
from .integrity import check_file, is_corruption
from .queries import Queries
from .retention import Retention
from .schema import TABLES, migrate
from .telemetry import Telemetry
from .tx import rollback


class Store(Ingest, Queries, Exports, Telemetry, Retention):
    """The SQLite store. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged item survives a power cut
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self.db_id = self._db.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()[0]
        self.last_conflicts: list[str] = []  # ids of the last ingest() refused for a taken slot
        self.slot_conflicts = 0  # measurements refused because their (survey, pass, index) was taken
        self.counts = self._count_rows()

    @classmethod
    def open_checked(cls, path: str | os.PathLike) -> tuple[Store, dict | None]:
        """Open the store after `PRAGMA quick_check`; a corrupt file is set aside and a new one
        started. Returns (store, None) or (store, {"path", "reason"}) naming where the old one went."""
        path = Path(path)
        reason = check_file(path)
        if reason is None:
            try:
                return cls(path), None
            except sqlite3.DatabaseError as exc:
                if not is_corruption(exc):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
        aside = set_aside(path, "-wal", "-shm")
        return cls(path), {"path": str(aside), "reason": reason}

    def _migrate(self, migrations: list[str] | None = None) -> None:
        migrate(self._db, self.path, self._lock, migrations)

    def _rollback(self) -> None:
        rollback(self._db)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _count_rows(self) -> dict:
        with self._lock:
            return {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- statistics --------------------------------------------------------------------------
    def db_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path.parent).free

    def stats(self) -> dict:
        with self._lock:
            counts = self._count_rows()
            oldest, newest = self._db.execute("SELECT MIN(time), MAX(time) FROM measurements").fetchone()
        self.counts = dict(counts)
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "counts": counts,
            "db_bytes": self.db_bytes(),
            "db_used_bytes": self.used_bytes(),
            "free_disk_bytes": self.free_bytes(),
            "oldest_measurement": oldest,
            "newest_measurement": newest,
            "slot_conflicts": self.slot_conflicts,
        }
