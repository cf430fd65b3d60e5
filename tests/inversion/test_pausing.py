"""The inversion waits while the instrument measures: the gate's verdict over any stream of survey
states, heartbeats and measurements; and a real child process stopped, resumed, timed on its
running time only, and ended while stopped."""

import multiprocessing
import os
import subprocess
import sys
import time

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.inversion.gate import MEASURING, SURVEY_RUNNING, UNSEEN, MeasuringGate
from ohmpi.inversion.suspend import Suspendable, detach
from tests.support.procs import ROOT, wait_until
from workers.inverter import load_settings

HB = 0.5
STATES = ["idle", "running", "waiting", "paused", "held", "finished", "stopped", "failed"]
EVENTS = st.lists(
    st.tuples(
        st.floats(0, 3), st.sampled_from(["state", "alive", "soh", "measured"]), st.sampled_from(STATES), st.booleans()
    ),
    max_size=30,
)


def feed(gate, events):
    now = 0.0
    for dt, kind, state, busy in events:
        now += dt
        if kind == "state":
            gate.sequencer({"state": state}, now)
        elif kind == "alive":
            gate.sequencer_alive(now)
        elif kind == "soh":
            gate.controller({"activity": "measure" if busy else None, "injecting": False}, now)
        else:
            gate.measured(now)
    return now


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.sampled_from(STATES), st.floats(0, 1.4))
def test_a_running_survey_always_shuts_the_gate(events, _, dt):
    gate = MeasuringGate("pause", HB)
    now = feed(gate, events)
    gate.sequencer({"state": "running"}, now)
    for later in (now, now + dt):  # whatever the controller says meanwhile
        gate.controller({"activity": None, "injecting": False}, later)
        assert gate.reason(later) == SURVEY_RUNNING


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.floats(1.51, 1e6))
def test_a_silent_sequencer_shuts_the_gate(events, silence):
    gate = MeasuringGate("pause", HB)
    now = feed(gate, events)
    gate.sequencer({"state": "idle"}, now)
    assert gate.reason(now + silence) == UNSEEN  # the hub or the sequencer down: err on pausing


@settings(max_examples=200, deadline=None)
@given(EVENTS, st.floats(0, 1e6))
def test_run_mode_never_pauses(events, later):
    gate = MeasuringGate("run", HB)
    assert gate.reason(feed(gate, events) + later) is None


@pytest.mark.parametrize("state", ["idle", "waiting", "paused", "held", "finished", "stopped", "failed"])
def test_the_gaps_open_the_gate_and_a_manual_measure_shuts_it(state):
    gate = MeasuringGate("pause", HB)
    assert gate.reason(0.0) == UNSEEN  # nothing heard yet
    gate.sequencer({"state": state}, 0.0)
    assert gate.reason(0.1) is None
    gate.controller({"activity": "measure"}, 0.2)
    assert gate.reason(0.3) == MEASURING
    gate.sequencer_alive(1.0)
    assert gate.reason(1.6) == MEASURING and gate.reason(1.75) is None  # three heartbeats after it
    gate.sequencer({"state": "bogus-body"}, 1.7)
    gate.sequencer("not a dict", 1.7)
    gate.measured(1.8)
    assert gate.reason(1.9) == MEASURING


@pytest.mark.parametrize(
    "value, message",
    [
        ("sometimes", "must be one of 'pause', 'run'"),
        (1, "must be str"),
        ("PAUSE", "must be one of"),
        ("", "must be one of"),
    ],
)
def test_a_bad_during_survey_is_refused_naming_it(value, message):
    with pytest.raises(Exception, match=r"\[inverter\]\.during_survey " + message):
        load_settings({"during_survey": value})
    with pytest.raises(ValueError, match="during_survey"):
        MeasuringGate(str(value), HB)


def test_a_bad_during_survey_stops_the_worker_with_one_line_and_status_2(tmp_path):
    config = tmp_path / "ohmpi.toml"
    config.write_text('[inverter]\nduring_survey = "whenever"\n')
    env = {**os.environ, "OHMPI_CONFIG": str(config), "OHMPI_VAR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "workers.inverter"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "during_survey" in lines[0] and "whenever" in lines[0]


def spin(seconds: float) -> None:
    """A child that burns CPU (as an inversion does) in its own group, dying with its parent."""
    detach()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def status(pid: int) -> str:
    return psutil.Process(pid).status()


def test_a_child_is_stopped_resumed_timed_on_its_running_time_and_ended_while_stopped():
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=spin, args=(60.0,), daemon=True)
    child.start()
    control = Suspendable(child)
    try:
        wait_until(lambda: os.getpgid(child.pid) == child.pid, timeout=30, what="the child in its own group")
        assert os.getpgid(child.pid) != os.getpgid(0)  # signals to it never reach this process
        control.stop()
        wait_until(lambda: status(child.pid) == psutil.STATUS_STOPPED, timeout=10, what="stopped")
        cpu = sum(psutil.Process(child.pid).cpu_times()[:2])
        ran = control.running_s()
        time.sleep(0.6)  # a stopped child's running time and CPU time stand still
        assert control.running_s() == ran and sum(psutil.Process(child.pid).cpu_times()[:2]) == cpu
        assert status(child.pid) == psutil.STATUS_STOPPED
        control.resume()
        wait_until(lambda: sum(psutil.Process(child.pid).cpu_times()[:2]) > cpu, timeout=30, what="running again")
        assert control.running_s() > ran
        control.stop()
        wait_until(lambda: status(child.pid) == psutil.STATUS_STOPPED, timeout=10, what="stopped again")
        started = time.monotonic()
        control.end(grace_s=5.0)  # SIGTERM reaches a stopped child once it is continued
        assert not child.is_alive() and child.exitcode == -15 and time.monotonic() - started < 4.0
    finally:
        if child.is_alive():
            child.kill()
