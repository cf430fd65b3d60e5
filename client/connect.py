"""Build bus clients from the command-line options."""

from __future__ import annotations

from bus.rpc import Client


def client(args, *, retries: int = 2) -> Client:
    return Client(args.bus, name="cli", timeout=args.timeout, retries=retries)
