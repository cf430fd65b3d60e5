"""Benchmark the whole system end to end: sequencer → controller → recorder, committed.

One run: starts the real system (`supervisord -c supervisor.conf` from the venv) in a
temporary OHMPI_VAR with its own config (`time_scale = 0`: the simulated instrument never
waits), measures

* `startup_s` — from starting supervisord to hub, recorder, controller and sequencer all
  answering `ping` (target ≤ 5 s);
* `quadrupoles_per_s` — a survey of N quadrupoles (default 1,000: the first N of a
  64-electrode dipole-dipole sequence, loaded through the sequencer's `load` command as
  text), from `start` to the last measurement committed in the recorder's SQLite
  (target ≥ 300/s);
* `rss_mb` — resident memory of each process at the end (psutil; target ≤ 60 MB each);

and the instrument alone (`Instrument.from_config(..., time_scale=0)` measuring the same
quadrupoles in this process, as bench/instrument.py does), once before and once after the
survey (their mean: the load of a shared machine drifts), so the pipeline's overhead per
quadrupole is visible: `1000/pipeline_rate − 1000/instrument_rate` ms (target ≤ 1 ms: the
durable commit of one quadrupole overlaps the next one's injection).

    python bench/pipeline.py [--json] [--quadrupoles 1000] [--electrodes 64] [--array dipole-dipole]

Prints a table (with targets, pass/miss), then one final JSON line. Everything it starts
it stops (the supervisord process group), and the temporary directory is removed.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from ohmpi import sequence_order, sequences  # noqa: E402
from ohmpi.instrument import Instrument  # noqa: E402
from tests.support.system import PROGRAMS, System  # noqa: E402

TARGETS = {
    "quadrupoles_per_s": (">=", 300.0),
    "startup_s": ("<=", 5.0),
    "rss_mb": ("<=", 60.0),
    "overhead_ms_per_quadrupole": ("<=", 1.0),
}


def start_system(electrodes: int, time_scale: float) -> tuple[System, float]:
    """The whole system under supervisord (tests/support/system.py, simulated instrument; at
    time_scale 0 it never waits); returns it and the seconds until every program answered `ping`."""
    started = time.monotonic()
    system = System(electrodes=electrodes, time_scale=time_scale)
    return system, time.monotonic() - started


def rss_mb(system: System) -> dict[str, float]:
    """Resident memory of every program supervisord runs (`python -m workers.NAME`)."""
    pids = {name: system.pid(name) for name in PROGRAMS}
    for child in psutil.Process(system.proc.pid).children():
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "-m" in cmd and cmd[cmd.index("-m") + 1 :][:1] and cmd[cmd.index("-m") + 1].startswith("workers."):
            pids.setdefault(cmd[cmd.index("-m") + 1].split(".", 1)[1], child.pid)
    return {name: round(psutil.Process(pid).memory_info().rss / 2**20, 1) for name, pid in pids.items()}


def stored(db: Path, survey_id: str) -> tuple[int, int]:
    """(rows, distinct seq_index) of the survey in the recorder's database."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0, 0
    try:
        return con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT seq_index) FROM measurements WHERE survey_id = ?", (survey_id,)
        ).fetchone()
    except sqlite3.OperationalError:  # the recorder has not created its tables yet
        return 0, 0
    finally:
        con.close()


def run_pipeline(quads, electrodes: int, timeout: float, time_scale: float, settings: dict) -> dict:
    system, startup = start_system(electrodes, time_scale)
    try:
        text = sequences.format_sequence(quads)
        loaded = system.client.call("sequencer", "load", text=text, name=f"bench-{len(quads)}")
        assert loaded["count"] == len(quads), loaded
        db = system.var / "ohmpi.db"
        lane0 = hardware_lane(system)
        t0 = time.monotonic()
        survey_id = system.client.call("sequencer", "start", settings=settings)["survey_id"]
        deadline = t0 + timeout
        while True:
            rows, distinct = stored(db, survey_id)
            if rows >= len(quads):
                elapsed = time.monotonic() - t0
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {rows} of {len(quads)} measurements stored after {timeout:g} s")
            time.sleep(0.005)
        status = system.client.call("sequencer", "status")
        lane1 = hardware_lane(system)
        rss = rss_mb(system)
        time.sleep(0.3)  # anything stored twice would show up by now
        rows, distinct = stored(db, survey_id)
        return {
            "startup_s": startup,
            "elapsed_s": elapsed,
            "quadrupoles_per_s": len(quads) / elapsed,
            "rss_mb": rss,
            "stored": rows,
            "distinct": distinct,
            "survey_state": status["state"],
            "survey_done": status["done"],
            # the controller's hardware lane in the same run: the time it was not measuring
            "lane_idle_ms": None
            if lane0 is None
            else 1000 * (elapsed - (lane1["busy_s"] - lane0["busy_s"])) / len(quads),
            "lane_waited": None if lane0 is None else lane1["waited"] - lane0["waited"],
        }
    finally:
        system.close()


