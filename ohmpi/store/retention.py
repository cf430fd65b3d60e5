"""What may be deleted, and when: logs, SOH samples and audit records past their retention,
and the oldest logs and SOH samples when the database is over its size quota. Measurements,
surveys, checks and dead letters are never deleted."""

from __future__ import annotations

import time

from .tx import transaction

PRUNE_CHUNK = 2000  # rows deleted per transaction when the database is over its quota


class Retention:
    """The Store's retention and quota (uses its `_db`, `_lock` and `counts`)."""

    def prune(
        self, logs_days: float, soh_days: float, now: float | None = None, audit_days: float | None = None
    ) -> dict:
        """Delete log rows older than `logs_days`, SOH samples older than `soh_days` and audit
        records older than `audit_days` (None: keep them)."""
        now = time.time() if now is None else now
        ages = {"logs": logs_days, "soh": soh_days, "audit": audit_days}
        deleted = {}
        with self._lock:
            with transaction(self._db, self._lock) as db:
                for table, days in ages.items():
                    deleted[table] = (
                        0
                        if days is None
                        else db.execute(f"DELETE FROM {table} WHERE ts < ?", (now - days * 86400,)).rowcount
                    )
            for table, n in deleted.items():
                self.counts[table] -= n
        return deleted

    def used_bytes(self) -> int:
        """Bytes the data takes in the database: (page_count - freelist_count) × page_size."""
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * size

    def enforce_quota(self, max_bytes: int, max_chunks: int = 50) -> dict:
        """Delete the oldest log rows and SOH samples, PRUNE_CHUNK rows per transaction, until the
        used size is within `max_bytes` (at most `max_chunks` chunks per call, so a caller keeps
        answering meanwhile). Measurements, surveys, checks, dead letters and audit are never
        deleted. Returns {"logs", "soh" (rows deleted), "used_bytes", "over" (still over)}."""
        deleted = {"logs": 0, "soh": 0}
        used = self.used_bytes()
        for _ in range(max_chunks):
            if used <= max_bytes:
                break
            with self._lock:
                oldest = {t: self._db.execute(f"SELECT MIN(ts) FROM {t}").fetchone()[0] for t in deleted}
                candidates = [t for t, ts in oldest.items() if ts is not None]
                if not candidates:
                    break
                table = min(candidates, key=lambda t: oldest[t])
                with transaction(self._db, self._lock) as db:
                    n = db.execute(
                        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY ts, id LIMIT ?)",
                        (PRUNE_CHUNK,),
                    ).rowcount
                deleted[table] += n
                self.counts[table] -= n
            used = self.used_bytes()
        return {**deleted, "used_bytes": used, "over": used > max_bytes}
