"""OhmPi CSV: current OhmPi's column names, so its tools and ResIPy's OhmPi parser read it.

The columns current OhmPi writes come first with their exact names (``time``, ``a``, ``b``,
``m``, ``n``, ``injection_duration_[ms]``, ``vmn_[mV]``, ``vmn_std_[%]``, ``iab_[mA]``,
``iab_std_[%]``, ``r_[Ohm]``, ``r_std_[%]``, ``rab_[kOhm]``, ``sp_[mV]``, ``nb_stack``,
``vab_[V]``); ours follow in extra columns those parsers ignore (the stack spread, the
uncertainty budget, k, rhoa, the chargeability and its windows, duty cycle, sampling rate,
strategy, flags). ``r_std_[%]`` is the calibrated 1σ uncertainty of R. Missing values are
empty cells; lists (flags, windows) are joined with ";", the budget as ``name=value;...``.
Files of older OhmPi versions (``A,B,M,N``, ``Vmn [mV]``, ``R [Ohm]``, ...) are read too.
Positions are not stored.
"""

from __future__ import annotations

import csv

from ohmpi.formats._io import FormatError, complete, electrode_numbers, number_text, open_text, source_name
from ohmpi.record import make_record

# (column, record field, type) in the order current OhmPi writes them, then ours
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("time", "time", "str"),
    ("a", "a", "int"),
    ("b", "b", "int"),
    ("m", "m", "int"),
    ("n", "n", "int"),
    ("injection_duration_[ms]", "injection_ms", "float"),
    ("vmn_[mV]", "vmn_mV", "float"),
    ("vmn_std_[%]", "vmn_std_pct", "float"),
    ("iab_[mA]", "iab_mA", "float"),
    ("iab_std_[%]", "iab_std_pct", "float"),
    ("r_[Ohm]", "r_ohm", "float"),
    ("r_std_[%]", "r_std_pct", "float"),
    ("rab_[kOhm]", "rab_kohm", "float"),
    ("sp_[mV]", "sp_mV", "float"),
    ("nb_stack", "n_stacks", "int"),
    ("vab_[V]", "vab_V", "float"),
    ("nb_samples", "n_samples", "int"),
    ("r_stack_std_[%]", "r_stack_std_pct", "float"),
    ("r_budget_[%]", "r_budget_pct", "budget"),
    ("k_[m]", "k_m", "float"),
    ("rhoa_[Ohm.m]", "rhoa_ohmm", "float"),
    ("ip_[mV/V]", "ip_mvv", "float"),
    ("ip_std_[mV/V]", "ip_std_mvv", "float"),
    ("ip_windows_[mV/V]", "ip_windows_mvv", "floats"),
    ("ip_delay_[ms]", "ip_delay_ms", "float"),
    ("ip_windows_[ms]", "ip_windows_ms", "floats"),
    ("duty_cycle_[-]", "duty_cycle", "float"),
    ("sampling_[Hz]", "sampling_hz", "float"),
    ("strategy", "strategy", "str"),
    ("flags", "flags", "flags"),
)

# names of the same columns in files of older OhmPi versions (and of this project before)
ALIASES = {
    "A": "a",
    "B": "b",
    "M": "m",
    "N": "n",
    "inj time [ms]": "injection_duration_[ms]",
    "Vmn [mV]": "vmn_[mV]",
    "I [mA]": "iab_[mA]",
    "R [Ohm]": "r_[Ohm]",
    "R [ohm]": "r_[Ohm]",
    "R_std [%]": "r_std_[%]",
    "Ps [mV]": "sp_[mV]",
    "nbStack": "nb_stack",
    "Tx [V]": "vab_[V]",
    "Nb samples [-]": "nb_samples",
    "I_std [%]": "iab_std_[%]",
    "Vmn_std [%]": "vmn_std_[%]",
    "R_ab [kOhm]": "rab_[kOhm]",
    "k [m]": "k_[m]",
    "rhoa [Ohm.m]": "rhoa_[Ohm.m]",
    "duty_cycle [-]": "duty_cycle_[-]",
    "sampling [Hz]": "sampling_[Hz]",
}

FLAG_SEPARATOR = ";"


def _cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "flags":
        for flag in value:
            if FLAG_SEPARATOR in flag:
                raise ValueError(f"flag {flag!r} contains {FLAG_SEPARATOR!r}")
        return FLAG_SEPARATOR.join(value)
    if kind == "str":
        return str(value)
    if kind == "floats":
        return FLAG_SEPARATOR.join(number_text(v) for v in value)
    if kind == "budget":
        return FLAG_SEPARATOR.join(f"{k}={number_text(v)}" for k, v in value.items())
    return number_text(value)


def write(records, positions, target) -> None:
    """Write records (positions are not part of this format and are ignored)."""
    records = complete(records)
    electrode_numbers(records)
    with open_text(target, "w") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow([column for column, _, _ in COLUMNS])
        for record in records:
            writer.writerow([_cell(record[field], kind) for _, field, kind in COLUMNS])


def _parse(text: str, kind: str, column: str, where):
    text = text.strip()
    if kind == "flags":
        return [f.strip() for f in text.split(FLAG_SEPARATOR) if f.strip()]
    if text == "":
        return None
    if kind == "str":
        return text
    if kind in ("floats", "budget"):
        try:
            if kind == "floats":
                return [float(v) for v in text.split(FLAG_SEPARATOR)]
            pairs = [item.split("=", 1) for item in text.split(FLAG_SEPARATOR)]
            return {k.strip(): float(v) for k, v in pairs}
        except ValueError:
            raise where(
                f"column {column!r}: {text!r} is not a list of numbers{'' if kind == 'floats' else ' as name=value'}"
            ) from None
    try:
        value = float(text)
    except ValueError:
        raise where(f"column {column!r}: {text!r} is not a number") from None
    if kind == "int":
        if not value.is_integer():
            raise where(f"column {column!r}: {text!r} is not an integer")
        return int(value)
    return value


def read(target):
    """(records, None): OhmPi CSV carries no electrode positions."""
    source = source_name(target)
    with open_text(target, "r") as stream:
        rows = csv.reader(stream)
        try:
            header = next(rows)
        except StopIteration:
            raise FormatError(source, None, "empty file, expected a header line") from None
        header = [ALIASES.get(name.strip(), name.strip()) for name in header]
        known = {column: (field, kind) for column, field, kind in COLUMNS}
        missing = [c for c in "abmn" if c not in header]
        if missing:
            raise FormatError(
                source,
                1,
                f"missing column(s) {', '.join(missing)} (an OhmPi CSV has a b m n, or A B M N in older versions)",
            )
        used = [(i, name, *known[name]) for i, name in enumerate(header) if name in known]
        records = []
        for line_number, row in enumerate(rows, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue

            def where(reason, line=line_number):
                return FormatError(source, line, reason)

            if len(row) < len(header):
                row = row + [""] * (len(header) - len(row))
            fields = {field: _parse(row[i], kind, name, where) for i, name, field, kind in used}
            for key in "abmn":
                if fields.get(key) is None:
                    raise where(f"electrode {key.upper()} is empty")
            records.append(make_record(**fields))
    return records, None
