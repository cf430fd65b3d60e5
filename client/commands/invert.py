"""`ohmpi invert SURVEY_ID [--lambda L] [--pass N] [--baseline B] [--json]`: a 2-D inversion of a
stored survey by the inverter (pyGIMLi), waited for; a pass after the baseline is inverted as
time-lapse. Export the section with `ohmpi export SURVEY_ID --format model|vtk`."""

import sys
import time

from ..connect import client
from ..output import to_json

NAME = "invert"
HELP = "invert a stored survey (pyGIMLi, on the inverter): chi2, RMS, cells; --json for the summary"
POLL_S = 0.5
SUMMARY = (
    "survey_id",
    "pass_index",
    "baseline_pass",
    "chi2",
    "rms_pct",
    "iterations",
    "n_data",
    "n_cells",
    "lambda",
    "elapsed_s",
    "error_source",
    "counts",
)


def configure(parser) -> None:
    parser.add_argument("survey_id")
    parser.add_argument("--lambda", dest="lam", type=float, help="regularisation strength (default: [inverter] lambda)")
    parser.add_argument("--pass", dest="pass_index", type=int, help="the pass to invert (default: the newest)")
    parser.add_argument("--baseline", type=int, help="time-lapse baseline pass (default: the first)")
    parser.add_argument("--no-wait", action="store_true", help="return once queued")
    parser.add_argument("--wait-s", type=float, default=3600.0, help="give up waiting after this long (s)")


def run(args) -> int:
    request = {
        k: v
        for k, v in (("lam", args.lam), ("pass_index", args.pass_index), ("baseline", args.baseline))
        if v is not None
    }
    with client(args) as c:
        queued = c.call("inverter", "invert", survey_id=args.survey_id, **request)
        if args.no_wait:
            print(to_json(queued) if args.json else f"queued as job {queued['job_id']} (position {queued['position']})")
            return 0
        deadline = time.monotonic() + args.wait_s
        shown = None
        while True:
            job = c.call("inverter", "job", job_id=queued["job_id"])
            if job["state"] in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                print(
                    f"ohmpi invert: still {job['state']} after {args.wait_s:g} s (job {job['job_id']})", file=sys.stderr
                )
                return 1
            now = (job["state"], job.get("phase"))
            if now != shown and not args.json:
                print(f"{job['state']}" + (f": {job['phase']}" if job.get("phase") else ""), file=sys.stderr)
                shown = now
            time.sleep(POLL_S)
    if job["state"] == "failed":
        print(f"ohmpi invert: {job['error']}", file=sys.stderr)
        return 1
    summary = {k: job["summary"].get(k) for k in SUMMARY}
    if args.json:
        print(to_json(summary))
        return 0
    tl = f" (time-lapse against pass {summary['baseline_pass']})" if summary["baseline_pass"] is not None else ""
    left = {k: v for k, v in summary["counts"].items() if k not in ("total", "used") and v}
    print(
        f"{summary['survey_id']} pass {summary['pass_index']}{tl}: chi2 {summary['chi2']:.3g}, "
        f"RMS {summary['rms_pct']:.3g} %, {summary['iterations']} iterations, {summary['n_data']} data "
        f"({summary['error_source']} errors), {summary['n_cells']} cells, lambda {summary['lambda']:g}, "
        f"{summary['elapsed_s']:.1f} s"
    )
    if left:
        print("left out: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in left.items()))
    return 0
