"""Is the database file damaged? `PRAGMA quick_check`, and telling corruption apart from a full
disk, a lock or a bad query (only corruption sets a database aside)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def is_corruption(exc: BaseException) -> bool:
    """Is this SQLite error a damaged file (not a full disk, a lock or a bad query)?"""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in CORRUPT_CODES
    return type(exc) is sqlite3.DatabaseError


def check_file(path: str | os.PathLike) -> str | None:
    """Why the database at `path` is damaged (`PRAGMA quick_check`), or None when it is sound
    or absent. It reads the whole file once: 0.14 s for 200 MB from the page cache on the
    development machine; at a card's read speed (≈ 40 MB/s) about 5 s."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}" if is_corruption(exc) else None
    try:
        rows = [r[0] for r in con.execute("PRAGMA quick_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        return f"{type(exc).__name__}: {exc}"
    finally:
        con.close()
    return None if rows == ["ok"] else "quick_check: " + "; ".join(map(str, rows))[:1000]
