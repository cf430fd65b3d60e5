"""The whole system under the real supervisor.conf, in a temporary OHMPI_VAR."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bus.config import BusConfig
from bus.rpc import Client
from tests.procs import ROOT, free_tcp_base, short_tmpdir, wait_until

BIN = Path(sys.executable).parent
PROGRAMS = ("hub", "recorder", "controller", "sequencer")


class System:
    def __init__(self, *, electrodes: int = 32, time_scale: float = 0.0, extra: str = ""):
        self.var = Path(short_tmpdir())
        (self.var / "log").mkdir()
        self.config = self.var / "ohmpi.toml"
        if "[web]" not in extra:  # never the default 8080: a `make run` may be using it
            extra += f"\n[web]\nport = {free_tcp_base()}\n"
        self.config.write_text(f"[bus]\nheartbeat_s = 0.5\n\n[instrument]\nn_electrodes = {electrodes}\n"
                               f"time_scale = {time_scale}\n{extra}")
        self.env = {**os.environ, "OHMPI_VAR": str(self.var), "OHMPI_CONFIG": str(self.config)}
        self.env.pop("OHMPI_BUS", None)
        self.env.pop("OHMPI_TIME_SCALE", None)
        self.address = f"ipc://{self.var}/bus"
        self.cfg = BusConfig(heartbeat_s=0.5)
        self.proc = subprocess.Popen([str(BIN / "supervisord"), "-c", str(ROOT / "supervisor.conf")], cwd=ROOT,
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.client = Client(self.address, cfg=self.cfg, timeout=5.0)
        for name in PROGRAMS:
            self.client.wait_for(name, timeout=60)

    def ctl(self, *args) -> str:
        return subprocess.run([str(BIN / "supervisorctl"), "-c", str(ROOT / "supervisor.conf"), *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=60).stdout

    def pid(self, name: str) -> int:
        return self.client.call(name, "ping")["pid"]

    def kill9(self, name: str) -> None:
        """Kill a process with SIGKILL and wait until supervisord has it answering again."""
        old = self.pid(name)
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: self._answers_with_new_pid(name, old), timeout=60, what=f"{name} restarted")

    def _answers_with_new_pid(self, name, old):
        try:
            return self.client.call(name, "ping", timeout=0.5, retries=0)["pid"] != old
        except Exception:
            return False

    def ohmpi(self, *args, timeout=300) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "ohmpi"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def db_rows(self, survey_id: str) -> list[tuple]:
        with sqlite3.connect(self.var / "ohmpi.db") as con:
            return con.execute("SELECT measurement_id, pass_index, seq_index FROM measurements "
                               "WHERE survey_id = ?", (survey_id,)).fetchall()

    def survey(self) -> dict:
        return self.client.call("sequencer", "status")

    def wait_survey(self, state=("finished",), timeout=300) -> dict:
        return wait_until(lambda: (s := self.survey())["state"] in state and s, timeout=timeout,
                          what=f"survey {state}")

    def wait_stored(self, survey_id: str, count: int, timeout=120) -> list:
        return wait_until(lambda: len(rows := self.db_rows(survey_id)) >= count and rows, timeout=timeout,
                          what=f"{count} measurements stored")

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.var, ignore_errors=True)


@pytest.fixture
def system():
    s = System()
    yield s
    s.close()


@pytest.fixture
def make_system():
    made = []

    def make(**kw):
        made.append(System(**kw))
        return made[-1]
    yield make
    for s in made:
        s.close()


__all__ = ["System", "json"]
