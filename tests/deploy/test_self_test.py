"""`ohmpi self-test`, the wiring check of docs/deploy.md, against a real hub and controller."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bus.config import BusConfig
from bus.rpc import Client
from tests.support.procs import short_tmpdir, spawn, stop

OHMPI = str(Path(sys.executable).parent / "ohmpi")


@pytest.fixture(scope="module")
def instrument():
    """A hub and a controller on the simulated instrument, in a temporary OHMPI_VAR."""
    var = Path(short_tmpdir())
    config = var / "ohmpi.toml"
    config.write_text("[bus]\nheartbeat_s = 0.5\n\n[instrument]\nn_electrodes = 16\ntime_scale = 0\n")
    env = {"OHMPI_VAR": str(var), "OHMPI_CONFIG": str(config), "OHMPI_BUS": f"ipc://{var}/bus"}
    procs = [
        spawn(["-m", "workers.hub"], env, var / "hub.log"),
        spawn(["-m", "workers.controller"], env, var / "controller.log"),
    ]
    try:
        with Client(env["OHMPI_BUS"], cfg=BusConfig(heartbeat_s=0.5), timeout=5.0) as client:
            client.wait_for("controller", timeout=60)
        yield env
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(var, ignore_errors=True)


def ohmpi(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OHMPI, "--timeout", "10", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_self_test_walks_every_relay_role_and_adc_and_says_nothing_real_was_tested(instrument):
    done = ohmpi(instrument, "self-test")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    names = [line.split()[0] for line in lines[1:-1]]
    assert names == [
        "tca9548a",
        "relays_A",
        "relays_B",
        "relays_M",
        "relays_N",
        "adc_current",
        "adc_voltage",
        "relay_settle",
        "safe_state",
    ]
    assert "16 relays ok" in done.stdout
    assert lines[-1].startswith("self-test passed on the simulated instrument")


def test_self_test_json_carries_every_check_and_the_simulated_flag(instrument):
    done = ohmpi(instrument, "--json", "self-test")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["simulated"] is True
    assert all(check["ok"] for check in result["checks"]) and len(result["checks"]) == 9
    assert 5.0 <= result["relay_settle"]["settle_ms"] <= 6.0  # the emulated relays' contacts


def test_self_test_without_a_controller_exits_3_with_one_line(tmp_path):
    (tmp_path / "ohmpi.toml").write_text("")
    env = {
        "OHMPI_VAR": str(tmp_path),
        "OHMPI_BUS": f"ipc://{tmp_path}/bus",
        "OHMPI_CONFIG": str(tmp_path / "ohmpi.toml"),
    }
    done = subprocess.run(
        [OHMPI, "--timeout", "0.5", "self-test"], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "hub" in done.stderr
