"""Files that survive a power cut and stay private: one atomic-write helper for every writer.

`atomic_write` writes a temporary file beside the target, fsyncs it, renames it over the
target and fsyncs the directory, so a reader sees the old content or the new one, never a
torn mix, and the new one is on disk when the call returns. Files are created 0600 and
directories 0700: runtime files are for the instrument's own user only.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: str | os.PathLike) -> Path:
    """`path` as a directory only its owner can enter (created if missing, tightened if ours)."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably (file and directory fsynced)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
