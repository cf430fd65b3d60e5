"""Measurement sequences: ABMN files, the classic array generators, reciprocals.

A sequence is an int array (k, 4) of 1-based electrode numbers A B M N.

The generators give exactly the quadrupoles (same set, same order, same ABMN
orientation) of pyGIMLi's ``ert.createData(n, schemeName=...)`` with default
options, so a survey planned here can be compared one-to-one with one planned
there. Counts for 16 / 24 / 32 / 48 / 64 electrodes:

=============  ===  ===  ===  ====  ====
array          16   24   32   48    64
=============  ===  ===  ===  ====  ====
wenner         35   84   155  360   651
schlumberger   49   121  225  529   961
dipole-dipole  91   231  435  1035  1891
gradient       49   105  196  441   784
=============  ===  ===  ===  ====  ====
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


class SequenceError(ValueError):
    """Bad lines of a sequence; ``errors`` lists every (line_number, reason)."""

    def __init__(self, errors: list[tuple[int, str]], source: str = "sequence"):
        self.errors = list(errors)
        shown = "\n".join(f"  line {line}: {reason}" for line, reason in self.errors[:50])
        more = f"\n  ... and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
        super().__init__(f"{source}: {len(self.errors)} bad line(s)\n{shown}{more}")


_SEPARATORS = re.compile(r"[\s,;]+")


def _check_line(tokens: list[str], n_electrodes: int) -> tuple[list[int] | None, str | None]:
    """The four electrode numbers of one line, or the reason it is refused."""
    if len(tokens) != 4:
        return None, f"wrong number of fields: expected 4 (A B M N), got {len(tokens)}"
    numbers = []
    for role, token in zip("ABMN", tokens):
        try:
            numbers.append(int(token, 10))
        except ValueError:
            return None, f"{role} is not an integer: {token!r}"
    problems = []
    for role, value in zip("ABMN", numbers):
        if value < 1:
            problems.append(f"electrode {role}={value} < 1 (electrodes are numbered from 1)")
        elif value > n_electrodes:
            problems.append(f"electrode {role}={value} beyond the instrument ({n_electrodes} electrodes)")
    a, b, m, n = numbers
    if a == b:
        problems.append(f"A = B = {a}: cannot inject on one electrode")
    if m == n:
        problems.append(f"M = N = {m}: cannot measure on one electrode")
    shared = sorted({x for x in (a, b) if x in (m, n)})
    if shared:
        problems.append(
            f"repeated electrode {', '.join(map(str, shared))}: used both to inject (A/B) and to measure (M/N)"
        )
    return (numbers, None) if not problems else (None, "; ".join(problems))


def _check_instrument(n_electrodes) -> int:
    if int(n_electrodes) != n_electrodes or n_electrodes < 4:
        raise ValueError(f"n_electrodes must be an integer ≥ 4, got {n_electrodes!r}")
    return int(n_electrodes)


def parse_sequence(text: str, n_electrodes: int, source: str = "sequence") -> np.ndarray:
    """Quadrupoles (k, 4) from "A B M N" lines (whitespace or comma separated).

    ``#`` starts a comment; blank lines are ignored. Every bad line is reported
    at once in a SequenceError, so a user fixes a file in one go.
    """
    n_electrodes = _check_instrument(n_electrodes)
    rows, errors = [], []
    for line_number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        tokens = [t for t in _SEPARATORS.split(content) if t]
        numbers, reason = _check_line(tokens, n_electrodes)
        if reason:
            errors.append((line_number, reason))
        else:
            rows.append(numbers)
    if errors:
        raise SequenceError(errors, source)
    if not rows:
        raise SequenceError([(0, "no quadrupoles in the sequence")], source)
    return np.array(rows, dtype=int)


def load_sequence(path, n_electrodes: int) -> np.ndarray:
    """parse_sequence on a file; errors name the file."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_sequence(text, n_electrodes, source=str(path))


def format_sequence(array) -> str:
    """One "A B M N" line per quadrupole, the inverse of parse_sequence."""
    quads = np.asarray(array, dtype=int).reshape(-1, 4)
    return "".join(f"{a} {b} {m} {n}\n" for a, b, m, n in quads.tolist())


# --- generators ----------------------------------------------------------------------


def _stack(blocks: list[np.ndarray]) -> np.ndarray:
    return np.vstack(blocks).astype(int) if blocks else np.zeros((0, 4), dtype=int)


def wenner(n: int) -> np.ndarray:
    """Wenner alpha, A M N B equally spaced by a = s electrodes.

    Rule: every s ≥ 1 and every first electrode A with A + 3s ≤ n, looping s
    outermost; count Σ_{s≥1} max(0, n − 3s).
    """
    n = _check_instrument(n)
    blocks = []
    for s in range(1, n):
        first = np.arange(1, n - 3 * s + 1)
        if first.size:
            blocks.append(np.column_stack([first, first + 3 * s, first + s, first + 2 * s]))
    return _stack(blocks)


