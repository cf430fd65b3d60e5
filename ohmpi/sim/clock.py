"""The simulated clock: time the emulated chips see, with optional real waiting.

``time_scale`` 1 = real time, >1 faster, 0 = no waiting at all (simulated time only
advances when someone sleeps, so tests and benchmarks never wait).
"""

from __future__ import annotations

import os
import threading
import time

ENV_TIME_SCALE = "OHMPI_TIME_SCALE"


def resolve_time_scale(value: float | None = None, default: float = 1.0) -> float:
    """The environment variable OHMPI_TIME_SCALE, when set, overrides everything."""
    env = os.environ.get(ENV_TIME_SCALE)
    if env not in (None, ""):
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"{ENV_TIME_SCALE}={env!r} is not a number") from None
    if value is None:
        value = default
    value = float(value)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"time_scale must be a finite number >= 0, got {value!r}")
    return value


class SimClock:
    def __init__(self, time_scale: float = 0.0, start: float = 0.0):
        self.time_scale = float(time_scale)
        self._now = float(start)
        self._lock = threading.Lock()
        # called with the time about to be left, before it advances: the emulated earth notes
        # the current switched at this instant (induced polarization remembers the history)
        self.listeners: list = []

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Let simulated time pass without ever waiting (e.g. bits on the I2C wire)."""
        if seconds > 0:
            for listener in self.listeners:
                listener(self._now)
            with self._lock:
                self._now += seconds

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.time_scale > 0:
            time.sleep(seconds / self.time_scale)
        self.advance(seconds)

    def sleep_until(self, deadline: float) -> None:
        self.sleep(deadline - self._now)
