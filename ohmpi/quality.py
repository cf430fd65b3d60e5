"""A survey's data quality at a glance: what a geophysicist checks before inverting.

Share of flagged quadrupoles (by flag), the distribution of the calibrated uncertainty,
which source dominates it, the reciprocal-error histogram and error model when the survey
has reciprocals, the chargeability range, and the contact resistances at the survey's start.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ohmpi import errmodel

STD_EDGES_PCT = (0, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _histogram(values, edges) -> dict:
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    counts = (
        np.histogram(np.clip(values, edges[0], edges[-1]), bins=list(edges))[0].tolist()
        if len(values)
        else [0] * (len(edges) - 1)
    )
    return {"edges": list(edges), "counts": counts, "median": float(np.median(values)) if len(values) else None}


def summary(rows: list[dict], first_check: dict | None = None) -> dict:
    total = len(rows)
    flagged = [r for r in rows if r.get("flags")]
    by_flag = Counter(f for r in rows for f in r.get("flags") or [])
    dominant = Counter(max(r["r_budget_pct"], key=r["r_budget_pct"].get) for r in rows if r.get("r_budget_pct"))
    out = {
        "measurements": total,
        "flagged": len(flagged),
        "flagged_pct": 100.0 * len(flagged) / total if total else 0.0,
        "flags": dict(by_flag),
        "r_std_pct": _histogram([r.get("r_std_pct") for r in rows], STD_EDGES_PCT),
        "dominant_error": dict(dominant),
        "reciprocal": errmodel.histogram(rows),
        "error_model": None,
        "ip_mvv": _histogram([r.get("ip_mvv") for r in rows], (-10, 0, 2, 5, 10, 20, 50, 100, 200)),
        "contact": None,
    }
    try:
        out["error_model"] = errmodel.fit(rows)
    except ValueError as exc:
        out["error_model_note"] = str(exc)
    if first_check is not None:
        result = first_check.get("result") or {}
        out["contact"] = {
            "time": first_check.get("time"),
            "electrodes": result.get("electrodes") or [],
            "bad": result.get("bad") or [],
            "open": result.get("open") or [],
        }
    return out
