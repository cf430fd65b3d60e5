"""Electrode positions and the geometric factor of four-electrode arrays.

Electrodes are numbered from 1 as on the instrument; number 0 for B or N means
"at infinity" (pole arrays), so every term involving it is dropped.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

TWO_PI = 2.0 * np.pi


def line_positions(n_electrodes: int, spacing: float = 1.0) -> np.ndarray:
    """Positions (n, 3) of a straight surface line: x = 0, spacing, ...; y = z = 0."""
    if int(n_electrodes) != n_electrodes or n_electrodes < 1:
        raise ValueError(f"n_electrodes must be a positive integer, got {n_electrodes!r}")
    if not np.isfinite(spacing) or spacing <= 0:
        raise ValueError(f"spacing must be a positive number, got {spacing!r}")
    positions = np.zeros((int(n_electrodes), 3))
    positions[:, 0] = np.arange(int(n_electrodes)) * float(spacing)
    return positions


def positions_from_xyz(rows: Iterable[Sequence[float]]) -> np.ndarray:
    """Positions (n, 3) from explicit rows of x, y[, z] (z defaults to 0)."""
    table = [list(map(float, row)) for row in rows]
    if not table:
        raise ValueError("no electrode positions given")
    out = np.zeros((len(table), 3))
    for i, row in enumerate(table):
        if len(row) not in (1, 2, 3):
            raise ValueError(f"electrode {i + 1}: expected x [y [z]], got {len(row)} values")
        out[i, : len(row)] = row
    if not np.all(np.isfinite(out)):
        raise ValueError("electrode positions must be finite numbers")
    return out


def _as_positions(positions) -> np.ndarray:
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (n, 3), got {pos.shape}")
    return pos


def check_quadrupoles(abmn: np.ndarray, n_electrodes: int) -> None:
    """Raise ValueError unless abmn is (k, 4) with A, M in 1..n and B, N in 0..n (0 = infinity)."""
    if abmn.ndim != 2 or abmn.shape[1] != 4:
        raise ValueError(f"quadrupoles must have shape (k, 4), got {abmn.shape}")
    low = np.array([1, 0, 1, 0])
    bad = (abmn < low) | (abmn > n_electrodes)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"electrode {'ABMN'[col]}={abmn[row, col]} in quadrupole {row + 1} is outside "
            f"1..{n_electrodes}" + (" (0 allowed for B and N)" if col in (1, 3) else "")
        )


SIGNS = np.array([1.0, -1.0, -1.0, 1.0])  # of the AM, BM, AN, BN terms


def pole_distances(positions, abmn) -> tuple[np.ndarray, np.ndarray]:
    """Distances AM, BM, AN, BN, each (k, 4), and where both poles exist (B or N = 0: infinity).

    The one place that pairs current and potential electrodes: the geometric factor and the
    earth models' transfer resistances both start here. Raises ValueError on a bad electrode
    number or a potential electrode on a current electrode.
    """
    pos = _as_positions(positions)
    quads = np.atleast_2d(np.asarray(abmn, dtype=int))
    check_quadrupoles(quads, len(pos))
    padded = np.vstack([np.full((1, 3), np.nan), pos])  # index 0 = infinity
    a, b, m, n = quads.T
    first, second = np.stack([a, b, a, b], axis=1), np.stack([m, m, n, n], axis=1)
    distances = np.linalg.norm(padded[first] - padded[second], axis=2)
    present = (first > 0) & (second > 0)
    coincident = present & (distances == 0)
    if coincident.any():
        row, col = np.argwhere(coincident)[0]
        raise ValueError(
            f"quadrupole {row + 1}: electrodes {first[row, col]} and {second[row, col]} coincide "
            "(zero distance between a current and a potential electrode)"
        )
    return distances, present


def _inverse_distance_terms(positions, abmn) -> np.ndarray:
    """(k, 4) array of 1/AM, −1/BM, −1/AN, 1/BN (terms with a pole at 0 are 0)."""
    distances, present = pole_distances(positions, abmn)
    with np.errstate(divide="ignore", invalid="ignore"):
        return SIGNS * np.where(present, 1.0 / np.where(present, distances, 1.0), 0.0)


def inverse_distance_sums(positions, abmn) -> np.ndarray:
    """1/AM − 1/BM − 1/AN + 1/BN for each quadrupole (terms with a pole at 0 dropped)."""
    return _inverse_distance_terms(positions, abmn).sum(axis=1)


def geometric_factors(positions, abmn) -> np.ndarray:
    """Signed geometric factors k (m) for an array (k, 4) of 1-based quadrupoles.

    Raises ValueError if any quadrupole has no sensitivity (infinite k).
    """
    terms = _inverse_distance_terms(positions, abmn)
    sums = terms.sum(axis=1)
    zero = np.abs(sums) <= 1e-12 * np.abs(terms).sum(axis=1)
    if zero.any():
        row = int(np.argmax(zero))
        quad = np.atleast_2d(abmn)[row]
        raise ValueError(
            f"quadrupole {row + 1} (A B M N = {' '.join(map(str, quad))}) has an infinite "
            "geometric factor: M and N lie on the same equipotential"
        )
    return TWO_PI / sums


def geometric_factor(positions, a: int, b: int, m: int, n: int) -> float:
    """Signed geometric factor k (m) of one quadrupole, ABMN order kept.

    k = 2π / (1/AM − 1/BM − 1/AN + 1/BN), so that rhoa = k · (V_M − V_N) / I.
    """
    return float(geometric_factors(positions, [[a, b, m, n]])[0])
