"""Data files for the inversion programs: OhmPi CSV, pyGIMLi/BERT .ohm, ResIPy protocol.dat.

``write(fmt, records, positions, target)`` and ``read(fmt, target) -> (records,
positions)``; records are dicts as from ``ohmpi.record.make_record``; target is a
path or an open text file; positions is None for formats that carry none.
"""

from __future__ import annotations

from pathlib import Path

from ohmpi.formats import ohm, ohmpi_csv, protocol
from ohmpi.formats._io import FormatError

FORMATS = {"ohm": ohm, "protocol": protocol, "csv": ohmpi_csv}
EXTENSIONS = {".ohm": "ohm", ".dat": "protocol", ".csv": "csv"}

__all__ = ["FORMATS", "FormatError", "guess_format", "read", "write"]


def _module(fmt: str):
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        raise ValueError(f"unknown data format {fmt!r}; known: {', '.join(FORMATS)}") from None


def write(fmt: str, records, positions, target) -> None:
    """Write records (and positions where the format holds them) to a path or text file."""
    _module(fmt).write(records, positions, target)


def read(fmt: str, target):
    """(records, positions) from a path or text file; FormatError names the bad line."""
    return _module(fmt).read(target)


def guess_format(path) -> str:
    """The format a file name suggests (.ohm, .dat, .csv)."""
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ValueError(f"cannot tell the format of {str(path)!r}; use one of {', '.join(EXTENSIONS)}")
    return EXTENSIONS[suffix]
