"""`ohmpi audit`: who did what (logins, refusals, restarts, settings, surveys), as the recorder stored it."""

from __future__ import annotations

import json
from datetime import datetime

from ..connect import client
from ..output import table, to_json

NAME = "audit"
HELP = "list the audit log, newest first (admin)"
DETAILS_CHARS = 80  # of the details column in the table (--json gives them whole)


def configure(parser) -> None:
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="at most N records (default 50)")
    parser.add_argument("--user", metavar="U", help="only the records of this user")
    parser.add_argument("--action", metavar="A", help="only this action (login, settings_change, forbidden, ...)")


def run(args) -> int:
    filters = {k: v for k, v in (("user", args.user), ("action", args.action)) if v is not None}
    with client(args) as c:
        records = c.call("recorder", "audit", limit=args.limit, **filters)
    if args.json:
        print(to_json(records))
        return 0
    table(
        [
            {
                **r,
                "time": datetime.fromtimestamp(r["ts"]).isoformat(sep=" ", timespec="seconds"),
                "details": _short(r.get("details")),
            }
            for r in records
        ],
        [
            ("time", "TIME"),
            ("process", "PROCESS"),
            ("user", "USER"),
            ("role", "ROLE"),
            ("action", "ACTION"),
            ("ok", "OK"),
            ("details", "DETAILS"),
        ],
    )
    return 0


def _short(details) -> str | None:
    if not details:
        return None
    text = json.dumps(details, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= DETAILS_CHARS else text[: DETAILS_CHARS - 1] + "…"
