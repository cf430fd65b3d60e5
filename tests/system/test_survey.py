"""End to end under real supervisord: surveys, exports, pause/resume/stop, abort, kills."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from bus.errors import Aborted
from bus.events import Subscriber
from ohmpi import formats
from tests.support.procs import wait_until


def _unique(rows):
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "a measurement stored twice"
    return ids


def test_a_32_electrode_survey_runs_to_the_end_and_exports(system, tmp_path):
    out = system.ohmpi("survey", "start", "--array", "dipole-dipole", "--electrodes", "32", "--json")
    assert out.returncode == 0, out.stderr
    started = json.loads(out.stdout)
    assert started["total"] == 435
    waited = system.ohmpi("survey", "wait", "--json")
    assert waited.returncode == 0, waited.stderr
    final = json.loads(waited.stdout.splitlines()[-1])
    assert final["state"] == "finished" and final["done"] == final["total"] == 435
    rows = system.wait_stored(started["survey_id"], 435)
    assert len(_unique(rows)) == 435
    assert sorted(r[2] for r in rows) == list(range(435))
    surveys = json.loads(system.ohmpi("surveys", "--json").stdout)
    assert surveys[0]["survey_id"] == started["survey_id"] and surveys[0]["measurements"] == 435
    for fmt in ("ohm", "protocol", "csv"):
        path = tmp_path / f"out.{fmt}"
        done = system.ohmpi("export", started["survey_id"], "--format", fmt, "-o", str(path))
        assert done.returncode == 0, done.stderr
        records, positions = formats.read(fmt, path)
        assert len(records) == 435
        assert len({(r["a"], r["b"], r["m"], r["n"]) for r in records}) == 435
        if fmt == "ohm":
            assert len(positions) == 32
            rhoa = [r["rhoa_ohmm"] for r in records]
            assert abs(sum(rhoa) / len(rhoa) - 100) < 5  # the default earth: 100 ohm.m


def test_single_measurement_and_settings(system):
    out = system.ohmpi("measure", "1", "4", "2", "3", "--json")
    record = json.loads(out.stdout)["record"]
    assert (record["a"], record["b"], record["m"], record["n"]) == (1, 4, 2, 3)
    assert abs(record["rhoa_ohmm"] - 100) < 5
    bad = system.ohmpi("measure", "1", "1", "2", "3")
    assert bad.returncode == 1 and "refused" in bad.stderr
    bad = system.ohmpi("settings", "nb_stack=0")
    assert bad.returncode == 1 and "nb_stack" in bad.stderr and "1..100" in bad.stderr
    ok = system.ohmpi("settings", "nb_stack=3", "--json")
    assert json.loads(ok.stdout)["nb_stack"] == 3


def test_pause_resume_stop(make_system):
    system = make_system(electrodes=16, time_scale=10.0)
    system.client.call("sequencer", "generate", array="dipole-dipole")
    started = system.client.call("sequencer", "start")
    wait_until(lambda: system.survey()["done"] >= 3, what="some progress")
    assert system.client.call("sequencer", "pause")["state"] == "paused"
    time.sleep(1.0)  # the quadrupole in flight may still complete
    held = system.survey()["done"]
    time.sleep(1.5)
    assert system.survey()["done"] == held and system.survey()["state"] == "paused"
    assert system.client.call("sequencer", "resume")["state"] == "running"
    wait_until(lambda: system.survey()["done"] >= held + 3, what="progress after resume")
    assert system.client.call("sequencer", "stop")["state"] == "stopped"
    wait_until(lambda: system.client.call("controller", "status")["activity"] is None, what="controller idle")
    stopped_at = system.survey()["done"]
    time.sleep(1.0)
    assert system.survey()["done"] == stopped_at < started["total"]
    rows = system.wait_stored(started["survey_id"], stopped_at)
    _unique(rows)


def test_abort_stops_mid_injection(make_system):
    system = make_system(electrodes=16, time_scale=1.0)
    errors = []

    def long_measure():
        try:
            system.client.__class__(system.address, cfg=system.cfg, timeout=5.0).call(
                "controller", "measure", a=1, b=4, m=2, n=3, settings={"nb_stack": 20, "injection_ms": 2000}, retries=20
            )
        except Aborted as exc:
            errors.append(exc)

    worker = threading.Thread(target=long_measure)
    worker.start()
    wait_until(lambda: system.client.call("controller", "status")["injecting"], timeout=60, what="injection to start")
    assert system.client.call("controller", "abort")["aborted"].startswith("measure")
    worker.join(30)
    assert len(errors) == 1 and "aborted" in errors[0].message
    status = system.client.call("controller", "status")
    assert status["injecting"] is False and status["relays_closed"] == 0 and status["activity"] is None


def _run_with_kill(system, victim):
    watcher = Subscriber(["data.+.measurement"], address=system.address, cfg=system.cfg, snapshot=False)
    system.client.call("sequencer", "generate", array="wenner")
    started = system.client.call("sequencer", "start")
    total = started["total"]
    wait_until(lambda: system.survey()["done"] >= total // 3, what="a third of the survey")
    system.kill9(victim)
    final = system.wait_survey(timeout=300)
    assert final["done"] == total
    rows = system.wait_stored(started["survey_id"], total)
    ids = _unique(rows)
    assert len(ids) == total and sorted(r[2] for r in rows) == list(range(total))
    seen = Counter()
    while (msg := watcher.recv(timeout=0.5)) is not None:
        seen[msg.body["measurement_id"]] += 1
    assert not [mid for mid, n in seen.items() if n > 1], "a quadrupole was measured twice"
    watcher.close()
    return started["survey_id"]


@pytest.mark.parametrize("victim", ["recorder", "controller", "sequencer"])
def test_a_process_killed_mid_survey_loses_and_repeats_nothing(make_system, victim):
    system = make_system(electrodes=24, time_scale=20.0)
    _run_with_kill(system, victim)
