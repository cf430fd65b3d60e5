"""`ohmpi rs-check`: contact resistance of adjacent electrode pairs, and the bad electrodes."""

from ..connect import client
from ..output import table, to_json

NAME = "rs-check"
HELP = "check contact resistances; names the bad electrodes"


def configure(parser) -> None:
    pass


def run(args) -> int:
    with client(args) as c:  # the controller answers `in_progress` while it checks
        result = c.call("controller", "rs_check")
    if args.json:
        print(to_json(result))
        return 0
    pairs = result.get("pairs", [])
    table(pairs, [(k, k.upper()) for k in (pairs[0].keys() if pairs else ())])
    bad = result.get("bad_electrodes", [])
    print(f"bad electrodes: {', '.join(map(str, bad)) if bad else 'none'}")
    return 0
