"""Build bus clients and subscribers from the command-line options (`--bus`, `--key`, `--timeout`)."""

from __future__ import annotations

from bus.events import Subscriber
from bus.rpc import Client


def client(args, *, retries: int = 2) -> Client:
    return Client(args.bus, name="cli", timeout=args.timeout, retries=retries, key=args.key)


def subscriber(args, patterns, **kw) -> Subscriber:
    return Subscriber(patterns, address=args.bus, key=args.key, **kw)
