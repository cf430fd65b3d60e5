"""The data store: every survey, measurement, waveform, contact check, log line, SOH sample
and audit record.

One SQLite file in WAL mode with ``synchronous=FULL``: once ``ingest()`` returns a key, that
item survives a killed process and a power cut. ``ingest()`` takes the items of a durable
outbox (``{"key", "kind", "body"}``), checks each with ``ohmpi.items`` (the validator the
producers use too), writes the batch in ONE transaction, and is idempotent: an item
delivered twice is acknowledged twice and stored once (measurement id, check id and survey
update are the keys). A refused item is kept in ``dead_letters`` and acknowledged: one bad
item never blocks the items behind it. Logs and SOH are size-capped per row and are the
first (and only) data deleted when the database is over its quota.

A card can corrupt a file: ``Store.open_checked`` runs ``PRAGMA quick_check`` first and
sets a damaged database aside (``<name>.corrupt-<time>``, with its -wal/-shm, never deleted)
before starting a new one. Each database has a random ``db_id`` (table ``meta``): producers
that see it change know the data they delivered is gone and deliver it again.

Pure Python + sqlite3 (+ numpy, msgpack): the bus binding lives in ``workers/recorder.py``.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import msgpack
import numpy as np

from ohmpi import errmodel, formats, quality
from ohmpi.formats import timelapse
from ohmpi.durable import set_aside
from ohmpi.geometry import line_positions
from ohmpi.items import ItemError, check_item, iso_ts
from ohmpi.record import FIELD_INFO, FIELDS, JSON_TYPES

SCHEMA_VERSION = 5
EXPORT_FORMATS = (*formats.FORMATS, "matrix")  # ohm, protocol, csv; matrix: time-lapse R, quadrupole × pass
EXTENSION = {"ohm": ".ohm", "protocol": ".dat", "csv": ".csv", "matrix": "_timelapse.csv"}
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
WAVEFORM_FLOAT64 = frozenset({"t_s"})  # time keeps double precision; samples are float32
MAX_MESSAGE_CHARS = 8192  # a stored log message (longer ones are cut, saying how much)
MAX_EXTRA_BYTES = 16 * 1024  # JSON of a log's extra fields or an audit record's details
PRUNE_CHUNK = 2000  # rows deleted per transaction when the database is over its quota

_SQL_TYPE = {"int": "INTEGER", "float": "REAL", "str": "TEXT", "list[str]": "TEXT", "list[float]": "TEXT",
             "dict[str,float]": "TEXT"}
_FIELD_TYPE = {info.name: info.type for info in FIELD_INFO}
_ELECTRODES = ("a", "b", "m", "n")
TABLES = ("surveys", "measurements", "waveforms", "rs_checks", "logs", "soh", "dead_letters", "audit")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# the record fields of schema 1 (later fields are added by their own migration)
_V1_FIELDS = ("a", "b", "m", "n", "time", "vab_V", "iab_mA", "iab_std_pct", "vmn_mV", "vmn_std_pct", "sp_mV",
              "r_ohm", "r_std_pct", "k_m", "rhoa_ohmm", "rab_kohm", "n_stacks", "injection_ms", "duty_cycle",
              "sampling_hz", "n_samples", "strategy", "flags")
_JSON_FIELDS = frozenset(f for f in FIELDS if _FIELD_TYPE[f] in JSON_TYPES)


def _record_columns_sql() -> str:
    return ",\n    ".join(f"{_q(f)} {_SQL_TYPE[_FIELD_TYPE[f]]}" for f in _V1_FIELDS)


def _decode_json_fields(row: dict) -> dict:
    """A measurement row's JSON columns (flags, lists, the uncertainty budget) as Python values."""
    for name in _JSON_FIELDS:
        if name in row:
            value = json.loads(row[name]) if row[name] else None
            row[name] = ([] if value is None else value) if name == "flags" else value
    return row


