"""A bad configuration never crash-loops: one line naming the table and key, exit status 2, and
under the real supervisord the program ends FATAL instead of being restarted 20 times."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.procs import ROOT, short_tmpdir, wait_until
from tests.support.system import System

BAD = {  # worker -> (config text, what its one line must name)
    "hub": ("[bus]\nheartbeat_s = -1\n", "[bus].heartbeat_s"),
    "recorder": ('[recorder]\nmin_free_mb = "lots"\n', "[recorder].min_free_mb"),
    "controller": ('[controller]\nsimulated = "yes"\n', "[controller].simulated"),
    "sequencer": ("[instrument]\nmains_hz = 55\n", "[instrument].mains_hz"),
}


@pytest.mark.parametrize("worker", sorted(BAD))
def test_each_worker_reports_a_bad_table_in_one_line_and_exits_2(worker, tmp_path):
    text, names = BAD[worker]
    config = tmp_path / "ohmpi.toml"
    config.write_text(text)
    var = short_tmpdir()
    env = {**os.environ, "OHMPI_VAR": var, "OHMPI_CONFIG": str(config)}
    env.pop("OHMPI_BUS", None)
    done = subprocess.run(
        [sys.executable, "-m", f"workers.{worker}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{worker}: configuration error: ") and names in lines[0], lines
    assert "Traceback" not in done.stderr


def _state(system: System, name: str) -> str:
    out = system.ctl("status", name).split()
    return out[1] if len(out) > 1 else ""


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "text, fatal, names",
    [
        (BAD["controller"][0], ("controller",), BAD["controller"][1]),
        ("mains_hz = 55\n", ("controller", "sequencer"), "[instrument].mains_hz"),  # in [instrument]: both read it
    ],
    ids=["controller", "sequencer"],
)
def test_under_supervisord_a_bad_table_ends_fatal_not_in_a_restart_loop(text, fatal, names):
    alive = tuple(p for p in ("hub", "recorder", "controller", "sequencer") if p not in fatal)
    system = System(electrodes=16, extra=text, wait=alive)
    try:
        for bad in fatal:
            # given up, never restarted: FATAL when it exited within startsecs (tried startretries more
            # times); EXITED when reading its config took longer (a loaded machine): status 2 is the
            # expected exit code, so supervisord leaves it there at once
            wait_until(lambda: _state(system, bad) in ("FATAL", "EXITED"), timeout=120, what=f"{bad} given up")
            lines = [line for line in (system.var / "log" / f"{bad}.log").read_text().splitlines() if line.strip()]
            # the first start and startretries (3) more, then FATAL: never 20 restarts
            assert 1 <= len(lines) <= 4, lines
            assert all(line.startswith(f"{bad}: configuration error: ") and names in line for line in lines), lines
        for name in alive:  # the rest of the system runs on
            assert system.client.call(name, "ping")["pong"]
            assert _state(system, name) == "RUNNING"
        system.config.write_text(system.config.read_text().replace(text, ""))  # fixed, started by hand: runs
        for bad in fatal:
            assert "started" in system.ctl("start", bad)
            assert system.client.wait_for(bad, timeout=60)["pong"]
    finally:
        system.close()
