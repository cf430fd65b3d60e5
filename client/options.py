"""Options every sub-command (and every nested action) accepts, before or after its name."""

import argparse
import json


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    parent.add_argument(
        "--bus",
        metavar="ADDRESS",
        default=argparse.SUPPRESS,
        help="bus address (tcp://HOST:PORT or ipc://PATH; default from config / $OHMPI_BUS)",
    )
    parent.add_argument(
        "--key",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="CurveZMQ key file NAME.key_secret for a tcp bus, with the hub's server.key beside it "
        "(default $OHMPI_KEY, else this machine's own key)",
    )
    parent.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        default=argparse.SUPPRESS,
        help="seconds to wait for each reply (default 3)",
    )
    return parent


def add_actions(parser) -> argparse._SubParsersAction:
    """Sub-parsers for nested actions (`survey start`), each with the common options."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    original = sub.add_parser

    def add_parser(name, **kw):
        return original(name, parents=[common_options()], **kw)

    sub.add_parser = add_parser
    return sub


def key_values(pairs: list[str]) -> dict:
    """`key=value` strings to a dict; a value that is not JSON (1, 2.5, true, [1,2]) stays a string."""
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
