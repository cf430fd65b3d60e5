"""Options every sub-command (and every nested action) accepts, before or after its name."""

import argparse


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON")
    parent.add_argument("--bus", metavar="ADDRESS", default=argparse.SUPPRESS,
                        help="bus address (tcp://HOST:PORT or ipc://PATH; default from config / $OHMPI_BUS)")
    parent.add_argument("--timeout", type=float, metavar="S", default=argparse.SUPPRESS,
                        help="seconds to wait for each reply (default 3)")
    return parent


def add_actions(parser) -> argparse._SubParsersAction:
    """Sub-parsers for nested actions (`survey start`), each with the common options."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    original = sub.add_parser

    def add_parser(name, **kw):
        return original(name, parents=[common_options()], **kw)
    sub.add_parser = add_parser
    return sub
