"""A full disk is recognised by its error code (ENOSPC, SQLITE_FULL), never by a message's words."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from ohmpi.durable import is_disk_full


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_device_with_no_space_is_full():
    with pytest.raises(OSError) as info, open("/dev/full", "wb", buffering=0) as f:
        f.write(b"x")
    assert is_disk_full(info.value)


def test_a_database_at_its_page_limit_is_full(tmp_path):
    con = sqlite3.connect(tmp_path / "small.db")
    con.execute("CREATE TABLE t (x BLOB)")
    con.commit()
    con.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.Error) as info:
        for _ in range(10):
            con.execute("INSERT INTO t VALUES (?)", (b"\0" * 4000,))
    con.close()
    assert is_disk_full(info.value)


def test_other_errors_are_not(tmp_path):
    with pytest.raises(OSError) as missing:
        open(tmp_path / "nope")
    assert not is_disk_full(missing.value)
    con = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.Error) as syntax:
        con.execute("SELEKT 1")
    assert not is_disk_full(syntax.value)
    assert not is_disk_full(ValueError("disk is full"))  # words are not a code
    assert is_disk_full(OSError(errno.EDQUOT, "quota"))
