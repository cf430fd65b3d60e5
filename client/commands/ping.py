"""`ohmpi ping SERVICE`: is this process alive, and how fast does it answer?"""

import time

from ..connect import client
from ..output import to_json

NAME = "ping"
HELP = "check that a service answers (hub, controller, sequencer, recorder, …)"


def configure(parser) -> None:
    parser.add_argument("service", help="service name, e.g. hub")


def run(args) -> int:
    with client(args, retries=0) as c:
        start = time.perf_counter()
        result = c.call(args.service, "ping")
        rtt_ms = (time.perf_counter() - start) * 1000
    if args.json:
        print(to_json({**result, "rtt_ms": round(rtt_ms, 3)}))
    else:
        print(
            f"{args.service}: pong from pid {result.get('pid')} (up {result.get('uptime_s', 0):.1f} s) "
            f"in {rtt_ms:.1f} ms"
        )
    return 0
