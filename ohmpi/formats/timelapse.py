"""Time-lapse: the passes of a repeated survey lined up on the same quadrupoles, in the same order.

ResIPy's and pyGIMLi's time-lapse tools expect one file per pass with the same data in the
same order (a difference inversion subtracts them datum by datum). ``common_quadrupoles``
are those with a finite R in every pass, in sequence order; ``matrix_text`` writes R
(Ω) as a CSV table, one row per quadrupole and one column per pass, headed by the pass's
first measurement time.
"""

from __future__ import annotations

import csv
import io
import math

from ohmpi.formats._io import number_text


def _finite(row) -> bool:
    return row["r_ohm"] is not None and math.isfinite(row["r_ohm"])


def _quad(row) -> tuple:
    return (row["a"], row["b"], row["m"], row["n"])


def passes(rows) -> dict:
    """{pass_index: [rows in sequence order]} (measurements outside a pass are ignored)."""
    out: dict = {}
    for row in sorted(
        (r for r in rows if r.get("pass_index") is not None), key=lambda r: (r["pass_index"], r.get("seq_index") or 0)
    ):
        out.setdefault(row["pass_index"], []).append(row)
    return out


def common_quadrupoles(rows) -> list[tuple]:
    """The quadrupoles with a finite R in every pass, in the order of the first pass."""
    by_pass = passes(rows)
    if not by_pass:
        return []
    sets = [{_quad(r) for r in group if _finite(r)} for group in by_pass.values()]
    shared = set.intersection(*sets)
    first = next(iter(by_pass.values()))
    return list(dict.fromkeys(_quad(r) for r in first if _quad(r) in shared))


def in_order(rows, quadrupoles) -> list:
    """`rows` of one pass reduced to `quadrupoles`, in their order (the first finite one of each)."""
    found = {}
    for row in rows:
        if _finite(row):
            found.setdefault(_quad(row), row)
    return [found[q] for q in quadrupoles if q in found]


def matrix_text(rows, notes: list) -> tuple[str, int]:
    """(CSV text, number of quadrupoles): a, b, m, n then R of each pass."""
    by_pass = passes(rows)
    quads = common_quadrupoles(rows)
    total = len({_quad(r) for r in rows})
    if total > len(quads):
        notes.append(f"{total - len(quads)} quadrupole(s) without a finite R in every pass left out")
    columns = {p: {_quad(r): r for r in group if _finite(r)} for p, group in by_pass.items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["a", "b", "m", "n"]
    for p, group in by_pass.items():
        header.append(f"r_[Ohm]@pass{p}@{group[0]['time'] or ''}")
    writer.writerow(header)
    for q in quads:
        writer.writerow([*q, *(number_text(columns[p][q]["r_ohm"]) for p in by_pass)])
    return out.getvalue(), len(quads)
