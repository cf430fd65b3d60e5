"""Several receiver channels: which quadrupoles one A–B injection measures together.

A group is consecutive quadrupoles with the same A and B (in that order: the injection is
shared, so is its sign), up to `channels` of them, dipole i on receiver channel i. The order
that makes good groups starts from the relay-sparing order (``ohmpi.sequence_order``: A–B pairs
nearest first, reciprocals in a block after every normal); inside each run of one A–B the
dipoles are sorted by expected signal (|k|: Vmn ∝ 1/k over any earth to first order), in the
direction the run already went, so a group holds dipoles of similar strength: the stacking of
a group stops when its slowest channel may stop, so a strong dipole waiting for a weak one
would be wasted time. Only the order inside a run changes: the set of quadrupoles, their A–B
runs and each reciprocal's place after its normal are kept. With one channel the order is
exactly ``sequence_order.optimize``'s and every group is one quadrupole.

Relays: every channel has its own M–N boards, so a group moves its channels' relays in
parallel; between groups each channel's dipole moves along, and the dipoles of a group are
put on the channels that move fewest coils (the one sharing an electrode with a dipole just
measured goes to that dipole's channel). More coil changes per quadrupole than one channel
sweeping a run (similar strength and relay sparing pull apart), spread over k times as many
relays: less wear per relay.
"""

from __future__ import annotations

import itertools

import numpy as np

from ohmpi import geometry, sequence_order, sequences
from ohmpi.relay_plan import group_changes, orient_group, state_of


def _runs(quads: np.ndarray) -> list[range]:
    """Maximal index ranges of consecutive quadrupoles sharing A and B (in order)."""
    if not len(quads):
        return []
    change = np.flatnonzero(np.any(quads[1:, :2] != quads[:-1, :2], axis=1)) + 1
    bounds = [0, *change.tolist(), len(quads)]
    return [range(s, e) for s, e in zip(bounds[:-1], bounds[1:])]


def group_ranges(seq, channels: int) -> list[range]:
    """The groups the sequencer measures, in the sequence's own order: consecutive
    quadrupoles with the same A and B, at most `channels` in a group."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels: {channels!r} is not a positive integer")
    quads = sequences._as_quads(seq)
    groups: list[range] = []
    while len(quads) and (not groups or groups[-1].stop < len(quads)):
        groups.append(group_at(quads, groups[-1].stop if groups else 0, channels))
    return groups


def group_at(seq, index: int, channels: int) -> range:
    """The group measured from `index` on: `index` and the quadrupoles after it with the same
    A and B, at most `channels` (what ``group_ranges`` gives from a group's start; from any
    other index, e.g. progress saved by an older version, the groups simply realign)."""
    if not 0 <= index < len(seq):
        raise ValueError(f"index {index} outside 0..{len(seq) - 1}")
    window = sequences._as_quads(seq[index : index + channels])  # only what one group may take: a survey
    size = 1  # step is O(channels), not a copy of the whole sequence
    while size < len(window) and (window[size, :2] == window[0, :2]).all():
        size += 1
    return range(index, index + size)


def order(seq, channels: int, positions=None) -> np.ndarray:
    """The same quadrupoles in an order for `channels` receiver channels: relay-sparing A–B
    runs, dipoles of similar expected signal next to each other inside each run."""
    quads = sequence_order.optimize(seq)
    if channels <= 1 or len(quads) < 2:
        return quads
    if positions is None:
        positions = geometry.line_positions(int(quads.max()))  # |k| scales with spacing: the order does not
    out = quads.copy()
    for run in _runs(quads):
        block = quads[run.start : run.stop]
        try:
            strength = np.abs(geometry.geometric_factors(positions, block))
        except ValueError:  # a dipole without sensitivity: keep the run as it is
            continue
        rank = np.argsort(strength, kind="stable")
        if strength[0] > strength[-1]:  # the run went from far to near: keep going that way
            rank = rank[::-1]
        out[run.start : run.stop] = block[rank]
    return _assign_channels(out, channels)


def _assign_channels(quads: np.ndarray, channels: int) -> np.ndarray:
    """Each group's dipoles put on the channels (their order inside the group) that move the
    fewest relays from the previous group: e.g. the dipole sharing an electrode with one just
    measured goes to that channel."""
    out, state = quads.copy(), {}
    for group in group_ranges(quads, channels):
        a, b = (int(x) for x in quads[group.start, :2])
        dipoles = quads[group][:, 2:].tolist()
        best = None
        for perm in itertools.permutations(range(len(dipoles))):
            wiring, _, _ = orient_group(a, b, [dipoles[i] for i in perm], state)
            cost = group_changes(state, wiring)
            if best is None or cost < best[0]:  # the first (the order given) wins ties
                best = (cost, perm, wiring)
        out[group.start : group.stop] = quads[group][list(best[1])]
        state = state_of(best[2])
    return out


def relay_operations(seq, channels: int) -> int:
    """Coils switched to measure `seq` group by group with held relays (from all open,
    ending with every relay released)."""
    quads = sequences._as_quads(seq)
    state, total = {}, 0
    for group in group_ranges(quads, channels):
        a, b = (int(x) for x in quads[group.start, :2])
        wiring, _, _ = orient_group(a, b, quads[group][:, 2:].tolist(), state)
        total += group_changes(state, wiring)
        state = state_of(wiring)
    return total + sum(len(v) for v in state.values())
