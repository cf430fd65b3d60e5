"""Shutdown and restart times of bus processes: `python bench/lifecycle.py [--json] [--rounds N]`.

Measures, with real processes on a temporary ipc bus:
  sigterm_exit_ms   SIGTERM to process exit, for the hub and for a service (target < 1000)
  restart_ping_ms   a hub killed with SIGKILL, started again at once, to the first answered
                    ping from a client that was never restarted (its socket reconnects)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bus.config import BusConfig  # noqa: E402
from bus.rpc import Client  # noqa: E402


def spawn(args, env):
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def exit_ms(proc) -> float:
    start = time.perf_counter()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="olc-", dir="/tmp"))
    address = f"ipc://{tmp}/bus"
    env = {**os.environ, "OHMPI_VAR": str(tmp), "OHMPI_BUS": address}
    env.pop("OHMPI_CONFIG", None)
    procs = []
    hub_exit, svc_exit, restart = [], [], []
    client = Client(address, cfg=BusConfig(), timeout=0.5, retries=0)
    try:
        for _ in range(args.rounds):
            hub = spawn(["-m", "workers.hub"], env)
            procs.append(hub)
            client.wait_for("hub", 30)
            svc = spawn(["-m", "tests.bus.demo_service", "demo"], env)
            procs.append(svc)
            client.wait_for("demo", 30)
            svc_exit.append(exit_ms(svc))
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait(30)
            start = time.perf_counter()
            hub = spawn(["-m", "workers.hub"], env)
            procs.append(hub)
            client.wait_for("hub", 30)
            restart.append((time.perf_counter() - start) * 1000)
            time.sleep(0.3)
            hub_exit.append(exit_ms(hub))
    finally:
        client.close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "hub_sigterm_exit_ms_median": round(statistics.median(hub_exit), 1),
        "hub_sigterm_exit_ms_max": round(max(hub_exit), 1),
        "service_sigterm_exit_ms_median": round(statistics.median(svc_exit), 1),
        "service_sigterm_exit_ms_max": round(max(svc_exit), 1),
        "hub_restart_to_ping_ms_median": round(statistics.median(restart), 1),
        "hub_restart_to_ping_ms_max": round(max(restart), 1),
        "rounds": args.rounds,
    }
    print(f"{'measure':36} {'median':>9} {'max':>9}  target")
    print(
        f"{'hub: SIGTERM to exit (ms)':36} {result['hub_sigterm_exit_ms_median']:9.1f} "
        f"{result['hub_sigterm_exit_ms_max']:9.1f}  < 1000"
    )
    print(
        f"{'service: SIGTERM to exit (ms)':36} {result['service_sigterm_exit_ms_median']:9.1f} "
        f"{result['service_sigterm_exit_ms_max']:9.1f}  < 1000"
    )
    print(
        f"{'hub: SIGKILL, restart, first ping (ms)':36} {result['hub_restart_to_ping_ms_median']:9.1f} "
        f"{result['hub_restart_to_ping_ms_max']:9.1f}  (interpreter start included)"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
