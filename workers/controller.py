"""The controller process: the only one that touches the hardware. `python -m workers.controller`.

At start, before anything else, it puts the instrument in its safe state (injection off,
every relay released). Every measurement is committed to a durable outbox before the
command is answered, then delivered to the recorder with acknowledgement; the events it
publishes on `data.<instrument>.*` are for watching, not for storage. A measurement id
it already has is answered from the outbox, never measured twice.

Pipelined surveys: a `measure` may wait for the hardware lane (up to two calls queued
behind the running one), and a survey's answers through a deferred reply (bus.commands.Later): the
hardware part runs in the lane, the durable commit, the events and the reply follow on the
node's finisher thread while the next quadrupole already injects. An id whose commit is
still under way is answered from that commit, not measured again. `abort` refuses the
waiting call and fences the survey it hit: no later quadrupole of it starts until the
sequencer comes back to the aborted one (a resume); `abort(survey_id)` (a stopped survey)
fences it for good.

What enters the outbox is checked first with the store's own validator (`ohmpi.items`): a
request the store would refuse (`rs_check(survey_id="")`) is refused here, naming the field,
before the hardware runs. A manual measurement or contact check (one not part of a survey)
answers once the recorder holds it (`stored: true`), or after STORE_WAIT_S (`stored: false`,
still safe in the outbox); survey measurements never wait.

Below the free-space floor (`[recorder] min_free_mb`) nothing is measured: `measure` and
`rs_check` answer `unavailable` with `reason: "disk_full"` before any relay moves (a survey
then holds until space returns), so a result always has room in the outbox. The saved
settings are replaced atomically (fsync of file and directory); a settings file that cannot
be read is set aside (`controller-settings.json.corrupt-<time>`) and the defaults are used.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
import threading
from collections import OrderedDict
from datetime import datetime, timezone

from bus.commands import Later, current_cancel
from bus.config import ConfigError, check_table, config_table
from bus.errors import Aborted, BadRequest, Fault, Unavailable
from bus.files import atomic_write
from bus.node import Node
from bus.outbox import Outbox
from bus.rpc import Client
from ohmpi import measurement_cost
from ohmpi.durable import is_disk_full, set_aside
from ohmpi.instrument import Instrument
from ohmpi.items import ItemError, check_entry, check_fields
from ohmpi.measure.procedure import Aborted as MeasurementAborted
from ohmpi.measure.settings import SETTINGS_SPEC, SettingError, validate_settings
from ohmpi.safety import SafetyTrip
from ohmpi.survey_energy import SurveyEnergy

from .common import disk_floor, follow_recorder, instrument, log_soon, positions, var_path, worker_main

CONTROLLER_KEYS = {"instrument_name": str, "simulated": bool}
STORE_WAIT_S = 10.0  # a manual measurement or check waits at most this long for the recorder
FENCES = 16  # aborted surveys remembered (the sequencer runs one at a time)
STOPPED = (-1, -1)  # the fence of a stopped survey: no position is at or before it


def controller_config() -> dict:
    """The `[controller]` table, checked; errors name the key."""
    table = check_table("controller", config_table("controller"), CONTROLLER_KEYS)
    out = {"instrument_name": "sim", "simulated": True, **table}
    try:
        check_fields("measurement", {"instrument": out["instrument_name"]})
    except ItemError as exc:
        raise ConfigError(f"[controller].instrument_name {exc.reason}") from None
    return out


ALSO_KEYS = ("m", "n", "measurement_id", "seq_index")  # one more dipole of a group `measure`


def _shares(cost: dict, count: int) -> list[dict]:
    """A group's cost divided among its `count` measurements (the survey sums stay right)."""
    out = []
    for i in range(count):
        share = {}
        for key, value in cost.items():
            if isinstance(value, int) and not isinstance(value, bool):
                share[key] = value // count + (1 if i < value % count else 0)
            else:
                share[key] = None if value is None else value / count
        out.append(share)
    return out


def _refused(what: str, exc: ItemError) -> BadRequest:
    return BadRequest(f"{what}: {exc}", arg=exc.field, reason=exc.reason)


def _bad_setting(exc: SettingError) -> BadRequest:
    return BadRequest(f"settings: {exc}", arg=exc.field, reason=str(exc), allowed=exc.allowed)


