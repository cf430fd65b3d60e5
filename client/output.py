"""Printing results: JSON for machines, aligned tables for people."""

from __future__ import annotations

import json
import sys


def _default(obj):
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def to_json(data, *, indent: int | None = None) -> str:
    return json.dumps(data, default=_default, indent=indent, ensure_ascii=False)


def table(rows: list[dict], columns: list[tuple[str, str]], out=sys.stdout) -> None:
    """Print `rows` as a table with (key, heading) `columns`."""
    cells = [[h for _, h in columns]] + [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(), file=out)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)
