"""The pipelined survey under real supervisord: one quadrupole commits while the next injects.

A stop or an abort leaves nothing behind it (the call waiting in the controller's lane never
starts; a quadrupole past the aborted one is refused until the survey comes back to it), and
a controller killed with two calls in flight loses and repeats nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from bus.errors import Aborted
from bus.events import Subscriber
from bus.rpc import Client
from ohmpi.survey import measurement_id, new_survey_id
from tests.support.procs import wait_until
from tests.support.system import System

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def system():
    s = System(electrodes=12, time_scale=10.0)
    yield s
    s.close()


def _watch(system) -> Subscriber:
    return Subscriber(["data.+.measurement"], address=system.address, cfg=system.cfg, snapshot=False)


def _events(watcher: Subscriber, quiet_s: float = 0.5) -> list[dict]:
    out = []
    while (msg := watcher.recv(timeout=quiet_s)) is not None:
        out.append(msg.body)
    return out


def _in_background(system, **args) -> tuple[threading.Thread, list]:
    """A `measure` call in a thread of its own; its outcome lands in the list."""
    outcome: list = []

    def run():
        with Client(system.address, cfg=system.cfg, timeout=5.0) as c:
            try:
                outcome.append(c.call("controller", "measure", retries=5, **args))
            except Exception as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _quad(survey_id: str, index: int, **settings) -> dict:
    return dict(
        a=1,
        b=4,
        m=2,
        n=3,
        settings=settings,
        measurement_id=measurement_id(survey_id, 0, index),
        survey_id=survey_id,
        pass_index=0,
        seq_index=index,
    )


def test_abort_refuses_the_waiting_call_and_fences_the_survey_until_it_comes_back(system):
    sid = new_survey_id()
    watcher = _watch(system)
    long = {"nb_stack": 20, "injection_ms": 2000}
    first, first_out = _in_background(system, **_quad(sid, 5, **long))
    ctl = system.client
    wait_until(lambda: ctl.call("controller", "status")["injecting"], timeout=60, what="the injection")
    second, second_out = _in_background(system, **_quad(sid, 6))
    wait_until(lambda: ctl.call("controller", "status")["busy"]["hardware"]["waiting"], what="the call to queue")
    assert ctl.call("controller", "abort")["dropped"] == 1
    first.join(60)
    second.join(60)
    assert isinstance(first_out[0], Aborted) and isinstance(second_out[0], Aborted)
    assert "before it started" in second_out[0].message
    with pytest.raises(Aborted, match="aborted at quadrupole 5"):  # past the aborted one: refused
        ctl.call("controller", "measure", **_quad(sid, 7), timeout=30)
    assert _events(watcher) == []  # nothing was measured
    done = ctl.call("controller", "measure", **_quad(sid, 5), timeout=30)  # the resume: the fence lifts
    assert done["repeated"] is False
    assert ctl.call("controller", "measure", **_quad(sid, 6), timeout=30)["repeated"] is False
    assert [e["seq_index"] for e in _events(watcher)] == [5, 6]
    watcher.close()


def test_a_repeated_id_is_answered_from_the_outbox_not_measured_again(system):
    sid = new_survey_id()
    watcher = _watch(system)
    first = system.client.call("controller", "measure", **_quad(sid, 0), timeout=30)
    again = system.client.call("controller", "measure", **_quad(sid, 0), timeout=30)
    assert again["repeated"] is True and again["record"] == first["record"]
    assert len(_events(watcher)) == 1
    watcher.close()


def test_after_stop_nothing_of_the_survey_is_measured(system):
    watcher = _watch(system)
    system.client.call("sequencer", "generate", array="dipole-dipole")
    started = system.client.call("sequencer", "start")
    sid = started["survey_id"]
    wait_until(lambda: system.survey()["done"] >= 3, what="some progress")
    wait_until(
        lambda: system.client.call("controller", "status")["busy"].get("hardware", {}).get("waiting"),
        what="two quadrupoles in flight",
    )
    assert system.client.call("sequencer", "stop")["state"] == "stopped"
    stopped_at, stopped_wall = time.monotonic(), datetime.now(timezone.utc)
    wait_until(lambda: system.client.call("controller", "status")["activity"] is None, what="the controller idle")
    time.sleep(1.0)  # a quadrupole started after the stop would be measured by now
    events = _events(watcher)
    survey = system.survey()
    assert survey["state"] == "stopped" and survey["done"] < started["total"]
    mine = [e for e in events if e["survey_id"] == sid]
    assert len(mine) == len({e["measurement_id"] for e in mine}) == survey["done"]
    assert sorted(e["seq_index"] for e in mine) == list(range(survey["done"]))
    # the one committing when the stop came may be announced after it; none ended after it
    ended = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in mine]
    assert max(ended) <= stopped_wall, (max(ended), stopped_wall)
    assert time.monotonic() - stopped_at < 30
    rows = system.wait_stored(sid, survey["done"])
    assert len(rows) == survey["done"]
    with pytest.raises(Aborted, match="stopped"):  # the controller refuses the survey from now on
        system.client.call("controller", "measure", **_quad(sid, survey["done"] + 1), timeout=30)
    watcher.close()


def test_the_controller_killed_with_two_in_flight_loses_and_repeats_nothing(system):
    watcher = _watch(system)
    system.client.call("sequencer", "generate", array="dipole-dipole")
    started = system.client.call("sequencer", "start")
    sid, total = started["survey_id"], started["total"]
    wait_until(lambda: system.survey()["done"] >= total // 4, what="a quarter of the survey")
    wait_until(
        lambda: system.client.call("controller", "status")["busy"].get("hardware", {}).get("waiting"),
        what="two quadrupoles in flight",
    )
    system.kill9("controller")
    final = system.wait_survey(timeout=300)
    assert final["done"] == total and final["state"] == "finished"
    rows = system.wait_stored(sid, total)
    assert len(rows) == len({r[0] for r in rows}) == total
    assert sorted(r[2] for r in rows) == list(range(total))
    seen = Counter(e["measurement_id"] for e in _events(watcher) if e["survey_id"] == sid)
    assert not [mid for mid, n in seen.items() if n > 1], "a quadrupole was measured twice"
    watcher.close()
