"""Reading the stored data: surveys and their counts, pages of measurements, one quadrupole
over time, waveforms and contact checks."""

from __future__ import annotations

import json

from .schema import MEAS_COLS, ORDER, decode_json_fields, q
from .waveform import decode_waveform

# What a survey (or pass) cost, summed over its measurements' own costs: `sim_duration_s` is the
# instrument time the measurements took (each from before its relays move to its last sample),
# not the wall time from first to last quadrupole (that would count pauses, the waits between
# passes, a stopped controller); `metered` counts the measurements that carried a cost (none
# stored before schema 7; sums are null when none did).
FIGURES = ("quadrupoles", "metered", "sim_duration_s", "injection_s", "relay_operations", "energy_j")
_COST_SUMS = (
    "COUNT(*) AS quadrupoles, COUNT(duration_s) AS metered, SUM(duration_s) AS sim_duration_s, "
    "SUM(injection_s) AS injection_s, SUM(relay_operations) AS relay_operations, "
    "SUM(energy_j) AS energy_j"
)
_COST_COLUMNS = ", ".join(f"c.{name}" for name in FIGURES)


def _figures(row: dict) -> dict:
    """Sums rounded (seconds to the millisecond, joules to the millijoule); counts 0, not null."""
    for name in ("sim_duration_s", "injection_s", "energy_j"):
        if row[name] is not None:
            row[name] = round(row[name], 3)
    for name in ("quadrupoles", "metered", "flagged"):
        row[name] = row[name] or 0
    return row


