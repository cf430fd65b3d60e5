"""Metric values from what the processes publish: heartbeats, contact checks, passes.

Each function takes a message body (or stored rows) and returns `{metric: value}`; the alarm
worker keeps the latest value of every metric and feeds the rules from it."""

from __future__ import annotations

import math

from ohmpi import errmodel

OPEN = math.inf  # an open electrode's contact resistance


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def soh_values(process: str, body) -> dict:
    """Every numeric field of a heartbeat as `soh.<process>.<field>`."""
    if not isinstance(body, dict):
        return {}
    return {
        f"soh.{process}.{key}": float(value)
        for key, value in body.items()
        if isinstance(key, str) and _is_number(value)
    }


def rs_check_values(result) -> dict:
    """The highest contact resistance (open = infinite) and the counts of open and bad electrodes."""
    if not isinstance(result, dict):
        return {}
    electrodes = [e for e in result.get("electrodes") or [] if isinstance(e, dict)]
    contacts = [
        OPEN if e.get("status") == "open" or e.get("contact_kohm") is None else e["contact_kohm"]
        for e in electrodes
        if _is_number(e.get("contact_kohm")) or e.get("status") == "open" or e.get("contact_kohm") is None
    ]
    return {
        "rs_check.max_kohm": float(max(contacts)) if contacts else None,
        "rs_check.open": float(len(result.get("open") or [])),
        "rs_check.bad": float(len(result.get("bad") or [])),
    }


def pass_values(rows: list[dict]) -> dict:
    """A finished pass: the share of flagged quadrupoles and the median reciprocal error."""
    if not rows:
        return {}
    flagged = sum(1 for r in rows if r.get("flags"))
    reciprocal = errmodel.histogram(rows)["median_pct"]
    return {"survey.flagged_pct": 100.0 * flagged / len(rows), "survey.reciprocal_error_pct": reciprocal}


def quadrupole(row: dict) -> tuple:
    return (row.get("a"), row.get("b"), row.get("m"), row.get("n"))


def rhoa_changes(current: list[dict], baseline: list[dict]) -> list[float]:
    """|Δρa| / |ρa baseline| in %, for each quadrupole measured in both, largest first."""
    base = {}
    for row in baseline:
        value = row.get("rhoa_ohmm")
        if _is_number(value) and math.isfinite(value) and value != 0:
            base[quadrupole(row)] = float(value)
    changes = []
    for row in current:
        before, value = base.get(quadrupole(row)), row.get("rhoa_ohmm")
        if before is not None and _is_number(value) and math.isfinite(value):
            changes.append(100.0 * abs(value - before) / abs(before))
    return sorted(changes, reverse=True)


def rhoa_change_pct(current: list[dict], baseline: list[dict], min_quadrupoles: int) -> float | None:
    """The largest X such that at least `min_quadrupoles` quadrupoles changed by X % or more
    (so `change.rhoa_pct > 10` means: over at least K quadrupoles, ρa moved by more than 10 %).
    None when fewer quadrupoles than that are common to both."""
    changes = rhoa_changes(current, baseline)
    return changes[min_quadrupoles - 1] if len(changes) >= min_quadrupoles else None
