"""The database schema: its tables, the columns of a measurement, and the migrations that
build them, one schema version at a time."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from ohmpi.measurement_cost import COST_FIELDS
from ohmpi.record import FIELD_INFO, FIELDS, JSON_TYPES

from .tx import transaction

SCHEMA_VERSION = 8
TABLES = ("surveys", "measurements", "waveforms", "rs_checks", "logs", "soh", "dead_letters", "audit")

_SQL_TYPE = {
    "int": "INTEGER",
    "float": "REAL",
    "str": "TEXT",
    "list[str]": "TEXT",
    "list[float]": "TEXT",
    "dict[str,float]": "TEXT",
}
_FIELD_TYPE = {info.name: info.type for info in FIELD_INFO}
ELECTRODES = ("a", "b", "m", "n")


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


# the record fields of schema 1 (later fields are added by their own migration)
_V1_FIELDS = (
    "a",
    "b",
    "m",
    "n",
    "time",
    "vab_V",
    "iab_mA",
    "iab_std_pct",
    "vmn_mV",
    "vmn_std_pct",
    "sp_mV",
    "r_ohm",
    "r_std_pct",
    "k_m",
    "rhoa_ohmm",
    "rab_kohm",
    "n_stacks",
    "injection_ms",
    "duty_cycle",
    "sampling_hz",
    "n_samples",
    "strategy",
    "flags",
)
JSON_FIELDS = frozenset(f for f in FIELDS if _FIELD_TYPE[f] in JSON_TYPES)

SURVEY_COLS = (
    "survey_id",
    "name",
    "created",
    "updated",
    "updated_ts",
    "state",
    "array",
    "n_electrodes",
    "total",
    "repeat",
    "every_s",
    "settings",
    "positions",
    "sequence",
    "body",
    "update_key",
    "update_rev",
)
MEAS_COLS = ("measurement_id", "survey_id", "pass_index", "seq_index", "instrument", "received", *FIELDS)
COST_COLS = COST_FIELDS  # what each measurement cost (schema 7), stored beside the record, summed per survey
ORDER = "pass_index IS NULL, pass_index, seq_index IS NULL, seq_index, received, measurement_id"


def _record_columns_sql() -> str:
    return ",\n    ".join(f"{q(f)} {_SQL_TYPE[_FIELD_TYPE[f]]}" for f in _V1_FIELDS)


def decode_json_fields(row: dict) -> dict:
    """A measurement row's JSON columns (flags, lists, the uncertainty budget) as Python values."""
    for name in JSON_FIELDS:
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
    # 6: SD-card wear: the samples of each process went to their own leaf of this index, so one
    # minute's SOH touched a page per process; a process's samples are found through soh_ts
    """
DROP INDEX IF EXISTS soh_process;
""",
    # 7: what each measurement cost the instrument (seconds, seconds injecting, relay coil
    # operations, energy), summed per survey and pass; null in measurements stored before
    """
ALTER TABLE measurements ADD COLUMN duration_s REAL;
ALTER TABLE measurements ADD COLUMN injection_s REAL;
ALTER TABLE measurements ADD COLUMN relay_operations INTEGER;
ALTER TABLE measurements ADD COLUMN energy_j REAL;
""",
    # 8: the receiver channel that measured each quadrupole (several M–N dipoles per A–B
    # injection); null in measurements stored before
    """
ALTER TABLE measurements ADD COLUMN channel INTEGER;
""",
]


def statements(script: str) -> list[str]:
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


def migrate(db: sqlite3.Connection, path: Path, lock: threading.RLock, migrations: list[str] | None = None) -> None:
    """Bring the database at `path` to the newest schema, one committed migration at a time;
    a database newer than this software is refused (RuntimeError)."""
    migrations = MIGRATIONS if migrations is None else migrations
    with lock:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise RuntimeError(
                f"{path}: schema version {version} is newer than this software "
                f"({len(migrations)}); upgrade the software"
            )
        for target in range(version + 1, len(migrations) + 1):
            with transaction(db, lock):
                for statement in statements(migrations[target - 1]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")
