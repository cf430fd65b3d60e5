"""`ohmpi self-test`: the wiring check of a new or repaired instrument (docs/deploy.md).

The controller talks to every chip: the I2C multiplexer answers, each relay of each role
reads back as written, both ADCs convert, the supply answers; the board is left safe. Exit
status 1 when any check fails. On the simulated instrument it proves the software only, and
says so.
"""

from ..connect import client
from ..output import table, to_json

NAME = "self-test"
HELP = "check the boards: chips answer, relays read back, ADCs convert (wiring check)"


def configure(parser) -> None:
    pass


def run(args) -> int:
    with client(args) as c:
        simulated = c.call("controller", "status").get("simulated")  # fails fast without a controller
        result = c.call("controller", "self_test")  # `in_progress` while it runs: waits, never repeats
    if args.json:
        print(to_json({**result, "simulated": simulated}))
        return 0 if result["ok"] else 1
    table(result["checks"], [("name", "CHECK"), ("ok", "OK"), ("detail", "DETAIL")])
    failed = [check["name"] for check in result["checks"] if not check["ok"]]
    where = (
        "the simulated instrument ([controller] simulated = true): no real board was tested"
        if simulated
        else "the real boards"
    )
    print(f"self-test {'failed: ' + ', '.join(failed) if failed else 'passed'} on {where}")
    return 1 if failed else 0
