"""`ohmpi users add|list|remove|passwd`: the web gateway's accounts (admin, through the bus)."""

from __future__ import annotations

import getpass
import sys
import time

from ..connect import client
from ..options import add_actions
from ..output import table, to_json

NAME = "users"
HELP = "add, list, remove web users or set their passwords"
ROLES = ("viewer", "operator", "admin")
MIN_LENGTH = 8


def configure(parser) -> None:
    sub = add_actions(parser)
    add = sub.add_parser("add", help="add a user (asks for the password, or reads it with --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    sub.add_parser("list", help="the users: name, role, created, live sessions")
    remove = sub.add_parser("remove", help="remove a user (their sessions end)")
    remove.add_argument("name")
    passwd = sub.add_parser("passwd", help="set a user's password (their sessions end)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or asked twice on the terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ")
    else:
        raise ValueError("no terminal to ask for the password: pipe it with --password-stdin")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password: must be at least {MIN_LENGTH} characters long")
    return password


def when(ts) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else None


def run(args) -> int:
    password = read_password(args.password_stdin) if args.action in ("add", "passwd") else None
    with client(args) as c:
        if args.action == "add":
            result = c.call("web", "users_add", name=args.name, role=args.role, password=password)
            message = f"user {result['username']} added ({result['role']})"
        elif args.action == "remove":
            result = c.call("web", "users_remove", name=args.name)
            message = f"user {args.name} removed ({result['sessions_revoked']} session(s) ended)"
        elif args.action == "passwd":
            result = c.call("web", "users_passwd", name=args.name, password=password)
            message = f"password of {args.name} changed ({result['sessions_revoked']} session(s) ended)"
        else:
            result = c.call("web", "users_list")
            if args.json:
                print(to_json(result))
            else:
                table(
                    [{**u, "created": when(u["created"])} for u in result],
                    [("username", "USER"), ("role", "ROLE"), ("created", "CREATED"), ("sessions", "SESSIONS")],
                )
            return 0
    print(to_json(result) if args.json else message)
    return 0
