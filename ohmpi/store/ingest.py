"""Ingest: outbox items checked by ``ohmpi.items`` and written in ONE transaction, idempotently.

An item delivered twice is acknowledged twice and stored once (measurement id, check id and
survey update are the keys). A refused item is kept in ``dead_letters`` and acknowledged: one
bad item never blocks the items behind it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from ohmpi.items import ItemError, check_item, iso_ts
from ohmpi.record import FIELDS

from .schema import COST_COLS, JSON_FIELDS, MEAS_COLS, SURVEY_COLS, q
from .telemetry import as_text
from .tx import transaction
from .waveform import encode_waveform


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _measurement_row(key: str, body: dict, received: str) -> tuple[tuple, bytes | None]:
    record = body["record"]
    values = [(None if record[f] is None else json.dumps(record[f])) if f in JSON_FIELDS else record[f] for f in FIELDS]
    blob = None if body["waveform"] is None else encode_waveform(body["waveform"])
    cost = body.get("cost") or {}
    return (
        key,
        body["survey_id"],
        body["pass_index"],
        body["seq_index"],
        body["instrument"],
        received,
        *values,
        *(cost.get(c) for c in COST_COLS),
    ), blob


def _rs_check_row(key: str, body: dict, received: str) -> tuple:
    return (key, body["survey_id"], body["time"], body["instrument"], received, json.dumps(body["result"]))


def update_rev(key: str) -> int | None:
    """The producer's revision in a survey update key `survey:<id>:r<rev>` (None in older keys)."""
    head, _, rev = key.rpartition(":r")
    return int(rev) if head and rev.isdigit() and len(rev) <= 18 else None


def _survey_row(key: str, body: dict) -> tuple:
    return (
        body["survey_id"],
        body["name"],
        body["created"],
        body["updated"],
        iso_ts(body["updated"], "updated"),
        body["state"],
        body["array"],
        body["n_electrodes"],
        body["total"],
        body["repeat"],
        body["every_s"],
        json.dumps(body["settings"]),
        json.dumps(body["positions"]),
        json.dumps(body["sequence"]),
        json.dumps(body),
        key,
        update_rev(key),
    )


