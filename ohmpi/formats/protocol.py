"""ResIPy / R2 ``protocol.dat``: the measurement count, then ``i a b m n R [err]``.

For one 2-D line the electrode numbers are plain (1-based); R is the transfer
resistance in Ω; the optional last column is its standard deviation in Ω
(|R| · r_std_pct / 100), written only when every record has r_std_pct. R2 has
no electrode at infinity (a remote electrode is a real one far away), so
B = 0 or N = 0 is refused. The reader also takes the 3-D layout
``i sa a sb b sm m sn n R [err]`` when every electrode is on the same string.
"""

from __future__ import annotations

import math

from ohmpi.formats._io import FormatError, complete, electrode_numbers, number_text, open_text, source_name
from ohmpi.record import make_record

DIGITS = 12


def write(records, positions, target) -> None:
    """Write records (positions are not part of this format and are ignored)."""
    records = complete(records)
    quads = electrode_numbers(records)
    for index, (quad, record) in enumerate(zip(quads, records)):
        if 0 in quad:
            raise ValueError(f"record {index + 1}: protocol.dat has no electrode at infinity (0 in {quad})")
        if record["r_ohm"] is None:
            raise ValueError(f"record {index + 1}: protocol.dat needs r_ohm")
    with_errors = bool(records) and all(r["r_std_pct"] is not None for r in records)
    with open_text(target, "w") as stream:
        stream.write(f"{len(records)}\n")
        for index, (quad, record) in enumerate(zip(quads, records), start=1):
            r = float(record["r_ohm"])
            values = [str(index), *map(str, quad), number_text(r, DIGITS)]
            if with_errors:
                values.append(number_text(abs(r) * float(record["r_std_pct"]) / 100.0, DIGITS))
            stream.write("\t".join(values) + "\n")


def _electrodes_3d(numbers, where):
    strings = {numbers[i] for i in (0, 2, 4, 6)}
    if len(strings) != 1:
        raise where(f"electrodes on several strings {sorted(strings)}: only one line is supported")
    return [numbers[i] for i in (1, 3, 5, 7)]


def read(target):
    """(records, None): protocol.dat carries no electrode positions."""
    source = source_name(target)
    with open_text(target, "r") as stream:
        lines = [(i, line.split()) for i, line in enumerate(stream.read().splitlines(), start=1)]
    lines = [(i, fields) for i, fields in lines if fields]
    if not lines:
        raise FormatError(source, None, "empty file, expected the number of measurements")
    first_line, first = lines[0]
    if len(first) != 1 or not first[0].isdigit():
        raise FormatError(source, first_line, f"expected the number of measurements, got {' '.join(first)!r}")
    expected = int(first[0])
    body = lines[1:]
    if len(body) != expected:
        raise FormatError(source, first_line, f"announces {expected} measurements, file has {len(body)}")
    records = []
    for number, fields in body:

        def where(reason, line=number):
            return FormatError(source, line, reason)

        if len(fields) in (6, 7):
            int_count = 5
        elif len(fields) in (10, 11):
            int_count = 9
        else:
            raise where(f"expected 6 or 7 columns (i a b m n R [err]), or 10/11 for 3-D; got {len(fields)}")
        try:
            ints = [int(f) for f in fields[:int_count]]
        except ValueError:
            raise where("index and electrode numbers must be integers") from None
        try:
            values = [float(f) for f in fields[int_count:]]
        except ValueError:
            raise where("R and its error must be numbers") from None
        quad = ints[1:5] if int_count == 5 else _electrodes_3d(ints[1:], where)
        if min(quad) < 1:
            raise where(f"electrode numbers start at 1, got {quad}")
        r = values[0]
        std_pct = None
        if len(values) == 2:
            std_pct = abs(values[1]) / abs(r) * 100.0 if r != 0 else (0.0 if values[1] == 0 else math.inf)
        records.append(make_record(a=quad[0], b=quad[1], m=quad[2], n=quad[3], r_ohm=r, r_std_pct=std_pct))
    return records, None
