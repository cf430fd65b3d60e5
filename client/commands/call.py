"""`ohmpi call SERVICE CMD [key=value …]`: run any command a service offers."""

import json

from ..connect import client
from ..output import to_json

NAME = "call"
HELP = "call a command of a service; values are JSON (1, 2.5, true, [1,2]) or plain strings"


def configure(parser) -> None:
    parser.add_argument("service")
    parser.add_argument("cmd")
    parser.add_argument("args", nargs="*", metavar="key=value")


def parse_args(pairs: list[str]) -> dict:
    """`key=value` strings to a dict; a value that is not JSON is taken as a string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"argument {pair!r} must be key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args) -> int:
    kwargs = parse_args(args.args)
    with client(args) as c:
        result = c.call(args.service, args.cmd, **kwargs)
    print(to_json(result) if args.json else to_json(result, indent=2))
    return 0
