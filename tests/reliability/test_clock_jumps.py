"""Clock jumps: the wall clock of every process of the system jumps back an hour, then forward a
day, in the middle of a repeated survey (a Pi without a real-time clock when NTP or GPS
arrives). The machine's clock is never touched: the seam is libfaketime, preloaded into
supervisord and so into every process, reading its offset from a file the test rewrites
(monotonic time stays real). Passes keep their `every` interval, ids stay unique, the data is
ordered by sequence index, the survey's stored state follows its revisions, SOH keeps being
sampled, retention keeps working, and each jump is logged."""

from __future__ import annotations

import time

import pytest

from tests.support.procs import wait_until
from tests.support.system import FieldSystem

libfaketime = pytest.importorskip("libfaketime", reason="the clock seam is libfaketime (pip install libfaketime)")

EVERY_S = 6.0
PASSES = 3


def _faked_clock_env(offset_file) -> dict:
    env = dict(libfaketime.get_reload_information()[1])
    env.pop("FAKETIME_NO_CACHE", None)  # re-read the offset file once a second, not at every time()
    env.update(
        {
            "FAKETIME_TIMESTAMP_FILE": str(offset_file),
            "FAKETIME_CACHE_DURATION": "1",
            "DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }
    )
    return env


@pytest.mark.timeout(300)
def test_wall_clock_jumps_back_and_forward_mid_survey(tmp_path):
    offset = tmp_path / "clock-offset"
    offset.write_text("+0\n")
    system = FieldSystem(
        electrodes=16, env=_faked_clock_env(offset), extra="\n[recorder]\nsoh_every_s = 1\nlog_retention_days = 0.5\n"
    )
    try:
        system.client.call("sequencer", "generate", array="wenner")
        first_check = system.client.call("controller", "rs_check")["id"]
        started = system.client.call("sequencer", "start", settings={"nb_stack": 1}, repeat=PASSES, every_s=EVERY_S)
        sid, total = started["survey_id"], started["total"]
        pass_start = {0: time.monotonic()}

        def running_pass(index):
            s = system.survey()
            return (s["pass_index"] == index and s["state"] in ("running", "finished")) or s["pass_index"] > index

        wait_until(lambda: system.survey()["state"] == "waiting", timeout=60, what="pass 0 done, waiting")
        soh_before = wait_until(
            lambda: system.client.call("recorder", "soh", process="hub", limit=1), timeout=30, what="a hub SOH sample"
        )[0]["ts"]
        offset.write_text("-3600\n")  # back an hour while waiting for pass 1
        wait_until(lambda: running_pass(1), timeout=60, interval=0.02, what="pass 1")
        pass_start[1] = time.monotonic()
        wait_until(lambda: system.survey()["state"] == "waiting", timeout=60, what="pass 1 done, waiting")
        second_check = system.client.call("controller", "rs_check")["id"]  # between passes: the hardware is free
        # SOH is still sampled although its timestamps went back an hour
        wait_until(
            lambda: any(
                r["ts"] < soh_before - 3000
                for r in system.client.call("recorder", "soh", process="hub", since=soh_before - 4000, limit=500)
            ),
            timeout=30,
            what="SOH samples stored after the clock went back",
        )
        offset.write_text("+82800\n")  # forward a day (from an hour behind) while waiting for pass 2
        wait_until(lambda: running_pass(2), timeout=60, interval=0.02, what="pass 2")
        pass_start[2] = time.monotonic()
        final = system.wait_survey(timeout=120)
        assert final["done_all"] == total * PASSES and final["state"] == "finished"

        # passes kept their interval on monotonic time (a wall-time schedule would wait an hour for
        # pass 1, and start pass 2 at once)
        for index in (1, 2):
            gap = pass_start[index] - pass_start[index - 1]
            assert EVERY_S - 1.0 <= gap <= EVERY_S + 4.0, (index, gap)

        # ids unique, every slot once, ordered by pass and index whatever the times say
        rows = system.wait_stored(sid, total * PASSES)
        assert len({r[0] for r in rows}) == total * PASSES
        data = system.client.call("recorder", "data", survey_id=sid, limit=total * PASSES)["rows"]
        assert [(r["pass_index"], r["seq_index"]) for r in data] == [
            (p, i) for p in range(PASSES) for i in range(total)
        ]
        # the survey's stored state follows its revisions, not its (jumping) `updated` time
        wait_until(
            lambda: system.client.call("recorder", "survey", survey_id=sid)["state"] == "finished",
            timeout=30,
            what="the stored survey finished",
        )
        # the newest contact check is the last stored, though its time is an hour earlier
        assert [c["id"] for c in system.client.call("recorder", "rs_checks")][:2] == [second_check, first_check]

        # both jumps logged by the sequencer
        def jumps():
            lines = [r["message"] for r in system.client.call("recorder", "logs", process="sequencer", limit=500)]
            return [line for line in lines if "wall clock jumped" in line]

        said = wait_until(lambda: len(jumps()) >= 2 and jumps(), timeout=30, what="both jumps logged")
        assert any("back by 3600 s (1.00 h)" in line for line in said), said
        assert any("forward by 86400 s (1.00 days)" in line for line in said), said

        # retention keeps working on the new time: a recorder start prunes logs older than half a day
        before = system.client.call("recorder", "stats")["counts"]
        assert "started" in system.ctl("restart", "recorder")
        system.client.wait_for("recorder", timeout=60)
        after = wait_until(
            lambda: (c := system.client.call("recorder", "stats")["counts"])["logs"] < before["logs"] and c,
            timeout=30,
            what="old logs pruned",
        )
        assert after["measurements"] == before["measurements"] == total * PASSES  # data is never pruned
        kept = [r["message"] for r in system.client.call("recorder", "logs", limit=500)]
        assert any("(1.00 days)" in m for m in kept) and not any("back by 3600 s (1.00 h)" in m for m in kept)
    finally:
        system.close()
