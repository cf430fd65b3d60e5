"""Stack until good enough: a quiet quadrupole stops after few stacks, a noisy one gets more,
and one that cannot reach the target even with max_stacks stops at once (after min_stacks):
it carries the `high_std` flag whatever it costs, so more stacks would spend field time and
battery on data an inversion leaves out. Raise `min_stacks` for a floor under every record.

The measure of "good enough" is the calibrated uncertainty of R (``r_std_pct``, built from
every sample: its estimate is already stable after one stack, so stopping on it does not
bias the error bars the way stopping on a two-stack spread would).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence


def planned_stacks(settings) -> int:
    """Stacks the loop may run: a fixed nb_stack, or up to max_stacks with a target."""
    return settings.nb_stack if settings.target_std_pct is None else settings.max_stacks


def enough(settings, done: int, uncertainty_pct: Callable[[], float | Sequence[float]]) -> bool:
    """True when stacking may stop after `done` stacks (the uncertainty is only computed
    when the answer depends on it). Several receiver channels (a list, one value each): stop
    when every channel may stop — reached the target, or cannot reach it within max_stacks.
    So the channel that still can and is furthest from the target sets the pace, and a
    hopeless far dipole in the group never forces max_stacks on the others (nor do the
    others stop before a channel that max_stacks would still bring to the target)."""
    if done >= planned_stacks(settings):
        return True
    if settings.target_std_pct is None or done < settings.min_stacks:
        return False
    values = uncertainty_pct()
    return all(_may_stop(settings, done, value) for value in (values if isinstance(values, Sequence) else [values]))


def _may_stop(settings, done: int, value: float) -> bool:
    if math.isnan(value):  # nothing known: stack as without a target
        return done >= settings.nb_stack
    if value <= settings.target_std_pct:
        return True
    # stacking shrinks the uncertainty as 1/√stacks: when even max_stacks would not reach the
    # target, more stacks only cost time (done >= min_stacks here)
    return done * (value / settings.target_std_pct) ** 2 > settings.max_stacks
