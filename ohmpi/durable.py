"""Files of the domain that survive power cuts and card corruption (bus-free: `ohmpi` may not
import `bus`, whose `bus.files.atomic_write` the workers use).

`write_atomic` writes beside the target, fsyncs, renames over it and fsyncs the directory:
a reader sees the old content or the new, never a torn mix. `set_aside` moves a file that
cannot be read out of the way (never deletes it: it may hold what a person can still save)
so the process starts afresh instead of failing at every start.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from pathlib import Path


def is_disk_full(exc: BaseException) -> bool:
    """A write failed for lack of space: ENOSPC/EDQUOT from the OS, SQLITE_FULL from SQLite (by
    their codes, never by the wording of a message)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_FULL


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably (file and directory fsynced)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def set_aside(path: str | os.PathLike, *companions: str) -> Path:
    """Rename `path` (and `path + suffix` for each companion that exists, e.g. "-wal") to
    `<name>.corrupt-<UTC time>`; return the new path of `path`."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in companions:
        extra = Path(f"{path}{suffix}")
        if extra.exists():
            os.replace(extra, Path(f"{target}{suffix}"))
    if path.exists():
        os.replace(path, target)
    fsync_dir(path.parent)
    return target


def set_aside_files(path: str | os.PathLike) -> list[Path]:
    """The files `set_aside` made of `path`, oldest first."""
    path = Path(path)
    return sorted(
        (p for p in path.parent.glob(f"{path.name}.corrupt-*") if not p.name.endswith(("-wal", "-shm"))),
        key=lambda p: p.name,
    )


class SavedJson:
    """A small JSON state kept across restarts (relay counts, survey energy totals): read once at
    start — a file that cannot be read or does not hold what `valid` expects is set aside (kept for
    a person) and the owner starts afresh —, written atomically at most every `flush_s` seconds
    while it changes (an SD card wears by writes too) and whenever the owner says `flush`."""

    def __init__(self, path, *, flush_s: float, clock=time.monotonic):
        self.path = Path(path) if path is not None else None
        self.flush_s = flush_s
        self.clock = clock
        self.set_aside: str | None = None  # where an unreadable file went
        self.dirty = False
        self._flushed = clock()

    def load(self, valid):
        """The saved data when the file exists and `valid(data)`; None otherwise."""
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_bytes())
            if valid(data):
                return data
        except (OSError, ValueError):
            pass
        self.set_aside = str(set_aside(self.path))
        return None

    def flush(self, data) -> None:
        """Write `data` now (atomically) if it changed since the last write; OSError stays dirty."""
        if self.path is None or not self.dirty:
            return
        self.dirty = False
        try:
            write_atomic(self.path, json.dumps(data, sort_keys=True).encode())
        except OSError:
            self.dirty = True
            raise
        self._flushed = self.clock()

    def flush_if_due(self, data, now: bool = False) -> None:
        """Write when `flush_s` has passed since the last write (or `now`); a full or read-only card
        keeps the state in memory (written at a later turn), it never stops the owner."""
        if self.dirty and (now or self.clock() - self._flushed >= self.flush_s):
            try:
                self.flush(data)
            except OSError:
                self._flushed = self.clock()
