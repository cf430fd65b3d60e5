"""Which way round to connect a quadrupole (or an A–B with several M–N dipoles, one per
receiver channel) so that the fewest relays move.

Swapping A and B is the same measurement with the injection polarity reversed (the square
wave reverses it anyway); swapping M and N is the same measurement with the voltage's sign
reversed. So from the relays already closed, each quadrupole may be wired in whichever of its
four orientations moves the fewest coils; the procedure undoes the swap in the numbers
(``ab_sign`` reverses the polarity relay, ``mn_sign`` the voltage readings), and the record is
the one asked for. A–B and each channel's M–N sit on their own relay buses, so each pair is
turned on its own. The safety rules hold for every orientation: each is the same electrodes.
"""

from __future__ import annotations

from typing import Mapping

from ohmpi.safety import receiver_roles

ORIENTATIONS = ((1, 1), (-1, 1), (1, -1), (-1, -1))  # (ab_sign, mn_sign)


def wired(quad, ab_sign: int, mn_sign: int) -> tuple[int, int, int, int]:
    """The electrodes on the A, B, M, N buses for this orientation."""
    a, b, m, n = quad
    return (a, b)[::ab_sign] + (m, n)[::mn_sign]


def _changes(state: Mapping[str, frozenset], roles, electrodes) -> int:
    return sum(len(state.get(role, frozenset()) ^ {e}) for role, e in zip(roles, electrodes))


def coil_changes(state: Mapping[str, frozenset], physical) -> int:
    """Relays that open or close to go from `state` ({role: electrodes}) to `physical` (A B M N)."""
    return _changes(state, "ABMN", physical)


def orient_group(a: int, b: int, dipoles, state: Mapping[str, frozenset]) -> tuple[dict, int, list[int]]:
    """({role: electrode} to connect, ab_sign, mn_sign per channel) moving the fewest relays
    from `state`; dipole i goes to receiver channel i; the orientation asked for wins ties."""
    ab_sign = min((1, -1), key=lambda s: _changes(state, "AB", (a, b)[::s]))
    wiring = dict(zip("AB", (a, b)[::ab_sign]))
    mn_signs = []
    for channel, (m, n) in enumerate(dipoles, 1):
        roles = receiver_roles(channel)
        sign = min((1, -1), key=lambda s: _changes(state, roles, (m, n)[::s]))
        wiring.update(zip(roles, (m, n)[::sign]))
        mn_signs.append(sign)
    return wiring, ab_sign, mn_signs


def orient(quad, state: Mapping[str, frozenset]) -> tuple[tuple[int, int, int, int], int, int]:
    """(electrodes on A B M N, ab_sign, mn_sign) moving the fewest relays from `state`;
    the orientation asked for wins ties."""
    a, b, m, n = quad
    wiring, ab_sign, (mn_sign,) = orient_group(a, b, [(m, n)], state)
    return tuple(wiring[role] for role in "ABMN"), ab_sign, mn_sign


def group_changes(state: Mapping[str, frozenset], wiring: Mapping[str, int]) -> int:
    """Relays that open or close to go from `state` to exactly `wiring` ({role: electrode})."""
    roles = set(wiring) | {role for role, electrodes in state.items() if electrodes}
    return sum(len(state.get(role, frozenset()) ^ ({wiring[role]} if role in wiring else set())) for role in roles)


def state_of(physical) -> dict[str, frozenset]:
    """{role: {electrode}} of a wiring: A B M N electrodes, or a {role: electrode} map."""
    pairs = physical.items() if isinstance(physical, Mapping) else zip("ABMN", physical)
    return {role: frozenset((e,)) for role, e in pairs}
