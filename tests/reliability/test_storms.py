"""Log and SOH storms: a process logging in a tight loop (held back at its source, with a
"N messages suppressed" line) and a rogue publisher flooding log and SOH topics (pruned at the
recorder) while a survey runs. The database stays within its quota, the survey is stored
exactly, and every process keeps answering."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bus.node import LOG_PER_MINUTE
from tests.support.procs import ROOT, wait_until
from tests.support.system import FieldSystem

QUOTA_MB = 2
STORM_S = 5.0


def _storm(system, mode: str, seconds: float) -> tuple[int, float]:
    """Run a storm process; return (messages it sent, the slowest ping of any process meanwhile)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.storm", mode, str(seconds)],
        cwd=ROOT,
        env=system.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    worst = 0.0
    try:
        while proc.poll() is None:
            for name in ("recorder", "sequencer", "controller", "hub"):
                t0 = time.monotonic()
                system.client.call(name, "ping", timeout=10.0)
                worst = max(worst, time.monotonic() - t0)
            time.sleep(0.1)
        return int(proc.stdout.read()), worst
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.timeout(300)
def test_storms_leave_the_database_within_quota_and_the_system_responsive():
    system = FieldSystem(electrodes=16, time_scale=2.0, extra=f"\n[recorder]\nmax_db_mb = {QUOTA_MB}\n")
    try:
        system.client.call("sequencer", "generate", array="wenner")
        started = system.client.call("sequencer", "start", settings={"nb_stack": 1})
        sid, total = started["survey_id"], started["total"]

        # a worker logging in a tight loop: held back at its source, every message accounted for
        sent, worst = _storm(system, "log", STORM_S)
        assert worst < 3.0, f"a process took {worst:.2f} s to answer during the log storm"
        assert sent > 5 * LOG_PER_MINUTE, sent

        def storm_logs():
            return system.client.call("recorder", "logs", process="storm", limit=5000)

        def accounted():  # stored lines + the suppressed counts of the summary lines
            stored = storm_logs()
            summary = [r for r in stored if "messages suppressed" in r["message"]]
            return len(stored) - len(summary), sum(r["extra"]["suppressed"] for r in summary)

        # every message is counted, none lost silently (the last summary may still be on its way)
        lines, suppressed = wait_until(
            lambda: (a := accounted())[0] + a[1] == sent and a,
            timeout=30,
            what=f"stored lines + suppressed counts = the {sent} messages sent",
        )
        assert suppressed > 0
        assert lines <= LOG_PER_MINUTE * (STORM_S / 60 + 1) + 1, lines  # a minute's burst, then the rate

        # a rogue publisher flooding log and SOH topics past any Node: pruned at the recorder
        sent, worst = _storm(system, "raw", STORM_S)
        assert worst < 3.0, f"a process took {worst:.2f} s to answer during the flood"
        assert sent > 10_000, sent

        final = system.wait_survey(timeout=240)
        assert final["done"] == total
        rows = system.wait_stored(sid, total)
        assert len({r[0] for r in rows}) == total
        stats = wait_until(
            lambda: (s := system.client.call("recorder", "stats"))["db_used_bytes"] <= QUOTA_MB << 20 and s,
            timeout=60,
            what="the database back within its quota",
        )
        assert stats["counts"]["measurements"] == total
        assert stats["db_bytes"] < 4 * (QUOTA_MB << 20), stats["db_bytes"]  # the file stays near the quota
    finally:
        system.close()
