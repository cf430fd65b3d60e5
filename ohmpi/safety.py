"""Rules that protect the instrument and the people near it, checked below every caller.

Relays: an electrode never on both A and B (a short across the supply); M or N never
on an electrode that injects (the voltmeter would take the injection voltage); every
electrode within 1..N. Injection: voltage, current and power limits. The relay layer
and the injection layer call these before touching a register.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Iterable, Mapping

ROLES = ("A", "B", "M", "N")


class SafetyError(ValueError):
    """A command that would put the hardware in an unsafe state; nothing was changed."""


class SafetyTrip(RuntimeError):
    """A limit was exceeded while injecting (a fault, not a bad command); the
    injection was switched off and every relay released."""


def check_electrode(electrode, n_electrodes: int, role: str = "") -> int:
    if isinstance(electrode, bool) or not isinstance(electrode, numbers.Integral):
        raise SafetyError(f"electrode {role} {electrode!r} is not an integer")
    value = int(electrode)
    if not 1 <= value <= n_electrodes:
        raise SafetyError(f"electrode {role + ' ' if role else ''}{value} outside 1..{n_electrodes}")
    return value


def check_relay_state(state: Mapping[str, Iterable[int]], n_electrodes: int) -> dict[str, frozenset]:
    """Validate a whole relay state {role: electrodes}; returns it normalised."""
    unknown = set(state) - set(ROLES)
    if unknown:
        raise SafetyError(f"unknown role(s) {sorted(unknown)}; allowed: {', '.join(ROLES)}")
    norm = {role: frozenset(check_electrode(e, n_electrodes, role) for e in state.get(role, ())) for role in ROLES}
    both = norm["A"] & norm["B"]
    if both:
        raise SafetyError(f"electrode {min(both)} would be on both A and B (short across the supply)")
    injecting = norm["A"] | norm["B"]
    for role in ("M", "N"):
        clash = norm[role] & injecting
        if clash:
            raise SafetyError(f"electrode {min(clash)} would be on {role} while injecting (A or B)")
    if norm["M"] & norm["N"]:
        raise SafetyError(f"electrode {min(norm['M'] & norm['N'])} would be on both M and N")
    return norm


def check_quadrupole(a, b, m, n, n_electrodes: int) -> tuple[int, int, int, int]:
    """One electrode per role, all distinct and on the instrument."""
    quad = tuple(check_electrode(e, n_electrodes, r) for e, r in zip((a, b, m, n), ROLES))
    check_relay_state(dict(zip(ROLES, ([e] for e in quad))), n_electrodes)
    return quad


@dataclass(frozen=True)
class Limits:
    max_voltage_V: float = 50.0
    max_current_mA: float = 100.0
    max_power_W: float = 5.0

    def check_voltage(self, volts: float) -> None:
        if not 0 <= volts <= self.max_voltage_V:
            raise SafetyError(f"injection voltage {volts:.3g} V outside 0..{self.max_voltage_V} V")

    def check_current(self, current_mA: float, volts: float | None = None) -> None:
        if abs(current_mA) > self.max_current_mA:
            raise SafetyError(f"injection current {current_mA:.4g} mA above the {self.max_current_mA} mA limit")
        if volts is not None and abs(current_mA) * 1e-3 * volts > self.max_power_W:
            raise SafetyError(
                f"injection power {abs(current_mA) * 1e-3 * volts:.3g} W above the {self.max_power_W} W limit"
            )

    def max_safe_voltage(self, loop_ohm: float) -> float:
        """Highest voltage into a loop resistance that respects all three limits."""
        v = self.max_voltage_V
        if loop_ohm > 0:
            v = min(v, self.max_current_mA * 1e-3 * loop_ohm, (self.max_power_W * loop_ohm) ** 0.5)
        return v
