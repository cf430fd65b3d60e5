"""A child process that can be stopped and resumed (SIGSTOP/SIGCONT to its own process group),
ended even while stopped, and whose timeout counts only the time it was let run.

The child calls `detach()` first thing: its own process group (what is stopped and resumed) and
death with its parent (a stopped child must never outlive the worker that would resume it)."""

from __future__ import annotations

import ctypes
import os
import signal
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def detach() -> None:
    """In the child: lead a process group of its own; die (SIGKILL) when the parent dies (Linux)."""
    parent = os.getppid()
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class Suspendable:
    """Stop, resume and end the process `process` (a multiprocessing.Process, already started);
    `running_s()` is the time it has been let run (stopped time left out)."""

    def __init__(self, process, clock=time.monotonic):
        self.process = process
        self.clock = clock
        self.stopped = False
        self._ran = 0.0
        self._since = clock()

    def _signal(self, sig: int) -> None:
        pid = self.process.pid
        try:
            if os.getpgid(pid) == pid:  # it leads its own group (detach() ran): the whole group
                os.killpg(pid, sig)
            else:  # not yet detached: the process alone (never our own group)
                os.kill(pid, sig)
        except ProcessLookupError:
            pass  # already ended (a zombie until joined still has its pid: no reuse)

    def stop(self) -> None:
        if not self.stopped:
            self._signal(signal.SIGSTOP)
            self._ran += self.clock() - self._since
            self.stopped = True

    def resume(self) -> None:
        if self.stopped:
            self._signal(signal.SIGCONT)
            self._since = self.clock()
            self.stopped = False

    def running_s(self) -> float:
        return self._ran + (0.0 if self.stopped else self.clock() - self._since)

    def end(self, grace_s: float = 3.0) -> None:
        """SIGTERM and SIGCONT (a stopped process takes its SIGTERM once continued), then SIGKILL
        after `grace_s`; joined."""
        if self.process.is_alive():
            self._signal(signal.SIGTERM)
            self._signal(signal.SIGCONT)
            self.stopped = False
            self.process.join(grace_s)
        if self.process.is_alive():
            self._signal(signal.SIGCONT)
            self.process.kill()
        self.process.join()
