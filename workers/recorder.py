"""The recorder process: `python -m workers.recorder` (run by supervisord).

Binds the SQLite store (`ohmpi.store`) to the bus. Measurements, contact checks and survey
updates arrive through acknowledged delivery (producers' outboxes call `ingest`; a key is
acknowledged only once committed; an item the store refuses is kept in `dead_letters`, with
a rate-limited warning, and acknowledged so the producer's queue keeps flowing). Logs
(`log.#`), SOH (`soh.#`) and audit records (`audit.#`) are events: buffered
(`ohmpi.store.event_buffer`), written in one transaction once the oldest has waited `flush_s`
(audit within a second; a clean stop writes what waits), SOH down-sampled to one sample per
process per `soh_every_s`, and pruned by retention; when the database is over `max_db_mb`, the
oldest logs and SOH samples go first (never measurements, nor audit). Commands serve the
stored data (`surveys`, `data`, `export` in chunks, `stats`, `has`, `logs`, `soh`, ...; `audit`
and `dead_letters` for admins).

Unattended: at start the database passes `PRAGMA quick_check` or is set aside
(`<db>.corrupt-<time>`, never deleted) for a new one, with an error logged and
`db_set_aside` in `state.recorder`/`stats`; `ingest` answers name the database (`epoch`), so
the producers' outboxes deliver again what they still hold. Below the free-space floor
(`min_free_mb`, on the disks of the database and of $OHMPI_VAR) `disk_low` is set in
`state.recorder`, SOH samples are not stored, and the sequencer and the controller hold
measuring until space returns. A database found damaged while running ends the process
(supervisord starts it again, which checks the file).

Config (`[recorder]` in ohmpi.toml, every key optional):
    db = "ohmpi.db"              # relative paths are under $OHMPI_VAR
    log_retention_days = 30
    soh_retention_days = 30
    audit_retention_days = 365
    soh_every_s = 60
    flush_s = 5                  # longest wait of a log line / SOH sample for its commit (SD-card wear)
    max_db_mb = 2048             # MiB of data in the database before logs/SOH are pruned
    min_free_mb = 64             # free disk below which nothing new is measured (0: no floor)
"""

from __future__ import annotations

import math
import sqlite3
import sys
import time
from pathlib import Path

import msgpack

from bus.commands import current_caller
from bus.config import ConfigError, check_table, config_table, var_dir
from bus.envelope import plain
from bus.errors import BadRequest, InternalError
from bus.node import Node, RateLimit
from ohmpi.durable import set_aside_files
from ohmpi.store import EXPORT_FORMATS, LEVELS, Store, is_corruption
from ohmpi.store.event_buffer import EventBuffer
from ohmpi.store.export_chunks import ChunkOutOfRange, ExportChunks
from ohmpi.store.queries import FIGURES

from .common import DiskFloor, log_soon, worker_main
from .recorder_alarms import attach as attach_alarms
from .recorder_inversions import attach as attach_inversions

REPLY_BUDGET = 900 * 1024  # list replies are cut to stay under the limit
MAX_LIMIT = 5000
TICK_S = 1.0  # disk floor, due flush, state
MAX_FLUSH_S = 600.0
PRUNE_S = 3600.0
QUOTA_S = 10.0  # how often the database size is checked against max_db_mb (three PRAGMAs)
CORRUPT_EXIT = 3  # the database was found damaged while running: supervisord restarts us to check it
STATE_S = 5.0
SHOWN_BODY_CHARS = 4096  # of a dead letter's body in the `dead_letters` listing (the store keeps it whole)

DEFAULTS = {
    "db": "ohmpi.db",
    "log_retention_days": 30.0,
    "soh_retention_days": 30.0,
    "audit_retention_days": 365.0,
    "soh_every_s": 60.0,
    "max_db_mb": 2048.0,
    "min_free_mb": 64.0,
    "flush_s": 5.0,
}
TYPES = {
    "db": str,
    "log_retention_days": float,
    "soh_retention_days": float,
    "audit_retention_days": float,
    "soh_every_s": float,
    "max_db_mb": float,
    "min_free_mb": float,
    "flush_s": float,
}
AT_LEAST_ZERO = ("soh_every_s", "min_free_mb")  # 0 is allowed (every sample; no floor); others must be > 0
MIB = 1 << 20