def hardware_lane(system: System) -> dict | None:
    """The controller's `hardware` lane use (calls, busy_s, waited), None from a node without it."""
    lanes = system.client.call("controller", "status").get("lanes")
    if lanes is None:
        return None
    return lanes.get("hardware", {"calls": 0, "busy_s": 0.0, "waited": 0})


def run_instrument(quads, electrodes: int, time_scale: float, settings: dict) -> dict:
    """The same quadrupoles as the survey measures them: relay-sparing order, relays held."""
    with Instrument.from_config({"n_electrodes": electrodes}, time_scale=time_scale) as inst:
        inst.settings = settings
        start = time.perf_counter()
        for a, b, m, n in sequence_order.optimize(quads):
            inst.measure(int(a), int(b), int(m), int(n), hold_relays=True)
        wall = time.perf_counter() - start
    return {"instrument_s": wall, "instrument_quadrupoles_per_s": len(quads) / wall}


def verdict(key: str, value: float) -> str:
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value <= target
    return "pass" if ok else "MISS"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quadrupoles", type=int, default=1000, help="survey length (default 1000)")
    parser.add_argument("--electrodes", type=int, default=64)
    parser.add_argument("--array", default="dipole-dipole")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for the survey")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.0,
        help="simulated instrument's clock: 0 never waits (CPU-bound), 1 waits like a real one (default 0)",
    )
    parser.add_argument(
        "--settings",
        type=json.loads,
        default={},
        help='measurement settings for both runs, JSON (e.g. \'{"nb_stack": 1, "injection_ms": 40}\')',
    )
    args = parser.parse_args(argv)

    quads = sequences.generate(args.array, args.electrodes)[: args.quadrupoles]
    if len(quads) < args.quadrupoles:
        parser.error(f"{args.array} on {args.electrodes} electrodes has only {len(quads)} quadrupoles")
    before = run_instrument(quads, args.electrodes, args.time_scale, args.settings)
    pipe = run_pipeline(quads, args.electrodes, args.timeout, args.time_scale, args.settings)
    after = run_instrument(quads, args.electrodes, args.time_scale, args.settings)
    inst = {"instrument_quadrupoles_per_s": len(quads) / ((before["instrument_s"] + after["instrument_s"]) / 2)}
    overhead = 1000 / pipe["quadrupoles_per_s"] - 1000 / inst["instrument_quadrupoles_per_s"]
    result = {
        "quadrupoles_per_s": round(pipe["quadrupoles_per_s"], 1),
        "rss_mb": pipe["rss_mb"],
        "startup_s": round(pipe["startup_s"], 3),
        "instrument_quadrupoles_per_s": round(inst["instrument_quadrupoles_per_s"], 1),
        "overhead_ms_per_quadrupole": round(overhead, 3),
        "quadrupoles": len(quads),
        "time_scale": args.time_scale,
        "settings": args.settings,
        "survey_s": round(pipe["elapsed_s"], 3),
        "stored": pipe["stored"],
        "stored_distinct": pipe["distinct"],
        "survey_state": pipe["survey_state"],
        "lane_idle_ms_per_quadrupole": None if pipe["lane_idle_ms"] is None else round(pipe["lane_idle_ms"], 3),
        "lane_waited": pipe["lane_waited"],
    }
    if not args.json:
        rows = [
            (
                "quadrupoles per second",
                f"{result['quadrupoles_per_s']:.1f}",
                "≥ 300",
                verdict("quadrupoles_per_s", result["quadrupoles_per_s"]),
            ),
            ("  survey start → last commit", f"{result['survey_s']:.2f} s", "", ""),
            (
                "  stored / distinct",
                f"{pipe['stored']} / {pipe['distinct']} ({pipe['survey_state']})",
                "",
                "pass" if pipe["stored"] == pipe["distinct"] == len(quads) else "MISS",
            ),
            (
                "startup (supervisord → all ping)",
                f"{result['startup_s']:.2f} s",
                "≤ 5",
                verdict("startup_s", result["startup_s"]),
            ),
            *[(f"rss {name}", f"{mb:.1f} MB", "≤ 60", verdict("rss_mb", mb)) for name, mb in pipe["rss_mb"].items()],
            (
                "  hardware lane idle (same run)",
                "n/a"
                if pipe["lane_idle_ms"] is None
                else f"{pipe['lane_idle_ms']:.2f} ms per quadrupole, {pipe['lane_waited']} calls queued",
                "",
                "",
            ),
            ("instrument alone", f"{result['instrument_quadrupoles_per_s']:.1f} quadrupoles/s", "", ""),
            (
                "pipeline overhead",
                f"{overhead:.2f} ms per quadrupole",
                "≤ 1",
                verdict("overhead_ms_per_quadrupole", overhead),
            ),
        ]
        print(
            f"survey: {len(quads)} quadrupoles ({args.array}, {args.electrodes} electrodes), "
            f"time_scale {args.time_scale:g}, settings {args.settings or 'default'}"
        )
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        for name, value, target, ok in rows:
            print(f"{name:<{w[0]}}  {value:<{w[1]}}  {target:<{w[2]}}  {ok}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
