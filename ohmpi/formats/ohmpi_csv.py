"""OhmPi v2024 CSV: OhmPi's own column names, so its tools and ResIPy parsers read it.

The columns OhmPi writes come first with their exact names (``A``, ``B``, ``M``,
``N``, ``Vmn [mV]``, ``I [mA]``, ``R [Ohm]``, ``R_std [%]``, ``Ps [mV]``,
``nbStack``...); the fields OhmPi lacks (k, rhoa, duty cycle, sampling rate,
strategy, flags) follow in extra columns that those parsers ignore. Missing
values are empty cells; flags are joined with ";". Positions are not stored.
"""

from __future__ import annotations

import csv

from ohmpi.formats._io import FormatError, complete, electrode_numbers, number_text, open_text, source_name
from ohmpi.record import make_record

# (column, record field, type) in the order OhmPi writes them, then ours
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("time", "time", "str"),
    ("A", "a", "int"),
    ("B", "b", "int"),
    ("M", "m", "int"),
    ("N", "n", "int"),
    ("inj time [ms]", "injection_ms", "float"),
    ("Vmn [mV]", "vmn_mV", "float"),
    ("I [mA]", "iab_mA", "float"),
    ("R [Ohm]", "r_ohm", "float"),
    ("R_std [%]", "r_std_pct", "float"),
    ("Ps [mV]", "sp_mV", "float"),
    ("nbStack", "n_stacks", "int"),
    ("Tx [V]", "vab_V", "float"),
    ("Nb samples [-]", "n_samples", "int"),
    ("I_std [%]", "iab_std_pct", "float"),
    ("Vmn_std [%]", "vmn_std_pct", "float"),
    ("R_ab [kOhm]", "rab_kohm", "float"),
    ("k [m]", "k_m", "float"),
    ("rhoa [Ohm.m]", "rhoa_ohmm", "float"),
    ("duty_cycle [-]", "duty_cycle", "float"),
    ("sampling [Hz]", "sampling_hz", "float"),
    ("strategy", "strategy", "str"),
    ("flags", "flags", "flags"),
)

# spellings found in files of other OhmPi versions
ALIASES = {"R [ohm]": "R [Ohm]", "inj time [ms] ": "inj time [ms]"}

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
        missing = [c for c in "ABMN" if c not in header]
        if missing:
            raise FormatError(source, 1, f"missing column(s) {', '.join(missing)} (an OhmPi CSV has A B M N)")
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
