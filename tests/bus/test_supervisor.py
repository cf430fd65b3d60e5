"""The real supervisor.conf under a real supervisord, in a temporary OHMPI_VAR."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bus.rpc import Client
from tests.support.procs import ROOT, short_tmpdir, wait_until

BIN = Path(sys.executable).parent


class Supervised:
    def __init__(self):
        self.var = Path(short_tmpdir())
        (self.var / "log").mkdir()
        self.env = {**os.environ, "OHMPI_VAR": str(self.var)}
        for key in ("OHMPI_BUS", "OHMPI_CONFIG"):
            self.env.pop(key, None)
        self.proc = subprocess.Popen(
            [str(BIN / "supervisord"), "-c", str(ROOT / "supervisor.conf")],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.address = f"ipc://{self.var}/bus"

    def ctl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(ROOT / "supervisor.conf"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def program_pid(self, name: str) -> int | None:
        out = self.ctl("status", name).stdout
        return int(out.split("pid ")[1].split(",")[0]) if "RUNNING" in out else None

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.var, ignore_errors=True)


@pytest.fixture
def supervised():
    s = Supervised()
    yield s
    s.close()


def test_supervisorctl_sees_the_hub_and_a_killed_hub_comes_back(supervised):
    pid = wait_until(lambda: supervised.program_pid("hub"), timeout=60, what="hub RUNNING")
    client = Client(supervised.address, timeout=2.0)
    assert client.wait_for("hub", timeout=30)["pid"] == pid
    os.kill(pid, signal.SIGKILL)
    new_pid = wait_until(
        lambda: (p := supervised.program_pid("hub")) and p != pid and p,
        timeout=60,
        what="supervisord to restart the hub",
    )
    # the same client, never restarted, reaches the new hub on the same endpoint
    assert client.wait_for("hub", timeout=30)["pid"] == new_pid
    restarted = supervised.ctl("restart", "hub")
    assert "started" in restarted.stdout
    assert client.wait_for("hub", timeout=30)["pid"] != new_pid
    client.close()
    logs = sorted(p.name for p in (supervised.var / "log").iterdir())
    assert "supervisord.log" in logs and "hub.log" in logs
    assert (supervised.var / "supervisor.sock").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_everything_cleanly(supervised, sig):
    pid = wait_until(lambda: supervised.program_pid("hub"), timeout=60, what="hub RUNNING")
    os.kill(supervised.proc.pid, sig)
    assert supervised.proc.wait(60) == 0
    with pytest.raises(ProcessLookupError):
        wait_until(lambda: os.kill(pid, 0), timeout=10, what="hub to exit")  # raises once gone
