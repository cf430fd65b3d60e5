"""The survey state machine: what a person may ask (pause, resume, stop), what the system does on
its own (a disk hold and its release, a pass ending, a quadrupole refused, an injection aborted)
and what each answer of the controller means for the survey.

Bus-free and lock-free: the sequencer process holds its lock, calls one method, then persists
and announces (`ohmpi.survey.SurveyState.save`). A method changes nothing when it refuses.

    running ⇄ paused (a person, or a hold the system lifts itself) · running → waiting → running
    (between passes) · running/paused/waiting → stopped (a person) · → finished (last quadrupole)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

ACTIVE = ("running", "paused", "waiting")
STATES = ("idle", *ACTIVE, "finished", "stopped", "failed")
HOLDS = ("disk_full",)  # why a survey is paused by the system (it resumes by itself), not by a user
MOVING = ("running", "waiting")  # what a hold or a pause may interrupt
MAX_REPEAT = 100_000  # passes of one survey
MAX_EVERY_S = 366 * 86400  # between the starts of two passes

# What a person may ask, from which states, to which state ("running" becomes "waiting" when
# the next pass is not yet due).
REQUESTS = {"pause": (MOVING, "paused"), "resume": (("paused",), "running"), "stop": (ACTIVE, "stopped")}

# What the sequencer does when the controller answers a measurement with an error (by its code,
# and for `unavailable` by its reason): each reaction is one method or one wait of the runner.
RETRY = "retry"  # try the same quadrupole again shortly (something else is measuring)
BACKOFF = "backoff"  # wait, growing the delay, then again (the controller is away)
HOLD = "hold"  # hold the survey for disk space (resumes by itself)
PAUSE = "pause"  # the injection was aborted: pause, a person resumes
SKIP = "skip"  # refused or tripped: note the quadrupole as failed and go on
REACTIONS = {"busy": RETRY, "aborted": PAUSE, "bad_request": SKIP, "fault": SKIP, ("unavailable", "disk_full"): HOLD}


def reaction(code: str, reason: object = None) -> str:
    """The runner's reaction to a controller error (`code`, and `reason` from its details)."""
    if isinstance(reason, str) and (code, reason) in REACTIONS:
        return REACTIONS[(code, reason)]
    return REACTIONS.get(code, BACKOFF)


class TransitionRefused(ValueError):
    """A request the survey's state does not allow: `state` is where it is, `allowed` where it must be."""

    def __init__(self, action: str, state: str, allowed: tuple):
        super().__init__(f"no survey is {' or '.join(allowed)} (state: {state})")
        self.action, self.state, self.allowed = action, state, allowed


class PlanError(ValueError):
    """A survey plan refused: `field` names the argument, `allowed` its [min, max]."""

    def __init__(self, field: str, message: str, allowed: list):
        super().__init__(message)
        self.field, self.allowed = field, allowed


def check_plan(repeat: int, every_s: float) -> None:
    """`repeat` passes, one every `every_s` seconds: within the limits, or a PlanError."""
    if not 1 <= repeat <= MAX_REPEAT:
        raise PlanError("repeat", f"repeat must be in 1..{MAX_REPEAT}, got {repeat}", [1, MAX_REPEAT])
    if not ((isinstance(every_s, int) or math.isfinite(every_s)) and 0 <= every_s <= MAX_EVERY_S):
        raise PlanError("every_s", f"every_s must be in 0..{MAX_EVERY_S}, got {every_s}", [0, MAX_EVERY_S])


class SurveyActive(ValueError):
    """A survey is already running, paused or waiting: a new one may not start."""

    def __init__(self, survey_id: str, state: str):
        super().__init__(f"survey {survey_id} is {state}; stop it first")
        self.survey_id, self.state = survey_id, state


@dataclass(frozen=True)
class Step:
    """What the runner does next: `idle` or `held` (wait for a change), `wait` (`delay` s until the
    next pass), `start_pass`, or `measure` the current quadrupole."""

    kind: str
    delay: float = 0.0


class SurveyMachine:
    """The rules applied to one survey (`ohmpi.survey.Survey`)."""

    @staticmethod
    def check_can_start(current) -> None:
        if current is not None and current.state in ACTIVE:
            raise SurveyActive(current.survey_id, current.state)

    @staticmethod
    def allowed(s, action: str) -> tuple:
        """The states `action` is allowed from (a held survey may also be paused: then only a person
        resumes it)."""
        states, _ = REQUESTS[action]
        return (*states, "paused") if action == "pause" and s is not None and s.hold else states

    def request(self, s, action: str) -> str:
        """A person's `pause`, `resume` or `stop`; returns the new state. A person decided: the
        system no longer resumes the survey by itself (the hold is lifted)."""
        allowed = self.allowed(s, action)
        if s is None or s.state not in allowed:
            raise TransitionRefused(action, s.state if s else "idle", allowed)
        new = REQUESTS[action][1]
        if new == "running" and s.wait_s() > 0:
            new = "waiting"
        s.state, s.message, s.hold = new, None, None
        return new

    def actions(self, s) -> list[str]:
        """The requests a person may make now (what the page enables)."""
        return [a for a in REQUESTS if s is not None and s.state in self.allowed(s, a)]

    @staticmethod
    def held(s) -> bool:
        return s.state == "paused" and s.hold == "disk_full"

    def hold(self, s, why: str) -> bool:
        """Hold a running or waiting survey for lack of disk space (`why` names the disk)."""
        if s.state not in MOVING:
            return False
        s.state, s.hold = "paused", "disk_full"
        s.message = f"paused: {why}; resumes by itself when space returns"
        return True

    def release(self, s) -> bool:
        """Lift a disk hold: the survey runs on (or waits for its next pass)."""
        if not self.held(s):
            return False
        s.hold, s.message = None, None
        s.state = "waiting" if s.wait_s() > 0 else "running"
        return True

    def aborted(self, s) -> bool:
        """The controller aborted the injection (someone pressed abort): pause, a person resumes."""
        if s.state != "running":
            return False
        s.state, s.message = "paused", "measurement aborted on the controller; resume to continue"
        return True

    def next_step(self, s) -> Step:
        """What the runner does now (disk holds are checked before: `hold`/`release`)."""
        if s is None or s.state not in MOVING:
            return Step("held" if s is not None and self.held(s) else "idle")
        if s.state == "waiting":
            delay = s.wait_s()
            return Step("wait", delay) if delay > 0 else Step("start_pass")
        return Step("measure")

    def begin(self, s, step: Step) -> bool:
        """The runner is about to measure: a due pass starts (True: a change to persist); the
        survey's very first quadrupole starts the first pass's clock."""
        if step.kind == "start_pass":
            s.start_pass()
            return True
        if s.next_index == 0 and s.pass_index == 0 and s.done_all == 0:
            s.pass_started, s.pass_started_mono = time.time(), time.monotonic()
        return False

    def advance(self, s, failure: str | None = None) -> bool:
        """The current quadrupole is stored (or refused: `failure` says why): move on. A survey
        paused or stopped meanwhile stays so unless it just finished. True when the state or the
        pass changed (the store is told)."""
        before = (s.state, s.pass_index)
        if failure is not None:
            s.failed.append([s.pass_index, s.next_index, failure])
        kept = s.state if s.state in ("paused", "stopped") else None
        s.advance()
        s.message = None
        if kept and s.state != "finished":
            s.state = kept
        return (s.state, s.pass_index) != before