class Controller:
    def __init__(self, node: Node):
        self.node = node
        opts = controller_config()
        self.name = opts["instrument_name"]
        self.cfg = instrument()
        self.instrument = Instrument.from_config(
            self.cfg, simulated=opts["simulated"], wear_path=var_path(f"relay-wear-{self.name}.json")
        )
        self.instrument.safe_state()  # first thing: nothing injects, no relay is closed
        self.instrument.survey_energy = SurveyEnergy(var_path(f"battery-{self.name}.json"))  # surveys left
        self.positions = positions(self.cfg)
        self.settings_path = var_path("controller-settings.json")
        self.settings = self._load_settings()
        self.floor = disk_floor()
        self.activity: str | None = None
        self._lock = threading.Lock()  # the lane, the finisher and the loop share what follows
        self._committing: set[str] = set()  # measurement ids measured, their commit under way
        self._fences: OrderedDict[str, tuple[int, int]] = OrderedDict()  # survey -> aborted position
        self.outbox = Outbox(
            var_path("controller-outbox.db"),
            "recorder",
            "ingest",
            client_factory=lambda: Client(node.address, cfg=node.cfg, name="controller-out"),
            stats=node.stats,
            check=check_entry,
            log=node.log,
        )
        node.command(self.measure, role="operator", background=True, lane="hardware", queue=2)
        node.command(self.rs_check, role="operator", background=True, lane="hardware")
        node.command(self.self_test, role="operator", background=True, lane="hardware")
        node.command(self.abort, role="operator")  # anyone operating may stop any injection
        node.command(self.set_settings, role="operator")
        node.command(self.get_settings, role="viewer")
        node.command(self.geometry, role="viewer")
        node.status_providers.append(self._status)
        node.soh_providers.append(self._soh)
        node.stop_hooks.append(self.close)

    # ---- settings -------------------------------------------------------------------------
    def _load_settings(self) -> dict:
        defaults = validate_settings({"mains_hz": self.cfg["mains_hz"]}).as_dict()
        try:
            saved = json.loads(self.settings_path.read_bytes())
            return validate_settings(saved).as_dict()
        except FileNotFoundError:
            return defaults
        except (OSError, ValueError, TypeError) as exc:
            aside = set_aside(self.settings_path)
            log_soon(
                self.node,
                "error",
                f"saved settings {self.settings_path.name} unreadable "
                f"({type(exc).__name__}: {exc}); set aside as {aside.name}, "
                "using the defaults",
            )
            return defaults

    def get_settings(self) -> dict:
        """The measurement settings, with the allowed range of each."""
        spec = {
            name: {
                "kind": s.kind,
                "allowed": s.allowed if s.kind == "choice" else None,
                "min": None if s.kind in ("choice", "bool") else s.low,
                "max": None if s.kind in ("choice", "bool") else s.high,
                "help": s.help,
            }
            for name, s in SETTINGS_SPEC.items()
        }
        return {"settings": self.settings, "spec": spec}

    def set_settings(self, settings: dict) -> dict:
        """Change some settings (validated all together; nothing changes on error)."""
        try:
            merged = validate_settings({**self.settings, **settings}).as_dict()
        except SettingError as exc:
            raise _bad_setting(exc) from None
        try:
            atomic_write(self.settings_path, json.dumps(merged))
        except OSError as exc:
            raise Unavailable(f"settings not saved: {exc.strerror or exc}; nothing changed", reason="storage") from None
        changes = {k: {"from": self.settings.get(k), "to": v} for k, v in merged.items() if self.settings.get(k) != v}
        self.settings = merged
        self.node.log("info", f"settings changed: {settings}")
        self.node.audit("settings_change", changes=changes)
        return merged

    def geometry(self) -> dict:
        """Electrode count and positions [x, y, z] in metres."""
        return {
            "instrument": self.name,
            "n_electrodes": self.cfg["n_electrodes"],
            "positions": self.positions,
            "channels": self.instrument.channels,  # receiver channels: M-N dipoles one `measure` takes (also=)
        }

    # ---- hardware commands ------------------------------------------------------------------
    def _room(self, what: str) -> None:
        """Refuse to measure below the free-space floor: the result would have nowhere to go."""
        free = self.floor.low()
        if free is not None:
            raise Unavailable(
                f"{what} refused: {self.floor.describe(free)}",
                reason="disk_full",
                free_bytes=free,
                floor_bytes=self.floor.floor_bytes,
            )

    def _keep(self, what: str, key: str, kind: str, body: dict) -> None:
        """Put a result in the outbox; a full disk is `unavailable` (reason disk_full)."""
        try:
            self.outbox.put(key, kind, body)
        except ItemError as exc:
            raise _refused(f"{what}: the result cannot be stored", exc) from None
        except sqlite3.OperationalError as exc:
            self.node.log("error", f"{what}: result not stored, the outbox cannot be written: {exc}")
            raise Unavailable(
                f"{what}: the result could not be stored ({exc}); it will be measured again",
                reason="disk_full" if is_disk_full(exc) else "storage",
            ) from None

    def _run(self, activity: str, fn):
        """Run `fn(abort_event)` as the lane's activity; the event is the lane call's own (set by
        `abort` even before the call started: it then never touches the hardware)."""
        cancel = current_cancel.get() or threading.Event()
        self.activity = activity
        try:
            if cancel.is_set():
                raise Aborted(f"{activity} aborted before it started")
            return fn(cancel)
        except MeasurementAborted as exc:
            raise Aborted(f"{activity} aborted: {exc}") from None
        except SafetyTrip as exc:
            self.node.log("error", f"{activity}: safety trip: {exc}")
            raise Fault(f"{activity} stopped for safety: {exc} (injection off, relays released)") from None
        finally:
            self.activity = None

    def measure(
        self,
        a: int,
        b: int,
        m: int,
        n: int,
        settings: dict | None = None,
        measurement_id: str | None = None,
        survey_id: str | None = None,
        pass_index: int | None = None,
        seq_index: int | None = None,
        also: list | None = None,
        survey_total: int | None = None,
    ) -> dict:
        """Measure one quadrupole (1-based electrodes); stored durably before answering. A measurement
        outside a survey answers once the recorder holds it (`stored`, waiting at most 10 s); one of
        a survey may wait for the running one and is committed while the next one injects.

        `also`: more M-N dipoles of the same A-B ([{m, n, measurement_id, seq_index}, ...], at most
        `channels` - 1) measured with it on the other receiver channels; the reply then carries one
        answer per dipole in `also`. Ids already stored are answered from the outbox, only the
        others are measured: nothing twice. `survey_total`: the quadrupoles of one pass of the survey,
        for the battery's surveys-left estimate (in passes) before any pass has finished."""
        if survey_total is not None and (
            isinstance(survey_total, bool) or not isinstance(survey_total, int) or not 1 <= survey_total <= 10**7
        ):
            raise BadRequest(
                f"measure refused: survey_total {survey_total!r} is not a count in 1..10000000",
                arg="survey_total",
                reason="not an integer in 1..10000000",
            )
        try:
            check_fields(
                "measurement",
                {
                    "measurement_id": measurement_id or "M",
                    "survey_id": survey_id,
                    "pass_index": pass_index,
                    "seq_index": seq_index,
                },
            )
        except ItemError as exc:
            raise _refused("measure refused", exc) from None
        dipoles = [{"m": m, "n": n, "measurement_id": measurement_id, "seq_index": seq_index}]
        dipoles += self._also(also, measurement_id)
        self._check_fence(survey_id, pass_index, seq_index)
        known: list = [None] * len(dipoles)
        if measurement_id is not None:
            ids = [d["measurement_id"] for d in dipoles]
            with self._lock:
                committing = any(mid in self._committing for mid in ids)
            if committing:  # measured, its commit queued on the finisher: answer from that commit
                return Later(lambda: self._answer([self._after_commit(mid, survey_id) for mid in ids], also))
            known = [self._repeated(mid, survey_id) for mid in ids]
            if all(known):
                return self._answer(known, also)
        todo = [d for d, k in zip(dipoles, known) if k is None]
        try:
            merged = validate_settings({**self.settings, **(settings or {})}).as_dict()
        except SettingError as exc:
            raise _bad_setting(exc) from None
        what = f"measure {a} {b} " + ", ".join(f"{d['m']} {d['n']}" for d in todo)
        self._room(what)
        before = measurement_cost.totals(self.instrument)
        try:
            measured = self._run(
                what,
                lambda abort: self.instrument.measure_group(
                    a, b, [(d["m"], d["n"]) for d in todo], **merged, abort=abort, hold_relays=survey_id is not None
                ),
            )
        except ValueError as exc:  # SafetyError is a ValueError: refused before any relay moved
            raise BadRequest(f"{what} refused: {exc}", arg="quadrupole", reason=str(exc)) from None
        cost = measurement_cost.spent(before, measurement_cost.totals(self.instrument))
        # the battery's surveys left count passes: one pass of the sequence is what a user calls a survey
        pass_key = survey_id if survey_id is None or pass_index is None else f"{survey_id}#{pass_index}"
        bodies = []
        for d, (record, waveform), share in zip(todo, measured, _shares(cost, len(todo))):
            self.instrument.survey_energy.add(pass_key, share, length=survey_total)
            mid = d["measurement_id"] or "M" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            mid += "" if d["measurement_id"] else secrets.token_hex(4)
            bodies.append(
                {
                    "measurement_id": mid,
                    "survey_id": survey_id,
                    "pass_index": pass_index,
                    "seq_index": d["seq_index"],
                    "instrument": self.name,
                    "record": record,
                    "waveform": waveform,
                    "cost": share,
                }
            )

        def commit_all() -> dict:
            done = iter(
                self._commit(f"measure {a} {b} {body['record']['m']} {body['record']['n']}", body) for body in bodies
            )
            try:
                return self._answer([k if k is not None else next(done) for k in known], also)
            finally:  # a commit that failed leaves the group's later ids uncommitted: measured again on retry
                with self._lock:
                    self._committing.difference_update(body["measurement_id"] for body in bodies)

        if survey_id is None:
            return commit_all()
        with self._lock:
            self._committing.update(body["measurement_id"] for body in bodies)
        return Later(commit_all)  # the lane is free for the next injection

    def _also(self, also, measurement_id: str | None) -> list[dict]:
        """The extra dipoles of a group measurement, checked (each error names its entry)."""
        if also is None:
            return []
        room = self.instrument.channels - 1
        if not isinstance(also, list) or len(also) > room:
            raise BadRequest(
                f"measure refused: also must be a list of at most {room} dipoles "
                f"(the instrument has {room + 1} receiver channel(s))",
                arg="also",
                reason=f"at most {room} entries",
            )
        out = []
        for i, entry in enumerate(also):
            where = f"also[{i}]"
            if not isinstance(entry, dict) or not {"m", "n"} <= set(entry) <= set(ALSO_KEYS):
                raise BadRequest(
                    f"measure refused: {where} must be a map with m, n (and measurement_id, seq_index)",
                    arg=where,
                    reason="expected {m, n, measurement_id, seq_index}",
                )
            entry = {key: entry.get(key) for key in ALSO_KEYS}
            if (entry["measurement_id"] is None) != (measurement_id is None):
                raise BadRequest(
                    f"measure refused: {where}.measurement_id must be given for every dipole or for none",
                    arg=f"{where}.measurement_id",
                    reason="given for every dipole or for none",
                )
            try:
                check_fields(
                    "measurement", {"measurement_id": entry["measurement_id"] or "M", "seq_index": entry["seq_index"]}
                )
            except ItemError as exc:
                raise BadRequest(
                    f"measure refused: {where}: {exc}", arg=f"{where}.{exc.field}", reason=exc.reason
                ) from None
            out.append(entry)
        ids = [measurement_id, *(e["measurement_id"] for e in out)]
        if measurement_id is not None and len(set(ids)) != len(ids):
            raise BadRequest("measure refused: a measurement_id twice in one group", arg="also", reason="duplicate id")
        return out

    @staticmethod
    def _answer(replies: list[dict], also) -> dict:
        """One dipole: its reply as always; a group: the first's, the others' in `also`."""
        return replies[0] if also is None else {**replies[0], "also": replies[1:]}

    def _commit(self, what: str, body: dict) -> dict:
        """Store a measurement durably, then announce it and answer (never the other way round)."""
        mid, record = body["measurement_id"], body["record"]
        self._keep(what, mid, "measurement", body)  # `commit_all` then takes the group's ids off _committing
        event = {k: body[k] for k in ("measurement_id", "survey_id", "pass_index", "seq_index")} | record
        self.node.publish(f"data.{self.name}.measurement", event)
        self.node.publish(f"data.{self.name}.waveform", {"measurement_id": mid, **body["waveform"]})
        return self._stored({"measurement_id": mid, "record": record, "repeated": False}, mid, body["survey_id"])

    def _repeated(self, mid: str, survey_id: str | None) -> dict | None:
        """The answer for a measurement id the outbox holds (`repeated`), None if it holds none."""
        stored = self.outbox.get(mid)
        if stored is None:
            return None
        return self._stored({"measurement_id": mid, "record": stored["record"], "repeated": True}, mid, survey_id)

    def _after_commit(self, mid: str, survey_id: str | None) -> dict:
        """A repeated id answered once its commit (ahead on the finisher) is done."""
        known = self._repeated(mid, survey_id)
        if known is None:
            raise Unavailable(
                f"measurement {mid} was not stored (its commit failed); measure it again", reason="storage"
            )
        return known

    def _check_fence(self, survey_id: str | None, pass_index: int | None, seq_index: int | None) -> None:
        """Refuse a survey's quadrupole past the one an abort hit; the aborted one itself (a resume)
        lifts the fence."""
        if survey_id is None:
            return
        at = (pass_index or 0, seq_index or 0)
        with self._lock:
            fence = self._fences.get(survey_id)
            if fence is None:
                return
            if at <= fence:
                del self._fences[survey_id]
                return
        if fence == STOPPED:
            raise Aborted(f"measure refused: survey {survey_id} was stopped")
        raise Aborted(
            f"measure refused: survey {survey_id} was aborted at quadrupole {fence[1]} of pass {fence[0]}; "
            "it resumes from there"
        )

    def _fence(self, survey_id: str | None, at: tuple[int, int]) -> None:
        if survey_id is None:
            return
        with self._lock:
            self._fences[survey_id] = min(at, self._fences.pop(survey_id, at))
            while len(self._fences) > FENCES:
                self._fences.popitem(last=False)

    def _stored(self, reply: dict, key: str, survey_id: str | None) -> dict:
        """Outside a survey, wait (bounded) until the recorder holds `key`: what the caller lists
        next shows it. A survey's measurements do not wait: the sequencer moves on at once."""
        if survey_id is not None:
            return reply
        return {**reply, "stored": self.outbox.wait_delivered(key, STORE_WAIT_S)}

    def rs_check(self, survey_id: str | None = None) -> dict:
        """Contact resistance of each adjacent electrode pair, and which electrodes are bad; answers
        once the recorder holds the check (`stored`, waiting at most 10 s)."""
        try:
            check_fields("rs_check", {"survey_id": survey_id})
        except ItemError as exc:
            raise _refused("rs_check refused", exc) from None
        self._room("rs_check")
        result = self._run("rs_check", lambda abort: self.instrument.rs_check(abort=abort))
        check_id = "C" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + secrets.token_hex(4)
        time = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._keep(
            "rs_check",
            check_id,
            "rs_check",
            {"id": check_id, "time": time, "survey_id": survey_id, "instrument": self.name, "result": result},
        )
        self.node.publish(f"data.{self.name}.rs_check", {"id": check_id, "time": time, **result})
        return {"id": check_id, **result, "stored": self.outbox.wait_delivered(check_id, STORE_WAIT_S)}

    def self_test(self) -> dict:
        """Check every chip answers and the relays and injection switch as commanded."""
        return self._run("self_test", lambda abort: self.instrument.self_test())

    def abort(self, survey_id: str | None = None) -> dict:
        """Stop the measurement in progress now (within one sampling period): injection off, relays
        open; a measurement waiting for it never starts. `survey_id`: that survey is over (stopped),
        none of its quadrupoles starts any more."""
        dropped = self.node.drop_waiting("hardware", Aborted("measure aborted before it started"))
        job = self.node.cancel_running("hardware")
        running = self.activity  # read after the cancel: a call starting now sees it and stops
        for args in dropped + ([job["args"]] if job and job["cmd"] == "measure" else []):
            self._fence(args.get("survey_id"), (args.get("pass_index") or 0, args.get("seq_index") or 0))
        if survey_id is not None:
            self._fence(survey_id, STOPPED)
        if running is None:
            self.instrument.safe_state()
        self.node.log("warning", f"abort requested ({running or 'nothing running'})")
        return {"aborted": running, "dropped": len(dropped)}

    # ---- health ---------------------------------------------------------------------------
    def _availability(self) -> dict:
        """Why `measure` and `rs_check` would be refused now (`unavailable`: a reason, with its
        message), for the page's health panel; None while measuring is possible."""
        free = self.floor.low()
        if free is None:
            return {"unavailable": None, "unavailable_message": None}
        return {"unavailable": "disk_full", "unavailable_message": f"measuring refused: {self.floor.describe(free)}"}

    def _soh(self) -> dict:
        return {
            "instrument": self.name,
            "activity": self.activity,
            "outbox_pending": self.outbox.pending(),
            "outbox_refused": self.outbox.refused_count(),
            **self._availability(),
            **self.instrument.soh(),
        }

    def _status(self) -> dict:
        return {
            **self._soh(),
            "settings": self.settings,
            "n_electrodes": self.cfg["n_electrodes"],
            "outbox_error": self.outbox.last_error,
            "outbox_refusals": self.outbox.refusals(5),
        }

    def close(self) -> None:
        self.node.cancel_running("hardware")
        try:
            self.instrument.safe_state()
        finally:
            self.outbox.close()
            self.instrument.close()


def run() -> None:
    controller_config()  # a bad table ends here, before the hardware is touched
    node = Node("controller")
    controller = Controller(node)
    controller.outbox.start()
    follow_recorder(node, controller.outbox)
    node.run()


def main() -> int:
    return worker_main("controller", run)


if __name__ == "__main__":
    sys.exit(main())
