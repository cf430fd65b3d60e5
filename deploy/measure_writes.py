"""Bytes the system writes to storage per survey and per idle hour (SD-card wear budget).

Runs the real supervisor.conf in a temporary OHMPI_VAR on a block-device filesystem (not
tmpfs: its writes reach no storage layer and are not counted), samples `write_bytes` of
/proc/<pid>/io for supervisord and every process under it, and reports:

- idle: a running system with no survey, over `--idle-s` seconds of real time (heartbeats,
  SOH and logs are paced by the wall clock, whatever the time scale), scaled to one hour;
- per survey: `--surveys` surveys of `--electrodes` dipole-dipole (48 → 1,035 quadrupoles) on
  the simulated instrument at `--time-scale` (0 = no waiting), each measured from its start
  until the recorder holds every quadrupole.

Also what supervisord prints on stdout: under systemd that goes to the journal.

    .venv/bin/python deploy/measure_writes.py [--json] [--idle-s 600] [--surveys 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bus.config import BusConfig  # noqa: E402
from bus.rpc import Client  # noqa: E402

PROGRAMS = ("hub", "recorder", "controller", "sequencer", "web")


class WriteCounter:
    """write_bytes per process of a process tree, sampled often so short-lived pids still count."""

    def __init__(self, root_pid: int, period_s: float = 1.0):
        self.root = psutil.Process(root_pid)
        self.period_s = period_s
        self.last: dict[int, tuple[str, int, int]] = {}  # pid -> (name, write_bytes, cancelled)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.sample()
        threading.Thread(target=self._loop, daemon=True).start()

    @staticmethod
    def _name(proc: psutil.Process) -> str:
        cmd = proc.cmdline()
        if "-m" in cmd:
            return cmd[cmd.index("-m") + 1].removeprefix("workers.")
        return Path(cmd[1] if len(cmd) > 1 and cmd[0].endswith("python") else cmd[0]).name

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            try:
                io = proc.io_counters()
                name = self.last.get(proc.pid, (None,))[0] or self._name(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            with self.lock:
                self.last[proc.pid] = (name, io.write_bytes, getattr(io, "write_chars", 0))

    def _loop(self) -> None:
        while not self.stopped.wait(self.period_s):
            self.sample()

    def snapshot(self) -> dict[int, tuple[str, int, int]]:
        self.sample()
        with self.lock:
            return dict(self.last)

    def stop(self) -> None:
        self.stopped.set()


def delta(before: dict, after: dict) -> dict:
    """Bytes written between two snapshots, by program (a pid born in between counts from 0)."""
    out: dict[str, dict[str, int]] = {}
    for pid, (name, wb, wc) in after.items():
        _, wb0, wc0 = before.get(pid, (name, 0, 0))
        row = out.setdefault(name, {"write_bytes": 0, "write_chars": 0})
        row["write_bytes"] += wb - wb0
        row["write_chars"] += wc - wc0
    out["total"] = {k: sum(r[k] for r in out.values()) for k in ("write_bytes", "write_chars")}
    return out


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def stored(var: Path, survey_id: str) -> int:
    with sqlite3.connect(f"file:{var / 'ohmpi.db'}?mode=ro", uri=True) as con:
        return con.execute("SELECT COUNT(*) FROM measurements WHERE survey_id = ?", (survey_id,)).fetchone()[0]


def db_bytes(var: Path) -> int:
    return sum(p.stat().st_size for p in var.glob("ohmpi.db*"))


def run(args) -> dict:
    var = Path(tempfile.mkdtemp(prefix="ow-", dir=args.dir))
    (var / "log").mkdir(mode=0o700)
    config = var / "ohmpi.toml"
    config.write_text(
        f'[bus]\naddress = "ipc://{var}/bus"\n\n[instrument]\nn_electrodes = {args.electrodes}\n'
        f"time_scale = {args.time_scale}\n\n[web]\nport = {args.port}\n"
    )
    env = {**os.environ, "OHMPI_VAR": str(var), "OHMPI_CONFIG": str(config)}
    for name in ("OHMPI_BUS", "OHMPI_TIME_SCALE", "OHMPI_KEY"):
        env.pop(name, None)
    bindir = Path(sys.executable).parent
    journal = open(var / "supervisord.stdout", "wb")
    proc = subprocess.Popen(
        [str(bindir / "supervisord"), "-c", str(ROOT / "supervisor.conf")],
        cwd=ROOT,
        env=env,
        stdout=journal,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=0o077,
    )
    client = Client(f"ipc://{var}/bus", cfg=BusConfig(), timeout=10.0)
    result: dict = {
        "config": {
            "electrodes": args.electrodes,
            "time_scale": args.time_scale,
            "idle_s": args.idle_s,
            "surveys": args.surveys,
            "var": str(var),
        }
    }
    try:
        for name in PROGRAMS:
            client.wait_for(name, timeout=120)
        counter = WriteCounter(proc.pid)
        time.sleep(args.warmup_s)  # first start: schema, keys, setup link
        out_size = (var / "supervisord.stdout").stat().st_size
        t0, before = time.monotonic(), counter.snapshot()
        time.sleep(args.idle_s)
        idle_s = time.monotonic() - t0
        idle = delta(before, counter.snapshot())
        scale = 3600.0 / idle_s
        result["idle_per_hour"] = {name: {k: round(v * scale) for k, v in row.items()} for name, row in idle.items()}
        result["idle_journal_bytes_per_hour"] = round(((var / "supervisord.stdout").stat().st_size - out_size) * scale)
        surveys = []
        for _ in range(args.surveys):
            client.call("sequencer", "generate", array="dipole-dipole", electrodes=args.electrodes)
            db0, before, t0 = db_bytes(var), counter.snapshot(), time.monotonic()
            started = client.call("sequencer", "start")
            sid, total = started["survey_id"], started["total"]
            wait_until(
                lambda: client.call("sequencer", "status")["state"] == "finished",
                args.survey_timeout_s,
                "the survey to finish",
            )
            wait_until(lambda: stored(var, sid) >= total, 120, "every quadrupole stored")
            seconds = time.monotonic() - t0
            writes = delta(before, counter.snapshot())
            surveys.append(
                {
                    "survey_id": sid,
                    "quadrupoles": total,
                    "seconds": round(seconds, 1),
                    "db_growth_bytes": db_bytes(var) - db0,
                    "writes": writes,
                    "bytes_per_quadrupole": round(writes["total"]["write_bytes"] / total),
                }
            )
        result["surveys"] = surveys
        counter.stop()
    finally:
        client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        journal.close()
        if not args.keep:
            shutil.rmtree(var, ignore_errors=True)
    return result


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--idle-s", type=float, default=600.0, help="idle measurement, real seconds")
    parser.add_argument("--warmup-s", type=float, default=20.0)
    parser.add_argument("--surveys", type=int, default=3)
    parser.add_argument("--electrodes", type=int, default=48)
    parser.add_argument("--time-scale", type=float, default=0.0)
    parser.add_argument("--survey-timeout-s", type=float, default=1800.0)
    parser.add_argument("--port", type=int, default=18080, help="[web] port for this run")
    parser.add_argument("--dir", default="/var/tmp", help="where the temporary OHMPI_VAR goes (not tmpfs)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary OHMPI_VAR")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("idle, per hour:")
    for name, row in result["idle_per_hour"].items():
        print(f"  {name:12} {human(row['write_bytes']):>10}")
    print(f"  journal      {human(result['idle_journal_bytes_per_hour']):>10}")
    for s in result["surveys"]:
        print(
            f"survey {s['survey_id']}: {s['quadrupoles']} quadrupoles in {s['seconds']} s, "
            f"{human(s['writes']['total']['write_bytes'])} written "
            f"({human(s['bytes_per_quadrupole'])}/quadrupole), database +{human(s['db_growth_bytes'])}"
        )
        for name, row in s["writes"].items():
            if name != "total":
                print(f"  {name:12} {human(row['write_bytes']):>10}")


if __name__ == "__main__":
    main()