def load_settings(table: dict | None = None) -> dict:
    """The `[recorder]` config table, checked; errors name the key and what is allowed."""
    table = config_table("recorder") if table is None else dict(table)
    out = {**DEFAULTS, **check_table("recorder", table, TYPES)}
    if not out["db"].strip():
        raise ConfigError(f"[recorder].db must be a non-empty path string, got {out['db']!r}")
    for key, value in out.items():
        if key == "db":
            continue
        if not math.isfinite(value):
            raise ConfigError(f"[recorder].{key} must be a finite number, got {value!r}")
        if not (value >= 0 if key in AT_LEAST_ZERO else value > 0):
            raise ConfigError(f"[recorder].{key} must be {'>= 0' if key in AT_LEAST_ZERO else '> 0'}, got {value!r}")
    if out["flush_s"] > MAX_FLUSH_S:
        raise ConfigError(f"[recorder].flush_s must be at most {MAX_FLUSH_S:g} s, got {out['flush_s']!r}")
    path = Path(out["db"]).expanduser()
    out["db"] = str(path if path.is_absolute() else var_dir() / path)
    return out


def _fit(rows: list, budget: int = REPLY_BUDGET) -> list:
    """The longest prefix of `rows` whose msgpack encoding stays within `budget` bytes."""
    size = 0
    for index, row in enumerate(rows):
        size += len(msgpack.packb(row, use_bin_type=True, default=plain))
        if size > budget:
            return rows[:index]
    return rows


