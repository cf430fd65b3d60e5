"""The data store: every survey, measurement, waveform, contact check, log line, SOH sample
and audit record, in one SQLite file.

One module per job: `schema` (tables, migrations), `tx` (the one transaction helper),
`ingest` (outbox items checked by ``ohmpi.items``, stored idempotently; refusals kept as dead
letters), `queries` (reading the data), `exports` (data files, error model, quality),
`telemetry` (logs, SOH, audit, size-capped), `retention` (age and size quota: logs and SOH
go first, never measurements), `waveform` (the blob codec), `integrity` (quick_check, telling
corruption apart) and `database` (the `Store` that holds the connection they share).

A card can corrupt a file: ``Store.open_checked`` runs ``PRAGMA quick_check`` first and sets a
damaged database aside (``<name>.corrupt-<time>``, with its -wal/-shm, never deleted) before
starting a new one. Each database has a random ``db_id`` (table ``meta``): producers that see
it change know the data they delivered is gone and deliver it again.

Pure Python + sqlite3 (+ numpy, msgpack): the bus binding lives in ``workers/recorder.py``.
"""

from .database import Store
from .exports import EXPORT_FORMATS, EXTENSION
from .ingest import update_rev, utc_now
from .integrity import CORRUPT_CODES, check_file, is_corruption
from .retention import PRUNE_CHUNK
from .schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from .schema import statements as _statements
from .telemetry import LEVELS, MAX_EXTRA_BYTES, MAX_MESSAGE_CHARS, cap_json, cap_text
from .waveform import WAVEFORM_FLOAT64, decode_waveform, encode_waveform

__all__ = [
    "CORRUPT_CODES",
    "EXPORT_FORMATS",
    "EXTENSION",
    "LEVELS",
    "MAX_EXTRA_BYTES",
    "MAX_MESSAGE_CHARS",
    "MIGRATIONS",
    "PRUNE_CHUNK",
    "SCHEMA_VERSION",
    "TABLES",
    "WAVEFORM_FLOAT64",
    "Store",
    "_statements",
    "cap_json",
    "cap_text",
    "check_file",
    "decode_waveform",
    "encode_waveform",
    "is_corruption",
    "update_rev",
    "utc_now",
]
