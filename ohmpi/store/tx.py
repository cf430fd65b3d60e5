"""The one transaction helper every writer of the store uses.

`BEGIN IMMEDIATE` takes the write lock at once (no deadlock upgrading a read), and any error
rolls back — unless SQLite already ended the transaction itself (a full disk does) — and
propagates, so a failed batch stores nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


def rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends some itself, e.g. on a full disk)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


@contextmanager
def transaction(db: sqlite3.Connection, lock: AbstractContextManager) -> Iterator[sqlite3.Connection]:
    """`with transaction(db, lock) as db:` — one committed transaction under `lock`, or none."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            rollback(db)
            raise