def _check_range(name: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise BadRequest(f"{name} must be {allowed}, got {value}", arg=name, reason="out of range")


class Recorder:
    """The recorder's state and handlers, independent of how the Node is driven."""

    def __init__(self, node: Node, settings: dict):
        self.node = node
        self.settings = settings
        self.store, aside = Store.open_checked(settings["db"])
        self.set_aside_now = aside  # {"path", "reason"} when this start set a damaged database aside
        if aside is not None:
            log_soon(
                node,
                "error",
                f"database {settings['db']} was damaged ({aside['reason']}); set aside as "
                f"{aside['path']} (kept for recovery) and a new one started: the producers "
                "deliver again the data they still hold",
                set_aside=aside["path"],
            )
        self.floor = DiskFloor(int(settings["min_free_mb"] * MIB), [Path(settings["db"]).parent, var_dir()])
        self.free_bytes = self.floor.free_bytes()
        self.disk_low = False
        self.quota_bytes = int(settings["max_db_mb"] * MIB)
        self.over_quota = False
        self.rows_since_quota = 0
        self.corrupt = False
        # logs, SOH and audit on their way to the store
        self.events = EventBuffer(settings["soh_every_s"], settings["flush_s"])
        self.dead_letter_warnings = RateLimit(per_minute=10)
        self.write_errors = 0
        self.last_state: dict | None = None
        self.last_state_at = 0.0
        self.exports = ExportChunks()
        self.store_failing = False

    # ---- commands ----------------------------------------------------------------------------
    def register(self) -> None:
        n = self.node
        n.command(self.ingest, role="service")  # only the system's own producers deliver items
        for fn in (
            self.surveys,
            self.survey,
            self.data,
            self.stats,
            self.has,
            self.indices,
            self.waveform,
            self.rs_checks,
            self.timeseries,
            self.errmodel,
            self.quality,
        ):
            n.command(fn, role="viewer")
        # a large file takes seconds to make: in its own thread (one lane: the chunk cache is not
        # shared between threads), so the loop keeps answering and beating meanwhile
        n.command(self.export, role="viewer", background=True, lane="export")
        n.command(self.logs_cmd, name="logs", role="viewer")
        n.command(self.soh_cmd, name="soh", role="viewer")
        n.command(self.audit, role="admin")
        n.command(self.dead_letters, role="admin")

    def ingest(self, items: list[dict]) -> dict:
        """Store outbox items (measurement, rs_check, survey) in one transaction, item by item:
        {acked: every key handled, refused: [{key, reason}] of those kept aside as dead letters}."""
        caller = current_caller.get()
        try:
            result = self.store.ingest(items, producer=caller.user if caller else None)
        except sqlite3.Error as exc:  # disk full, I/O error: nothing acknowledged, the producer retries
            self.write_errors += 1
            self.node.log("error", f"ingest failed, nothing stored: {type(exc).__name__}: {exc}")
            if is_corruption(exc):
                self._corrupt(exc)
            raise InternalError(f"storage failed, nothing stored: {exc}") from None
        result["epoch"] = self.store.db_id  # a new database (set aside, deleted): producers deliver again
        if self.store.last_conflicts:
            self.node.log(
                "warning",
                f"{len(self.store.last_conflicts)} measurement(s) ignored: their "
                "(survey, pass, index) already holds another measurement id",
                ids=self.store.last_conflicts[:20],
            )
        for refusal in result["refused"]:
            self._warn_dead_letter(refusal, caller.user if caller else None)
        self.publish_state()
        return result

    def _warn_dead_letter(self, refusal: dict, producer: str | None) -> None:
        """One warning per refused item, at most 10 a minute (then a count of the ones not logged)."""
        if not self.dead_letter_warnings.take("dead_letter"):
            return
        suppressed = self.dead_letter_warnings.suppressed.pop("dead_letter", 0)
        more = f" ({suppressed} more not logged)" if suppressed else ""
        self.node.log(
            "warning",
            f"dead letter from {producer or 'an unknown producer'}: {refusal['reason']}{more}",
            key=refusal["key"],
            producer=producer,
        )

    def dead_letters(self, limit: int = 100, offset: int = 0) -> dict:
        """Items refused on ingest (kept, acknowledged), newest first: key, kind, reason, body,
        received, producer. Follow `next_offset` for more."""
        _check_range("limit", limit, 1, MAX_LIMIT)
        _check_range("offset", offset, 0)
        rows = self.store.dead_letters(limit, offset)
        for row in rows:  # one huge body must not hide the others: the listing shows its start
            if row["body"] is not None and len(row["body"]) > SHOWN_BODY_CHARS:
                row["body_chars"] = len(row["body"])
                row["body"] = row["body"][:SHOWN_BODY_CHARS] + "…"
        rows = _fit(rows)
        total = self.store.counts["dead_letters"]
        end = offset + len(rows)
        return {"items": rows, "total": total, "next_offset": end if rows and end < total else None}

    def audit(
        self, limit: int = 200, since: float | None = None, user: str | None = None, action: str | None = None
    ) -> list:
        """Audit records (who did what: logins, refusals, restarts, settings, surveys), newest first;
        `since` is epoch seconds; `user` and `action` filter."""
        _check_range("limit", limit, 1, MAX_LIMIT)
        self.flush()
        return _fit(self.store.audit(limit, since, user, action))

    def _known(self, survey_id: str) -> None:
        if not self.store.survey_exists(survey_id):
            raise BadRequest(f"unknown survey {survey_id!r}", arg="survey_id", reason="unknown survey")

    def surveys(self) -> list:
        """Every survey, newest first, with counts of measurements, passes and flagged ones."""
        return _fit(self.store.surveys())

    def survey(self, survey_id: str) -> dict:
        """One survey's full description (settings, positions, sequence) with its counts."""
        self._known(survey_id)
        body = self.store.survey(survey_id) or {"survey_id": survey_id}
        counts = next((s for s in self.store.surveys() if s["survey_id"] == survey_id), {})
        body.update({k: counts.get(k) for k in ("measurements", "passes", "flagged", *FIGURES)})
        body["pass_figures"] = self.store.pass_figures(survey_id)  # what each pass cost
        return body

    def data(self, survey_id: str, offset: int = 0, limit: int = 500, pass_index: int | None = None) -> dict:
        """A page of a survey's measurements by pass then sequence index; follow `next_offset`."""
        _check_range("offset", offset, 0)
        _check_range("limit", limit, 1, MAX_LIMIT)
        _check_range("pass_index", pass_index, 0)
        self._known(survey_id)
        page = self.store.data(survey_id, offset, limit, pass_index)
        page["rows"] = _fit(page["rows"])
        end = offset + len(page["rows"])
        page["next_offset"] = end if end < page["total"] else None
        return page

    def export(
        self,
        survey_id: str,
        format: str,
        pass_index: int | None = None,
        chunk: int = 0,
        error_model: bool = False,
        common: bool = False,
    ) -> dict:
        """A survey as an ohm | protocol | csv | matrix file, in chunks of at most 512 KiB: ask chunk 0
        first, then 1.. until `chunks` (chunks > 0 come from the text chunk 0 made, same `sha256`).
        `error_model`: errors from the reciprocal error model; `common`: only the quadrupoles measured
        in every pass, in sequence order (time-lapse); `matrix`: R of each quadrupole in each pass."""
        for name, value in (("error_model", error_model), ("common", common)):
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be true or false, got {value!r}", arg=name, reason="not a boolean")
        if format not in EXPORT_FORMATS:
            raise BadRequest(
                f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}",
                arg="format",
                reason="unknown format",
            )
        _check_range("pass_index", pass_index, 0)
        _check_range("chunk", chunk, 0)
        self._known(survey_id)

        def make() -> dict:
            try:
                info = self.store.export_info(survey_id, format, pass_index, error_model=error_model, common=common)
            except ValueError as exc:
                raise BadRequest(
                    f"cannot export {survey_id!r} as {format}: {exc}", arg="format", reason="not exportable"
                ) from None
            for note in info["notes"]:
                self.node.log("warning", f"export {info['filename']}: {note}")
            return info

        try:
            part = self.exports.chunk((survey_id, format, pass_index, error_model, common), chunk, make)
        except ChunkOutOfRange as exc:
            raise BadRequest(str(exc), arg="chunk", reason="out of range") from None
        return {"format": format, **part}

    def _corrupt(self, exc: Exception) -> None:
        """The database is damaged under us: stop, so the start that follows checks and sets it aside."""
        if not self.corrupt:
            self.corrupt = True
            self.node.log("critical", f"database damaged while running ({exc}): restarting to check it")
            self.node.stop()

    def stats(self) -> dict:
        """Rows per table (dead letters too), database size and quota, oldest/newest measurement,
        free disk space and its floor, databases set aside as damaged."""
        out = self.store.stats()
        out.update(
            {
                "db_quota_bytes": self.quota_bytes,
                "over_quota": self.over_quota,
                "dead_letters": out["counts"]["dead_letters"],
                "pending_logs": len(self.events.logs),
                "pending_soh": len(self.events.soh),
                "pending_audit": len(self.events.audits),
                "dropped_events": self.events.dropped,
                "write_errors": self.write_errors,
                "refused_events": self.events.bad_rows,
                **self.disk_state(),
            }
        )
        return out

    def disk_state(self) -> dict:
        """The free-space floor and damaged databases, as `stats`, SOH and `state.recorder` show them."""
        return {
            "free_disk_bytes": self.free_bytes,
            "min_free_bytes": self.floor.floor_bytes,
            "disk_low": self.disk_low,
            "soh_not_stored": self.events.soh_not_stored,
            "db_set_aside": self.set_aside_list(),
        }

    def set_aside_list(self) -> list[dict]:
        """The damaged databases kept beside this one (newest last, at most 5), with the reason
        for the one set aside at this start."""
        out = [{"path": str(p), "reason": None} for p in set_aside_files(self.store.path)[-5:]]
        for entry in out:
            if self.set_aside_now and entry["path"] == self.set_aside_now["path"]:
                entry["reason"] = self.set_aside_now["reason"]
        return out

    def check_disk(self) -> None:
        """Compare free space with the floor; log when it crosses (both ways) and tell at once."""
        self.free_bytes = self.floor.free_bytes()
        low = self.free_bytes < self.floor.floor_bytes
        if low == self.disk_low:
            return
        self.disk_low = self.events.hold_soh = low
        if low:
            self.node.log(
                "error",
                f"{self.floor.describe(self.free_bytes)}: surveys hold, SOH samples are not "
                "stored; free some space (or lower min_free_mb)",
                free_bytes=self.free_bytes,
                floor_bytes=self.floor.floor_bytes,
            )
        else:
            self.node.log(
                "info",
                f"disk space back: {self.free_bytes / MIB:.1f} MiB free (floor {self.floor.floor_bytes / MIB:g} MiB)",
            )
        self.publish_state(force=True)

    def errmodel(self, survey_id: str) -> dict:
        """The survey's reciprocal error model |Rn − Rr| = a·|R|^b: a, b, r2, pairs, the bins it was
        fitted on, median reciprocal error (%)."""
        self._known(survey_id)
        try:
            return self.store.errmodel(survey_id)
        except ValueError as exc:
            raise BadRequest(f"{survey_id!r}: {exc}", arg="survey_id", reason="no error model") from None

    def quality(self, survey_id: str, pass_index: int | None = None) -> dict:
        """A survey's data quality: flagged share and flags, uncertainty histogram and dominant source,
        reciprocal-error histogram and error model, chargeability histogram, contacts at its start."""
        _check_range("pass_index", pass_index, 0)
        self._known(survey_id)
        return self.store.quality(survey_id, pass_index)

    def has(self, measurement_ids: list[str]) -> list[str]:
        """The given measurement ids that are stored."""
        return self.store.has(measurement_ids)

    def indices(self, survey_id: str, pass_index: int = 0) -> list[int]:
        """The sequence indices stored for one pass of a survey (to resume without repeating)."""
        _check_range("pass_index", pass_index, 0)
        self._known(survey_id)
        return self.store.indices(survey_id, pass_index)

    def waveform(self, measurement_id: str) -> dict:
        """The full waveform of one measurement (t_s, polarity, current_mA, voltage_mV, counted)."""
        wf = self.store.waveform(measurement_id)
        if wf is None:
            raise BadRequest(f"no waveform stored for {measurement_id!r}", arg="measurement_id", reason="not found")
        return wf

    def timeseries(self, a: int, b: int, m: int, n: int, limit: int = 1000) -> list:
        """R and apparent resistivity of one quadrupole over time across surveys (newest `limit`, oldest first)."""
        for name, value in (("a", a), ("b", b), ("m", m), ("n", n)):
            _check_range(name, value, 0, 100_000)
        _check_range("limit", limit, 1, MAX_LIMIT)
        return _fit(self.store.timeseries(a, b, m, n, limit))

    def rs_checks(self, survey_id: str | None = None, limit: int = 20) -> list:
        """The newest contact-resistance checks (of one survey if given)."""
        _check_range("limit", limit, 1, MAX_LIMIT)
        return _fit(self.store.rs_checks(survey_id, limit))

    def logs_cmd(
        self, limit: int = 200, level: str | None = None, process: str | None = None, since: float | None = None
    ) -> list:
        """Stored log lines, newest first; `level` keeps that level and above; `since` is epoch seconds."""
        _check_range("limit", limit, 1, MAX_LIMIT)
        if level is not None and level not in LEVELS:
            raise BadRequest(
                f"level must be one of {', '.join(LEVELS)}, got {level!r}", arg="level", reason="unknown level"
            )
        self.flush()
        return _fit(self.store.logs(limit, level, process, since))

    def soh_cmd(self, process: str | None = None, since: float | None = None, limit: int = 500) -> list:
        """Stored SOH samples, newest first (one per process per soh_every_s)."""
        _check_range("limit", limit, 1, MAX_LIMIT)
        self.flush()
        return _fit(self.store.soh(process, since, limit))

    # ---- events ------------------------------------------------------------------------------
    def on_event(self, msg) -> None:
        if self.events.add_event(msg.topic, msg.ts, msg.body) and self.events.full() and not self.store_failing:
            self.flush()

    def flush(self) -> None:
        """Write buffered logs, SOH samples and audit records (kept for the next try if the database fails)."""
        try:
            self.rows_since_quota += self.events.write(self.store)
        except sqlite3.Error as exc:
            self.write_errors += 1
            if not self.store_failing:
                self.node.log("error", f"could not store {len(self.events)} log/SOH/audit rows: {exc}")
            self.store_failing = True
            if is_corruption(exc):
                self._corrupt(exc)
            return
        self.store_failing = False
        if self.rows_since_quota and self.store.used_bytes() > self.quota_bytes:
            self.enforce_quota()  # a storm (a rogue publisher) is pruned as it comes, not 10 s later

    def prune(self) -> None:
        deleted = self.store.prune(
            self.settings["log_retention_days"],
            self.settings["soh_retention_days"],
            audit_days=self.settings["audit_retention_days"],
        )
        if any(deleted.values()):
            self.node.log(
                "info",
                f"retention: deleted {deleted['logs']} log rows, {deleted['soh']} SOH samples "
                f"and {deleted['audit']} audit records",
            )

    def enforce_quota(self) -> None:
        """Keep the database within max_db_mb: the oldest logs and SOH samples go first, never data."""
        self.rows_since_quota = 0  # what waits is not written here: a check every 10 s must not be a commit
        result = self.store.enforce_quota(self.quota_bytes)
        if result["logs"] or result["soh"]:
            self.node.log(
                "warning",
                f"database over its quota of {self.settings['max_db_mb']:g} MiB: deleted the "
                f"oldest {result['logs']} log rows and {result['soh']} SOH samples "
                f"(now {result['used_bytes'] / MIB:.1f} MiB used)",
            )
        if result["over"] and not self.over_quota:
            self.node.log(
                "error",
                f"database holds {result['used_bytes'] / MIB:.1f} MiB, over its quota of "
                f"{self.settings['max_db_mb']:g} MiB, with no log or SOH left to prune "
                "(measurements are never deleted): export and remove old surveys, or raise "
                "[recorder] max_db_mb",
            )
        self.over_quota = result["over"]

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> dict:
        c = self.store.counts
        return {
            "measurements": c["measurements"],
            "surveys": c["surveys"],
            "rs_checks": c["rs_checks"],
            "db_bytes": self.store.db_bytes(),
            "db_id": self.store.db_id,
            **self.disk_state(),
        }

    def publish_state(self, force: bool = False) -> None:
        state = self.state()
        now = time.monotonic()
        changed = self.last_state is None or any(
            state[k] != self.last_state[k] for k in ("measurements", "surveys", "rs_checks", "disk_low")
        )
        if force or changed or now - self.last_state_at >= STATE_S:
            self.node.publish("state.recorder", state)
            self.last_state, self.last_state_at = state, now

    def heartbeat(self) -> dict:
        return {
            **self.state(),
            "db_used_bytes": self.store.used_bytes(),
            "db_quota_bytes": self.quota_bytes,
            "over_quota": self.over_quota,
            "dead_letters": self.store.counts["dead_letters"],
            "pending_logs": len(self.events.logs),
            "pending_soh": len(self.events.soh),
            "dropped_events": self.events.dropped,
            "write_errors": self.write_errors,
            "slot_conflicts": self.store.slot_conflicts,
        }

    def tick(self) -> None:
        self.check_disk()
        if self.events.due():
            self.flush()
        self.publish_state()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.store.close()


def run() -> int:
    settings = load_settings()
    node = Node("recorder")
    rec = Recorder(node, settings)
    rec.register()
    node.subscribe(["log.#", "soh.#", "audit.#"], rec.on_event)
    attach_alarms(node, rec.store)  # alarm_put (the alarm outbox) → the alarm history (workers/recorder_alarms.py)
    attach_inversions(node, rec.store)  # inversion results (workers/recorder_inversions.py)
    node.every(TICK_S, rec.tick, first=TICK_S)
    node.every(PRUNE_S, rec.prune, first=0.0)
    node.every(QUOTA_S, rec.enforce_quota, first=0.0)
    node.soh_providers.append(rec.heartbeat)
    node.status_providers.append(rec.heartbeat)
    node.stop_hooks.append(rec.close)
    node.log(
        "info",
        f"recording to {settings['db']} (schema {rec.store.schema_version}, "
        f"{rec.store.counts['measurements']} measurements)",
    )
    rec.check_disk()
    rec.publish_state(force=True)
    node.run()
    return CORRUPT_EXIT if rec.corrupt else 0


def main() -> int:
    return worker_main("recorder", run)


if __name__ == "__main__":
    sys.exit(main())
