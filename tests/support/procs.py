"""Helpers for tests that run real processes on a real bus."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_STARTED: set[subprocess.Popen] = set()  # process groups started here and not stopped yet


def short_tmpdir() -> str:
    """A short directory for ipc sockets (unix socket paths are limited to ~107 bytes)."""
    return tempfile.mkdtemp(prefix="ob-", dir="/tmp")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_base() -> int:
    """A port P such that P, P+1 and P+2 are free on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base > 65000:
            continue
        try:
            socks = []
            for port in (base, base + 1, base + 2):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no three consecutive free ports")


def spawn(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Start `python ARGS` in its own process group with `env` added to ours."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    return track(
        subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )


def track(proc: subprocess.Popen) -> subprocess.Popen:
    """Remember a process group started for a test, so that `stop_all` ends it if nobody else does."""
    _STARTED.add(proc)
    return proc


def stop_all() -> None:
    """Stop every tracked process group still running: the end of a run that failed or was
    interrupted leaves no supervisord, hub or worker behind to load the machine."""
    for proc in list(_STARTED):
        stop(proc)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
    """Signal a process group and wait; SIGKILL if it does not go."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    _STARTED.discard(proc)
    return proc.returncode


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
