"""What the emulated supply delivered: energy drawn and time spent injecting.

A clock listener: it is told each instant just before simulated time moves on, so the power
at that instant (volts × amperes at the supply's terminals, zero with the injection relay
open) holds over the interval that follows. The battery's cost of a survey comes from here.
"""

from __future__ import annotations

from typing import Callable


class SupplyMeter:
    def __init__(self, clock, injecting: Callable[[], bool], power_W: Callable[[], float]):
        self.clock = clock
        self.injecting = injecting
        self.power_W = power_W
        self._energy_j = 0.0
        self._injection_s = 0.0
        self._since = clock.monotonic()
        self._power = 0.0
        clock.listeners.append(self.observe)

    def observe(self, now: float) -> None:
        self._settle(now)
        self._power = self.power_W() if self.injecting() else None

    def _settle(self, now: float) -> None:
        dt = now - self._since
        if dt > 0 and self._power is not None:
            self._energy_j += self._power * dt
            self._injection_s += dt
        self._since = now

    def totals(self) -> tuple[float, float]:
        """(energy J, injection s) up to now."""
        self._settle(self.clock.monotonic())
        return self._energy_j, self._injection_s
