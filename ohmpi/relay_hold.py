"""Relays held between the quadrupoles of a survey, never longer.

A survey leaves the relays closed from one quadrupole to the next (only those that differ
move). If no next quadrupole comes — the survey ended, its process died, the network is
gone — the relays are released after `hold_s` seconds of wall time anyway: a held relay
is a convenience for the next measurement, never a state the instrument stays in.
"""

from __future__ import annotations

import threading
from typing import Callable

HOLD_S = 2.0


class RelayHold:
    def __init__(self, release: Callable[[], None], lock, hold_s: float = HOLD_S):
        self.release = release
        self.lock = lock
        self.hold_s = hold_s
        self._timer: threading.Timer | None = None
        self._generation = 0

    def arm(self) -> None:
        """Relays are held now: release them unless `cancel` or `arm` comes first."""
        with self.lock:
            self.cancel()
            generation = self._generation
            timer = threading.Timer(self.hold_s, self._expire, args=(generation,))
            timer.daemon = True
            self._timer = timer
            timer.start()

    def cancel(self) -> None:
        with self.lock:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _expire(self, generation: int) -> None:
        with self.lock:
            if generation == self._generation:  # nothing measured since: nobody needs them
                self._timer = None
                try:
                    self.release()
                except Exception:  # the next measurement or safe_state tries again
                    pass
