"""`ohmpi alarms [list|ack|metrics|history|rules]`: the alarms and their rules (docs/alarms.md).

`ohmpi alarms --json` prints a list of {name, state, severity, since, value}; `since` is ISO 8601
UTC. `ohmpi alarms rules --set FILE` replaces every rule (admin) from a TOML file of
`[[alarms]]` tables or a JSON list; nothing changes when one field is wrong."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from ..connect import client
from ..options import add_actions
from ..output import table, to_json

NAME = "alarms"
HELP = "list alarms, acknowledge one, list the metrics rules can watch, the history, the rules"
LIST_KEYS = ("name", "state", "severity", "since", "value")


def configure(parser) -> None:
    sub = add_actions(parser)
    sub.required = False
    sub.add_parser("list", help="every alarm with its state (the default)")
    ack = sub.add_parser("ack", help="acknowledge an active alarm (operator)")
    ack.add_argument("name")
    ack.add_argument("--comment", default="", help="what you saw or did (kept in the history)")
    sub.add_parser("metrics", help="the metrics a rule's `when` may watch, with their current values")
    history = sub.add_parser("history", help="changes of state, newest first")
    history.add_argument("name", nargs="?")
    history.add_argument("--limit", type=int, default=50)
    rules = sub.add_parser("rules", help="print the rules as [[alarms]] tables; --set FILE replaces them (admin)")
    rules.add_argument(
        "--set", metavar="FILE", dest="rules_file", help="a TOML file of [[alarms]] tables, or a JSON list of tables"
    )


def iso(ts) -> str | None:
    if not isinstance(ts, (int, float)):
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_rules(path: str) -> list:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        rules = json.loads(text)
    else:
        try:
            rules = tomllib.loads(text).get("alarms", [])
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: {exc}") from None
    if not isinstance(rules, list):
        raise ValueError(f"{path}: expected [[alarms]] tables or a JSON list of tables")
    return rules


def _toml_value(value) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists of them read back as TOML


def run(args) -> int:
    action = getattr(args, "action", None) or "list"
    with client(args) as c:
        if action == "list":
            rows = [{k: (iso(a[k]) if k == "since" else a[k]) for k in LIST_KEYS} for a in c.call("alarms", "alarms")]
            print(to_json(rows)) if args.json else table(rows, [(k, k.upper()) for k in LIST_KEYS])
        elif action == "ack":
            alarm = c.call("alarms", "ack", name=args.name, comment=args.comment)
            print(to_json(alarm) if args.json else f"alarm {alarm['name']} acknowledged by {alarm['user']}")
        elif action == "metrics":
            result = c.call("alarms", "metrics")
            if args.json:
                print(to_json(result))
                return 0
            table(result["catalogue"], [("metric", "METRIC"), ("kind", "KIND"), ("description", "WHAT")])
            print()
            table(
                [{"metric": k, "value": v} for k, v in result["values"].items()],
                [("metric", "NOW"), ("value", "VALUE")],
            )
        elif action == "history":
            rows = c.call("recorder", "alarm_history", name=args.name, limit=args.limit)
            for row in rows:
                row["time"] = iso(row.get("ts"))
            print(to_json(rows)) if args.json else table(
                rows,
                [
                    ("time", "TIME"),
                    ("name", "NAME"),
                    ("state", "STATE"),
                    ("severity", "SEVERITY"),
                    ("value", "VALUE"),
                    ("user", "BY"),
                    ("comment", "COMMENT"),
                ],
            )
        elif args.rules_file:
            result = c.call("alarms", "rules_set", rules=read_rules(args.rules_file))
            print(to_json(result) if args.json else f"{len(result['rules'])} alarm rule(s) in force")
        else:
            result = c.call("alarms", "rules_get")
            if args.json:
                print(to_json(result))
                return 0
            print(f"# alarm rules ({result['source']})")
            for rule in result["rules"]:
                print("\n[[alarms]]")
                for key, value in rule.items():
                    print(f"{key} = {_toml_value(value)}")
    return 0
