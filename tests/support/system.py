"""The whole system under the real supervisor.conf, in a temporary OHMPI_VAR: `System`, and
`FieldSystem`, which can also lose power (every process killed at once); `check_files` proves
every file survived. Used by the system, web, security and reliability tests and by bench/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bus.config import BusConfig
from bus.rpc import Client
from ohmpi.survey import SurveyState
from tests.support.procs import ROOT, free_tcp_base, short_tmpdir, stop, track, wait_until

BIN = Path(sys.executable).parent
PROGRAMS = ("hub", "recorder", "controller", "sequencer")


class System:
    def __init__(
        self,
        *,
        electrodes: int = 32,
        time_scale: float = 0.0,
        extra: str = "",
        tcp: bool = False,
        var: Path | None = None,
        env: dict | None = None,
        wait: tuple = PROGRAMS,
    ):
        """`var`: an empty directory to use as OHMPI_VAR (a small filesystem); `env`: added to the
        system's environment; `wait`: the programs to wait for (none for a system meant to fail)."""
        self.var = Path(var or short_tmpdir())
        (self.var / "log").mkdir(mode=0o700)
        self.config = self.var / "ohmpi.toml"
        if "[web]" not in extra:  # never the default 8080: a `make run` may be using it
            extra += f"\n[web]\nport = {free_tcp_base()}\n"
        # tcp: the bus on loopback with CurveZMQ; the test's clients use the system's own key
        self.address = f"tcp://127.0.0.1:{free_tcp_base()}" if tcp else f"ipc://{self.var}/bus"
        self.config.write_text(
            f'[bus]\nheartbeat_s = 0.5\naddress = "{self.address}"\n\n'
            f"[instrument]\nn_electrodes = {electrodes}\ntime_scale = {time_scale}\n{extra}"
        )
        self.env = {**os.environ, "OHMPI_VAR": str(self.var), "OHMPI_CONFIG": str(self.config), **(env or {})}
        for name in ("OHMPI_BUS", "OHMPI_TIME_SCALE", "OHMPI_KEY"):
            self.env.pop(name, None)
        self.key = self.var / "keys" / "local.key_secret" if tcp else None
        if tcp:
            self.env["OHMPI_KEY"] = str(self.key)
        self.cfg = BusConfig(heartbeat_s=0.5)
        self.client = None
        self.start(wait)

    def start(self, wait: tuple = PROGRAMS) -> None:
        """Start supervisord as `make run` does (again after a power cut: same OHMPI_VAR)."""
        self.proc = track(
            subprocess.Popen(
                [str(BIN / "supervisord"), "-c", str(ROOT / "supervisor.conf")],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                umask=0o077,
            )
        )  # as `make run` does
        if self.key is not None:
            wait_until(
                lambda: self.key.exists() and (self.var / "keys" / "server.key").exists(),
                timeout=60,
                what="the hub's keys",
            )
        if self.client is None:
            self.client = Client(self.address, cfg=self.cfg, timeout=5.0, key=self.key)
        for name in wait:
            self.client.wait_for(name, timeout=60)

    def ctl(self, *args) -> str:
        return subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(ROOT / "supervisor.conf"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

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
        return subprocess.run(
            [str(BIN / "ohmpi"), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def db_rows(self, survey_id: str) -> list[tuple]:
        with sqlite3.connect(self.var / "ohmpi.db") as con:
            return con.execute(
                "SELECT measurement_id, pass_index, seq_index FROM measurements WHERE survey_id = ?", (survey_id,)
            ).fetchall()

    def survey(self) -> dict:
        return self.client.call("sequencer", "status")

    def wait_survey(self, state=("finished",), timeout=300) -> dict:
        return wait_until(lambda: (s := self.survey())["state"] in state and s, timeout=timeout, what=f"survey {state}")

    def wait_stored(self, survey_id: str, count: int, timeout=120) -> list:
        return wait_until(
            lambda: len(rows := self.db_rows(survey_id)) >= count and rows,
            timeout=timeout,
            what=f"{count} measurements stored",
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        stop(self.proc, timeout=60)
        shutil.rmtree(self.var, ignore_errors=True)


class FieldSystem(System):
    """`System` that can lose power: every process killed at once, then started as `make run` does."""

    def process_groups(self) -> tuple[set[int], set[int]]:
        """(pids, process groups) of supervisord and every program: supervisord starts each program
        in its own process group, so killing supervisord's group alone would leave them running."""
        root = psutil.Process(self.proc.pid)
        procs = [root, *root.children(recursive=True)]
        pids = {p.pid for p in procs}
        groups = set()
        for pid in pids:
            try:
                groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        return pids, groups

    def power_cut(self) -> float:
        """SIGKILL supervisord's group and every program's group, back to back; wait until all are
        gone. Returns the wall time of the cut."""
        pids, groups = self.process_groups()
        cut = time.time()
        for group in sorted(groups, key=lambda g: g != self.proc.pid):  # supervisord first: it restarts nothing
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(30)
        wait_until(
            lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids),
            timeout=30,
            what="every process gone",
        )
        return cut

    def restart(self, wait: tuple = PROGRAMS) -> float:
        """Start again after a cut (same OHMPI_VAR, stale sockets and pid files left as they were);
        returns the seconds until every program answered."""
        started = time.monotonic()
        self.start(wait)
        return time.monotonic() - started

    def stored_indices(self, survey_id: str) -> list[tuple[int, int]]:
        with sqlite3.connect(self.var / "ohmpi.db") as con:
            return con.execute(
                "SELECT pass_index, seq_index FROM measurements WHERE survey_id = ? ORDER BY pass_index, seq_index",
                (survey_id,),
            ).fetchall()

    def measured(self) -> dict[str, float]:
        """measurement id -> when the controller put it in its outbox (each id once by construction)."""
        with sqlite3.connect(self.var / "controller-outbox.db") as con:
            return dict(con.execute("SELECT key, created FROM outbox WHERE kind = 'measurement'"))


def check_files(var: Path) -> dict:
    """Every SQLite file opens and passes `PRAGMA integrity_check`; the sequencer state loads, the
    controller settings parse. Returns {file: "ok"} or raises AssertionError naming the file."""
    out = {}
    for path in sorted(var.glob("*.db")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            result = [r[0] for r in con.execute("PRAGMA integrity_check")]
        assert result == ["ok"], f"{path.name}: {result}"
        out[path.name] = "ok"
    if (var / "sequencer.json").exists():
        state = SurveyState(var / "sequencer.json")
        assert not state.notes, f"sequencer state: {state.notes}"
        state.close()
        out["sequencer.json"] = "ok"
    if (var / "controller-settings.json").exists():
        json.loads((var / "controller-settings.json").read_text())
        out["controller-settings.json"] = "ok"
    return out


def wreck_pages(path: Path, every: int = 7) -> None:
    """Damage a SQLite file as a failing card does: garbage over the b-tree page headers of every
    `every`-th page (the file still exists, its header still says SQLite)."""
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page * every):
        data[start : start + 64] = b"\xa5" * 64  # b-tree page headers
    path.write_bytes(bytes(data))
