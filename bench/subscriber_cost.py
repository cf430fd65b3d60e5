#!/usr/bin/env python3
"""A Subscriber's CPU cost per message, this checkout against a baseline commit, in one process.

`python bench/subscriber_cost.py [--baseline REV] [--messages N] [--rounds R] [--json]`

Both Subscribers (the baseline's `bus/` is read from git into a temp dir and imported as
`baseline_bus`) are connected to one in-process PUB that queues N x R measurement records for
each; then rounds alternate: the baseline drains N with `recv()`, this checkout drains N with
`recv_batch()` (and with `recv()` every other round). CPU time (`time.process_time`) per
message, so other load on the machine disturbs it less than wall time; the minimum over rounds
is reported. Every check runs in both: envelope, pattern, gap tracking.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bus_speed import RECORD, TOPIC  # noqa: E402 (the same record as the end-to-end bench)


def baseline_package(rev: str, into: Path) -> None:
    """`bus/` as of `rev`, written as the package `baseline_bus` under `into`."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "bus/"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    pkg = into / "baseline_bus"
    pkg.mkdir()
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True, capture_output=True, text=True
            ).stdout
            (pkg / Path(name).name).write_text(text)


def measure(rev: str, n: int, rounds: int) -> dict:
    import zmq

    from bus.config import load_bus_config
    from bus.envelope import Session
    from bus.events import Subscriber

    with tempfile.TemporaryDirectory(prefix="subcost-") as tmp:
        baseline_package(rev, Path(tmp))
        sys.path.insert(0, tmp)
        from baseline_bus.events import Subscriber as BaselineSubscriber

        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.bind("inproc://subcost.sub")
        cfg = load_bus_config()
        new = Subscriber(["data.+.measurement"], address="inproc://subcost", ctx=ctx, snapshot=False, cfg=cfg)
        old = BaselineSubscriber(["data.+.measurement"], address="inproc://subcost", ctx=ctx, snapshot=False, cfg=cfg)
        for sub in (new, old):
            sub.socket.setsockopt(zmq.RCVHWM, 0)
        session = Session("benchpub")
        probe = [TOPIC.encode(), session.pack("event", RECORD, TOPIC)]
        pub.send_multipart(probe)
        while new.recv(0.05) is None or old.recv(0.05) is None:  # both subscriptions are in place
            pub.send_multipart([TOPIC.encode(), session.pack("event", RECORD, TOPIC)])
        for _ in range(3):
            new.recv(0.2), old.recv(0.2)
        while new.recv_batch(0.2) or old.recv(0.2) is not None:
            pass
        for _ in range(n * rounds):
            pub.send_multipart([TOPIC.encode(), session.pack("event", RECORD, TOPIC)])
        time.sleep(1.0)

        def drain_old():
            for _ in range(n):
                old.recv(1.0)

        def drain_new_one():
            for _ in range(n):
                new.recv(1.0)

        def drain_new_batch():
            got = 0
            while got < n:
                got += len(new.recv_batch(1.0, min(1000, n - got)))

        out: dict[str, list] = {"baseline_recv_us": [], "recv_batch_us": [], "recv_us": []}
        clock = time.process_time
        for i in range(rounds):
            for key, fn in (
                ("baseline_recv_us", drain_old),
                ("recv_us" if i % 2 else "recv_batch_us", drain_new_one if i % 2 else drain_new_batch),
            ):
                t0 = clock()
                fn()
                out[key].append((clock() - t0) / n * 1e6)
        checked = {"missed": [old.missed, new.missed], "msgs_in": [old.stats["msgs_in"], new.stats["msgs_in"]]}
        for sub in (new, old):
            sub.socket.close(0)
        pub.close(0)
        ctx.term()
    best = {k: round(min(v), 2) for k, v in out.items() if v}
    return {
        "baseline": rev,
        "messages_per_round": n,
        "rounds": rounds,
        **best,
        "every_round_us": {k: [round(x, 2) for x in v] for k, v in out.items()},
        "batch_vs_baseline": round(best["recv_batch_us"] / best["baseline_recv_us"], 3),
        **checked,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--baseline", default="725cba4", help="commit whose bus/ is the baseline (725cba4: before recv_batch)"
    )
    ap.add_argument("--messages", type=int, default=20_000, help="messages drained per round (20000)")
    ap.add_argument("--rounds", type=int, default=6, help="rounds (6): baseline and this checkout alternate")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = measure(args.baseline, args.messages, args.rounds)
    print(f"Subscriber CPU per message (min of {args.rounds} rounds of {args.messages:,}):")
    print(f"  baseline {r['baseline']} recv():      {r['baseline_recv_us']:.2f} us")
    print(f"  this checkout recv_batch(): {r['recv_batch_us']:.2f} us  (x{r['batch_vs_baseline']:.2f})")
    if "recv_us" in r:
        print(f"  this checkout recv():       {r['recv_us']:.2f} us")
    if args.json:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