# Each migration brings the schema from version i to i + 1 (index i). Never edit a shipped
# migration: append a new one and bump SCHEMA_VERSION.
MIGRATIONS: list[str] = [
    f"""
CREATE TABLE surveys (
    survey_id TEXT PRIMARY KEY,
    name TEXT,
    created TEXT,
    updated TEXT,
    updated_ts REAL NOT NULL,
    state TEXT,
    array TEXT,
    n_electrodes INTEGER,
    total INTEGER,
    repeat INTEGER,
    every_s REAL,
    settings TEXT,
    positions TEXT,
    sequence TEXT,
    body TEXT NOT NULL,
    update_key TEXT
);
CREATE TABLE measurements (
    measurement_id TEXT PRIMARY KEY,
    survey_id TEXT,
    pass_index INTEGER,
    seq_index INTEGER,
    instrument TEXT,
    received TEXT NOT NULL,
    {_record_columns_sql()}
);
CREATE INDEX measurements_order ON measurements(survey_id, pass_index, seq_index);
CREATE UNIQUE INDEX measurements_slot ON measurements(survey_id, pass_index, seq_index)
    WHERE survey_id IS NOT NULL AND pass_index IS NOT NULL AND seq_index IS NOT NULL;
CREATE TABLE waveforms (
    measurement_id TEXT PRIMARY KEY REFERENCES measurements(measurement_id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
CREATE TABLE rs_checks (
    id TEXT PRIMARY KEY,
    survey_id TEXT,
    time TEXT,
    instrument TEXT,
    received TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX rs_checks_survey ON rs_checks(survey_id, time);
CREATE TABLE logs (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    process TEXT,
    level TEXT,
    level_no INTEGER,
    message TEXT,
    extra TEXT
);
CREATE INDEX logs_ts ON logs(ts);
CREATE TABLE soh (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    process TEXT,
    data TEXT
);
CREATE INDEX soh_ts ON soh(ts);
CREATE INDEX soh_process ON soh(process, ts);
""",
    # 2: R over time of one quadrupole across surveys (timeseries) without a table scan
    """
CREATE INDEX measurements_quadrupole ON measurements(a, b, m, n, time);
""",
    # 3: items refused on ingest are kept (acknowledged, never blocking the queue); the audit log
    """
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    key TEXT,
    kind TEXT,
    reason TEXT NOT NULL,
    body TEXT,
    received TEXT NOT NULL,
    producer TEXT
);
CREATE UNIQUE INDEX dead_letters_key ON dead_letters(key) WHERE key IS NOT NULL;
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    process TEXT,
    action TEXT NOT NULL,
    ok INTEGER NOT NULL,
    user TEXT,
    role TEXT,
    details TEXT
);
CREATE INDEX audit_ts ON audit(ts);
""",
    # 4: the identity of this database: producers deliver again what a new database lacks; the
    # producer's revision of a survey update (survey:<id>:r<rev>) orders updates, not wall time
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta(key, value) VALUES ('db_id', lower(hex(randomblob(16))));
ALTER TABLE surveys ADD COLUMN update_rev INTEGER;
""",
    # 5: calibrated uncertainty (stack spread kept apart, budget per source) and induced polarization
    """
ALTER TABLE measurements ADD COLUMN r_stack_std_pct REAL;
ALTER TABLE measurements ADD COLUMN r_budget_pct TEXT;
ALTER TABLE measurements ADD COLUMN ip_mvv REAL;
ALTER TABLE measurements ADD COLUMN ip_std_mvv REAL;
ALTER TABLE measurements ADD COLUMN ip_windows_mvv TEXT;
ALTER TABLE measurements ADD COLUMN ip_delay_ms REAL;
ALTER TABLE measurements ADD COLUMN ip_windows_ms TEXT;
""",
]
CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---- waveforms --------------------------------------------------------------------------------
def encode_waveform(waveform: dict) -> bytes:
    """A compact blob: per key, the smallest numpy dtype that holds its values (floats: float32,
    except t_s kept in float64; bools as bytes; ints in the narrowest width)."""
    cols = {}
    for name, values in waveform.items():
        if not isinstance(name, str) or not isinstance(values, list):
            raise ValueError(f"waveform[{name!r}] must be a list")
        if values and all(isinstance(v, bool) for v in values):
            dtype = "|b1"
        elif values and all(_is_int(v) for v in values):
            lo, hi = min(values), max(values)
            dtype = next((d for d in ("|i1", "<i2", "<i4", "<i8")
                          if np.iinfo(d).min <= lo and hi <= np.iinfo(d).max), None)
            if dtype is None:
                raise ValueError(f"waveform[{name!r}]: integer out of 64-bit range")
        elif all(_is_num(v) for v in values):
            dtype = "<f8" if name in WAVEFORM_FLOAT64 else "<f4"
        else:
            bad = next(v for v in values if not _is_num(v) and not isinstance(v, bool))
            raise ValueError(f"waveform[{name!r}] holds a non-number {bad!r}")
        cols[name] = [dtype, np.asarray(values, dtype=dtype).tobytes()]
    return msgpack.packb({"v": 1, "cols": cols}, use_bin_type=True)


def decode_waveform(blob: bytes) -> dict:
    """The dict of lists `encode_waveform` was given (floats rounded to float32 where stored so)."""
    data = msgpack.unpackb(blob, raw=False)
    out = {}
    for name, (dtype, raw) in data["cols"].items():
        values = np.frombuffer(raw, dtype=dtype)
        # float32 back as the shortest decimal that rounds to it (3.3, not 3.299999952316284)
        out[name] = [float(t) for t in values.astype(str)] if dtype == "<f4" else values.tolist()
    return out


# ---- rows of checked items (ohmpi.items validated them) --------------------------------------
def _measurement_row(key: str, body: dict, received: str) -> tuple[tuple, bytes | None]:
    record = body["record"]
    values = [(None if record[f] is None else json.dumps(record[f])) if f in _JSON_FIELDS else record[f]
              for f in FIELDS]
    blob = None if body["waveform"] is None else encode_waveform(body["waveform"])
    return (key, body["survey_id"], body["pass_index"], body["seq_index"], body["instrument"], received,
            *values), blob


def _rs_check_row(key: str, body: dict, received: str) -> tuple:
    return (key, body["survey_id"], body["time"], body["instrument"], received, json.dumps(body["result"]))


def update_rev(key: str) -> int | None:
    """The producer's revision in a survey update key `survey:<id>:r<rev>` (None in older keys)."""
    head, _, rev = key.rpartition(":r")
    return int(rev) if head and rev.isdigit() and len(rev) <= 18 else None


def _survey_row(key: str, body: dict) -> tuple:
    return (body["survey_id"], body["name"], body["created"], body["updated"], iso_ts(body["updated"], "updated"),
            body["state"], body["array"], body["n_electrodes"], body["total"], body["repeat"], body["every_s"],
            json.dumps(body["settings"]), json.dumps(body["positions"]), json.dumps(body["sequence"]),
            json.dumps(body), key, update_rev(key))


def _as_text(value) -> str:
    """JSON of `value`, or a JSON string of its repr when it is not JSON (binary, odd keys)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def cap_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters, with a note of how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} characters cut]"


def cap_json(value, what: str, limit: int = MAX_EXTRA_BYTES) -> str | None:
    """JSON of `value`, replaced by a note naming its keys when it is over `limit` bytes."""
    if value is None:
        return None
    text = _as_text(value)
    if len(text.encode("utf-8", "replace")) <= limit:
        return text
    keys = sorted(map(str, value))[:50] if isinstance(value, dict) else None
    return json.dumps({"cut": f"{what} of {len(text)} characters over the {limit}-byte cap", "keys": keys})


_SURVEY_COLS = ("survey_id", "name", "created", "updated", "updated_ts", "state", "array", "n_electrodes",
                "total", "repeat", "every_s", "settings", "positions", "sequence", "body", "update_key", "update_rev")
_MEAS_COLS = ("measurement_id", "survey_id", "pass_index", "seq_index", "instrument", "received", *FIELDS)
_ORDER = "pass_index IS NULL, pass_index, seq_index IS NULL, seq_index, received, measurement_id"


class Store:
    """The SQLite store. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged item survives a power cut
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self.db_id = self._db.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()[0]
        self.last_conflicts: list[str] = []  # ids of the last ingest() refused for a taken slot
        self.slot_conflicts = 0  # measurements refused because their (survey, pass, index) was taken
        self.counts = self._count_rows()

    @classmethod
    def open_checked(cls, path: str | os.PathLike) -> tuple["Store", dict | None]:
        """Open the store after `PRAGMA quick_check`; a corrupt file is set aside and a new one
        started. Returns (store, None) or (store, {"path", "reason"}) naming where the old one went."""
        path = Path(path)
        reason = check_file(path)
        if reason is None:
            try:
                return cls(path), None
            except sqlite3.DatabaseError as exc:
                if not is_corruption(exc):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
        aside = set_aside(path, "-wal", "-shm")
        return cls(path), {"path": str(aside), "reason": reason}

    # ---- schema ------------------------------------------------------------------------------
    def _migrate(self, migrations: list[str] | None = None) -> None:
        migrations = MIGRATIONS if migrations is None else migrations
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(migrations):
                raise RuntimeError(f"{self.path}: schema version {version} is newer than this software "
                                   f"({len(migrations)}); upgrade the software")
            for target in range(version + 1, len(migrations) + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(migrations[target - 1]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {target}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise

    def _rollback(self) -> None:
        """Roll back if a transaction is still open (SQLite ends some itself, e.g. on a full disk)."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _count_rows(self) -> dict:
        with self._lock:
            return {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in TABLES}

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- ingest ------------------------------------------------------------------------------
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
                dead.append((key, kind, reason, _as_text(raw.get("body")), received, producer))
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
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                added = {"measurements": 0, "waveforms": 0, "rs_checks": 0, "dead_letters": 0}
                conflicts: list[str] = []
                if meas:
                    before = db.total_changes
                    cols = ", ".join(map(_q, _MEAS_COLS))
                    marks = ", ".join("?" * len(_MEAS_COLS))
                    # OR IGNORE: a replayed id (or a second id for an occupied slot) stores nothing
                    db.executemany(f"INSERT OR IGNORE INTO measurements({cols}) VALUES ({marks})", meas)
                    added["measurements"] = db.total_changes - before
                    ids = list(dict.fromkeys(row[0] for row in meas))
                    stored = self._has_locked(ids)
                    # an id not stored now lost its slot (survey, pass, index) to another id
                    conflicts = [i for i in ids if i not in stored]
                    before = db.total_changes
                    db.executemany("INSERT OR IGNORE INTO waveforms(measurement_id, data) VALUES (?, ?)",
                                   [w for w in waves if w[0] in stored])
                    added["waveforms"] = db.total_changes - before
                if checks:
                    before = db.total_changes
                    db.executemany("INSERT OR IGNORE INTO rs_checks(id, survey_id, time, instrument, received, "
                                   "result) VALUES (?,?,?,?,?,?)", checks)
                    added["rs_checks"] = db.total_changes - before
                if surveys:
                    cols = ", ".join(map(_q, _SURVEY_COLS))
                    marks = ", ".join("?" * len(_SURVEY_COLS))
                    sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in _SURVEY_COLS
                                     if c not in ("survey_id", "created"))
                    # the newest wins whatever the arrival order: by the producer's revision when both have
                    # one (the wall clock of a field Pi may jump back), else by `updated`
                    db.executemany(
                        f"INSERT INTO surveys({cols}) VALUES ({marks}) ON CONFLICT(survey_id) DO UPDATE SET "
                        f"{sets}, created = COALESCE(surveys.created, excluded.created) WHERE CASE "
                        "WHEN excluded.update_rev IS NOT NULL AND surveys.update_rev IS NOT NULL "
                        "THEN excluded.update_rev >= surveys.update_rev "
                        "ELSE excluded.updated_ts >= surveys.updated_ts END", surveys)
                    n_surveys = db.execute("SELECT COUNT(*) FROM surveys").fetchone()[0]
                if dead:
                    before = db.total_changes
                    # OR IGNORE: a refused item delivered again is kept once
                    db.executemany("INSERT OR IGNORE INTO dead_letters(key, kind, reason, body, received, producer) "
                                   "VALUES (?,?,?,?,?,?)", dead)
                    added["dead_letters"] = db.total_changes - before
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
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
            rows = self._db.execute("SELECT key, kind, reason, body, received, producer FROM dead_letters "
                                    "ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [dict(zip(("key", "kind", "reason", "body", "received", "producer"), r)) for r in rows]

    def _has_locked(self, ids: list[str]) -> set[str]:
        found = set()
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            found.update(r[0] for r in self._db.execute(
                f"SELECT measurement_id FROM measurements WHERE measurement_id IN ({','.join('?' * len(part))})",
                part))
        return found

    def has(self, measurement_ids: list[str]) -> list[str]:
        """The given ids that are stored, in the given order."""
        with self._lock:
            found = self._has_locked(list(measurement_ids))
        return [i for i in measurement_ids if i in found]

    def measurement_ids(self, survey_id: str | None) -> list[str]:
        """Every measurement id of a survey (None: the single measurements), in sequence order."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                f"SELECT measurement_id FROM measurements WHERE survey_id IS ? ORDER BY {_ORDER}", (survey_id,))]

    def indices(self, survey_id: str, pass_index: int) -> list[int]:
        """The sequence indices stored for one pass of a survey (for resuming), ascending."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT seq_index FROM measurements WHERE survey_id = ? AND pass_index = ? "
                "AND seq_index IS NOT NULL ORDER BY seq_index", (survey_id, pass_index))]

    def waveform(self, measurement_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM waveforms WHERE measurement_id = ?",
                                   (measurement_id,)).fetchone()
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
        return [{"id": r[0], "survey_id": r[1], "time": r[2], "instrument": r[3], "received": r[4],
                 "result": json.loads(r[5])} for r in rows]

    # ---- surveys and data --------------------------------------------------------------------
    def survey_exists(self, survey_id: str) -> bool:
        with self._lock:
            return bool(self._db.execute(
                "SELECT 1 FROM surveys WHERE survey_id = ? UNION ALL "
                "SELECT 1 FROM measurements WHERE survey_id = ? LIMIT 1", (survey_id, survey_id)).fetchone())

    def surveys(self) -> list[dict]:
        """Every survey (also those known only from their measurements), newest first, with counts."""
        with self._lock:
            rows = self._db.execute("""
                WITH counts AS (
                    SELECT survey_id, COUNT(*) AS n, COUNT(DISTINCT pass_index) AS passes,
                           SUM(flags IS NOT NULL AND flags != '[]') AS flagged,
                           MIN(time) AS first, MAX(time) AS last
                    FROM measurements WHERE survey_id IS NOT NULL GROUP BY survey_id)
                SELECT s.survey_id, s.name, s.created, s.updated, s.state, s.array, s.n_electrodes, s.total,
                       s.repeat, s.every_s, c.n, c.passes, c.flagged, c.first, c.last
                FROM surveys s LEFT JOIN counts c ON c.survey_id = s.survey_id
                UNION ALL
                SELECT c.survey_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.n, c.passes,
                       c.flagged, c.first, c.last
                FROM counts c WHERE c.survey_id NOT IN (SELECT survey_id FROM surveys)
            """).fetchall()
        keys = ("survey_id", "name", "created", "updated", "state", "array", "n_electrodes", "total",
                "repeat", "every_s", "measurements", "passes", "flagged", "first_time", "last_time")
        out = [dict(zip(keys, r)) for r in rows]
        for s in out:
            for k in ("measurements", "passes", "flagged"):
                s[k] = s[k] or 0
        out.sort(key=lambda s: (s["created"] or s["first_time"] or "", s["survey_id"]), reverse=True)
        return out

    def survey(self, survey_id: str) -> dict | None:
        """One survey's full description (settings, positions, sequence) or None."""
        with self._lock:
            row = self._db.execute("SELECT body FROM surveys WHERE survey_id = ?", (survey_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _select_rows(self, where: str, args: tuple, offset: int = 0, limit: int | None = None) -> list[dict]:
        cols = ", ".join(map(_q, _MEAS_COLS))
        sql = f"SELECT {cols} FROM measurements WHERE {where} ORDER BY {_ORDER}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args = (*args, limit, offset)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for r in rows:
            out.append(_decode_json_fields(dict(zip(_MEAS_COLS, r))))
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
                (a, b, m, n, limit)).fetchall()
        keys = ("time", "r_ohm", "rhoa_ohmm", "r_std_pct", "survey_id", "pass_index", "flags")
        out = [dict(zip(keys, r)) for r in reversed(rows)]
        for d in out:
            d["flags"] = json.loads(d["flags"]) if d["flags"] else []
        return out

    def export_info(self, survey_id: str, fmt: str, pass_index: int | None = None, *,
                    error_model: bool = False, common: bool = False) -> dict:
        """{"text", "notes", "measurements", "filename"}: a survey as a data file.

        Every stored measurement once, in sequence order. ohm and protocol leave out the
        measurements without a finite R (an inversion cannot use them), saying so in notes.
        `error_model`: the errors written are those of the survey's reciprocal error model
        (``ohmpi.errmodel``) instead of each datum's own. `common`: only the quadrupoles with a
        finite R in every pass, in sequence order (time-lapse files that line up). Format
        "matrix": R of each quadrupole (rows) in each pass (columns), see ``ohmpi.formats.timelapse``.
        """
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
        survey = self.survey(survey_id) or {}
        notes = []
        if fmt == "matrix":
            text, count = timelapse.matrix_text(self._select_rows(*self._where(survey_id, None)), notes)
            return {"text": text, "notes": notes, "measurements": count, "filename": f"{survey_id}{EXTENSION[fmt]}"}
        where, args = self._where(survey_id, pass_index)
        rows = self._select_rows(where, args)
        if common:
            keep = timelapse.common_quadrupoles(self._select_rows(*self._where(survey_id, None)))
            dropped = len(rows)
            rows = timelapse.in_order(rows, keep)
            if dropped > len(rows):
                notes.append(f"{dropped - len(rows)} measurement(s) not in every pass left out (time-lapse)")
        records = [{f: r[f] for f in FIELDS} for r in rows]
        if error_model:
            model = errmodel.fit(self._select_rows(*self._where(survey_id, None)))
            for record in records:
                if record["r_ohm"] is not None:
                    record["r_std_pct"] = errmodel.relative_error_pct(model, record["r_ohm"])
            notes.append(f"errors from the reciprocal error model {model['model']} ({model['pairs']} pairs)")
        if fmt in ("ohm", "protocol"):
            usable = [r for r in records if r["r_ohm"] is not None and math.isfinite(r["r_ohm"])]
            if len(usable) < len(records):
                notes.append(f"{len(records) - len(usable)} measurement(s) without a finite R left out")
            records = usable
        positions = survey.get("positions") or None
        max_el = max((max(r[e] for e in _ELECTRODES) for r in records), default=0)
        if fmt == "ohm":
            if positions is None or len(positions) < max_el:
                n = max(max_el, survey.get("n_electrodes") or 0, 1)
                why = "unknown" if positions is None else f"only {len(positions)} for electrode {max_el}"
                notes.append(f"electrode positions {why}: a line of {n} electrodes 1 m apart was written")
                positions = line_positions(n, 1.0).tolist()
        buf = io.StringIO()
        formats.write(fmt, records, positions, buf)
        suffix = "" if pass_index is None else f"_pass{pass_index}"
        return {"text": buf.getvalue(), "notes": notes, "measurements": len(records),
                "filename": f"{survey_id}{suffix}{EXTENSION[fmt]}"}

    def export(self, survey_id: str, fmt: str, pass_index: int | None = None, **options) -> str:
        """A survey as the text of an ohm | protocol | csv | matrix file (see export_info)."""
        return self.export_info(survey_id, fmt, pass_index, **options)["text"]

    def errmodel(self, survey_id: str) -> dict:
        """The reciprocal error model of a survey (ValueError when it has too few pairs)."""
        return errmodel.fit(self._select_rows(*self._where(survey_id, None)))

    def quality(self, survey_id: str, pass_index: int | None = None) -> dict:
        """A survey's data quality at a glance (see ``ohmpi.quality``)."""
        rows = self._select_rows(*self._where(survey_id, pass_index))
        checks = self.rs_checks(survey_id, limit=10_000)
        return quality.summary(rows, checks[-1] if checks else None)

    # ---- logs and SOH ------------------------------------------------------------------------
    def add_logs(self, rows: Iterable[dict]) -> int:
        """Insert log rows {ts, process, level, message, extra}; return how many.

        A message is cut at MAX_MESSAGE_CHARS and `extra` replaced by a note over
        MAX_EXTRA_BYTES, so one oversized event cannot bloat the database."""
        values = [(float(r["ts"]), r.get("process"), r.get("level"), LEVELS.get(r.get("level"), 20),
                   None if r.get("message") is None else cap_text(str(r["message"])),
                   cap_json(r.get("extra"), "extra")) for r in rows]
        return self._insert_many("logs", "INSERT INTO logs(ts, process, level, level_no, message, extra) "
                                         "VALUES (?,?,?,?,?,?)", values)

    def add_soh(self, rows: Iterable[dict]) -> int:
        """Insert SOH samples {ts, process, data}; return how many (data over MAX_EXTRA_BYTES: a note)."""
        values = [(float(r["ts"]), r.get("process"), cap_json(r.get("data"), "SOH sample")) for r in rows]
        return self._insert_many("soh", "INSERT INTO soh(ts, process, data) VALUES (?,?,?)", values)

    def add_audit(self, rows: Iterable[dict]) -> int:
        """Insert audit records {ts, process, action, ok, user, role, details}; return how many."""
        def short(value):
            return None if value is None else cap_text(str(value), 200)
        values = [(float(r["ts"]), short(r.get("process")), short(r.get("action")) or "?", bool(r.get("ok")),
                   short(r.get("user")), short(r.get("role")), cap_json(r.get("details") or None, "details"))
                  for r in rows]
        return self._insert_many("audit", "INSERT INTO audit(ts, process, action, ok, user, role, details) "
                                          "VALUES (?,?,?,?,?,?,?)", values)

    def audit(self, limit: int = 200, since: float | None = None, user: str | None = None,
              action: str | None = None) -> list[dict]:
        """Audit records, newest first, optionally since epoch `since`, of one user or one action."""
        where, args = ["1"], []
        for column, value in (("ts >= ?", since), ("user = ?", user), ("action = ?", action)):
            if value is not None:
                where.append(column)
                args.append(value)
        with self._lock:
            rows = self._db.execute("SELECT ts, process, action, ok, user, role, details FROM audit WHERE "
                                    f"{' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
                                    (*args, limit)).fetchall()
        return [{"ts": r[0], "process": r[1], "action": r[2], "ok": bool(r[3]), "user": r[4], "role": r[5],
                 "details": json.loads(r[6]) if r[6] else {}} for r in rows]

    def _insert_many(self, table: str, sql: str, values: list) -> int:
        if not values:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, values)
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self.counts[table] += len(values)
        return len(values)

    def logs(self, limit: int = 200, level: str | None = None, process: str | None = None,
             since: float | None = None) -> list[dict]:
        """The newest log rows first; `level` keeps that level and above."""
        where, args = ["1"], []
        if level is not None:
            if level not in LEVELS:
                raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
            where.append("level_no >= ?")
            args.append(LEVELS[level])
        if process is not None:
            where.append("process = ?")
            args.append(process)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        with self._lock:
            rows = self._db.execute(f"SELECT ts, process, level, message, extra FROM logs WHERE "
                                    f"{' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
                                    (*args, limit)).fetchall()
        return [{"ts": r[0], "process": r[1], "level": r[2], "message": r[3],
                 "extra": json.loads(r[4]) if r[4] else None} for r in rows]

    def soh(self, process: str | None = None, since: float | None = None, limit: int = 500) -> list[dict]:
        """The newest SOH samples first."""
        where, args = ["1"], []
        if process is not None:
            where.append("process = ?")
            args.append(process)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        with self._lock:
            rows = self._db.execute(f"SELECT ts, process, data FROM soh WHERE {' AND '.join(where)} "
                                    "ORDER BY ts DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
        return [{"ts": r[0], "process": r[1], "data": json.loads(r[2])} for r in rows]

    def prune(self, logs_days: float, soh_days: float, now: float | None = None,
              audit_days: float | None = None) -> dict:
        """Delete log rows older than `logs_days`, SOH samples older than `soh_days` and audit
        records older than `audit_days` (None: keep them)."""
        now = time.time() if now is None else now
        ages = {"logs": logs_days, "soh": soh_days, "audit": audit_days}
        deleted = {}
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for table, days in ages.items():
                    deleted[table] = 0 if days is None else self._db.execute(
                        f"DELETE FROM {table} WHERE ts < ?", (now - days * 86400,)).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            for table, n in deleted.items():
                self.counts[table] -= n
        return deleted

    # ---- size quota --------------------------------------------------------------------------
    def used_bytes(self) -> int:
        """Bytes the data takes in the database: (page_count - freelist_count) × page_size."""
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * size

    def enforce_quota(self, max_bytes: int, max_chunks: int = 50) -> dict:
        """Delete the oldest log rows and SOH samples, PRUNE_CHUNK rows per transaction, until the
        used size is within `max_bytes` (at most `max_chunks` chunks per call, so a caller keeps
        answering meanwhile). Measurements, surveys, checks, dead letters and audit are never
        deleted. Returns {"logs", "soh" (rows deleted), "used_bytes", "over" (still over)}."""
        deleted = {"logs": 0, "soh": 0}
        used = self.used_bytes()
        for _ in range(max_chunks):
            if used <= max_bytes:
                break
            with self._lock:
                oldest = {t: self._db.execute(f"SELECT MIN(ts) FROM {t}").fetchone()[0] for t in deleted}
                candidates = [t for t, ts in oldest.items() if ts is not None]
                if not candidates:
                    break
                table = min(candidates, key=lambda t: oldest[t])
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    n = self._db.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                                         "ORDER BY ts, id LIMIT ?)", (PRUNE_CHUNK,)).rowcount
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
                deleted[table] += n
                self.counts[table] -= n
            used = self.used_bytes()
        return {**deleted, "used_bytes": used, "over": used > max_bytes}

    # ---- statistics --------------------------------------------------------------------------
    def db_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path.parent).free

    def stats(self) -> dict:
        with self._lock:
            counts = self._count_rows()
            oldest, newest = self._db.execute("SELECT MIN(time), MAX(time) FROM measurements").fetchone()
        self.counts = dict(counts)
        return {"path": str(self.path), "schema_version": self.schema_version, "counts": counts,
                "db_bytes": self.db_bytes(), "db_used_bytes": self.used_bytes(), "free_disk_bytes": self.free_bytes(),
                "oldest_measurement": oldest, "newest_measurement": newest,
                "slot_conflicts": self.slot_conflicts}


def is_corruption(exc: BaseException) -> bool:
    """Is this SQLite error a damaged file (not a full disk, a lock or a bad query)?"""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in CORRUPT_CODES
    return type(exc) is sqlite3.DatabaseError


def check_file(path: str | os.PathLike) -> str | None:
    """Why the database at `path` is damaged (`PRAGMA quick_check`), or None when it is sound
    or absent. It reads the whole file once: 0.14 s for 200 MB from the page cache on the
    development machine; at a card's read speed (≈ 40 MB/s) about 5 s."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}" if is_corruption(exc) else None
    try:
        rows = [r[0] for r in con.execute("PRAGMA quick_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        return f"{type(exc).__name__}: {exc}"
    finally:
        con.close()
    return None if rows == ["ok"] else "quick_check: " + "; ".join(map(str, rows))[:1000]


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement aware)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


__all__ = ["Store", "SCHEMA_VERSION", "check_file", "is_corruption", "MIGRATIONS", "EXPORT_FORMATS",
           "encode_waveform", "decode_waveform",
           "utc_now", "cap_text", "cap_json"]
