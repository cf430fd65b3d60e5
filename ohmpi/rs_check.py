"""Contact-resistance check: which *electrode* is bad, not just which pair.

Rab is measured for every adjacent pair (i, i+1) and every pair one apart (i, i+2).
Each Rab is the sum of two contact resistances, so the pairs form an overdetermined
linear system r_i + r_j = Rab_ij (the odd cycles i, i+1, i+2 make it solvable),
solved by least squares for the per-electrode resistances. An electrode with no
current in any of its pairs is open.
"""

from __future__ import annotations

import math

import numpy as np

from ohmpi.measure.procedure import Aborted, _abort_check
from ohmpi.measure.sampling import full_scale_for
from ohmpi.safety import SafetyError, SafetyTrip

OPEN_MA = 0.005


def _pair_current_mA(board, a: int, b: int, settle_s: float, period_s: float, aborted) -> float:
    """Inject A→B for one mains period after settling; mean current in mA."""
    board.relays.connect({"A": [a], "B": [b]})
    injector, adc, clock = board.injector, board.current_adc, board.clock
    injector.set_polarity(1)
    if aborted():
        raise Aborted("contact check aborted")
    injector.on()
    try:
        clock.sleep(settle_s)
        to_mA = 1000.0 / (board.shunt_ohm * board.current_gain)
        first = adc.read(board.current_mux, 6.144, 860) * to_mA
        fsr = full_scale_for(first / to_mA)
        samples, n = [], 4
        for _ in range(n):
            if aborted():
                raise Aborted("contact check aborted")
            samples.append(adc.read(board.current_mux, fsr, 475) * to_mA)
            clock.sleep(max(0.0, period_s / n - 1 / 475))
        current = float(np.mean(samples))
        try:
            board.limits.check_current(current, injector.voltage)
        except SafetyError as exc:
            raise SafetyTrip(str(exc)) from None
        return current
    finally:
        injector.off()


def solve_contacts(pairs: dict[tuple[int, int], float], n_electrodes: int):
    """Per-electrode contact resistance (ohm) from pair resistances; inf = open."""
    r = np.full(n_electrodes, np.nan)
    open_set = set()
    for e in range(1, n_electrodes + 1):
        mine = [v for (a, b), v in pairs.items() if e in (a, b)]
        if mine and all(math.isinf(v) for v in mine):
            open_set.add(e)
            r[e - 1] = math.inf
    rows, rhs = [], []
    for (a, b), value in pairs.items():
        if math.isfinite(value) and a not in open_set and b not in open_set:
            row = np.zeros(n_electrodes)
            row[a - 1] = row[b - 1] = 1.0
            rows.append(row)
            rhs.append(value)
    if rows:
        known = np.array([e - 1 for e in range(1, n_electrodes + 1) if e not in open_set])
        matrix = np.array(rows)[:, known]
        solution, *_ = np.linalg.lstsq(matrix, np.array(rhs), rcond=None)
        r[known] = np.maximum(solution, 0.0)
    return r


def rs_check(
    board, *, abort=None, settling_ms: float = 20.0, mains_hz: float = 50.0, threshold_kohm: float | None = None
) -> dict:
    """Measure the pairs, solve for every electrode and name the bad and open ones.

    An electrode is bad above `threshold_kohm`, by default five times the median
    contact resistance (at least 1 kΩ above it).
    """
    aborted = _abort_check(abort)
    n = board.relays.n_electrodes
    pairs: dict[tuple[int, int], float] = {}
    try:
        for gap in (1, 2):
            for a in range(1, n - gap + 1):
                b = a + gap
                current = _pair_current_mA(board, a, b, settling_ms / 1000, 1 / mains_hz, aborted)
                pairs[(a, b)] = (
                    board.injector.voltage / (current / 1000) - board.shunt_ohm if current > OPEN_MA else math.inf
                )
    finally:
        board.safe_state()
    contact = solve_contacts(pairs, n)
    finite = contact[np.isfinite(contact)]
    median = float(np.median(finite)) if len(finite) else math.nan
    limit = threshold_kohm * 1000 if threshold_kohm is not None else max(5 * median, median + 1000)
    electrodes, bad, opened = [], [], []
    for e in range(1, n + 1):
        value = contact[e - 1]
        status = "open" if math.isinf(value) else "high" if value > limit else "ok"
        if status == "open":
            opened.append(e)
        elif status == "high":
            bad.append(e)
        electrodes.append(
            {"electrode": e, "contact_kohm": None if math.isinf(value) else value / 1000, "status": status}
        )
    return {
        "pairs": [{"a": a, "b": b, "rab_kohm": None if math.isinf(v) else v / 1000} for (a, b), v in pairs.items()],
        "electrodes": electrodes,
        "bad": bad,
        "open": opened,
        "threshold_kohm": limit / 1000,
    }
