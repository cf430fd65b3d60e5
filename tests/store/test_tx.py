"""The one transaction helper: all or nothing, the write lock taken at BEGIN, and no other
writer in the store package."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import ohmpi.store
from ohmpi.store.tx import transaction


@pytest.fixture
def db(tmp_path):
    con = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x INTEGER NOT NULL)")
    yield con
    con.close()


def count(db) -> int:
    return db.execute("SELECT COUNT(*) FROM t").fetchone()[0]


def test_commits_all_or_nothing(db):
    lock = threading.RLock()
    with transaction(db, lock):
        db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    assert count(db) == 2 and not db.in_transaction
    with pytest.raises(sqlite3.IntegrityError), transaction(db, lock):
        db.execute("INSERT INTO t VALUES (3)")
        db.execute("INSERT INTO t VALUES (NULL)")
    assert count(db) == 2 and not db.in_transaction
    with pytest.raises(KeyboardInterrupt), transaction(db, lock):  # not only errors: any way out
        db.execute("INSERT INTO t VALUES (4)")
        raise KeyboardInterrupt
    assert count(db) == 2 and not db.in_transaction


def test_a_transaction_sqlite_ended_itself_is_not_rolled_back_twice(db):
    with pytest.raises(ValueError, match="after the end"), transaction(db, threading.RLock()):
        db.execute("INSERT INTO t VALUES (1)")
        db.execute("ROLLBACK")  # as SQLite does on a full disk
        raise ValueError("after the end")  # the original error comes out, not "no transaction is active"
    assert count(db) == 0


def test_the_write_lock_is_taken_at_begin(db, tmp_path):
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
    try:
        with transaction(db, threading.RLock()), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_the_lock_keeps_other_threads_out_until_the_end(db):
    lock = threading.RLock()
    entered = threading.Event()
    order = []

    def second():
        entered.set()
        with transaction(db, lock):
            order.append("second")

    with transaction(db, lock):
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(10)
        order.append("first")
        assert not thread.join(0.2) and thread.is_alive()
    thread.join(10)
    assert order == ["first", "second"]


def test_no_other_module_of_the_store_begins_or_commits_itself():
    package = Path(ohmpi.store.__file__).parent
    offenders = [
        p.name
        for p in package.glob("*.py")
        if p.name != "tx.py" and any(word in p.read_text() for word in ('"BEGIN', '"COMMIT', '"ROLLBACK'))
    ]
    assert offenders == []
