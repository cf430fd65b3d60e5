"""`ohmpi abort`: stop the injection in progress now."""

from ..connect import client
from ..output import to_json

NAME = "abort"
HELP = "abort the measurement in progress (injection off, relays released)"


def configure(parser) -> None:
    pass


def run(args) -> int:
    with client(args) as c:
        result = c.call("controller", "abort")
    print(to_json(result) if args.json else f"aborted: {result['aborted'] or 'nothing was running'}")
    return 0
