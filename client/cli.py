"""`ohmpi`: the command-line client. One module per sub-command in client/commands/.

Exit status: 0 success, 1 the service answered with an error, 2 bad usage or input,
3 the bus or the service could not be reached in time. Errors print one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bus.config import ConfigError
from bus.errors import BusError, Timeout, Unavailable

from .commands import COMMANDS
from .options import common_options


def build_parser() -> argparse.ArgumentParser:
    parent = common_options()
    parser = argparse.ArgumentParser(
        prog="ohmpi", parents=[parent], description="Control and watch an OhmPi-style resistivity meter."
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"client.commands.{name}")
        sub = subs.add_parser(module.NAME, parents=[parent], help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, default in (("json", False), ("bus", None), ("key", None), ("timeout", 3.0)):
        if not hasattr(args, key):
            setattr(args, key, default)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except (Unavailable, Timeout) as exc:
        print(f"ohmpi: {exc}", file=sys.stderr)
        return 3
    except BusError as exc:
        print(f"ohmpi: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, ValueError, OSError) as exc:
        print(f"ohmpi: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
