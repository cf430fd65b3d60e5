"""A survey's progress: what to measure next, persisted so a restart resumes, never repeats.

The sequencer process owns one `SurveyState`; every transition is written atomically
(write, fsync, rename, fsync the directory) before it is announced, so after a crash or a
power cut the survey continues at `next_index`. The state lives in two files:

* the **plan** (`sequencer.json`): the loaded sequence and the current survey's immutable
  part (id, sequence, settings, positions, repeat, ...), rewritten only when a sequence is
  loaded or a survey starts;
* the **progress** (`sequencer.progress`, a few hundred bytes): state, pass, next index,
  failures, ... of that survey, written at every transition — after every stored
  quadrupole — so the cost per quadrupole does not grow with the sequence. The file holds
  two slots, each `rev, length, crc32, JSON`; a save overwrites the older slot in place
  and `fdatasync`s it (one flush, no rename). A write torn by a crash fails its checksum
  and the other slot — the previous durable state — is used. When a record outgrows its
  slot the file is rewritten atomically with larger slots.

A progress file names its survey; one that does not match the plan's survey (a crash
between writing the plan of a new survey and its first progress) is ignored, and the
progress embedded in the plan is used. A plan that cannot be read (a corrupt card) is set
aside (`sequencer.json.corrupt-<time>`, never deleted) and the sequencer starts idle; what
happened is in `notes` for the worker to log.

Schedules use monotonic time: the wall clock of a Pi without a real-time clock jumps when
NTP or GPS arrives. `pass_started`/`next_pass_at` (epoch seconds) are kept for display and
for a restart; in a running process the pass schedule follows `time.monotonic()`, and
`shift_wall` moves the displayed times when the wall clock jumps. Measurement ids are deterministic
(`<survey>:<pass>:<index>`), and the controller answers an id it already measured with the
stored result, so the quadrupole in flight when the sequencer died is never measured twice.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import time
import zlib
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ohmpi.durable import set_aside, write_atomic
from ohmpi.survey_machine import ACTIVE, HOLDS, STATES, SurveyMachine  # noqa: F401 (their home; re-exported)

SLOT_HEADER = struct.Struct("<QII")  # rev, payload length, crc32 of the payload
MIN_SLOT = 4096
# the fields of a Survey that change while it runs (the rest is fixed when it starts)
PROGRESS_FIELDS = (
    "state",
    "pass_index",
    "next_index",
    "done_all",
    "failed",
    "updated",
    "pass_started",
    "next_pass_at",
    "message",
    "hold",
)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_survey_id() -> str:
    # the random part keeps ids unique when the wall clock jumps back over a second already used
    return datetime.now(timezone.utc).strftime("S%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def measurement_id(survey_id: str, pass_index: int, seq_index: int) -> str:
    return f"{survey_id}:{pass_index}:{seq_index}"


@dataclass
class Survey:
    """One survey: a sequence measured `repeat` times, a pass every `every_s` seconds."""

    survey_id: str
    name: str
    sequence: list[list[int]]
    settings: dict
    positions: list[list[float]]
    n_electrodes: int
    array: str | None = None
    repeat: int = 1
    every_s: float = 0.0
    state: str = "running"
    pass_index: int = 0
    next_index: int = 0
    done_all: int = 0
    failed: list = field(default_factory=list)  # [pass, index, reason] of refused quadrupoles
    created: str = field(default_factory=utc_now)
    updated: str = field(default_factory=utc_now)
    pass_started: float = field(default_factory=time.time)
    next_pass_at: float | None = None
    message: str | None = None
    hold: str | None = None  # one of HOLDS while paused by the system

    def __post_init__(self) -> None:
        # the schedule on monotonic time (not saved: rebuilt from the wall times after a restart,
        # each elapsed time kept within one `every_s` so a clock changed meanwhile cannot stall it)
        now, mono = time.time(), time.monotonic()
        self.pass_started_mono = mono - min(max(now - self.pass_started, 0.0), max(self.every_s, 0.0))
        self.next_pass_mono = (
            None if self.next_pass_at is None else mono + min(max(self.next_pass_at - now, 0.0), max(self.every_s, 0.0))
        )

    @property
    def total(self) -> int:
        return len(self.sequence)

    def wait_s(self) -> float:
        """Seconds until the next pass may start (0 when it may now)."""
        return 0.0 if self.next_pass_mono is None else max(0.0, self.next_pass_mono - time.monotonic())

    def shift_wall(self, jump: float) -> None:
        """The wall clock jumped by `jump` s: the displayed times of the schedule move with it."""
        self.pass_started += jump
        if self.next_pass_at is not None:
            self.next_pass_at += jump

    def current(self) -> tuple[str, list[int]]:
        """The measurement id and quadrupole to measure next."""
        return measurement_id(self.survey_id, self.pass_index, self.next_index), self.sequence[self.next_index]

    def advance(self) -> None:
        """The current quadrupole is stored: move on (to the next pass, waiting, or the end)."""
        self.next_index += 1
        self.done_all += 1
        if self.next_index < self.total:
            return
        if self.pass_index + 1 >= self.repeat:
            self.state = "finished"
            return
        self.pass_index += 1
        self.next_index = 0
        self.next_pass_mono = self.pass_started_mono + self.every_s
        self.next_pass_at = time.time() + self.wait_s()
        self.state = "waiting" if self.wait_s() > 0 else "running"

    def start_pass(self) -> None:
        self.state = "running"
        self.pass_started, self.pass_started_mono = time.time(), time.monotonic()
        self.next_pass_at = self.next_pass_mono = None


class SurveyState:
    """The persisted state of the sequencer: the loaded sequence and the current survey."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.progress_path = self.path.with_name(self.path.stem + ".progress")
        self._progress_fd: int | None = None
        self._slot = 0  # slot size of the open progress file
        self.loaded: dict | None = None  # {"name", "sequence", "array"}
        self.survey: Survey | None = None
        self._durations: deque[float] = deque(maxlen=50)
        self._plan_of: tuple = (None, None)  # the (loaded, survey) objects the plan file holds
        self._rev = 0  # grows with every save: the newer of plan and progress wins on reload
        self.notes: list[str] = []  # what loading had to repair, for the worker to log
        if self.path.exists():
            try:
                self._load()
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                self.loaded, self.survey, self._rev = None, None, 0
                aside = set_aside(self.path)
                self.notes.append(
                    f"the sequencer state {self.path.name} could not be read "
                    f"({type(exc).__name__}: {exc}); set aside as {aside.name}, starting idle"
                )
            self._plan_of = (self.loaded, self.survey)

    def _load(self) -> None:
        data = json.loads(self.path.read_bytes())
        self.loaded = data["loaded"]
        if self.loaded is not None and not isinstance(self.loaded.get("sequence"), list):
            raise ValueError("the loaded sequence is not a list")
        self._rev = int(data.get("rev", 0))
        if data.get("survey"):
            survey = dict(data["survey"])
            progress = self._read_progress()
            if (
                progress is not None
                and progress.get("survey_id") == survey["survey_id"]
                and progress.get("rev", -1) >= self._rev
            ):
                survey.update({k: progress[k] for k in PROGRESS_FIELDS if k in progress})
                self._rev = progress["rev"]
            elif progress is None and self.progress_path.exists():
                self.notes.append(
                    f"{self.progress_path.name}: no intact slot; resuming from the plan's copy "
                    "(quadrupoles already stored are answered from the controller's outbox)"
                )
            known = set(Survey.__dataclass_fields__)
            self.survey = Survey(**{k: v for k, v in survey.items() if k in known})
            if not self.survey.sequence or self.survey.state not in STATES:
                raise ValueError(f"survey {self.survey.survey_id}: empty sequence or unknown state")

    def _read_progress(self) -> dict | None:
        """The newest intact slot of the progress file, or None."""
        try:
            raw = self.progress_path.read_bytes()
        except OSError:
            return None
        best = None
        slot = len(raw) // 2
        for start in (0, slot):
            header = raw[start : start + SLOT_HEADER.size]
            if slot < SLOT_HEADER.size or len(header) < SLOT_HEADER.size:
                continue
            rev, length, crc = SLOT_HEADER.unpack(header)
            payload = raw[start + SLOT_HEADER.size : start + SLOT_HEADER.size + length]
            if length > slot - SLOT_HEADER.size or zlib.crc32(payload) != crc:
                continue  # torn or never written
            try:
                data = json.loads(payload)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("rev") == rev and (best is None or rev > best["rev"]):
                best = data
        return best

    def _write_progress(self, rev: int, data: dict) -> None:
        payload = json.dumps(data, separators=(",", ":")).encode()
        record = SLOT_HEADER.pack(rev, len(payload), zlib.crc32(payload)) + payload
        if self._progress_fd is None or len(record) > self._slot:
            # (re)create with slots that fit: both hold this record, replaced atomically
            slot = MIN_SLOT
            while slot < len(record):
                slot *= 2
            self._close_progress()
            write_atomic(self.progress_path, record.ljust(slot, b"\0") * 2)
            self._progress_fd = os.open(self.progress_path, os.O_WRONLY)
            self._slot = slot
            return
        # the older slot: the other one keeps the previous state until this one is durable
        os.pwrite(self._progress_fd, record, (rev % 2) * self._slot)
        os.fdatasync(self._progress_fd)

    def _close_progress(self) -> None:
        if self._progress_fd is not None:
            os.close(self._progress_fd)
            self._progress_fd = None

    def close(self) -> None:
        self._close_progress()

    @property
    def rev(self) -> int:
        """The revision of the last save: grows with every save, also across restarts."""
        return self._rev

    def save(self) -> None:
        """Persist the state durably: the plan when the loaded sequence or the survey changed,
        and the survey's progress (small, whatever the sequence length) every time."""
        s = self.survey
        if s is not None:
            s.updated = utc_now()
        self._rev += 1
        if self._plan_of[0] is not self.loaded or self._plan_of[1] is not s:
            # the full survey (its progress included), so the plan alone is a complete state
            write_atomic(
                self.path,
                json.dumps(
                    {"version": 2, "rev": self._rev, "loaded": self.loaded, "survey": asdict(s) if s else None},
                    separators=(",", ":"),
                ).encode(),
            )
            self._plan_of = (self.loaded, s)
        if s is not None:
            progress = {"survey_id": s.survey_id, "rev": self._rev}
            for key in PROGRESS_FIELDS:
                value = getattr(s, key)
                progress[key] = [list(f) for f in value] if key == "failed" else value
            self._write_progress(self._rev, progress)

    def record_duration(self, seconds: float) -> None:
        self._durations.append(seconds)

    def eta_s(self) -> float | None:
        """Seconds until the survey ends, from recent quadrupole durations and pass timing."""
        s = self.survey
        if s is None or s.state not in ACTIVE:
            return None
        if not self._durations:
            return None
        per = sum(self._durations) / len(self._durations)
        remaining_here = (s.total - s.next_index) * per
        later_passes = s.repeat - s.pass_index - 1
        per_pass = max(s.total * per, s.every_s)
        wait = s.wait_s() if s.state == "waiting" else 0.0
        return round(wait + remaining_here + later_passes * per_pass, 1)

    def summary(self) -> dict:
        """What `status` returns and `state.sequencer` publishes."""
        s = self.survey
        loaded = {"name": self.loaded["name"], "count": len(self.loaded["sequence"])} if self.loaded else None
        if s is None:
            return {
                "state": "idle",
                "survey_id": None,
                "done": 0,
                "total": 0,
                "loaded": loaded,
                "active": False,
                "actions": [],
            }
        eta = self.eta_s()
        return {
            "state": s.state,
            "survey_id": s.survey_id,
            "name": s.name,
            "done": s.next_index if s.state != "finished" else s.total,
            "total": s.total,
            "index": s.next_index,
            "pass_index": s.pass_index,
            "repeat": s.repeat,
            "every_s": s.every_s,
            "done_all": s.done_all,
            "total_all": s.total * s.repeat,
            "failed": len(s.failed),
            "eta_s": eta,
            "eta": (
                datetime.fromtimestamp(time.time() + eta, timezone.utc)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z")
                if eta is not None
                else None
            ),
            "next_pass_at": s.next_pass_at,
            "created": s.created,
            "updated": s.updated,
            "message": s.message,
            "hold": s.hold,
            "loaded": loaded,
            # what the page needs to know of the state machine: no copy of its rules there
            "active": s.state in ACTIVE,
            "actions": SurveyMachine().actions(s),
        }
