"""The result record of one quadrupole measurement: field names, units, constructor.

One flat dict per measurement, the same everywhere (measurement, bus, database,
file formats), so that every consumer agrees on names and units.
"""

from __future__ import annotations

from typing import NamedTuple


class FieldInfo(NamedTuple):
    name: str
    unit: str
    type: str
    description: str


FIELD_INFO: tuple[FieldInfo, ...] = (
    FieldInfo("a", "", "int", "current electrode A (1-based)"),
    FieldInfo("b", "", "int", "current electrode B (1-based; 0 = at infinity)"),
    FieldInfo("m", "", "int", "potential electrode M (1-based)"),
    FieldInfo("n", "", "int", "potential electrode N (1-based; 0 = at infinity)"),
    FieldInfo(
        "channel", "", "int", "receiver channel that measured M-N (1..k: up to k dipoles share one A-B injection)"
    ),
    FieldInfo("time", "ISO 8601 UTC", "str", "time the measurement ended"),
    FieldInfo("vab_V", "V", "float", "voltage applied between A and B"),
    FieldInfo("iab_mA", "mA", "float", "injected current (mean absolute over stacks)"),
    FieldInfo("iab_std_pct", "%", "float", "relative standard deviation of the current"),
    FieldInfo("vmn_mV", "mV", "float", "potential difference V_M − V_N, self-potential removed"),
    FieldInfo("vmn_std_pct", "%", "float", "relative standard deviation of Vmn"),
    FieldInfo("sp_mV", "mV", "float", "self-potential between M and N"),
    FieldInfo("r_ohm", "ohm", "float", "transfer resistance Vmn / Iab"),
    FieldInfo(
        "r_std_pct", "%", "float", "calibrated 1-sigma uncertainty of R, relative (every source, see r_budget_pct)"
    ),
    FieldInfo("r_stack_std_pct", "%", "float", "spread of R over the half-cycles (relative std, stacking alone)"),
    FieldInfo(
        "r_budget_pct",
        "%",
        "dict[str,float]",
        "uncertainty budget of R: each source's 1-sigma share, combined in quadrature into r_std_pct",
    ),
    FieldInfo("k_m", "m", "float", "signed geometric factor (ABMN order kept)"),
    FieldInfo("rhoa_ohmm", "ohm.m", "float", "apparent resistivity k · R"),
    FieldInfo("rab_kohm", "kohm", "float", "resistance between A and B (contact check)"),
    FieldInfo("ip_mvv", "mV/V", "float", "apparent integral chargeability over the IP windows (width-weighted mean)"),
    FieldInfo("ip_std_mvv", "mV/V", "float", "1-sigma uncertainty of ip_mvv"),
    FieldInfo("ip_windows_mvv", "mV/V", "list[float]", "apparent chargeability of each IP window"),
    FieldInfo("ip_delay_ms", "ms", "float", "delay after switch-off before the first IP window"),
    FieldInfo("ip_windows_ms", "ms", "list[float]", "widths of the consecutive IP windows"),
    FieldInfo("n_stacks", "", "int", "number of stacks (polarity-reversed pairs)"),
    FieldInfo("injection_ms", "ms", "float", "duration of one injection half-cycle"),
    FieldInfo("duty_cycle", "", "float", "fraction of the cycle spent injecting (0-1)"),
    FieldInfo("sampling_hz", "Hz", "float", "ADC sampling rate"),
    FieldInfo("n_samples", "", "int", "number of samples in the full waveform"),
    FieldInfo("strategy", "", "str", "injection strategy (fixed or adaptive)"),
    FieldInfo(
        "flags",
        "",
        "list[str]",
        "quality flags: saturated, low_current, high_std, open_electrode, "
        "ip_wrong_sign (a decay of the wrong sign), ip_noisy (decay buried in noise)",
    ),
)

FIELDS: tuple[str, ...] = tuple(info.name for info in FIELD_INFO)
UNITS: dict[str, str] = {info.name: info.unit for info in FIELD_INFO}
DESCRIPTIONS: dict[str, str] = {info.name: info.description for info in FIELD_INFO}

KNOWN_FLAGS = frozenset({"saturated", "low_current", "high_std", "open_electrode", "ip_wrong_sign", "ip_noisy"})
JSON_TYPES = frozenset({"list[str]", "list[float]", "dict[str,float]"})  # stored as JSON text


def make_record(**fields) -> dict:
    """A complete record: every name of FIELDS, missing ones None, flags a list.

    Raises ValueError naming any unknown field, so typos never pass silently.
    """
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown record field(s): {', '.join(unknown)}")
    record = {name: fields.get(name) for name in FIELDS}
    flags = record["flags"]
    if flags is None:
        record["flags"] = []
    elif isinstance(flags, str):
        record["flags"] = [f for f in flags.replace(";", ",").split(",") if f.strip()]
        record["flags"] = [f.strip() for f in record["flags"]]
    else:
        record["flags"] = list(flags)
    return record


def field_table_markdown() -> str:
    """The field table as Markdown, for the documentation."""
    lines = ["| field | unit | type | description |", "|---|---|---|---|"]
    for info in FIELD_INFO:
        lines.append(f"| `{info.name}` | {info.unit} | {info.type} | {info.description} |")
    return "\n".join(lines)
