"""Time as the drivers see it: a monotonic clock and a sleep, swappable for a simulated one.

Drivers never call ``time.sleep`` directly, so the simulated instrument can run in real
time, faster, or with no waiting at all while the emulated chips still see time pass.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def sleep_until(self, deadline: float) -> None: ...


class SystemClock:
    """The wall clock of the machine (used on the real instrument)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, deadline: float) -> None:
        self.sleep(deadline - self.monotonic())