class Queries:
    """The Store's reads (uses its `_db` and `_lock`)."""

    def measurement_ids(self, survey_id: str | None) -> list[str]:
        """Every measurement id of a survey (None: the single measurements), in sequence order."""
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    f"SELECT measurement_id FROM measurements WHERE survey_id IS ? ORDER BY {ORDER}", (survey_id,)
                )
            ]

    def indices(self, survey_id: str, pass_index: int) -> list[int]:
        """The sequence indices stored for one pass of a survey (for resuming), ascending."""
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT seq_index FROM measurements WHERE survey_id = ? AND pass_index = ? "
                    "AND seq_index IS NOT NULL ORDER BY seq_index",
                    (survey_id, pass_index),
                )
            ]

    def waveform(self, measurement_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM waveforms WHERE measurement_id = ?", (measurement_id,)).fetchone()
        return None if row is None else decode_waveform(row[0])

    def rs_checks(self, survey_id: str | None = None, limit: int = 100) -> list[dict]:
        with self._lock:
            sql = "SELECT id, survey_id, time, instrument, received, result FROM rs_checks"
            args: tuple = ()
            if survey_id is not None:
                sql += " WHERE survey_id = ?"
                args = (survey_id,)
            # newest stored first (rowid), not by `time`: the wall clock of a field Pi may jump back
            rows = self._db.execute(sql + " ORDER BY rowid DESC LIMIT ?", (*args, limit)).fetchall()
        return [
            {
                "id": r[0],
                "survey_id": r[1],
                "time": r[2],
                "instrument": r[3],
                "received": r[4],
                "result": json.loads(r[5]),
            }
            for r in rows
        ]

    def survey_exists(self, survey_id: str) -> bool:
        with self._lock:
            return bool(
                self._db.execute(
                    "SELECT 1 FROM surveys WHERE survey_id = ? UNION ALL "
                    "SELECT 1 FROM measurements WHERE survey_id = ? LIMIT 1",
                    (survey_id, survey_id),
                ).fetchone()
            )

    def surveys(self) -> list[dict]:
        """Every survey (also those known only from their measurements), newest first, with counts."""
        with self._lock:
            rows = self._db.execute(f"""
                WITH counts AS (
                    SELECT survey_id, COUNT(*) AS n, COUNT(DISTINCT pass_index) AS passes,
                           SUM(flags IS NOT NULL AND flags != '[]') AS flagged,
                           MIN(time) AS first, MAX(time) AS last, {_COST_SUMS}
                    FROM measurements WHERE survey_id IS NOT NULL GROUP BY survey_id)
                SELECT s.survey_id, s.name, s.created, s.updated, s.state, s.array, s.n_electrodes, s.total,
                       s.repeat, s.every_s, c.n, c.passes, c.flagged, c.first, c.last, {_COST_COLUMNS}
                FROM surveys s LEFT JOIN counts c ON c.survey_id = s.survey_id
                UNION ALL
                SELECT c.survey_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.n, c.passes,
                       c.flagged, c.first, c.last, {_COST_COLUMNS}
                FROM counts c WHERE c.survey_id NOT IN (SELECT survey_id FROM surveys)
            """).fetchall()
        keys = (
            "survey_id",
            "name",
            "created",
            "updated",
            "state",
            "array",
            "n_electrodes",
            "total",
            "repeat",
            "every_s",
            "measurements",
            "passes",
            "flagged",
            "first_time",
            "last_time",
            *FIGURES,
        )
        out = [_figures(dict(zip(keys, r))) for r in rows]
        for s in out:
            for k in ("measurements", "passes", "flagged"):
                s[k] = s[k] or 0
        out.sort(key=lambda s: (s["created"] or s["first_time"] or "", s["survey_id"]), reverse=True)
        return out

    def pass_figures(self, survey_id: str, limit: int = 100) -> list[dict]:
        """What each of the newest `limit` passes of a survey cost (`FIGURES`, as in `surveys`),
        oldest first: a year of hourly passes would not fit one reply."""
        with self._lock:
            rows = self._db.execute(
                f"""
                SELECT pass_index, SUM(flags IS NOT NULL AND flags != '[]'), MIN(time), MAX(time), {_COST_SUMS}
                FROM measurements WHERE survey_id = ? GROUP BY pass_index
                ORDER BY pass_index IS NOT NULL, pass_index DESC LIMIT ?
            """,
                (survey_id, limit),
            ).fetchall()
        keys = ("pass_index", "flagged", "first_time", "last_time", *FIGURES)
        return [_figures(dict(zip(keys, r))) for r in reversed(rows)]

    def survey(self, survey_id: str) -> dict | None:
        """One survey's full description (settings, positions, sequence) or None."""
        with self._lock:
            row = self._db.execute("SELECT body FROM surveys WHERE survey_id = ?", (survey_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _select_rows(self, where: str, args: tuple, offset: int = 0, limit: int | None = None) -> list[dict]:
        cols = ", ".join(map(q, MEAS_COLS))
        sql = f"SELECT {cols} FROM measurements WHERE {where} ORDER BY {ORDER}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args = (*args, limit, offset)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for r in rows:
            out.append(decode_json_fields(dict(zip(MEAS_COLS, r))))
        return out

    @staticmethod
    def _where(survey_id: str, pass_index: int | None) -> tuple[str, tuple]:
        if pass_index is None:
            return "survey_id = ?", (survey_id,)
        return "survey_id = ? AND pass_index = ?", (survey_id, pass_index)

    def data(self, survey_id: str, offset: int = 0, limit: int = 500, pass_index: int | None = None) -> dict:
        """A page of a survey's measurements, ordered by pass then sequence index."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        where, args = self._where(survey_id, pass_index)
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM measurements WHERE {where}", args).fetchone()[0]
            rows = self._select_rows(where, args, offset, limit)
        return {"total": total, "offset": offset, "rows": rows}

    def timeseries(self, a: int, b: int, m: int, n: int, limit: int = 1000) -> list[dict]:
        """The newest `limit` measurements of one quadrupole (any survey), oldest first."""
        if limit < 0:
            raise ValueError("limit must be >= 0")
        with self._lock:
            rows = self._db.execute(
                "SELECT time, r_ohm, rhoa_ohmm, r_std_pct, survey_id, pass_index, flags FROM measurements "
                "WHERE a = ? AND b = ? AND m = ? AND n = ? ORDER BY time DESC, measurement_id DESC LIMIT ?",
                (a, b, m, n, limit),
            ).fetchall()
        keys = ("time", "r_ohm", "rhoa_ohmm", "r_std_pct", "survey_id", "pass_index", "flags")
        out = [dict(zip(keys, r)) for r in reversed(rows)]
        for d in out:
            d["flags"] = json.loads(d["flags"]) if d["flags"] else []
        return out
