"""Relays held between the quadrupoles of a survey, never longer.

A survey leaves the relays closed from one quadrupole to the next (only those that differ
move). If no next quadrupole comes — the survey ended, its process died, the network is
gone — the relays are released after `hold_s` seconds of wall time anyway: a held relay
is a convenience for the next measurement, never a state the instrument stays in.
One watchdog thread per instrument (started on first use), not one timer per quadrupole.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

HOLD_S = 2.0


class RelayHold:
    def __init__(self, release: Callable[[], None], lock, hold_s: float = HOLD_S):
        self.release = release
        self.lock = lock  # the instrument's: the release never cuts into a measurement
        self.hold_s = hold_s
        self._deadline: float | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def arm(self) -> None:
        """Relays are held now: release them unless `cancel` or `arm` comes first."""
        with self._wake:
            self._deadline = time.monotonic() + self.hold_s
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._watch, name="relay-hold", daemon=True)
                self._thread.start()
            self._wake.notify()

    def cancel(self) -> None:
        with self._wake:
            self._deadline = None

    def stop(self) -> None:
        """No more holding (the instrument closes): the watchdog thread ends."""
        with self._wake:
            self._deadline, self._stopped = None, True
            self._wake.notify()

    def _watch(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (self._deadline is None or time.monotonic() < self._deadline):
                    self._wake.wait(None if self._deadline is None else self._deadline - time.monotonic())
                if self._stopped:
                    return
            with self.lock:
                with self._wake:
                    due = self._deadline is not None and time.monotonic() >= self._deadline
                    if due:
                        self._deadline = None
                if due:  # nothing measured since: nobody needs them
                    try:
                        self.release()
                    except Exception:  # the next measurement or safe_state tries again
                        pass
