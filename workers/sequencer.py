"""The sequencer process: surveys. `python -m workers.sequencer`.

It owns no hardware: it asks the controller to measure each quadrupole in turn, with a
deterministic measurement id, and persists its progress after every stored quadrupole
(ohmpi.survey). Survey descriptions reach the recorder through an outbox, like
measurements do from the controller, checked first with the store's own validator
(ohmpi.items): a survey the store would refuse is refused at `start`, naming the field.

Pipelined: up to PIPELINE (3) `measure` calls are in flight: while quadrupole N commits in
the controller and N+1 injects, N+2 is already queued behind it in the controller's hardware
lane, so each injection starts the moment the one before ends. With only N+1 ahead, the lane
idled on about 4 quadrupoles in 10: the next call left only after N's reply, which waits for
N's fsync. When N's reply comes, the next call is sent first, then N's progress is saved (an
fsync, while N+1 measures); a crash in between repeats nothing (the controller answers a
known id from its outbox).
Replies are handled in the order sent; one that no longer matches the survey's position is
ignored (its quadrupole is durable in the controller's outbox: sent again, it is answered
from there). Pause sends nothing new; stop also fences the survey in the controller.

Unattended: below the free-space floor (`[recorder] min_free_mb`), or when the controller or
this process cannot write for lack of space, a running survey holds (`state: paused`,
`hold: "disk_full"`, a message and a log line naming the disk) and resumes by itself once
space returns (or on `resume`). Pass schedules use monotonic time; a jump of the wall clock
is logged and moves only the displayed times.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

from bus.errors import BadRequest, BusError, Busy, InternalError
from bus.node import Node
from bus.outbox import Outbox
from bus.rpc import Client, Pipeline
from ohmpi import config as configuration
from ohmpi.durable import is_disk_full
from ohmpi.items import ItemError, check_body, check_entry, survey_body
from ohmpi.measure.settings import SettingError, validate_settings
from ohmpi.sequence_groups import group_at
from ohmpi.sequence_groups import order as channel_order
from ohmpi.sequences import ALIASES, GENERATORS, SequenceError, parse_sequence, with_reciprocals
from ohmpi.sequences import generate as generate_sequence
from ohmpi.survey import ACTIVE, Survey, SurveyState, measurement_id, new_survey_id, utc_now
from ohmpi.survey_machine import (
    BACKOFF,
    HOLD,
    PAUSE,
    RETRY,
    SKIP,
    PlanError,
    SurveyActive,
    SurveyMachine,
    TransitionRefused,
    check_plan,
    reaction,
)

from .common import (
    ClockWatch,
    describe_jump,
    disk_floor,
    follow_recorder,
    instrument,
    log_soon,
    positions,
    var_path,
    worker_main,
)

PIPELINE = 3  # measure calls in flight: one committing, one measuring, one queued behind it


@dataclass
class _Flight:
    """A `measure` call sent for the survey `s` at `where` (survey id, pass, index)."""

    s: Survey
    where: tuple
    mid: str
    sent_at: float
    reply: Future
    size: int = 1  # quadrupoles in the call: a group on several receiver channels


class Sequencer:
    def __init__(self, node: Node):
        self.node = node
        self.cfg = instrument()
        self.n_electrodes = self.cfg["n_electrodes"]
        self.channels = configuration.channels(self.cfg)  # >1: one `measure` takes a group (also=)
        self.state = SurveyState(var_path("sequencer.json"))
        self.machine = SurveyMachine()
        for note in self.state.notes:
            log_soon(node, "error", note)
        self.floor = disk_floor()
        self.clock = ClockWatch()
        self.cv = threading.Condition()
        self.quit = threading.Event()
        self.control = Client(node.address, cfg=node.cfg, name="sequencer-ctl", timeout=1.0, retries=0)
        self.outbox = Outbox(
            var_path("sequencer-outbox.db"),
            "recorder",
            "ingest",
            client_factory=lambda: Client(node.address, cfg=node.cfg, name="sequencer-out"),
            stats=node.stats,
            check=check_entry,
            log=node.log,
        )
        for fn in (self.load, self.generate, self.start, self.pause, self.resume, self.stop):
            node.command(fn, role="operator")
        for fn in (self.validate, self.sequence):
            node.command(fn, role="viewer")
        node.status_providers.append(
            lambda: {
                **self.state.summary(),
                **self._outbox_health(),
                "outbox_error": self.outbox.last_error,
                "outbox_refusals": self.outbox.refusals(5),
            }
        )
        node.soh_providers.append(self._outbox_health)
        node.every(node.cfg.heartbeat_s, self.publish)
        node.every(node.cfg.heartbeat_s, self._check_clock)
        node.stop_hooks.append(self.close)
        self.runner = threading.Thread(target=self._run, name="survey-runner", daemon=True)

    def _outbox_health(self) -> dict:
        return {"outbox_pending": self.outbox.pending(), "outbox_refused": self.outbox.refused_count()}

    # ---- commands -----------------------------------------------------------------------
    def _parse(self, text: str, name: str):
        try:
            seq = parse_sequence(text, self.n_electrodes)
        except SequenceError as exc:
            raise BadRequest(
                f"sequence {name!r}: {exc}",
                arg="text",
                reason="invalid sequence",
                errors=[[line, reason] for line, reason in exc.errors],
            ) from None
        if len(seq) == 0:
            raise BadRequest(f"sequence {name!r} has no quadrupole", arg="text", reason="empty")
        return seq

    def validate(self, text: str, name: str = "sequence") -> dict:
        """Check a sequence without loading it; errors name the line."""
        return {"name": name, "count": len(self._parse(text, name)), "n_electrodes": self.n_electrodes}

    def load(self, text: str, name: str = "sequence") -> dict:
        """Load a sequence (lines `A B M N`, 1-based, `#` comments); errors name the line."""
        return self._set_loaded(name, self._parse(text, name).tolist(), None)

    def generate(self, array: str, electrodes: int | None = None) -> dict:
        """Generate and load a Wenner, Schlumberger, dipole-dipole or gradient sequence."""
        n = self.n_electrodes if electrodes is None else electrodes
        if not 4 <= n <= self.n_electrodes:
            raise BadRequest(
                f"electrodes must be in 4..{self.n_electrodes} (the instrument's), got {n}",
                arg="electrodes",
                reason=f"not in 4..{self.n_electrodes}",
            )
        try:
            seq = generate_sequence(array, n)
        except ValueError as exc:
            raise BadRequest(
                f"array {array!r}: {exc}", arg="array", reason="unknown or unusable array", known=sorted(GENERATORS)
            ) from None
        name = ALIASES.get(array, array)
        return self._set_loaded(f"{name}-{n}", seq.tolist(), name) | {"sequence": seq.tolist()}

    def _set_loaded(self, name: str, seq: list, array: str | None) -> dict:
        with self.cv:
            self.state.loaded = {"name": name, "sequence": seq, "array": array}
            self.state.save()
        self.publish()
        return {"name": name, "count": len(seq), "array": array}

    def sequence(self) -> dict | None:
        """The loaded sequence."""
        return self.state.loaded

    def start(
        self,
        name: str | None = None,
        stacks: int | None = None,
        injection_ms: float | None = None,
        settings: dict | None = None,
        reciprocals: bool = False,
        repeat: int = 1,
        every_s: float = 0.0,
        keep_order: bool = False,
    ) -> dict:
        """Start a survey of the loaded sequence, `repeat` times, a pass every `every_s` seconds;
        measured in the relay-sparing order (same quadrupoles) unless `keep_order`."""
        if self.state.loaded is None:
            raise BadRequest("no sequence loaded: use load or generate first", arg="sequence", reason="none loaded")
        try:
            check_plan(repeat, every_s)
        except PlanError as exc:
            low, high = exc.allowed
            raise BadRequest(str(exc), arg=exc.field, reason=f"not in {low}..{high}", allowed=exc.allowed) from None
        overrides = dict(settings or {})
        if stacks is not None:
            overrides["nb_stack"] = stacks
        if injection_ms is not None:
            overrides["injection_ms"] = injection_ms
        try:
            validate_settings(overrides)
        except SettingError as exc:
            raise BadRequest(f"settings: {exc}", arg=exc.field, reason=str(exc), allowed=exc.allowed) from None
        seq = self.state.loaded["sequence"]
        if reciprocals:
            seq = with_reciprocals(seq).tolist()
        if not keep_order:  # relay-sparing; with several receiver channels, groups of similar dipoles
            seq = channel_order(seq, self.channels).tolist()
        with self.cv:
            try:
                self.machine.check_can_start(self.state.survey)
            except SurveyActive as exc:
                raise Busy(str(exc), running=exc.survey_id) from None
            survey = Survey(
                survey_id=new_survey_id(),
                name=name or self.state.loaded["name"],
                sequence=seq,
                settings=overrides,
                positions=positions(self.cfg),
                n_electrodes=self.n_electrodes,
                array=self.state.loaded.get("array"),
                repeat=repeat,
                every_s=float(every_s),
            )
            try:  # what the recorder would refuse is refused now, before anything changes
                check_body("survey", survey_body(survey, utc_now()))
            except ItemError as exc:
                raise BadRequest(f"survey refused: {exc}", arg=exc.field, reason=exc.reason) from None
            self.state.survey = survey
            self._changed()
        self.node.log("info", f"survey {survey.survey_id} started: {len(seq)} quadrupoles × {repeat}")
        self.node.audit("survey_start", survey_id=survey.survey_id, name=survey.name, total=len(seq), repeat=repeat)
        return {"survey_id": survey.survey_id, "total": len(seq), "repeat": repeat}

    def pause(self) -> dict:
        """Pause after the quadrupole being measured (a survey held for disk space then waits for
        `resume` too)."""
        return self._request("pause")

    def resume(self) -> dict:
        """Resume a paused survey (one held for disk space pauses again while the disk is full)."""
        return self._request("resume")

    def stop(self) -> dict:
        """Stop the survey now: the injection in progress is aborted."""
        summary = self._request("stop")
        self.node.audit("survey_stop", survey_id=summary.get("survey_id"))
        try:  # the call queued behind the running one is refused; nothing of the survey starts any more
            self.control.call("controller", "abort", survey_id=summary.get("survey_id"))
        except BusError:
            pass  # the controller is down: nothing is injecting
        return summary

    def _request(self, action: str) -> dict:
        with self.cv:
            s = self.state.survey
            try:
                new = self.machine.request(s, action)
            except TransitionRefused as exc:
                raise BadRequest(str(exc), arg="state", reason=f"survey is {exc.state}") from None
            self._changed()
        self.node.log("info", f"survey {s.survey_id} {new}")
        return self.state.summary()

    # ---- progress -------------------------------------------------------------------------
    def _changed(self, describe: bool = True) -> None:
        """Persist, tell the recorder (`describe`), announce; called with the lock held.

        A write that fails (a full disk) holds the survey instead of killing the runner: what
        is measured is safe in the controller's outbox, and a restart resumes from the last
        progress saved (quadrupoles measured since are answered from that outbox)."""
        s = self.state.survey
        try:
            self.state.save()
            if s is not None and describe:
                # keyed by the save's revision: unique and growing whatever the wall clock does
                self.outbox.put(f"survey:{s.survey_id}:r{self.state.rev}", "survey", survey_body(s, utc_now()))
        except ItemError as exc:  # checked at start: only a bug gets here; never poison the outbox
            self.node.log("error", f"survey {s.survey_id}: description not stored, the store would refuse it: {exc}")
        except (OSError, sqlite3.Error) as exc:
            self._storage_failed(s, exc)
        self.cv.notify_all()
        self.publish()

    def _storage_failed(self, s: Survey | None, exc: Exception) -> None:
        self.node.log("error", f"sequencer state not saved: {type(exc).__name__}: {exc}")
        if is_disk_full(exc) and s is not None:
            self._hold(s, self.floor.describe(self.floor.free_bytes()))

    def _hold(self, s: Survey, why: str) -> None:
        """Pause a running survey for lack of disk space; it resumes by itself (lock held)."""
        if self.machine.hold(s, why):
            self.node.log("error", f"survey {s.survey_id} {s.message}")
            self._changed()

    def _check_disk(self, s: Survey) -> None:
        """Hold a running survey below the floor, release a held one above it (lock held)."""
        free = self.floor.low()
        if free is not None:
            self._hold(s, self.floor.describe(free))
        elif self.machine.release(s):
            self.node.log(
                "info",
                f"survey {s.survey_id}: disk space is back ({self.floor.free_bytes() / 2**20:.0f} MiB free), resuming",
            )
            self._changed()

    def _check_clock(self) -> None:
        jump = self.clock.check()
        if not jump:
            return
        self.node.log(
            "warning",
            f"{describe_jump(jump)} (NTP, GPS or a person setting the date): pass "
            "schedules keep monotonic time; times recorded from now on use the new clock",
            jump_s=round(jump, 3),
        )
        with self.cv:
            s = self.state.survey
            if s is not None and s.state in ACTIVE:
                s.shift_wall(jump)
                self._changed(describe=False)

    def publish(self) -> None:
        self.node.publish("state.sequencer", self.state.summary())

    def _run(self) -> None:
        # one connection for every call in flight: the controller receives them in the order sent
        calls = Pipeline(Client(self.node.address, cfg=self.node.cfg, name="sequencer-run", timeout=2.0), retries=2)
        flight: deque[_Flight] = deque()
        backoff = 0.2
        last_reply = time.monotonic()
        unsaved: tuple | None = None  # (survey, describe): advanced in memory, saved once the next call left
        while not self.quit.is_set():
            nxt = self._next_call(flight, idle_wait=unsaved is None)
            if nxt is not None:
                s, where, mid, args, size = nxt
                reply = calls.submit("controller", "measure", **args)  # however long it takes: `in_progress`
                flight.append(_Flight(s, where, mid, time.monotonic(), reply, size))
            if unsaved is not None:  # the progress save (an fsync) is off the path of the next call
                with self.cv:
                    if unsaved[0] is self.state.survey:
                        self._changed(describe=unsaved[1])
                unsaved = None
            if nxt is not None and len(flight) < PIPELINE:
                continue  # send the next quadrupole too, if there is one
            if not flight:
                continue
            done = flight.popleft()
            try:
                done.reply.result()
            except Exception as exc:  # a BusError; anything else (a bug) is retried like an internal error
                error = exc if isinstance(exc, BusError) else InternalError(f"{type(exc).__name__}: {exc}")
                backoff = self._react(done.s, done.where, done.mid, error, backoff, done.size)
                continue
            backoff = 0.2
            with self.cv:
                if self._still(done.s, done.where):
                    now = time.monotonic()
                    for _ in range(done.size):  # a group: its quadrupoles took the time together
                        self.state.record_duration((now - max(done.sent_at, last_reply)) / done.size)
                    last_reply = now
                    unsaved = (done.s, self._step_on(done.s, count=done.size))
        calls.close()

    def _next_call(self, flight: deque, idle_wait: bool = True) -> tuple | None:
        """The next `measure` to send: the survey's current quadrupole when nothing is in flight
        (waiting here while there is none, if `idle_wait`), else the one after the last sent,
        within the pass, while the survey runs and the oldest call is its current position;
        None: send nothing."""
        with self.cv:
            s = self.state.survey
            if s is not None and s.state in ACTIVE:
                self._check_disk(s)
            if not flight:
                step = self.machine.next_step(s)
                if step.kind in ("idle", "held", "wait"):
                    if idle_wait:
                        self.cv.wait(min(step.delay, 1.0) if step.kind == "wait" else 1.0)
                    return None
                if self.machine.begin(s, step):
                    self._changed()
                pass_index, index = s.pass_index, s.next_index
            else:
                last = flight[-1]
                if len(flight) >= PIPELINE or s is not last.s or s.state != "running":
                    return None
                if not self._still(s, flight[0].where) or last.where[2] + last.size >= s.total:
                    return None
                pass_index, index = last.where[1], last.where[2] + last.size
            group = group_at(s.sequence, index, self.channels)
            a, b, m, n = s.sequence[index]
            mid = measurement_id(s.survey_id, pass_index, index)
            args = dict(
                a=a,
                b=b,
                m=m,
                n=n,
                settings=dict(s.settings),
                measurement_id=mid,
                survey_id=s.survey_id,
                pass_index=pass_index,
                seq_index=index,
                survey_total=len(s.sequence),  # the controller's battery estimate: a pass's length
            )
            if len(group) > 1:  # the other dipoles of the same A-B, on the other receiver channels
                args["also"] = [
                    {
                        "m": s.sequence[i][2],
                        "n": s.sequence[i][3],
                        "measurement_id": measurement_id(s.survey_id, pass_index, i),
                        "seq_index": i,
                    }
                    for i in group[1:]
                ]
            return s, (s.survey_id, pass_index, index), mid, args, len(group)

    def _react(self, s: Survey, where: tuple, mid: str, exc: BusError, backoff: float, size: int = 1) -> float:
        """Apply the state machine's reaction to a controller error; returns the next backoff."""
        how = reaction(exc.code, exc.details.get("reason"))
        if how == RETRY:  # a manual measurement or check is running
            self.quit.wait(0.2)
        elif how == HOLD:  # the controller cannot store a result
            with self.cv:
                if self._still(s, where):
                    self._hold(s, self.floor.describe(self.floor.free_bytes()))
        elif how == PAUSE:
            with self.cv:
                if s is self.state.survey and self.machine.aborted(s):
                    self._changed()
        elif how == SKIP:  # refused or tripped: skip this quadrupole, say so
            with self.cv:
                if self._still(s, where):
                    self._advance(s, failure=exc.message, count=size)
            self.node.log("error", f"{mid} refused: {exc.message}")
        else:
            assert how == BACKOFF
            waiting = exc.code in ("unavailable", "timeout")
            self._note(
                where, f"waiting for the controller: {exc.message}" if waiting else f"controller error, retrying: {exc}"
            )
            self.quit.wait(backoff)
            return min(backoff * 2, 5.0)
        return backoff

    def _still(self, s: Survey, where: tuple) -> bool:
        return s is self.state.survey and (s.survey_id, s.pass_index, s.next_index) == where

    def _advance(self, s: Survey, failure: str | None = None, count: int = 1) -> None:
        self._changed(describe=self._step_on(s, failure, count))

    def _step_on(self, s: Survey, failure: str | None = None, count: int = 1) -> bool:
        """Move past the current quadrupole — or the `count` of a group, stored (or refused)
        together — in memory (lock held); True: tell the store."""
        describe = False
        for _ in range(count):
            describe = self.machine.advance(s, failure) or describe
        if s.state == "finished":
            self.node.log("info", f"survey {s.survey_id} finished")
        return describe

    def _note(self, where: tuple, message: str) -> None:
        with self.cv:
            s = self.state.survey
            if s is not None and self._still(s, where) and s.message != message:
                s.message = message
                self.publish()

    def close(self) -> None:
        self.quit.set()
        with self.cv:
            self.cv.notify_all()
        self.outbox.close()
        self.control.close()


def run() -> None:
    instrument()  # a bad [instrument] table ends here, before anything is opened
    node = Node("sequencer")
    seq = Sequencer(node)
    seq.outbox.start()
    follow_recorder(node, seq.outbox)
    seq.runner.start()
    node.run()


def main() -> int:
    return worker_main("sequencer", run)


if __name__ == "__main__":
    sys.exit(main())
