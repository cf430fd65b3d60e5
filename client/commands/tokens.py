"""`ohmpi tokens create|list|revoke`: API tokens for scripts and devices (admin, through the bus)."""

from __future__ import annotations

import re
import sys

from ..connect import client
from ..options import add_actions
from ..output import table, to_json
from .users import ROLES, when

NAME = "tokens"
HELP = "create, list or revoke the web gateway's API tokens"


def days(text: str) -> float:
    """'90d', '12h', '2w', '90' (days) -> days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hdw]?)\s*", text)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"--expires {text!r}: expected a positive number of days, or with h, d or w (90d)")
    return float(match[1]) * {"": 1, "d": 1, "h": 1 / 24, "w": 7}[match[2]]


def configure(parser) -> None:
    sub = add_actions(parser)
    create = sub.add_parser("create", help="create a token (printed once: keep it)")
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--expires", type=days, metavar="DURATION", help="e.g. 90d, 12h, 2w (default: never)")
    sub.add_parser("list", help="the tokens: name, role, created, last used, expiry")
    revoke = sub.add_parser("revoke", help="revoke a token (its next request is refused)")
    revoke.add_argument("name")


def run(args) -> int:
    with client(args) as c:
        if args.action == "create":
            extra = {"expires_days": args.expires} if args.expires is not None else {}
            result = c.call("web", "tokens_create", name=args.name, role=args.role, **extra)
            if args.json:
                print(to_json({k: result[k] for k in ("name", "role", "token", "expires")}))
            else:
                print(
                    f"token {result['name']} ({result['role']}, expires {when(result['expires']) or 'never'}); "
                    "shown once, keep it safe:",
                    file=sys.stderr,
                )
                print(result["token"])
            return 0
        if args.action == "revoke":
            result = c.call("web", "tokens_revoke", name=args.name)
            print(to_json(result) if args.json else f"token {args.name} revoked")
            return 0
        result = c.call("web", "tokens_list")
    if args.json:
        print(to_json(result))
    else:
        table(
            [
                {
                    **t,
                    "created": when(t["created"]),
                    "last_used": when(t["last_used"]),
                    "expires": when(t["expires"]) or "never",
                }
                for t in result
            ],
            [
                ("name", "NAME"),
                ("role", "ROLE"),
                ("created", "CREATED"),
                ("last_used", "LAST USED"),
                ("expires", "EXPIRES"),
            ],
        )
    return 0
