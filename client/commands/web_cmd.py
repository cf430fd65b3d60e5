"""`ohmpi web selfsigned|setup-link`: HTTPS for the instrument's Wi-Fi, and the first admin's link."""

from __future__ import annotations

from bus.config import var_dir

from ..connect import client
from ..options import add_actions
from ..output import to_json

NAME = "web"
HELP = "make a self-signed HTTPS pair, or print the one-time setup link"


def configure(parser) -> None:
    sub = add_actions(parser)
    pair = sub.add_parser("selfsigned", help="write web.key (0600) and web.crt for [web] certfile/keyfile")
    pair.add_argument("-o", "--out", metavar="DIR", help="where to write them (default: $OHMPI_VAR)")
    pair.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name or address the certificate must also cover (repeatable)",
    )
    sub.add_parser("setup-link", help="the one-time link that creates the first admin (admin, through the bus)")


def run(args) -> int:
    if args.action == "selfsigned":
        from web.selfsigned import make_pair

        result = make_pair(args.out or var_dir(), args.host)
        if args.json:
            print(to_json(result))
        else:
            print(
                f"key:  {result['keyfile']}\ncert: {result['certfile']}\n"
                f"SHA-256 fingerprint (compare with the browser's): {result['sha256']}\n"
                f"covers: {', '.join(result['names'])}\n"
                f'then in the config file:\n[web]\ncertfile = "{result["certfile"]}"\n'
                f'keyfile = "{result["keyfile"]}"'
            )
        return 0
    with client(args) as c:
        result = c.call("web", "setup_link")
    if args.json:
        print(to_json(result))
    elif result["link"] is None:
        print(f"no setup link: {result['reason']}")
        return 1
    else:
        print(result["link"])
    return 0