class Ingest:
    """The Store's ingest and what it acknowledged (uses its `_db`, `_lock` and `counts`)."""

    def ingest(self, items: Iterable[dict], producer: str | None = None) -> dict:
        """Store outbox items in one transaction, item by item: `{"acked": keys, "refused": [...]}`.

        A valid item is stored (idempotently); an item `ohmpi.items` refuses goes to the
        `dead_letters` table with the reason and is acknowledged too, so the producer's queue
        behind it keeps flowing. `acked` lists every key handled (stored or dead-lettered),
        in order; `refused` says which of them were dead-lettered and why ({key, reason}).
        An item without a string key cannot be acknowledged: it is dead-lettered with key
        null and named in `refused` only. A storage error (disk full) raises and stores nothing.
        """
        received = utc_now()
        meas, waves, checks, surveys, keys, dead, refused = [], [], [], [], [], [], []
        for index, item in enumerate(items if isinstance(items, list) else list(items)):
            try:
                key, kind, body = check_item(item)
                if kind == "measurement":
                    row = _measurement_row(key, body, received)
                elif kind == "rs_check":
                    row = _rs_check_row(key, body, received)
                else:
                    row = _survey_row(key, body)
            except (ValueError, TypeError, OverflowError) as exc:  # ItemError, or a row that cannot be made
                raw = item if isinstance(item, dict) else {"body": item}
                key = raw.get("key") if isinstance(raw.get("key"), str) else None
                kind = raw.get("kind") if isinstance(raw.get("kind"), str) else None
                where = f"item {key!r}" if key is not None else f"item {index}"
                if not isinstance(exc, ItemError):
                    why = f"cannot be stored: {type(exc).__name__}: {exc}"
                elif exc.field in ("key", "kind", "item", "body"):
                    why = str(exc)
                else:
                    why = f"body.{exc}"
                reason = f"{where}: {why}"
                dead.append((key, kind, reason, as_text(raw.get("body")), received, producer))
                refused.append({"key": key, "reason": reason})
                if key is not None:
                    keys.append(key)
                continue
            if kind == "measurement":
                meas.append(row[0])
                if row[1] is not None:
                    waves.append((key, row[1]))
            elif kind == "rs_check":
                checks.append(row)
            else:
                surveys.append(row)
            keys.append(key)
        if not keys and not dead:
            return {"acked": [], "refused": []}
        with transaction(self._db, self._lock) as db:
            added = {"measurements": 0, "waveforms": 0, "rs_checks": 0, "dead_letters": 0}
            conflicts: list[str] = []
            if meas:
                before = db.total_changes
                cols = ", ".join(map(q, MEAS_COLS + COST_COLS))
                marks = ", ".join("?" * len(MEAS_COLS + COST_COLS))
                # OR IGNORE: a replayed id (or a second id for an occupied slot) stores nothing
                db.executemany(f"INSERT OR IGNORE INTO measurements({cols}) VALUES ({marks})", meas)
                added["measurements"] = db.total_changes - before
                ids = list(dict.fromkeys(row[0] for row in meas))
                stored = self._has_locked(ids)
                # an id not stored now lost its slot (survey, pass, index) to another id
                conflicts = [i for i in ids if i not in stored]
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO waveforms(measurement_id, data) VALUES (?, ?)",
                    [w for w in waves if w[0] in stored],
                )
                added["waveforms"] = db.total_changes - before
            if checks:
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO rs_checks(id, survey_id, time, instrument, received, "
                    "result) VALUES (?,?,?,?,?,?)",
                    checks,
                )
                added["rs_checks"] = db.total_changes - before
            if surveys:
                cols = ", ".join(map(q, SURVEY_COLS))
                marks = ", ".join("?" * len(SURVEY_COLS))
                sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in SURVEY_COLS if c not in ("survey_id", "created"))
                # the newest wins whatever the arrival order: by the producer's revision when both have
                # one (the wall clock of a field Pi may jump back), else by `updated`
                db.executemany(
                    f"INSERT INTO surveys({cols}) VALUES ({marks}) ON CONFLICT(survey_id) DO UPDATE SET "
                    f"{sets}, created = COALESCE(surveys.created, excluded.created) WHERE CASE "
                    "WHEN excluded.update_rev IS NOT NULL AND surveys.update_rev IS NOT NULL "
                    "THEN excluded.update_rev >= surveys.update_rev "
                    "ELSE excluded.updated_ts >= surveys.updated_ts END",
                    surveys,
                )
                n_surveys = db.execute("SELECT COUNT(*) FROM surveys").fetchone()[0]
            if dead:
                before = db.total_changes
                # OR IGNORE: a refused item delivered again is kept once
                db.executemany(
                    "INSERT OR IGNORE INTO dead_letters(key, kind, reason, body, received, producer) "
                    "VALUES (?,?,?,?,?,?)",
                    dead,
                )
                added["dead_letters"] = db.total_changes - before
        for table, n in added.items():
            self.counts[table] += n
        if surveys:
            self.counts["surveys"] = n_surveys
        self.slot_conflicts += len(conflicts)
        self.last_conflicts = conflicts
        return {"acked": keys, "refused": refused}

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict]:
        """Items refused on ingest, newest first (key, kind, reason, body, received, producer)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, kind, reason, body, received, producer FROM dead_letters "
                "ORDER BY id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [dict(zip(("key", "kind", "reason", "body", "received", "producer"), r)) for r in rows]

    def _has_locked(self, ids: list[str]) -> set[str]:
        found = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            found.update(
                r[0]
                for r in self._db.execute(
                    f"SELECT measurement_id FROM measurements WHERE measurement_id IN ({','.join('?' * len(part))})",
                    part,
                )
            )
        return found

    def has(self, measurement_ids: list[str]) -> list[str]:
        """The given ids that are stored, in the given order."""
        with self._lock:
            found = self._has_locked(list(measurement_ids))
        return [i for i in measurement_ids if i in found]
