"""`ohmpi survey start|status|pause|resume|stop|wait`: drive the sequencer."""

import re
import sys
from pathlib import Path

from ohmpi.survey_machine import MOVING

from ..connect import client, subscriber
from ..options import add_actions
from ..output import to_json

NAME = "survey"
HELP = "start, watch, pause, resume or stop a survey"
ENDED = ("finished", "stopped", "failed", "idle")


def duration(text: str) -> float:
    """'90', '90s', '30m', '2h', '1d' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError(f"duration {text!r}: expected a number with an optional s, m, h or d")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def configure(parser) -> None:
    sub = add_actions(parser)
    start = sub.add_parser("start", help="start a survey of a sequence file or a generated array")
    start.add_argument("file", nargs="?", help="ABMN sequence file (default: the loaded sequence)")
    start.add_argument("--array", help="generate: wenner, schlumberger, dipole-dipole or gradient")
    start.add_argument("--electrodes", type=int, help="with --array: electrode count (default: all)")
    start.add_argument("--name")
    start.add_argument("--repeat", type=int, default=1, help="number of passes")
    start.add_argument("--every", type=duration, default=0.0, help="a pass every: 90s, 30m, 2h, 1d")
    start.add_argument("--stacks", type=int)
    start.add_argument("--injection-ms", type=float)
    start.add_argument("--reciprocals", action="store_true")
    start.add_argument(
        "--keep-order",
        action="store_true",
        help="measure in the sequence's own order (default: the relay-sparing order)",
    )
    start.add_argument("--wait", action="store_true", help="then show progress until it ends")
    for action in ("status", "pause", "resume", "stop"):
        sub.add_parser(action, help=f"{action} the survey")
    sub.add_parser("wait", help="show a progress bar until the survey ends")


def run(args) -> int:
    with client(args) as c:
        if args.action == "start":
            if args.file and args.array:
                raise ValueError("give a sequence file or --array, not both")
            if args.file:
                c.call("sequencer", "load", text=Path(args.file).read_text(), name=Path(args.file).stem)
            elif args.array:
                c.call("sequencer", "generate", array=args.array, electrodes=args.electrodes)
            options = {
                k: v
                for k, v in (("name", args.name), ("stacks", args.stacks), ("injection_ms", args.injection_ms))
                if v is not None
            }
            result = c.call(
                "sequencer",
                "start",
                repeat=args.repeat,
                every_s=args.every,
                reciprocals=args.reciprocals,
                keep_order=args.keep_order,
                **options,
            )
            if not args.wait:
                print(
                    to_json(result)
                    if args.json
                    else f"survey {result['survey_id']} started: {result['total']} quadrupoles × {result['repeat']}"
                )
                return 0
            return wait(args)
        if args.action == "wait":
            return wait(args)
        if args.action == "status":
            status = c.call("sequencer", "status")
            print(to_json(status) if args.json else line(status))
            return 0
        status = c.call("sequencer", args.action)
        print(to_json(status) if args.json else line(status))
        return 0


def line(s: dict) -> str:
    if not s.get("survey_id"):
        return "no survey" + (
            f" (loaded: {s['loaded']['name']}, {s['loaded']['count']} quadrupoles)" if s.get("loaded") else ""
        )
    eta = s.get("eta_s")
    text = f"{s['survey_id']} {s['state']}: {s['done']}/{s['total']} (pass {s['pass_index'] + 1}/{s['repeat']})"
    if eta is not None and s["state"] in MOVING:
        text += f" ETA {int(eta) // 3600:02d}:{int(eta) % 3600 // 60:02d}:{int(eta) % 60:02d}"
    if s.get("failed"):
        text += f", {s['failed']} refused"
    if s.get("message"):
        text += f" — {s['message']}"
    return text


def bar(s: dict, width: int = 30) -> str:
    total = max(1, s.get("total_all") or s.get("total") or 1)
    done = s.get("done_all", s.get("done", 0))
    filled = int(width * done / total)
    return f"[{'#' * filled}{'-' * (width - filled)}] {line(s)}"


def wait(args) -> int:
    """Follow state.sequencer until the survey ends; exit 0 if it finished."""
    sub = subscriber(args, ["state.sequencer"])
    tty = sys.stdout.isatty() and not args.json
    last = None
    try:
        while True:
            msg = sub.recv(timeout=30)
            if msg is None:
                raise TimeoutError("no news from the sequencer for 30 s: is it running?")
            s = msg.body
            if tty:
                print("\r" + bar(s).ljust(100)[:150], end="", flush=True)
            elif not args.json and s.get("done") != (last or {}).get("done"):
                print(bar(s), flush=True)
            last = s
            if s.get("state") in ENDED:
                break
    finally:
        sub.close()
    if tty:
        print()
    if args.json:
        print(to_json(last))
    return 0 if last and last.get("state") == "finished" else 1
