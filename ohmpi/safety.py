"""Rules that protect the instrument and the people near it, checked below every caller.

Relays: an electrode never on both A and B (a short across the supply); no receiver role
on an electrode that injects (the voltmeter would take the injection voltage); within one
receiver channel M and N never on the same electrode; every electrode within 1..N.
Injection: voltage, current and power limits. The relay layer and the injection layer call
these before touching a register.

Roles are per instrument: A and B inject; each receiver channel i has its own M–N pair (``M``,
``N`` for channel 1, ``M2``, ``N2`` for channel 2, ...). Two channels MAY share an electrode
(N of one dipole = M of the next: how multi-channel receivers measure consecutive dipoles):
that ties two high-impedance ADC inputs to one electrode, which draws no current and
shorts nothing, so it is allowed. What stays forbidden is per channel (M_i = N_i reads zero
and ties the two inputs of one differential pair) and against the injection (any receiver
role on A or B).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Iterable, Mapping

ROLES = ("A", "B", "M", "N")  # a one-channel instrument; channel i > 1 adds M<i>, N<i>
INJECTION_ROLES = ("A", "B")
MAX_CHANNELS = 6  # three ADS1115 beside the current's, two differential pairs each


def receiver_roles(channel: int) -> tuple[str, str]:
    """The M and N roles of receiver channel `channel` (1-based)."""
    return ("M", "N") if channel == 1 else (f"M{channel}", f"N{channel}")


def roles_for(channels: int) -> tuple[str, ...]:
    """Every relay role of an instrument with `channels` receiver channels."""
    return INJECTION_ROLES + tuple(r for c in range(1, channels + 1) for r in receiver_roles(c))


ALL_ROLES = roles_for(MAX_CHANNELS)


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
    unknown = set(state) - set(ALL_ROLES)
    if unknown:
        raise SafetyError(
            f"unknown role(s) {sorted(map(str, unknown))}; allowed: {', '.join(ROLES)} (M<i>, N<i> for channel i)"
        )
    roles = [role for role in ALL_ROLES if role in ROLES or role in state]
    norm = {role: frozenset(check_electrode(e, n_electrodes, role) for e in state.get(role, ())) for role in roles}
    both = norm["A"] & norm["B"]
    if both:
        raise SafetyError(f"electrode {min(both)} would be on both A and B (short across the supply)")
    injecting = norm["A"] | norm["B"]
    for role in roles[2:]:
        clash = norm[role] & injecting
        if clash:
            raise SafetyError(f"electrode {min(clash)} would be on {role} while injecting (A or B)")
    for channel in range(1, MAX_CHANNELS + 1):
        m, n = receiver_roles(channel)
        same = norm.get(m, frozenset()) & norm.get(n, frozenset())
        if same:
            raise SafetyError(f"electrode {min(same)} would be on both {m} and {n}")
    return norm


def check_quadrupole(a, b, m, n, n_electrodes: int) -> tuple[int, int, int, int]:
    """One electrode per role, all distinct and on the instrument."""
    quad = tuple(check_electrode(e, n_electrodes, r) for e, r in zip((a, b, m, n), ROLES))
    check_relay_state(dict(zip(ROLES, ([e] for e in quad))), n_electrodes)
    return quad


def group_state(a, b, dipoles, n_electrodes: int, channels: int) -> dict[str, frozenset]:
    """The relay state measuring `dipoles` ((m, n) per channel, channel 1 first) while A–B
    inject, checked: one electrode per role, at most `channels` dipoles."""
    dipoles = list(dipoles)
    if not 1 <= len(dipoles) <= channels:
        raise SafetyError(f"{len(dipoles)} M–N dipoles for {channels} receiver channel(s): allowed 1..{channels}")
    state = {"A": [check_electrode(a, n_electrodes, "A")], "B": [check_electrode(b, n_electrodes, "B")]}
    for channel, dipole in enumerate(dipoles, 1):
        if len(dipole) != 2:
            raise SafetyError(f"dipole {channel}: expected (m, n), got {dipole!r}")
        for role, e in zip(receiver_roles(channel), dipole):
            state[role] = [check_electrode(e, n_electrodes, role)]
    return check_relay_state(state, n_electrodes)


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
