"""Which way round to connect a quadrupole so that the fewest relays move.

Swapping A and B is the same measurement with the injection polarity reversed (the square
wave reverses it anyway); swapping M and N is the same measurement with the voltage's sign
reversed. So from the relays already closed, each quadrupole may be wired in whichever of its
four orientations moves the fewest coils; the procedure undoes the swap in the numbers
(``ab_sign`` reverses the polarity relay, ``mn_sign`` the voltage readings), and the record is
the one asked for. The safety rules hold for every orientation: each is the same four electrodes.
"""

from __future__ import annotations

from typing import Mapping

ORIENTATIONS = ((1, 1), (-1, 1), (1, -1), (-1, -1))  # (ab_sign, mn_sign)


def wired(quad, ab_sign: int, mn_sign: int) -> tuple[int, int, int, int]:
    """The electrodes on the A, B, M, N buses for this orientation."""
    a, b, m, n = quad
    return (a, b)[::ab_sign] + (m, n)[::mn_sign]


def coil_changes(state: Mapping[str, frozenset], physical) -> int:
    """Relays that open or close to go from `state` ({role: electrodes}) to `physical` (A B M N)."""
    return sum(len(state.get(role, frozenset()) ^ {e}) for role, e in zip("ABMN", physical))


def orient(quad, state: Mapping[str, frozenset]) -> tuple[tuple[int, int, int, int], int, int]:
    """(electrodes on A B M N, ab_sign, mn_sign) moving the fewest relays from `state`;
    the orientation asked for wins ties."""
    best = min(ORIENTATIONS, key=lambda signs: coil_changes(state, wired(quad, *signs)))
    return wired(quad, *best), best[0], best[1]


def state_of(physical) -> dict[str, frozenset]:
    return {role: frozenset((e,)) for role, e in zip("ABMN", physical)}
