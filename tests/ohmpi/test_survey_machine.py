"""The survey state machine (ohmpi.survey_machine) against a model of it: whatever a person asks
and whatever happens to the disk or the controller, in any order, the survey stays in a known
state, a refused request changes nothing, and counts add up."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ohmpi.survey import Survey
from ohmpi.survey_machine import (
    ACTIVE,
    BACKOFF,
    HOLD,
    MAX_EVERY_S,
    MAX_REPEAT,
    PAUSE,
    REQUESTS,
    RETRY,
    SKIP,
    STATES,
    PlanError,
    SurveyActive,
    SurveyMachine,
    TransitionRefused,
    check_plan,
    reaction,
)

rules = SurveyMachine()


def make_survey(total: int, repeat: int, every_s: float) -> Survey:
    return Survey(
        survey_id="S1",
        name="t",
        sequence=[[1, 2, 3, 4]] * total,
        settings={},
        positions=[],
        n_electrodes=4,
        repeat=repeat,
        every_s=every_s,
    )


def snapshot(s: Survey) -> dict:
    return copy.deepcopy(asdict(s))


class SurveyRules(RuleBasedStateMachine):
    @initialize(total=st.integers(1, 4), repeat=st.integers(1, 3), every_s=st.sampled_from([0.0, 3600.0]))
    def start(self, total, repeat, every_s):
        self.s = make_survey(total, repeat, every_s)
        self.failures = 0
        self.model = "running"  # the state we expect
        self.model_hold = None

    def expect_unchanged(self, before: dict) -> None:
        assert snapshot(self.s) == before

    @rule(action=st.sampled_from(sorted(REQUESTS)))
    def person_asks(self, action):
        states, new = REQUESTS[action]
        allowed = (*states, "paused") if action == "pause" and self.model_hold else states
        before = snapshot(self.s)
        if self.model not in allowed:
            with pytest.raises(TransitionRefused) as info:
                rules.request(self.s, action)
            assert info.value.state == self.model
            self.expect_unchanged(before)
            return
        got = rules.request(self.s, action)
        if new == "running" and self.s.wait_s() > 0:
            new = "waiting"
        assert got == new
        self.model, self.model_hold = new, None
        assert self.s.message is None

    @rule()
    def disk_fills(self):
        before = snapshot(self.s)
        if rules.hold(self.s, "disk full: 1 MiB free"):
            assert self.model in ("running", "waiting")
            self.model, self.model_hold = "paused", "disk_full"
            assert "resumes by itself" in self.s.message
        else:
            assert self.model not in ("running", "waiting")
            self.expect_unchanged(before)

    @rule()
    def disk_has_room(self):
        before = snapshot(self.s)
        if rules.release(self.s):
            assert (self.model, self.model_hold) == ("paused", "disk_full")
            self.model, self.model_hold = ("waiting" if self.s.wait_s() > 0 else "running"), None
        else:
            assert (self.model, self.model_hold) != ("paused", "disk_full")
            self.expect_unchanged(before)

    @rule()
    def controller_aborts(self):
        before = snapshot(self.s)
        if rules.aborted(self.s):
            assert self.model == "running"
            self.model = "paused"
        else:
            self.expect_unchanged(before)

    @precondition(lambda self: self.model == "waiting")
    @rule()
    def next_pass_comes(self):
        self.s.next_pass_mono = time.monotonic() - 1  # the pass is due
        step = rules.next_step(self.s)
        assert step.kind == "start_pass" and rules.begin(self.s, step)
        assert self.s.next_pass_at is None
        self.model = "running"

    # a measurement ends (stored or refused) in whatever state the survey reached meanwhile
    @precondition(lambda self: self.model in ("running", "paused", "stopped"))
    @rule(refused=st.booleans())
    def quadrupole_done(self, refused):
        s = self.s
        index, pass_index, kept = s.next_index, s.pass_index, self.model
        changed = rules.advance(s, "tripped" if refused else None)
        self.failures += refused
        if index + 1 < s.total:
            assert (s.pass_index, s.next_index, changed) == (pass_index, index + 1, False)
        elif pass_index + 1 == s.repeat:
            self.model, self.model_hold = "finished", self.model_hold
            assert changed
        else:
            assert (s.pass_index, s.next_index, changed) == (pass_index + 1, 0, True)
            if kept == "running":
                self.model = "waiting" if s.every_s else "running"
        assert s.message is None

    @invariant()
    def matches_the_model(self):
        s = self.s
        assert s.state in STATES and s.state == self.model
        if s.state != "finished":
            assert s.hold == self.model_hold
            assert s.done_all == s.pass_index * s.total + s.next_index and s.next_index < s.total
        else:
            assert s.done_all == s.total * s.repeat
        assert s.hold is None or s.state in ("paused", "finished")
        assert len(s.failed) == self.failures

    @invariant()
    def the_page_is_told_what_may_be_asked(self):
        def allowed(action):
            states, _ = REQUESTS[action]
            return self.model in ((*states, "paused") if action == "pause" and self.model_hold else states)

        assert rules.actions(self.s) == [a for a in REQUESTS if allowed(a)]

    @invariant()
    def the_runner_knows_what_to_do(self):
        step = rules.next_step(self.s)
        expected = {"running": "measure", "waiting": "wait"}.get(self.s.state)
        if expected is None:
            expected = "held" if rules.held(self.s) else "idle"
        assert step.kind == expected


SurveyRules.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestSurveyRules = SurveyRules.TestCase


def test_a_new_survey_waits_for_the_active_one():
    s = make_survey(2, 1, 0.0)
    for state in ACTIVE:
        s.state = state
        with pytest.raises(SurveyActive, match="stop it first"):
            rules.check_can_start(s)
    for state in ("finished", "stopped", "failed"):
        s.state = state
        rules.check_can_start(s)
    rules.check_can_start(None)


def test_nothing_to_ask_without_a_survey():
    with pytest.raises(TransitionRefused, match=r"no survey is running or waiting \(state: idle\)"):
        rules.request(None, "pause")
    assert rules.next_step(None).kind == "idle"


@pytest.mark.parametrize(
    "code,reason,how",
    [
        ("busy", None, RETRY),
        ("aborted", None, PAUSE),
        ("bad_request", None, SKIP),
        ("fault", None, SKIP),
        ("unavailable", "disk_full", HOLD),
        ("unavailable", "storage", BACKOFF),
        ("unavailable", None, BACKOFF),
        ("timeout", None, BACKOFF),
        ("internal", None, BACKOFF),
        ("what", ["unhashable"], BACKOFF),
        ("unavailable", ["disk_full"], BACKOFF),
    ],
)
def test_each_controller_error_has_one_reaction(code, reason, how):
    assert reaction(code, reason) == how


@given(st.integers(-5, MAX_REPEAT + 5), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers()))
@settings(deadline=None)
def test_a_plan_out_of_limits_names_its_field(repeat, every_s):
    try:
        check_plan(repeat, every_s)
    except PlanError as exc:
        low, high = exc.allowed
        value = {"repeat": repeat, "every_s": every_s}[exc.field]
        assert not low <= value <= high and str(exc).startswith(exc.field)
    else:
        assert 1 <= repeat <= MAX_REPEAT and 0 <= every_s <= MAX_EVERY_S
