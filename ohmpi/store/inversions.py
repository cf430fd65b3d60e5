"""Inversion results: one per (survey, pass) — the newest replaces the one before — with the
fit in columns (for listings) and the whole result (cells, misfit per datum, change) as
compressed JSON. The table is made on first use (`IF NOT EXISTS`): no migration of the
measurement tables, and a database without it reads as "not inverted yet"."""

from __future__ import annotations

import json
import math
import re
import time
import zlib

from ohmpi.inversion import section

from .tx import transaction

MAX_BODY_BYTES = 64 << 20  # uncompressed JSON of one result
SURVEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
SUMMARY = (
    "survey_id",
    "pass_index",
    "baseline_pass",
    "created",
    "chi2",
    "rms_pct",
    "iterations",
    "n_data",
    "n_cells",
    "lambda",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS inversions (
    survey_id TEXT NOT NULL, pass_index INTEGER NOT NULL, baseline_pass INTEGER, created REAL NOT NULL,
    chi2 REAL, rms_pct REAL, iterations INTEGER, n_data INTEGER, n_cells INTEGER, lambda REAL, body BLOB NOT NULL,
    PRIMARY KEY (survey_id, pass_index))
"""


def _number(result: dict, key: str, kind=float, low: float = 0.0) -> float | int:
    value = result.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise ValueError(f"{key}: must be a finite number >= {low:g}, got {value!r}")
    if kind is int and value != int(value):
        raise ValueError(f"{key}: must be an integer, got {value!r}")
    return kind(value)


def check(result) -> tuple:
    """The row of a result; ValueError naming the first bad field."""
    if not isinstance(result, dict):
        raise ValueError(f"result: must be a map, got {type(result).__name__}")
    survey_id = result.get("survey_id")
    if not isinstance(survey_id, str) or not SURVEY_ID_RE.match(survey_id):
        raise ValueError(f"survey_id: not a survey id: {str(survey_id)[:80]!r}")
    pass_index = _number(result, "pass_index", int)
    baseline = result.get("baseline_pass")
    if baseline is not None:
        baseline = _number(result, "baseline_pass", int)
    fit = (
        _number(result, "chi2"),
        _number(result, "rms_pct"),
        _number(result, "iterations", int),
        _number(result, "n_data", int),
        _number(result, "n_cells", int),
        _number(result, "lambda"),
    )
    section.cells(result)  # every column as long as the others
    try:
        body = json.dumps(result, allow_nan=False, separators=(",", ":")).encode()
    except ValueError as exc:
        raise ValueError(f"result: not JSON without NaN or infinity ({exc})") from None
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"result: {len(body)} bytes of JSON, over the {MAX_BODY_BYTES} byte limit")
    return (survey_id, pass_index, baseline, time.time(), *fit, zlib.compress(body, 6))


class InversionResults:
    """The `inversions` table of a Store (its connection and lock)."""

    def __init__(self, store):
        self._db, self._lock = store._db, store._lock
        with transaction(self._db, self._lock) as db:
            db.execute(SCHEMA)

    def put(self, result: dict) -> dict:
        """Store (or replace) the result of one pass; returns its summary."""
        row = check(result)
        with transaction(self._db, self._lock) as db:
            db.execute(
                "INSERT OR REPLACE INTO inversions(survey_id, pass_index, baseline_pass, created, chi2, "
                "rms_pct, iterations, n_data, n_cells, lambda, body) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        return dict(zip(SUMMARY, (*row[:3], _iso(row[3]), *row[4:10])))

    def summaries(self, survey_id: str) -> list[dict]:
        """The results of a survey, by pass."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(SUMMARY)} FROM inversions WHERE survey_id = ? ORDER BY pass_index", (survey_id,)
            ).fetchall()
        return [{**dict(zip(SUMMARY, r)), "created": _iso(r[3])} for r in rows]

    def get(self, survey_id: str, pass_index: int | None = None) -> dict | None:
        """One pass's whole result (the newest pass's when pass_index is None), or None."""
        sql = "SELECT body, created FROM inversions WHERE survey_id = ?"
        args: tuple = (survey_id,)
        if pass_index is not None:
            sql, args = sql + " AND pass_index = ?", (survey_id, pass_index)
        with self._lock:
            row = self._db.execute(sql + " ORDER BY pass_index DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return {**json.loads(zlib.decompress(row[0])), "created": _iso(row[1])}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
