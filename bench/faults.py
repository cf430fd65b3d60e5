"""Recovery from faults, measured on the whole system under supervisord: `python bench/faults.py [--json]`.

* `kill9.<process>` — SIGKILL one process (hub, recorder, controller, sequencer, web) during a
  survey: `answer_s`, until a new instance answers `ping`; `resume_s`, until the survey stores
  its next quadrupole.
* `power_cut` — supervisord and every program killed at once (each program has its own process
  group), `--cuts` times (default 3) at random moments of one survey, then supervisord started
  again as `make run` does: `restart_s` (every program answers), `resume_s` (from the restart to
  the next quadrupole measured, nobody asking), `remeasured` per cut (the quadrupole in flight,
  whose result was not yet stored, plus any stored one measured again: target ≤ 1), and for
  the whole survey `lost` (quadrupoles missing at the end: must be 0) and `duplicates` (0).

Prints a table, then one JSON line (`--json`: only the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bus.events import Subscriber  # noqa: E402
from ohmpi.items import iso_ts  # noqa: E402
from tests.support.procs import wait_until  # noqa: E402
from tests.support.system import FieldSystem, check_files  # noqa: E402

PROCESSES = ("hub", "recorder", "controller", "sequencer", "web")


def _index(measurement_id: str) -> int:
    return int(measurement_id.rsplit(":", 1)[1])


def _start_survey(system: FieldSystem, electrodes: int) -> tuple[str, int]:
    system.client.call("sequencer", "generate", array="dipole-dipole", electrodes=electrodes)
    started = system.client.call("sequencer", "start", settings={"nb_stack": 1})
    return started["survey_id"], started["total"]


def _stored(system: FieldSystem, sid: str) -> int:
    return len(system.db_rows(sid))


def kill9(system: FieldSystem, name: str, sid: str) -> dict:
    """Kill `name`; time until a new instance answers and until the next quadrupole is stored."""
    old = system.pid(name)
    stored = _stored(system, sid)
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: system._answers_with_new_pid(name, old), timeout=120, interval=0.01, what=f"{name} back")
    answer = time.monotonic() - t0
    wait_until(lambda: _stored(system, sid) > stored, timeout=120, interval=0.01, what="the survey going on")
    return {"answer_s": round(answer, 3), "resume_s": round(time.monotonic() - t0, 3)}


def power_cuts(system: FieldSystem, sid: str, total: int, cuts: int, rng: random.Random) -> dict:
    watcher = Subscriber(["data.+.measurement"], address=system.address, cfg=system.cfg, snapshot=False)
    published: dict[str, list[float]] = {}  # id -> when each of its measurements ended (record time)
    rounds = []

    def drain(timeout=0.01):
        while (msg := watcher.recv(timeout=timeout)) is not None:
            published.setdefault(msg.body["measurement_id"], []).append(iso_ts(msg.body["time"], "time"))

    try:
        done = system.survey()["done"]
        marks = sorted(rng.sample(range(done + 5, done + (total - done) * 3 // 4), cuts))
        for mark in marks:
            wait_until(lambda: system.survey()["done"] >= mark, timeout=300, what=f"{mark} quadrupoles")
            time.sleep(rng.uniform(0, 0.05))
            in_flight = system.client.call("controller", "status")["activity"] is not None
            cut = system.power_cut()
            before = {k: t for k, t in system.measured().items() if k.startswith(sid + ":")}
            check_files(system.var)
            t0 = time.monotonic()
            system.restart()
            restart_s = time.monotonic() - t0
            wait_until(
                lambda: sum(k.startswith(sid + ":") for k in system.measured()) > len(before),
                timeout=300,
                interval=0.01,
                what="the survey going on",
            )
            resume_s = time.monotonic() - t0
            drain(0.2)
            again = [k for k in before if any(t > cut for t in published.get(k, []))]  # stored, yet measured after
            rounds.append(
                {
                    "restart_s": round(restart_s, 3),
                    "resume_s": round(resume_s, 3),
                    "remeasured": int(in_flight) + len(again),
                    "cut_at": len(before),
                }
            )
        final = system.wait_survey(timeout=600)
        rows = system.wait_stored(sid, total, timeout=300)
        drain(0.5)
        ids = [r[0] for r in rows]
        return {
            "cuts": rounds,
            "resume_s": round(statistics.median(r["resume_s"] for r in rounds), 3),
            "restart_s": round(statistics.median(r["restart_s"] for r in rounds), 3),
            "remeasured_max": max(r["remeasured"] for r in rounds),
            "lost": total - len(set(r[2] for r in rows)),
            "duplicates": len(ids) - len(set(ids)),
            "measured_twice": sum(1 for t in published.values() if len(t) > 1),
            "state": final["state"],
            "files": "ok" if check_files(system.var) else "?",
        }
    finally:
        watcher.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--cuts", type=int, default=3, help="power cuts in one survey (default 3)")
    parser.add_argument("--electrodes", type=int, default=32, help="dipole-dipole survey size (default 32: 435)")
    parser.add_argument("--time-scale", type=float, default=4.0, help="simulated instrument speed (default 4)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    out: dict = {"seed": seed, "electrodes": args.electrodes, "time_scale": args.time_scale}

    system = FieldSystem(electrodes=args.electrodes, time_scale=args.time_scale)
    try:
        system.client.wait_for("web", timeout=60)
        sid, total = _start_survey(system, args.electrodes)
        wait_until(lambda: _stored(system, sid) >= 5, timeout=120, what="a survey under way")
        out["kill9"] = {name: kill9(system, name, sid) for name in PROCESSES}
        final = system.wait_survey(timeout=600)
        rows = system.wait_stored(sid, total, timeout=300)
        out["kill9_lost"] = total - len({r[2] for r in rows})
        out["kill9_state"] = final["state"]
        sid, total = _start_survey(system, args.electrodes)
        out["power_cut"] = power_cuts(system, sid, total, args.cuts, rng)
        out["total"] = total
    finally:
        system.close()

    if not args.json:
        print(f"{'fault':<22}{'answer_s':>10}{'resume_s':>10}")
        for name, r in out["kill9"].items():
            print(f"{'kill -9 ' + name:<22}{r['answer_s']:>10.2f}{r['resume_s']:>10.2f}")
        pc = out["power_cut"]
        for i, r in enumerate(pc["cuts"], 1):
            print(f"{f'power cut {i}':<22}{r['restart_s']:>10.2f}{r['resume_s']:>10.2f}   remeasured {r['remeasured']}")
        print(
            f"lost {pc['lost'] + out['kill9_lost']} (must be 0), duplicates {pc['duplicates']}, "
            f"remeasured per cut ≤ {pc['remeasured_max']} (target ≤ 1), files {pc['files']}"
        )
    print(json.dumps(out))
    ok = out["kill9_lost"] == 0 and out["power_cut"]["lost"] == 0 and out["power_cut"]["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
