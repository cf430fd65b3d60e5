"""How many surveys the battery has left: state of charge from its resting voltage, the energy
above the reserve, divided by what a survey costs. Pure functions, no I/O.

A 12 V battery's resting (open-circuit) voltage tells its state of charge; the curves below are
typical values of the 12 V charts battery makers and battery guides publish (flooded/AGM lead-acid
at 25 °C; a 4-cell LiFePO4 pack; a 3-cell NMC li-ion pack), as (state of charge %, volts) points,
interpolated linearly. They are rough by nature — temperature, age and a voltage read under load
all move them — so the estimate says what it is based on. LiFePO4's curve is flat between 20 and
90 %: its estimate is coarse there.
"""

from __future__ import annotations

import bisect
import math

# (state of charge %, resting volts) for a 12 V pack, ascending
CURVES: dict[str, tuple[tuple[float, float], ...]] = {
    "lead-acid": (
        (0, 11.50),
        (10, 11.60),
        (20, 11.72),
        (30, 11.84),
        (40, 11.96),
        (50, 12.08),
        (60, 12.20),
        (70, 12.32),
        (80, 12.44),
        (90, 12.56),
        (100, 12.70),
    ),
    "lifepo4": (
        (0, 10.0),
        (10, 12.0),
        (20, 12.8),
        (30, 12.9),
        (40, 13.0),
        (50, 13.05),
        (60, 13.1),
        (70, 13.15),
        (80, 13.2),
        (90, 13.3),
        (100, 13.6),
    ),
    "li-ion": (
        (0, 9.0),
        (10, 11.04),
        (20, 11.22),
        (30, 11.31),
        (40, 11.37),
        (50, 11.46),
        (60, 11.61),
        (70, 11.76),
        (80, 11.94),
        (90, 12.3),
        (100, 12.6),
    ),
}
CHEMISTRIES = tuple(CURVES)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def soc_pct(volts: float | None, chemistry: str) -> float | None:
    """State of charge (0..100 %) from the resting voltage; None when the voltage is unknown."""
    if not _finite(volts):
        return None
    curve = CURVES[chemistry]
    vs = [v for _, v in curve]
    if volts <= vs[0]:
        return 0.0
    if volts >= vs[-1]:
        return 100.0
    i = bisect.bisect_right(vs, volts)
    (s0, v0), (s1, v1) = curve[i - 1], curve[i]
    return s0 + (s1 - s0) * (volts - v0) / (v1 - v0)


def resting_volts(soc: float, chemistry: str) -> float:
    """The resting voltage at a state of charge (the curve read the other way: the simulated battery)."""
    curve = CURVES[chemistry]
    soc = min(100.0, max(0.0, soc))
    socs = [s for s, _ in curve]
    i = min(max(bisect.bisect_right(socs, soc), 1), len(curve) - 1)
    (s0, v0), (s1, v1) = curve[i - 1], curve[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


def wh_left(soc: float | None, capacity_wh: float, reserve_pct: float) -> float | None:
    """Energy above the reserve (taken as proportional to the state of charge); never negative."""
    if soc is None:
        return None
    return max(0.0, (soc - reserve_pct) / 100.0 * capacity_wh)


def survey_wh(energy_j: float | None, duration_s: float, base_load_W: float) -> float:
    """What a survey drew: its metered injection energy plus the instrument's own load over its duration."""
    return ((energy_j or 0.0) + base_load_W * duration_s) / 3600.0


def surveys_left(available_wh: float | None, per_survey_wh: float | None) -> int | None:
    """Whole surveys the energy above the reserve still allows; None when either is unknown."""
    if available_wh is None or not _finite(per_survey_wh) or per_survey_wh <= 0:
        return None
    return int(max(0.0, available_wh) // per_survey_wh)


def estimate(volts: float | None, injection: dict, per_survey_wh: float | None, basis: str) -> dict:
    """The state-of-health fields: battery voltage, charge, energy left and surveys left (with their basis)."""
    soc = soc_pct(volts, injection["battery_chemistry"])
    left = wh_left(soc, injection["battery_capacity_wh"], injection["battery_reserve_pct"])
    if volts is None:
        basis = "no battery voltage measured (a fixed battery is not metered)"
    return {
        "battery_V": volts,
        "battery_soc_pct": None if soc is None else round(soc, 1),
        "battery_wh_left": None if left is None else round(left, 2),
        "survey_wh": None if per_survey_wh is None else round(per_survey_wh, 4),
        "surveys_left": surveys_left(left, per_survey_wh),
        "surveys_left_basis": basis,
    }


def check_config(injection: dict, path: str, error=ValueError) -> None:
    """The battery keys of the injection table; `error` names the key."""
    chemistry = injection.get("battery_chemistry")
    if chemistry not in CURVES:
        raise error(f"{path}battery_chemistry: {chemistry!r}; allowed: {', '.join(CHEMISTRIES)}")
    for key, low, high in (
        ("battery_capacity_wh", 0.001, 1e6),
        ("battery_reserve_pct", 0.0, 99.0),
        ("base_load_W", 0.0, 1e3),
    ):
        value = injection.get(key)
        if not _finite(value) or not low <= value <= high:
            raise error(f"{path}{key}: {value!r} is not a number in {low}..{high}")
