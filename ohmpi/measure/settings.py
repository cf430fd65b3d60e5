"""Measurement settings: names, ranges and defaults in one table, validated by name.

Validation errors are `SettingError`s carrying the field and what is allowed, so a bad value
sent from the web page or a script is answered clearly (no message parsing) and changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

STRATEGIES = ("fixed", "adaptive")


class SettingSpec(NamedTuple):
    """One setting's kind and range; kind "choice" uses `low` as the allowed tuple."""

    kind: str  # int, float, float? (null allowed), floats (a list), bool, choice
    low: object
    high: object
    help: str

    @property
    def allowed(self) -> list | None:
        """The allowed values (choice, bool) or [min, max] (numbers)."""
        if self.kind == "choice":
            return list(self.low)
        if self.kind == "bool":
            return [False, True]
        return [self.low, self.high]


class SettingError(ValueError):
    """A setting refused: `field` names it, `allowed` says what it may be (a list of values, a
    [min, max] range, or the known names for an unknown field)."""

    def __init__(self, field: str, message: str, allowed: list | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.allowed = allowed


SETTINGS_SPEC: dict[str, SettingSpec] = {
    name: SettingSpec(*spec)
    for name, spec in {
        "nb_stack": ("int", 1, 100, "stacks (each a + and a − half-cycle) when target_std_pct is null"),
        "target_std_pct": (
            "float?",
            0.01,
            100.0,
            "stack until the calibrated uncertainty of R is this low (null = always nb_stack stacks)",
        ),
        "min_stacks": ("int", 1, 100, "with target_std_pct: stacks always taken"),
        "max_stacks": ("int", 1, 100, "with target_std_pct: stacks never exceeded"),
        "injection_ms": ("float", 20.0, 30000.0, "duration of one injection half-cycle"),
        "duty_cycle": ("float", 0.1, 1.0, "fraction of each cycle spent injecting"),
        "sampling_hz": ("float", 5.0, 250.0, "ADC sampling rate"),
        "settling_ms": ("float", 0.0, 10000.0, "delay after switching before samples count"),
        "mains_hz": ("choice", (50, 60), None, "mains frequency whose hum is rejected"),
        "strategy": ("choice", STRATEGIES, None, "fixed voltage or adaptive (needs dps5005)"),
        "vab_V": ("float?", 0.0, 50.0, "fixed strategy: supply voltage (null = battery/12 V)"),
        "vmn_target_mV": ("float", 1.0, 4000.0, "adaptive strategy: Vmn to reach"),
        "min_current_mA": ("float", 0.0, 100.0, "below this the record is flagged low_current"),
        "max_std_pct": ("float", 0.0, 100.0, "above this the record is flagged high_std"),
        "auto_gain": ("bool", None, None, "choose the ADC full scale from a first reading"),
        "ip_delay_ms": ("float", 0.0, 30000.0, "IP: delay after switch-off before the first window"),
        "ip_windows_ms": (
            "floats",
            1.0,
            30000.0,
            "IP: widths of the consecutive decay windows (ms), 1 to 20 of them; those beyond the off time are left out",
        ),
    }.items()
}
MAX_IP_WINDOWS = 20


@dataclass(frozen=True)
class Settings:
    nb_stack: int = 2
    target_std_pct: float | None = None
    min_stacks: int = 1
    max_stacks: int = 8
    injection_ms: float = 200.0
    duty_cycle: float = 0.5
    sampling_hz: float = 100.0
    settling_ms: float = 20.0
    mains_hz: int = 50
    strategy: str = "fixed"
    vab_V: float | None = None
    vmn_target_mV: float = 500.0
    min_current_mA: float = 0.1
    max_std_pct: float = 2.0
    auto_gain: bool = True
    # Newmont-style windows scaled to the default 200 ms off time: start at 10 % of it, widen
    # with time (where the decay flattens), end at 90 %
    ip_delay_ms: float = 20.0
    ip_windows_ms: tuple = (20.0, 20.0, 40.0, 80.0)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["ip_windows_ms"] = list(self.ip_windows_ms)
        return out

    def replace(self, **changes) -> "Settings":
        return validate_settings({**self.as_dict(), **changes})


def _finite(value: int | float) -> bool:
    """Finite, for any int too (math.isfinite overflows on ints beyond a float's range)."""
    return isinstance(value, int) or math.isfinite(value)


def _check(name: str, value):
    spec = SETTINGS_SPEC[name]
    kind, low, high, _ = spec
    if kind == "choice":
        if value not in low or isinstance(value, bool):
            raise SettingError(name, f"{value!r} not allowed; allowed: {', '.join(map(str, low))}", spec.allowed)
        return value
    if kind == "floats":
        ok = (
            isinstance(value, (list, tuple))
            and 1 <= len(value) <= MAX_IP_WINDOWS
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v) and low <= v <= high
                for v in value
            )
        )
        if not ok:
            raise SettingError(
                name, f"{value!r} is not a list of 1..{MAX_IP_WINDOWS} numbers in {low}..{high}", spec.allowed
            )
        return tuple(float(v) for v in value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise SettingError(name, f"{value!r} is not true or false", spec.allowed)
        return value
    if value is None and kind == "float?":
        return None
    integral = kind == "int"
    ok_type = isinstance(value, int) if integral else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not (_finite(value) and low <= value <= high):
        what = "an integer" if integral else "a number"
        raise SettingError(name, f"{value!r} is not {what} in {low}..{high}", spec.allowed)
    return int(value) if integral else float(value)


def validate_settings(values: dict | None = None, base: Settings | None = None) -> Settings:
    """`values` over `base` (defaults), every field checked; a SettingError names the field."""
    values = dict(values or {})
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingError(unknown[0], f"unknown setting; allowed: {', '.join(sorted(known))}", sorted(known))
    merged = {**(base or Settings()).as_dict(), **values}
    checked = {name: _check(name, merged[name]) for name in known}
    if checked["min_stacks"] > checked["max_stacks"]:
        raise SettingError(
            "min_stacks",
            f"{checked['min_stacks']} is above max_stacks ({checked['max_stacks']})",
            [SETTINGS_SPEC["min_stacks"].low, checked["max_stacks"]],
        )
    period_ms = 1000.0 / checked["mains_hz"]
    if checked["injection_ms"] < checked["settling_ms"] + period_ms:
        raise SettingError(
            "injection_ms",
            f"{checked['injection_ms']:g} must be at least settling_ms + one mains "
            f"period ({checked['settling_ms'] + period_ms:g} ms) so whole periods can be averaged",
            [checked["settling_ms"] + period_ms, SETTINGS_SPEC["injection_ms"].high],
        )
    return Settings(**checked)
