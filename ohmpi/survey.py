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
progress embedded in the plan is used. Measurement ids are deterministic
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

SLOT_HEADER = struct.Struct("<QII")  # rev, payload length, crc32 of the payload
MIN_SLOT = 4096
ACTIVE = ("running", "paused", "waiting")
# the fields of a Survey that change while it runs (the rest is fixed when it starts)
PROGRESS_FIELDS = ("state", "pass_index", "next_index", "done_all", "failed", "updated", "pass_started",
                   "next_pass_at", "message")
STATES = ("idle", *ACTIVE, "finished", "stopped", "failed")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_survey_id() -> str:
    return datetime.now(timezone.utc).strftime("S%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


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

    @property
    def total(self) -> int:
        return len(self.sequence)

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
        self.next_pass_at = self.pass_started + self.every_s
        self.state = "waiting" if self.next_pass_at > time.time() else "running"

    def start_pass(self) -> None:
        self.state = "running"
        self.pass_started = time.time()
        self.next_pass_at = None


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
        if self.path.exists():
            data = json.loads(self.path.read_text())
            self.loaded = data.get("loaded")
            self._rev = data.get("rev", 0)
            if data.get("survey"):
                survey = dict(data["survey"])
                progress = self._read_progress()
                if (progress is not None and progress.get("survey_id") == survey["survey_id"]
                        and progress.get("rev", -1) >= self._rev):
                    survey.update({k: progress[k] for k in PROGRESS_FIELDS if k in progress})
                    self._rev = progress["rev"]
                self.survey = Survey(**survey)
            self._plan_of = (self.loaded, self.survey)

    def _read_progress(self) -> dict | None:
        """The newest intact slot of the progress file, or None."""
        try:
            raw = self.progress_path.read_bytes()
        except OSError:
            return None
        best = None
        slot = len(raw) // 2
        for start in (0, slot):
            header = raw[start:start + SLOT_HEADER.size]
            if slot < SLOT_HEADER.size or len(header) < SLOT_HEADER.size:
                continue
            rev, length, crc = SLOT_HEADER.unpack(header)
            payload = raw[start + SLOT_HEADER.size:start + SLOT_HEADER.size + length]
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
            image = record.ljust(slot, b"\0") * 2
            tmp = self.progress_path.with_suffix(".ptmp")
            with open(tmp, "wb") as fh:
                fh.write(image)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.progress_path)
            self._fsync_dir()
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

    def _fsync_dir(self) -> None:
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _write(self, path: Path, data: dict) -> None:
        """Atomically replace `path` (a crash leaves the old or the new, never half)."""
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._fsync_dir()

    def save(self) -> None:
        """Persist the state durably: the plan when the loaded sequence or the survey changed,
        and the survey's progress (small, whatever the sequence length) every time."""
        s = self.survey
        if s is not None:
            s.updated = utc_now()
        self._rev += 1
        if self._plan_of[0] is not self.loaded or self._plan_of[1] is not s:
            # the full survey (its progress included), so the plan alone is a complete state
            self._write(self.path, {"version": 2, "rev": self._rev, "loaded": self.loaded,
                                    "survey": asdict(s) if s else None})
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
        wait = max(0.0, (s.next_pass_at or 0) - time.time()) if s.state == "waiting" else 0.0
        return round(wait + remaining_here + later_passes * per_pass, 1)

    def summary(self) -> dict:
        """What `status` returns and `state.sequencer` publishes."""
        s = self.survey
        loaded = {"name": self.loaded["name"], "count": len(self.loaded["sequence"])} if self.loaded else None
        if s is None:
            return {"state": "idle", "survey_id": None, "done": 0, "total": 0, "loaded": loaded}
        eta = self.eta_s()
        return {
            "state": s.state, "survey_id": s.survey_id, "name": s.name,
            "done": s.next_index if s.state != "finished" else s.total, "total": s.total,
            "index": s.next_index, "pass_index": s.pass_index, "repeat": s.repeat, "every_s": s.every_s,
            "done_all": s.done_all, "total_all": s.total * s.repeat,
            "failed": len(s.failed), "eta_s": eta,
            "eta": (datetime.fromtimestamp(time.time() + eta, timezone.utc).isoformat(timespec="seconds")
                    .replace("+00:00", "Z") if eta is not None else None),
            "next_pass_at": s.next_pass_at, "created": s.created, "updated": s.updated,
            "message": s.message, "loaded": loaded,
        }
