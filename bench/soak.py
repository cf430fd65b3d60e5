"""Soak: surveys back to back on the whole system for a long time, watching for leaks.

    python bench/soak.py [--minutes 30] [--time-scale 100] [--electrodes 32] [--every 10] [--json]

Runs the real system under supervisord (web included) in a temporary OHMPI_VAR with the
simulated instrument `--time-scale` times faster than real time, and starts a dipole-dipole
survey as soon as the previous one finishes, for `--minutes` of wall time (30 min at 100× is
about two days of monitoring). Every `--every` seconds it samples each process: resident
memory (RSS), open file descriptors, and the `missed`/`dropped` counters of its heartbeat.
Reports RSS over time, database growth per survey, and the verdict against the targets:
memory flat after warm-up (the first fifth of the run; growth < 5 MB per process) and no
file-descriptor growth. Prints a table, then one JSON line (`--json`: only the JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from tests.support.system import FieldSystem  # noqa: E402

PROGRAMS = ("hub", "recorder", "controller", "sequencer", "web")
RSS_GROWTH_MB = 5.0


def processes(system: FieldSystem) -> dict[str, psutil.Process]:
    """Each program's process, found among supervisord's children by its module name."""
    out = {}
    for child in psutil.Process(system.proc.pid).children():
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        for name in PROGRAMS:
            if f"workers.{name}" in cmd:
                out[name] = child
    return out


def sample(system: FieldSystem, elapsed: float) -> dict:
    health = {p["name"]: p for p in system.client.call_paged("hub", "processes")}
    row = {"t_s": round(elapsed, 1), "procs": {}}
    for name, proc in processes(system).items():
        try:
            with proc.oneshot():
                row["procs"][name] = {
                    "pid": proc.pid,
                    "rss_mb": round(proc.memory_info().rss / 2**20, 2),
                    "fds": proc.num_fds(),
                }
        except psutil.Error:
            continue
        beat = health.get(name, {})
        row["procs"][name].update({"missed": beat.get("missed", 0), "dropped": beat.get("dropped", 0)})
    return row


def growth(samples: list[dict], name: str, key: str, warmup: int) -> float | None:
    """Median of the last three samples minus median of the first three after warm-up."""
    values = [s["procs"][name][key] for s in samples[warmup:] if name in s["procs"]]
    if len(values) < 2:
        return None
    n = min(3, len(values) // 2)
    return round(statistics.median(values[-n:]) - statistics.median(values[:n]), 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--electrodes", type=int, default=32)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)

    system = FieldSystem(electrodes=args.electrodes, time_scale=args.time_scale)
    samples, surveys = [], []
    try:
        system.client.wait_for("web", timeout=60)
        system.client.call("sequencer", "generate", array="dipole-dipole")
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        next_sample = t0
        current = None
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(sample(system, now - t0))
                next_sample += args.every
            state = system.survey()
            if current is None or state["state"] in ("finished", "stopped", "failed"):
                if current is not None:
                    stats = system.client.call("recorder", "stats")
                    surveys.append(
                        {
                            "survey_id": current["survey_id"],
                            "seconds": round(now - current["t"], 2),
                            "total": current["total"],
                            "db_bytes": stats["db_bytes"],
                            "measurements": stats["counts"]["measurements"],
                        }
                    )
                started = system.client.call("sequencer", "start", settings={"nb_stack": 1})
                current = {"survey_id": started["survey_id"], "t": time.monotonic(), "total": started["total"]}
            time.sleep(0.2)
        samples.append(sample(system, time.monotonic() - t0))
    finally:
        system.close()

    warmup = max(1, len(samples) // 5)
    names = sorted({n for s in samples for n in s["procs"]})
    per_survey = [b["db_bytes"] - a["db_bytes"] for a, b in zip(surveys, surveys[1:])]
    out = {
        "minutes": args.minutes,
        "time_scale": args.time_scale,
        "surveys": len(surveys),
        "quadrupoles": sum(s["total"] for s in surveys),
        "simulated_hours": round(sum(s["seconds"] for s in surveys) * args.time_scale / 3600, 1),
        "rss_mb": {n: [[s["t_s"], s["procs"][n]["rss_mb"]] for s in samples if n in s["procs"]] for n in names},
        "rss_growth_mb": {n: growth(samples, n, "rss_mb", warmup) for n in names},
        "fds": {n: [s["procs"][n]["fds"] for s in samples if n in s["procs"]] for n in names},
        "fd_growth": {n: growth(samples, n, "fds", warmup) for n in names},
        "restarts": {n: len({s["procs"][n]["pid"] for s in samples if n in s["procs"]}) - 1 for n in names},
        "missed": {n: samples[-1]["procs"].get(n, {}).get("missed") for n in names},
        "dropped": {n: samples[-1]["procs"].get(n, {}).get("dropped") for n in names},
        "db_bytes_per_survey": int(statistics.median(per_survey)) if per_survey else None,
        "db_bytes_end": surveys[-1]["db_bytes"] if surveys else None,
        "survey_s": round(statistics.median(s["seconds"] for s in surveys), 2) if surveys else None,
    }
    out["flat_memory"] = all(g is not None and g < RSS_GROWTH_MB for g in out["rss_growth_mb"].values())
    out["no_fd_growth"] = all(g is not None and g <= 0 for g in out["fd_growth"].values())
    if not args.json:
        print(
            f"{len(surveys)} surveys in {args.minutes:g} min at {args.time_scale:g}× "
            f"(≈ {out['simulated_hours']} h of monitoring), {out['survey_s']} s each, "
            f"database +{(out['db_bytes_per_survey'] or 0) / 2**20:.2f} MiB per survey"
        )
        print(f"{'process':<12}{'rss start':>10}{'rss end':>10}{'growth':>8}{'fds':>10}{'missed':>8}{'dropped':>8}")
        for n in names:
            rss, fds = out["rss_mb"][n], out["fds"][n]
            fd_span = f"{fds[0]}→{fds[-1]}"
            print(
                f"{n:<12}{rss[min(warmup, len(rss) - 1)][1]:>10.1f}{rss[-1][1]:>10.1f}"
                f"{out['rss_growth_mb'][n] or 0:>8.2f}{fd_span:>10}"
                f"{out['missed'][n] or 0:>8}{out['dropped'][n] or 0:>8}"
            )
        print(
            f"flat memory (< {RSS_GROWTH_MB:g} MB after warm-up): {out['flat_memory']}; "
            f"no fd growth: {out['no_fd_growth']}"
        )
    print(json.dumps(out))
    return 0 if out["flat_memory"] and out["no_fd_growth"] else 1


if __name__ == "__main__":
    sys.exit(main())
