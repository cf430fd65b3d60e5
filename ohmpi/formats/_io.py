"""Shared plumbing of the format modules: opening files, numbers, errors."""

from __future__ import annotations

import contextlib
import io
import math
import os
from typing import Iterator, TextIO

from ohmpi.record import make_record


@contextlib.contextmanager
def open_text(target, mode: str) -> Iterator[TextIO]:
    """A text stream for a path (opened and closed here) or an open file object."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, mode, encoding="utf-8", newline="") as stream:
            yield stream
    elif isinstance(target, io.TextIOBase) or hasattr(target, "write" if "w" in mode else "read"):
        yield target
    else:
        raise TypeError(f"expected a path or a text file object, got {type(target).__name__}")


def source_name(target) -> str:
    """How error messages name a file."""
    if isinstance(target, (str, os.PathLike)):
        return str(target)
    return str(getattr(target, "name", "<stream>"))


class FormatError(ValueError):
    """A malformed file; the message names the file and the line."""

    def __init__(self, source: str, line: int | None, reason: str):
        self.source, self.line, self.reason = source, line, reason
        where = f"{source} line {line}" if line else source
        super().__init__(f"{where}: {reason}")


def number_text(value, digits: int | None = None) -> str:
    """Text for a number: shortest exact repr, or a fixed count of significant digits."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value) if digits is None else format(value, f".{digits}g")


def electrode_numbers(records) -> list[tuple[int, int, int, int]]:
    """(a, b, m, n) of each record as ints; a clear error for a record without them."""
    out = []
    for index, record in enumerate(records):
        try:
            quad = tuple(int(record[key]) for key in "abmn")
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"record {index + 1}: a, b, m, n must be integers, got {[record.get(k) for k in 'abmn']}"
            ) from None
        if min(quad) < 0:
            raise ValueError(f"record {index + 1}: negative electrode number in {quad}")
        out.append(quad)
    return out


def complete(records) -> list[dict]:
    """Records as full dicts (make_record fills what is missing, refuses unknown names)."""
    return [make_record(**dict(record)) for record in records]
