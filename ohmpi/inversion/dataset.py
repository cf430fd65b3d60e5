"""Stored records → what a 2-D inversion takes.

Each datum keeps its calibrated uncertainty (``r_std_pct``) or, when the survey has reciprocal
pairs, the reciprocal error model's (``ohmpi.errmodel``), plus a floor for what the 2-D model
cannot explain (discretisation, 3-D ground). Flagged data, data without a finite R and
quadrupoles with no sensitivity are left out and counted. Positions come from the survey's
instrument description: the profile coordinate is the distance along the line (so a bent
line is unrolled), and the elevation is z (topography). numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ohmpi import errmodel
from ohmpi.geometry import geometric_factors, positions_from_xyz

from . import InversionRefused

MIN_QUADRUPOLES = 10
DEFAULT_FLOOR_PCT = 2.0
MAX_ERROR_PCT = 100.0  # a datum less certain than this carries no information: left out


@dataclass
class Dataset:
    abmn: np.ndarray  # (k, 4) 1-based, 0 = infinity
    r_ohm: np.ndarray
    error: np.ndarray  # relative (fraction of |R|)
    positions: np.ndarray  # (n, 3) as described
    profile: np.ndarray  # (n, 2): distance along the line, elevation
    counts: dict = field(default_factory=dict)  # total, used, and why the others were left out
    error_source: str = "calibrated"
    pass_index: int | None = None

    @property
    def rhoa(self) -> np.ndarray:
        return geometric_factors(self.positions, self.abmn) * self.r_ohm

    def keys(self) -> list[tuple[int, int, int, int]]:
        return [tuple(int(v) for v in q) for q in self.abmn]


def profile_coordinates(positions) -> np.ndarray:
    """(n, 2): cumulative horizontal distance from the first electrode, elevation z."""
    pos = np.asarray(positions, dtype=float)
    steps = np.linalg.norm(np.diff(pos[:, :2], axis=0), axis=1)
    if len(pos) > 1 and np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise InversionRefused(
            f"electrodes {i + 1} and {i + 2} share a horizontal position: "
            "a 2-D profile needs electrodes in order along the line",
            field="positions",
        )
    return np.stack([np.concatenate([[0.0], np.cumsum(steps)]), pos[:, 2]], axis=1)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def from_records(
    rows: list[dict],
    positions,
    *,
    pass_index: int | None = None,
    floor_pct: float = DEFAULT_FLOOR_PCT,
    error_model: dict | None = None,
) -> Dataset:
    """The dataset of one pass (or of every row given when pass_index is None).

    `error_model`: a fitted reciprocal model (``ohmpi.errmodel.fit``) whose errors replace the
    per-datum ones. Raises InversionRefused when too few usable quadrupoles remain."""
    if not _finite(floor_pct) or not 0 <= floor_pct <= 50:
        raise InversionRefused(f"error floor must be in 0..50 %, got {floor_pct!r}", field="floor_pct")
    try:
        pos = positions_from_xyz(positions)
    except (TypeError, ValueError) as exc:
        raise InversionRefused(f"electrode positions: {exc}", field="positions") from None
    profile = profile_coordinates(pos)
    if pass_index is not None:
        rows = [r for r in rows if r.get("pass_index") == pass_index]
    counts = {
        "total": len(rows),
        "flagged": 0,
        "not_finite": 0,
        "uncertain": 0,
        "no_sensitivity": 0,
        "outside": 0,
        "negative_rhoa": 0,
    }
    quads, rs, errs = [], [], []
    for row in rows:
        try:
            quad = [int(row[e]) for e in "abmn"]
        except (KeyError, TypeError, ValueError):
            counts["not_finite"] += 1
            continue
        if row.get("flags"):
            counts["flagged"] += 1
            continue
        r = row.get("r_ohm")
        if not _finite(r) or r == 0:
            counts["not_finite"] += 1
            continue
        if quad[0] < 1 or quad[2] < 1 or max(quad) > len(pos) or min(quad) < 0:
            counts["outside"] += 1
            continue
        if error_model is not None:
            pct = errmodel.relative_error_pct(error_model, r)
        else:
            pct = row.get("r_std_pct")
            pct = pct if _finite(pct) and pct >= 0 else 0.0
        total_pct = math.hypot(pct, floor_pct)
        if not total_pct > 0 or total_pct > MAX_ERROR_PCT:
            counts["uncertain"] += 1
            continue
        quads.append(quad)
        rs.append(float(r))
        errs.append(total_pct / 100.0)
    abmn = np.array(quads, dtype=int).reshape(-1, 4)
    r_ohm, error = np.array(rs, dtype=float), np.array(errs, dtype=float)
    if len(abmn):
        keep = np.ones(len(abmn), bool)
        k = np.zeros(len(abmn))
        for i, quad in enumerate(abmn):
            try:
                k[i] = geometric_factors(pos, [quad])[0]
            except ValueError:
                keep[i] = False
        counts["no_sensitivity"] = int((~keep).sum())
        negative = keep & (k * r_ohm <= 0)  # an inversion works on log ρa: a negative one is noise or a fault
        counts["negative_rhoa"] = int(negative.sum())
        keep &= ~negative
        abmn, r_ohm, error = abmn[keep], r_ohm[keep], error[keep]
    counts["used"] = int(len(abmn))
    where = "" if pass_index is None else f" in pass {pass_index}"
    if counts["total"] == 0:
        raise InversionRefused(f"no measurements{where}: nothing to invert")
    if counts["flagged"] == counts["total"]:
        raise InversionRefused(f"all {counts['total']} measurements{where} are flagged: nothing to invert")
    if counts["used"] < MIN_QUADRUPOLES:
        left = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if k not in ("total", "used") and v)
        raise InversionRefused(
            f"only {counts['used']} usable quadrupole(s){where} of {counts['total']} "
            f"({left or 'none left out'}): an inversion needs at least {MIN_QUADRUPOLES}"
        )
    return Dataset(
        abmn,
        r_ohm,
        error,
        pos,
        profile,
        counts,
        "reciprocal error model" if error_model is not None else "calibrated",
        pass_index,
    )


def from_survey(
    rows: list[dict],
    survey: dict,
    fallback_positions=None,
    *,
    pass_index: int | None = None,
    floor_pct: float = DEFAULT_FLOOR_PCT,
) -> Dataset:
    """A stored survey's pass: positions from its description (else `fallback_positions`), the
    reciprocal error model when the survey has enough reciprocal pairs, else each datum's own."""
    positions = survey.get("positions") or fallback_positions
    if not positions:
        raise InversionRefused("the survey has no electrode positions and none were given", field="positions")
    try:
        model = errmodel.fit(rows)
    except ValueError:
        model = None
    return from_records(rows, positions, pass_index=pass_index, floor_pct=floor_pct, error_model=model)


def common(base: Dataset, monitor: Dataset) -> tuple[Dataset, Dataset]:
    """Both datasets reduced to the quadrupoles they share, in the same order (time-lapse)."""
    index = {q: i for i, q in enumerate(monitor.keys())}
    pairs = [(i, index[q]) for i, q in enumerate(base.keys()) if q in index]
    if len(pairs) < MIN_QUADRUPOLES:
        raise InversionRefused(
            f"only {len(pairs)} quadrupole(s) in common with the baseline: a time-lapse "
            f"inversion needs at least {MIN_QUADRUPOLES}",
            field="baseline",
        )
    ib, im = (np.array(p, dtype=int) for p in zip(*pairs))

    def take(d: Dataset, idx) -> Dataset:
        return Dataset(
            d.abmn[idx],
            d.r_ohm[idx],
            d.error[idx],
            d.positions,
            d.profile,
            {**d.counts, "used": int(len(idx))},
            d.error_source,
            d.pass_index,
        )

    return take(base, ib), take(monitor, im)
