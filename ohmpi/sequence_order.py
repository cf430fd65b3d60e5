"""A measuring order that moves the fewest relays: A–B stay while M–N move.

Same quadrupoles (each with its own A B M N), only the order changes. Quadrupoles are grouped
by their injection pair; groups follow each other nearest first, and inside a group the M–N
dipoles are swept in the order (ascending, descending or nearest-next) that switches fewest
coils, each quadrupole wired the way round that moves fewest (``ohmpi.relay_plan``).
Reciprocal pairing is kept: the quadrupoles measured as reciprocals of earlier ones are
ordered in a second block after every normal one, so each normal still comes first.
"""

from __future__ import annotations

import numpy as np

from ohmpi import sequences
from ohmpi.relay_plan import coil_changes, orient, state_of


def relay_operations(seq, start: dict | None = None) -> int:
    """Coils switched to measure `seq` in this order with held relays (from all open, ending
    with every relay released) — what the instrument would count."""
    state, total = start or {}, 0
    for quad in np.asarray(seq, dtype=int).tolist():
        physical, _, _ = orient(quad, state)
        total += coil_changes(state, physical)
        state = state_of(physical)
    return total + sum(len(v) for v in state.values())


def optimize(seq) -> np.ndarray:
    """The same quadrupoles in a relay-sparing order (reciprocals still after their normals),
    never one that moves more relays than the order given."""
    quads = sequences._as_quads(seq)
    if len(quads) < 3:
        return quads.copy()
    later = set(sequences.reciprocal_pairs(quads)[:, 1].tolist())
    blocks = [[i for i in range(len(quads)) if i not in later], sorted(later)]
    order, state = [], {}
    for block in blocks:
        block_order, state = _order_block(quads, block, state)
        order.extend(block_order)
    found = quads[order]
    # a heuristic: the sequence's own order, when it already moves fewer relays, is kept
    return found if relay_operations(found) <= relay_operations(quads) else quads.copy()


def _order_block(quads: np.ndarray, indices: list[int], state: dict) -> tuple[list[int], dict]:
    if not indices:
        return [], state
    groups: dict[frozenset, list[int]] = {}
    for i in indices:
        groups.setdefault(frozenset(quads[i, :2].tolist()), []).append(i)
    keys = list(groups)  # in the order first met: ties keep the sequence's own order
    members = np.concatenate([groups[k] for k in keys])
    owner = np.repeat(np.arange(len(keys)), [len(groups[k]) for k in keys])
    left = np.ones(len(members), bool)
    out = []
    while left.any():
        costs = np.where(left, _costs(state, quads[members]), np.iinfo(np.int64).max)
        key = int(owner[int(np.argmin(costs))])  # argmin: the first of the cheapest
        left[owner == key] = False
        sweep, state = _sweep(quads, groups[keys[key]], state)
        out.extend(sweep)
    return out, state


def _costs(state: dict, quads: np.ndarray) -> np.ndarray:
    """`_cost` for many quadrupoles at once (vectorised: thousands of groups)."""
    held = [next(iter(state[r])) if state.get(r) else 0 for r in "ABMN"]
    best = None
    for ab, mn in (
        (quads[:, [0, 1]], quads[:, [2, 3]]),
        (quads[:, [1, 0]], quads[:, [2, 3]]),
        (quads[:, [0, 1]], quads[:, [3, 2]]),
        (quads[:, [1, 0]], quads[:, [3, 2]]),
    ):
        wiring = np.hstack([ab, mn])
        cost = sum(np.where(wiring[:, k] == held[k], 0, 2 if held[k] else 1) for k in range(4))
        best = cost if best is None else np.minimum(best, cost)
    return best


def _cost(state: dict, quad) -> int:
    physical, _, _ = orient(quad.tolist(), state)
    return coil_changes(state, physical)


def _walk(quads, order, state) -> tuple[int, dict]:
    total = 0
    for i in order:
        physical, _, _ = orient(quads[i].tolist(), state)
        total += coil_changes(state, physical)
        state = state_of(physical)
    return total, state


def _sweep(quads, group: list[int], state: dict) -> tuple[list[int], dict]:
    """The cheapest of: M–N ascending, descending, or always the nearest next."""
    ascending = sorted(group, key=lambda i: (min(quads[i, 2:]), max(quads[i, 2:]), i))
    nearest, here, left = [], state, list(group)
    while left:
        best = min(left, key=lambda i: _cost(here, quads[i]))
        left.remove(best)
        nearest.append(best)
        here = state_of(orient(quads[best].tolist(), here)[0])
    candidates = [ascending, ascending[::-1], nearest]
    walks = [_walk(quads, order, state) for order in candidates]
    best = min(range(3), key=lambda k: walks[k][0])
    return candidates[best], walks[best][1]
