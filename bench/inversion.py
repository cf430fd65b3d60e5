"""Benchmark the inverter: inversion time for 32/64/128 electrodes (dipole-dipole over a simulated
two-layer earth), peak RSS of the inversion process, and the measurement timing while it runs.

Each inversion runs as the inverter runs it: a spawned child with one thread (workers.inverter._child),
timed at nice 0 by default (`--nice 19` adds SCHED_IDLE, as the inverter does). The timing part measures
quadrupoles on the simulated instrument in real
time (time_scale 1, short injections), first idle, then with an inversion running beside it, and
reports each quadrupole's duration (mean, standard deviation, p95) both ways.

    python bench/inversion.py [--electrodes 32,64,128] [--json]

Prints a table, then one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ohmpi import earth, sequences  # noqa: E402
from ohmpi.geometry import line_positions  # noqa: E402
from ohmpi.instrument import Instrument  # noqa: E402
from ohmpi.inversion import dataset  # noqa: E402
from workers.inverter import _child  # noqa: E402

SPACING = 1.0
TIMING = {"injection_ms": 60.0, "nb_stack": 1}


def synthetic(n: int) -> dataset.Dataset:
    pos = line_positions(n, SPACING)
    quads = sequences.generate("dipole-dipole", n)
    r = earth.parse_model(f"layers:rho=100,10;h={n * SPACING / 8:g}").transfer_resistances(pos, quads)
    r = r * (1 + 0.02 * np.random.default_rng(n).standard_normal(len(r)))
    rows = [
        dict(a=int(q[0]), b=int(q[1]), m=int(q[2]), n=int(q[3]), r_ohm=float(v), r_std_pct=2.0, flags=[])
        for q, v in zip(quads, r)
    ]
    return dataset.from_records(rows, pos.tolist(), floor_pct=0.0)


def start(ds: dataset.Dataset, nice: int = 19):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(out, [ds], 20.0, nice, 1), daemon=True)
    child.start()
    return child, out


def finish(child, out) -> dict:
    while True:
        try:
            item = out.get(timeout=1.0)
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"inversion process ended with status {child.exitcode}") from None
            continue
        if item[0] == "done":
            child.join()
            return item[1][0]
        if item[0] == "error":
            raise RuntimeError(item[1])


def invert_once(n: int, nice: int) -> dict:
    ds = synthetic(n)
    started = time.perf_counter()
    child, out = start(ds, nice)
    result = finish(child, out)
    return {
        "electrodes": n,
        "quadrupoles": int(len(ds.abmn)),
        "cells": result["n_cells"],
        "invert_s": round(time.perf_counter() - started, 2),
        "chi2": round(result["chi2"], 3),
        "iterations": result["iterations"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def durations(inst, quads, until=None) -> list[float]:
    out = []
    for a, b, m, n in quads:
        t = time.perf_counter()
        inst.measure(int(a), int(b), int(m), int(n))
        out.append(time.perf_counter() - t)
        if until is not None and not until():
            break
    return out


def stats(values: list[float]) -> dict:
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "mean_ms": round(statistics.fmean(ms), 2),
        "std_ms": round(statistics.pstdev(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
    }


def timing(n_busy: int) -> dict:
    quads = sequences.generate("wenner", 16)
    with Instrument.from_config({"n_electrodes": 16}, time_scale=1.0) as inst:
        inst.settings = dict(TIMING)
        durations(inst, quads[:3])  # warm up
        idle = durations(inst, quads)
        child, out = start(synthetic(n_busy))
        busy = durations(inst, list(quads) * 4, until=child.is_alive)
        finish(child, out)
    return {
        "idle": stats(idle),
        "busy": stats(busy),
        "busy_inversion_electrodes": n_busy,
        "mean_delta_ms": round(stats(busy)["mean_ms"] - stats(idle)["mean_ms"], 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--electrodes", default="32,64,128", help="comma-separated electrode counts")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="priority of the timed inversions (the inverter uses 19 "
        "and SCHED_IDLE: on a busy machine that times the other load, not the inversion)",
    )
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)
    counts = [int(v) for v in args.electrodes.split(",") if v.strip()]
    result = {"cpu_count": os.cpu_count(), "inversions": [], "timing": None}
    for n in counts:
        result["inversions"].append(invert_once(n, args.nice))
        if not args.json:
            r = result["inversions"][-1]
            print(
                f"{n:4d} electrodes: {r['quadrupoles']:5d} data, {r['cells']:5d} cells, {r['invert_s']:7.1f} s, "
                f"chi2 {r['chi2']:.2f}, peak RSS {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    result["timing"] = timing(min(counts))
    if not args.json:
        t = result["timing"]
        print(
            f"quadrupole duration idle {t['idle']['mean_ms']:.1f} ± {t['idle']['std_ms']:.1f} ms "
            f"(p95 {t['idle']['p95_ms']:.1f}); while inverting {t['busy']['mean_ms']:.1f} ± "
            f"{t['busy']['std_ms']:.1f} ms (p95 {t['busy']['p95_ms']:.1f})"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
