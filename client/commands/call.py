"""`ohmpi call SERVICE CMD [key=value …]`: run any command a service offers."""

from ..connect import client
from ..options import key_values
from ..output import to_json

NAME = "call"
HELP = "call a command of a service; values are JSON (1, 2.5, true, [1,2]) or plain strings"


def configure(parser) -> None:
    parser.add_argument("service")
    parser.add_argument("cmd")
    parser.add_argument("args", nargs="*", metavar="key=value")


def run(args) -> int:
    kwargs = key_values(args.args)
    with client(args) as c:
        result = c.call(args.service, args.cmd, **kwargs)
    print(to_json(result) if args.json else to_json(result, indent=2))
    return 0
