"""`ohmpi watch [PATTERN …]`: print events as they come, like `mosquitto_sub -v`."""

import sys

from ..connect import subscriber
from ..output import to_json

NAME = "watch"
HELP = "print events matching MQTT-style patterns (default '#': everything)"


def configure(parser) -> None:
    parser.add_argument(
        "patterns",
        nargs="*",
        default=["#"],
        metavar="PATTERN",
        help="e.g. 'data.+.measurement', 'log.#', 'soh.controller'",
    )
    parser.add_argument("-n", "--count", type=int, default=0, help="stop after N events (0: never)")
    parser.add_argument(
        "--no-snapshot", action="store_true", help="do not start with the cached latest state.*/soh.* messages"
    )
    parser.add_argument(
        "--for", dest="duration", type=float, default=0, metavar="S", help="stop after S seconds (0: never)"
    )


def run(args) -> int:
    import time

    sub = subscriber(args, args.patterns, snapshot=not args.no_snapshot, snapshot_timeout=min(args.timeout, 2.0))
    seen = 0
    end = time.monotonic() + args.duration if args.duration else None
    try:
        while not args.count or seen < args.count:
            timeout = None if end is None else max(0.0, end - time.monotonic())
            msg = sub.recv(timeout=timeout)
            if msg is None:
                break
            seen += 1
            if args.json:
                print(
                    to_json(
                        {
                            "topic": msg.topic,
                            "src": msg.src,
                            "seq": msg.seq,
                            "ts": msg.ts,
                            "id": msg.id,
                            "replayed": msg.replayed,
                            "body": msg.body,
                        }
                    ),
                    flush=True,
                )
            else:
                print(f"{msg.topic} {to_json(msg.body)}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if sub.missed:
            print(f"ohmpi watch: {sub.missed} message(s) missed (sequence gaps)", file=sys.stderr)
        sub.close()
    return 0
