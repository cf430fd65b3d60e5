"""Power cuts: supervisord and every process killed at once, at random moments of one survey,
three times; each time the system is started again as `make run` does and the survey goes on by
itself at the next quadrupole not stored. Counts are exact at the end, nothing is stored or
measured twice, and every file opens and passes its integrity check."""

from __future__ import annotations

import os
import random
import time

import pytest

from bus.events import Subscriber
from tests.support.procs import wait_until
from tests.support.system import FieldSystem, check_files

CUTS = 3


def _index(measurement_id: str) -> int:
    return int(measurement_id.rsplit(":", 1)[1])


@pytest.mark.timeout(420)
def test_three_power_cuts_in_one_survey_lose_and_repeat_nothing():
    seed = int(os.environ.get("OHMPI_TEST_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    system = FieldSystem(electrodes=24, time_scale=4.0)  # ~40 ms per quadrupole: cuts land mid-measurement
    watcher = Subscriber(["data.+.measurement"], address=system.address, cfg=system.cfg, snapshot=False)
    try:
        system.client.call("sequencer", "generate", array="wenner")
        started = system.client.call("sequencer", "start", settings={"nb_stack": 1})
        sid, total = started["survey_id"], started["total"]
        marks = sorted(rng.sample(range(total // 8, total * 7 // 8), CUTS))
        published: dict[str, int] = {}
        cuts = []
        for mark in marks:
            wait_until(lambda: system.survey()["done"] >= mark, timeout=120, what=f"{mark} quadrupoles")
            time.sleep(rng.uniform(0, 0.05))  # anywhere within a quadrupole
            cut = system.power_cut()
            before = system.measured()  # durable at the cut: the controller's outbox survived it
            assert check_files(system.var), f"seed {seed}"
            system.restart()
            # nobody asks: the survey resumes by itself
            wait_until(lambda: len(system.measured()) > len(before), timeout=120, what="the survey going on")
            cuts.append((cut, before))
            while (msg := watcher.recv(timeout=0.05)) is not None:
                published[msg.body["measurement_id"]] = published.get(msg.body["measurement_id"], 0) + 1
        final = system.wait_survey(timeout=300)
        assert final["state"] == "finished" and final["done"] == total, f"seed {seed}: {final}"
        rows = system.wait_stored(sid, total)
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)) == total, f"seed {seed}: stored twice"
        assert sorted(r[2] for r in rows) == list(range(total)), f"seed {seed}: a quadrupole lost"
        while (msg := watcher.recv(timeout=0.2)) is not None:
            published[msg.body["measurement_id"]] = published.get(msg.body["measurement_id"], 0) + 1
        assert not {k: n for k, n in published.items() if n > 1}, f"seed {seed}: measured twice"
        measured = system.measured()
        for cut, before in cuts:
            # what was durable at the cut is never measured again; after it, measuring goes on
            # from the next quadrupole not stored, with no gap
            resumed = sorted(_index(k) for k, t in measured.items() if t > cut)
            assert resumed and resumed[0] == max(map(_index, before)) + 1, f"seed {seed}"
            assert all(measured[k] == t for k, t in before.items()), f"seed {seed}"
        survey_row = system.client.call("recorder", "survey", survey_id=sid)
        assert survey_row["state"] == "finished" and survey_row["measurements"] == total
        check_files(system.var)
    finally:
        watcher.close()
        system.close()
