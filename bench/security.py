#!/usr/bin/env python3
"""What security costs: `python bench/security.py [--json] [--messages N] [--rounds R] [--calls C]`.

Two real hubs side by side on loopback tcp, the same code, one with CurveZMQ (the default)
and one with `[bus] curve = false`:

1. PUB -> hub -> SUB throughput of measurement records (bench/bus_speed.py's publisher and
   subscriber processes), rounds alternating between the two hubs, the median reported;
2. command round trip p50/p99 (`Client.call` -> hub -> `Node` service -> back), in chunks
   alternating between the two hubs;
3. `login_ms`: the cost of one password check at login (scrypt, web/passwords.py).

Targets (issue 8): CURVE costs at most 30 % of throughput and at most 1.5x the command p99.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bus_speed  # noqa: E402  (the bus benchmark's helper processes and measurement)

TARGETS = {"curve_throughput_ratio_min": 0.70, "curve_rpc_p99_ratio_max": 1.5}


def start_bus(procs: "bus_speed.Procs", root: Path, curve: bool) -> dict:
    """A hub on a free loopback port with its own OHMPI_VAR; returns the env its clients need."""
    var = root / ("curve" if curve else "plain")
    var.mkdir(mode=0o700)
    address = f"tcp://127.0.0.1:{free_tcp_base()}"
    config = var / "ohmpi.toml"
    config.write_text(f'[bus]\naddress = "{address}"\ncurve = {"true" if curve else "false"}\n')
    env = dict(os.environ, OHMPI_VAR=str(var), OHMPI_BUS=address, OHMPI_CONFIG=str(config), PYTHONUNBUFFERED="1")
    env.pop("OHMPI_KEY", None)
    if curve:
        env["OHMPI_KEY"] = str(var / "keys" / "local.key_secret")
    procs.env = env
    procs.start([sys.executable, "-m", "workers.hub"], pipes=False)
    wait_hub(env)
    return env


def free_tcp_base() -> int:
    from tests.support.procs import free_tcp_base as free

    return free()


def client(env: dict, **kw):
    from bus.config import BusConfig
    from bus.rpc import Client

    return Client(env["OHMPI_BUS"], cfg=BusConfig(curve="OHMPI_KEY" in env), key=env.get("OHMPI_KEY"), **kw)


def wait_hub(env: dict, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    key = env.get("OHMPI_KEY")
    while key and not Path(key).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the hub made no keys")
        time.sleep(0.05)
    with client(env, name="benchcli", timeout=0.5, retries=0) as c:
        c.wait_for("hub", timeout=max(1.0, deadline - time.monotonic()))


def rpc_times(envs: dict, calls: int, warmup: int, chunks: int = 10) -> dict[str, list[float]]:
    """Round trips to each hub's `benchsvc`, in chunks alternating between the hubs, so that a
    noisy neighbour weighs on both alike."""
    clients = {name: client(env, name="benchcli", timeout=2.0, retries=0) for name, env in envs.items()}
    out: dict[str, list[float]] = {name: [] for name in envs}
    clock = time.perf_counter_ns
    try:
        for c in clients.values():
            c.wait_for("benchsvc", timeout=15)
            for _ in range(warmup):
                c.call("benchsvc", "echo", x=1)
        per_chunk = max(1, calls // chunks)
        for _ in range(chunks):
            for name, c in clients.items():
                times = out[name]
                for _ in range(per_chunk):
                    t0 = clock()
                    c.call("benchsvc", "echo", x=1)
                    times.append((clock() - t0) / 1000)
    finally:
        for c in clients.values():
            c.close()
    return {name: sorted(times) for name, times in out.items()}


def login_ms(samples: int) -> float:
    from web.passwords import hash_password, verify_password

    stored = hash_password("correct horse battery")
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        assert verify_password("correct horse battery", stored)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="osec-", dir="/tmp"))
    procs = {name: bus_speed.Procs({}) for name in ("curve", "plain")}
    envs = {}
    rounds: dict[str, list] = {"curve": [], "plain": []}
    rpc: dict[str, list] = {}
    try:
        for name in ("curve", "plain"):
            envs[name] = start_bus(procs[name], tmp, curve=name == "curve")
        deadline = 60.0
        for i in range(1, args.rounds + 1):
            for name in ("curve", "plain"):
                bus_speed.progress(f"round {i}/{args.rounds}: {name} tcp PUB -> hub -> SUB ...")
                rounds[name].append(
                    bus_speed.run_pubsub(procs[name], "bus", {"n": args.messages, "seconds": None}, deadline)
                )
        bus_speed.progress("command round trips, alternating between the hubs ...")
        services = [procs[name].role("bus-svc", {}) for name in ("curve", "plain")]
        try:
            rpc = rpc_times(envs, args.calls, args.warmup_calls)
        finally:
            for name, svc in zip(("curve", "plain"), services):
                procs[name].stop(svc)
        bus_speed.progress("password check at login ...")
        login = login_ms(args.logins)
    finally:
        for p in procs.values():
            p.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    median = {k: sorted(v, key=lambda r: r["msgs_per_s"])[(len(v) - 1) // 2] for k, v in rounds.items()}
    p99 = {k: bus_speed.percentile(v, 99) for k, v in rpc.items()}
    p50 = {k: bus_speed.percentile(v, 50) for k, v in rpc.items()}
    ratio = median["curve"]["msgs_per_s"] / median["plain"]["msgs_per_s"] if median["plain"]["msgs_per_s"] else 0.0
    p99_ratio = p99["curve"] / p99["plain"] if p99["plain"] else float("inf")
    return {
        "curve_msgs_per_s": round(median["curve"]["msgs_per_s"]),
        "plain_msgs_per_s": round(median["plain"]["msgs_per_s"]),
        "curve_throughput_ratio": round(ratio, 3),
        "curve_rounds_msgs_per_s": [round(r["msgs_per_s"]) for r in rounds["curve"]],
        "plain_rounds_msgs_per_s": [round(r["msgs_per_s"]) for r in rounds["plain"]],
        "curve_loss_pct": round(median["curve"]["loss_pct"], 2),
        "plain_loss_pct": round(median["plain"]["loss_pct"], 2),
        "curve_rpc_p50_us": round(p50["curve"], 1),
        "plain_rpc_p50_us": round(p50["plain"], 1),
        "curve_rpc_p99_us": round(p99["curve"], 1),
        "plain_rpc_p99_us": round(p99["plain"], 1),
        "curve_rpc_p99_ratio": round(p99_ratio, 3),
        "login_ms": round(login, 1),
        "rpc_calls": args.calls,
        "messages": args.messages,
        "cpus": os.cpu_count(),
        "targets": {
            "curve_throughput_ratio": {
                "min": TARGETS["curve_throughput_ratio_min"],
                "met": ratio >= TARGETS["curve_throughput_ratio_min"],
            },
            "curve_rpc_p99_ratio": {
                "max": TARGETS["curve_rpc_p99_ratio_max"],
                "met": p99_ratio <= TARGETS["curve_rpc_p99_ratio_max"],
            },
        },
    }


def table(s: dict) -> str:
    verdict = {True: "pass", False: "MISS"}
    t = s["targets"]
    return "\n".join(
        [
            f"security benchmark - {s['cpus']} CPU(s); two hubs on loopback tcp, measured side by side",
            "",
            f"{'':28} {'CurveZMQ':>12} {'plain tcp':>12} {'ratio':>8} {'goal':>8} {'result':>7}",
            f"{'PUB->SUB msgs/s (median)':28} {s['curve_msgs_per_s']:>12,} {s['plain_msgs_per_s']:>12,} "
            f"{s['curve_throughput_ratio']:>8.2f} {'>= 0.70':>8} {verdict[t['curve_throughput_ratio']['met']]:>7}",
            f"{'command p50 (us)':28} {s['curve_rpc_p50_us']:>12,.1f} {s['plain_rpc_p50_us']:>12,.1f}",
            f"{'command p99 (us)':28} {s['curve_rpc_p99_us']:>12,.1f} {s['plain_rpc_p99_us']:>12,.1f} "
            f"{s['curve_rpc_p99_ratio']:>8.2f} {'<= 1.50':>8} {verdict[t['curve_rpc_p99_ratio']['met']]:>7}",
            f"  rounds (msgs/s): curve {', '.join(f'{v:,}' for v in s['curve_rounds_msgs_per_s'])}; "
            f"plain {', '.join(f'{v:,}' for v in s['plain_rounds_msgs_per_s'])}",
            "",
            f"{'password check at login':28} {s['login_ms']:>10.1f} ms  (scrypt; per login attempt)",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print a final JSON line after the table")
    ap.add_argument("--messages", type=int, default=100_000, help="records per throughput run (100000)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds per hub (3)")
    ap.add_argument("--calls", type=int, default=3000, help="timed command round trips per hub (3000)")
    ap.add_argument("--warmup-calls", type=int, default=200)
    ap.add_argument("--logins", type=int, default=5, help="password checks timed (5)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        summary = run(args)
    except KeyboardInterrupt:
        print("interrupted: every helper process stopped", file=sys.stderr)
        return 130
    print(table(summary))
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
