"""`ohmpi keys create|list|revoke`: the CurveZMQ keys a tcp bus accepts (admin).

`create` makes the keypair here, so the secret key never crosses the bus: only the public
key goes to the hub, with the role. The files it writes are what a remote client needs:
`DIR/NAME.key_secret` (its keypair, in zmq.auth's certificate format) and `DIR/server.key`
(the hub's public key, to be sure it talks to the right hub).
"""

from __future__ import annotations

from pathlib import Path

import zmq

from bus.envelope import check_name
from bus.files import atomic_write
from bus.keys import SERVER, certificate_text, write_keypair
from bus.roles import ROLES

from ..connect import client
from ..options import add_actions
from ..output import table, to_json

NAME = "keys"
HELP = "create, list or revoke the CurveZMQ client keys of a tcp bus (admin)"
COLUMNS = [("name", "NAME"), ("role", "ROLE"), ("created", "CREATED"), ("revoked", "REVOKED")]


def configure(parser) -> None:
    sub = add_actions(parser)
    create = sub.add_parser("create", help="make a keypair, register its public key with a role, write the files")
    create.add_argument("name", help="key name: lowercase letters, digits, '_' or '-'")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=".",
        help="where to write NAME.key_secret and server.key (default: here)",
    )
    sub.add_parser("list", help="the keys the hub accepts, and revoked ones")
    revoke = sub.add_parser("revoke", help="revoke a key now: its requests and connections are refused")
    revoke.add_argument("name")


def run(args) -> int:
    with client(args) as c:
        if args.action == "list":
            keys = c.call("hub", "keys_list")
            print(to_json(keys)) if args.json else table(keys, COLUMNS)
            return 0
        if args.action == "revoke":
            result = c.call("hub", "keys_revoke", name=args.name)
            print(to_json(result) if args.json else f"key {result['name']!r} revoked at {result['revoked']}")
            return 0
        return _create(args, c)


def _create(args, c) -> int:
    check_name(args.name, "key name")
    out = Path(args.output)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)  # files are 0600; an existing directory is left as is
    secret_file = out / f"{args.name}.key_secret"
    if secret_file.exists():
        raise ValueError(f"{secret_file} exists: choose another name or directory")
    public, secret = zmq.curve_keypair()
    entry = c.call("hub", "keys_add", name=args.name, public=public.decode("ascii"), role=args.role)
    server = c.call("hub", "server_key")
    try:
        write_keypair(out, args.name, public, secret, {"name": args.name, "role": args.role})
        atomic_write(out / f"{SERVER}.key", certificate_text(server["public"].encode("ascii")), mode=0o644)
    except OSError:
        c.call("hub", "keys_revoke", name=args.name)  # a key whose secret was never saved is useless
        raise
    if args.json:
        print(to_json({**entry, "key_file": str(secret_file), "server_key": str(out / f"{SERVER}.key")}))
    else:
        print(
            f"key {args.name!r} ({args.role}) accepted by the hub; written to {secret_file} "
            f"(keep it secret) with {out / (SERVER + '.key')} beside it.\n"
            f"use: ohmpi --bus tcp://HOST:PORT --key {secret_file} status"
        )
    return 0
