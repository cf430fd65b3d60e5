"""The reciprocal error model: |Rn − Rr| = a · |R|^b, fitted on a survey's reciprocal pairs.

A reciprocal (M N A B for A B M N) measures the same R with the roles swapped, so what
differs is error. As ResIPy does, the pairs are sorted by |R| = (|Rn| + |Rr|)/2 into bins of
equal count, and a power law is fitted by least squares in log-log to the bins' mean |R| and
mean |Rn − Rr| (a in Ω^(1−b), b unitless). Inversions then weight each datum by a·|R|^b.
Pairs are taken within each pass of a repeated survey.
"""

from __future__ import annotations

import math

import numpy as np

from ohmpi.sequences import reciprocal_error, reciprocal_pairs

MAX_BINS = 20
MIN_PAIRS = 6


def pairs(records) -> tuple[np.ndarray, np.ndarray]:
    """(normal R, reciprocal R) of every reciprocal pair with finite R, pass by pass."""
    by_pass: dict = {}
    for record in records:
        if record.get("r_ohm") is not None and math.isfinite(record["r_ohm"]):
            by_pass.setdefault(record.get("pass_index"), []).append(record)
    rn, rr = [], []
    for group in by_pass.values():
        quads = [[int(r[k]) for k in "abmn"] for r in group]
        for i, j in reciprocal_pairs(quads).tolist() if quads else []:
            rn.append(group[i]["r_ohm"])
            rr.append(group[j]["r_ohm"])
    return np.array(rn, float), np.array(rr, float)


def fit(records) -> dict:
    """The power law and what it was fitted on; ValueError when there are too few pairs."""
    rn, rr = pairs(records)
    if len(rn) < MIN_PAIRS:
        raise ValueError(
            f"the error model needs at least {MIN_PAIRS} reciprocal pairs with a finite R, "
            f"found {len(rn)} (measure the survey with reciprocals)"
        )
    r = (np.abs(rn) + np.abs(rr)) / 2
    err = np.abs(rn - rr)
    order = np.argsort(r)
    n_bins = max(3, min(MAX_BINS, len(r) // 3))
    bins = []
    for chunk in np.array_split(order, n_bins):
        bins.append({"r_ohm": float(r[chunk].mean()), "error_ohm": float(err[chunk].mean()), "pairs": int(len(chunk))})
    x = np.log10([b["r_ohm"] for b in bins])
    y = np.log10([max(b["error_ohm"], 1e-300) for b in bins])
    usable = np.isfinite(x) & np.isfinite(y) & (np.array([b["error_ohm"] for b in bins]) > 0)
    if usable.sum() < 2:
        raise ValueError("the reciprocal pairs agree exactly: no error to fit")
    slope, intercept = np.polyfit(x[usable], y[usable], 1)
    predicted = intercept + slope * x[usable]
    ss_res = float(np.sum((y[usable] - predicted) ** 2))
    ss_tot = float(np.sum((y[usable] - y[usable].mean()) ** 2))
    pct = reciprocal_error(rn, rr)
    return {
        "a": float(10**intercept),
        "b": float(slope),
        "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 1.0,
        "pairs": int(len(rn)),
        "bins": bins,
        "median_error_pct": float(np.nanmedian(pct)),
        "model": f"|Rn - Rr| = {10**intercept:.4g} * |R|^{slope:.4g}",
    }


def relative_error_pct(model: dict, r_ohm: float) -> float:
    """The model's error of one R, in % of |R|."""
    r = abs(r_ohm)
    return 100.0 * model["a"] * r ** model["b"] / r if r > 0 else math.inf


def histogram(records, edges_pct=(0, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100)) -> dict:
    """Counts of reciprocal errors (%) between edges; the last bin holds everything above."""
    rn, rr = pairs(records)
    pct = reciprocal_error(rn, rr) if len(rn) else np.zeros(0)
    pct = np.atleast_1d(pct)
    pct = pct[np.isfinite(pct)]
    edges = list(edges_pct)
    counts = np.histogram(np.clip(pct, edges[0], edges[-1]), bins=edges)[0].tolist()
    return {
        "edges_pct": edges,
        "counts": counts,
        "pairs": int(len(pct)),
        "median_pct": float(np.median(pct)) if len(pct) else None,
    }
