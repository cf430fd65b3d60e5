"""`ohmpi settings [KEY=VALUE …]`: show or change the measurement settings."""

from ..connect import client
from ..options import key_values
from ..output import table, to_json

NAME = "settings"
HELP = "show the measurement settings, or change some (KEY=VALUE)"


def configure(parser) -> None:
    parser.add_argument("changes", nargs="*", metavar="KEY=VALUE")


def run(args) -> int:
    with client(args) as c:
        if args.changes:
            c.call("controller", "set_settings", settings=key_values(args.changes))
        result = c.call("controller", "get_settings")
    if args.json:
        print(to_json(result["settings"]))
        return 0
    rows = []
    for name, value in result["settings"].items():
        spec = result["spec"].get(name, {})
        allowed = spec.get("allowed") or (f"{spec['min']}..{spec['max']}" if spec.get("min") is not None else "")
        rows.append({"name": name, "value": value, "allowed": allowed, "help": spec.get("help", "")})
    table(rows, [("name", "SETTING"), ("value", "VALUE"), ("allowed", "ALLOWED"), ("help", "MEANING")])
    return 0