def schlumberger(n: int) -> np.ndarray:
    """Wenner–Schlumberger with MN = one spacing and AM = NB = s spacings.

    Rule: every s ≥ 1 and every A with A + 2s + 1 ≤ n (B = A + 2s + 1,
    M = A + s, N = M + 1); count Σ_{s≥1} max(0, n − 1 − 2s), i.e. ⌊(n−2)/2⌋·⌊(n−1)/2⌋.
    """
    n = _check_instrument(n)
    blocks = []
    for s in range(1, n):
        first = np.arange(1, n - 2 * s)
        if first.size:
            blocks.append(np.column_stack([first, first + 2 * s + 1, first + s, first + s + 1]))
    return _stack(blocks)


def dipole_dipole(n: int) -> np.ndarray:
    """Dipole-dipole with unit dipoles: A, B = A + 1, M = B + s, N = M + 1.

    Rule: every separation s ≥ 1 (M − B, in spacings) and every A with
    N = A + s + 2 ≤ n; count (n − 2)(n − 3)/2. The A B M N orientation
    (as pyGIMLi) gives negative k and R; their product rhoa is positive.
    """
    n = _check_instrument(n)
    blocks = []
    for s in range(1, n):
        first = np.arange(1, n - s - 1)
        if first.size:
            blocks.append(np.column_stack([first, first + 1, first + 1 + s, first + 2 + s]))
    return _stack(blocks)


def gradient(n: int) -> np.ndarray:
    """Multiple gradient: A … M N … B, with 7 potential dipoles inside each AB.

    Rule (pyGIMLi's 'gr'): for the odd j with j < ceil(n/9), AB spans 9j
    spacings and MN spans j; for every A with B = A + 9j ≤ n, M = A + i·j for
    i = 1…7 and N = M + j. Count 7 · Σ_j (n − 9j); zero below 10 electrodes.
    """
    n = _check_instrument(n)
    blocks = []
    for j in range(1, -(-n // 9), 2):
        ab = 9 * j
        first = np.repeat(np.arange(1, n - ab + 1), 7)
        step = np.tile(np.arange(1, 8), n - ab) * j
        blocks.append(np.column_stack([first, first + ab, first + step, first + step + j]))
    return _stack(blocks)


GENERATORS = {
    "wenner": wenner,
    "schlumberger": schlumberger,
    "dipole-dipole": dipole_dipole,
    "gradient": gradient,
}
ALIASES = {
    "wa": "wenner",
    "slm": "schlumberger",
    "dd": "dipole-dipole",
    "dipole_dipole": "dipole-dipole",
    "gr": "gradient",
}


def generate(name: str, n: int) -> np.ndarray:
    """The named array for n electrodes (names of GENERATORS or ALIASES)."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in GENERATORS:
        known = ", ".join([*GENERATORS, *ALIASES])
        raise ValueError(f"unknown array {name!r}; known: {known}")
    quads = GENERATORS[key](n)
    if len(quads) == 0:
        raise ValueError(f"{key} array has no quadrupole with {n} electrodes")
    return quads


# --- reciprocals ---------------------------------------------------------------------


def _as_quads(seq) -> np.ndarray:
    quads = np.asarray(seq, dtype=int)
    if quads.ndim != 2 or quads.shape[1] != 4:
        raise ValueError(f"a sequence has shape (k, 4), got {quads.shape}")
    return quads


def with_reciprocals(seq) -> np.ndarray:
    """The sequence followed by M N A B for each A B M N not already in it."""
    quads = _as_quads(seq)
    present = {tuple(q) for q in quads.tolist()}
    extra = []
    for a, b, m, n in quads.tolist():
        reciprocal = (m, n, a, b)
        if reciprocal not in present:
            present.add(reciprocal)
            extra.append(reciprocal)
    return np.vstack([quads, np.array(extra, dtype=int).reshape(-1, 4)])


def _same_measurement(a, b, m, n) -> tuple:
    """One key for A B M N and B A N M: flipping both dipoles keeps R."""
    return min((a, b, m, n), (b, a, n, m))


def reciprocal_pairs(seq) -> np.ndarray:
    """Index pairs (normal, reciprocal), shape (p, 2), normal first in the sequence.

    The reciprocal of A B M N is M N A B, or N M B A (same R: both dipoles flipped).
    Each row takes part in one pair at most.
    """
    quads = _as_quads(seq)
    waiting: dict[tuple, list[int]] = {}
    pairs = []
    for index, (a, b, m, n) in enumerate(quads.tolist()):
        partners = waiting.get(_same_measurement(a, b, m, n))
        if partners:
            pairs.append((partners.pop(0), index))
        else:
            waiting.setdefault(_same_measurement(m, n, a, b), []).append(index)
    return np.array(pairs, dtype=int).reshape(-1, 2)


def reciprocal_error(r_normal, r_reciprocal):
    """Reciprocal error in percent: |Rn − Rr| / mean(|Rn|, |Rr|) × 100.

    NaN where both resistances are zero (no meaningful relative error).
    """
    rn = np.asarray(r_normal, dtype=float)
    rr = np.asarray(r_reciprocal, dtype=float)
    mean = (np.abs(rn) + np.abs(rr)) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mean > 0, np.abs(rn - rr) / np.where(mean > 0, mean, 1.0) * 100.0, np.nan)
    return out if out.ndim else float(out)
