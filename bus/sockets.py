"""Socket factory: every socket gets its limits set on purpose, in one place.

LINGER bounds shutdown; MAXMSGSIZE refuses oversized frames on receive (libzmq drops the
connection of a peer that sends one); the high-water marks say how much may queue per peer
before ZeroMQ drops (PUB/XPUB) or refuses (ROUTER_MANDATORY, DEALER) - see docs/protocol.md.
"""

from __future__ import annotations

import zmq

from .config import BusConfig, uses_curve

_EVENT_TYPES = {zmq.PUB, zmq.SUB, zmq.XPUB, zmq.XSUB}


def make_socket(ctx: zmq.Context, kind: int, cfg: BusConfig, *, max_bytes: int | None = None) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, cfg.linger_ms)
    hwm = cfg.event_hwm if kind in _EVENT_TYPES else cfg.command_hwm
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    # Headroom for the topic frame and envelope overhead; the exact limit is checked in Python.
    sock.setsockopt(zmq.MAXMSGSIZE, max_bytes or cfg.max_message_bytes + 4096)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
    return sock


def client_socket(
    ctx: zmq.Context, kind: int, cfg: BusConfig, address: str, *, key=None, max_bytes: int | None = None
) -> zmq.Socket:
    """A socket that connects to the hub at `address`: CURVE client on a tcp bus (with the key
    file `key`, `$OHMPI_KEY`, or this machine's own service key), plain on ipc."""
    sock = make_socket(ctx, kind, cfg, max_bytes=max_bytes)
    if uses_curve(address, cfg):
        from .keys import client_credentials

        try:
            client_credentials(key).apply(sock)
        except BaseException:
            sock.close(linger=0)
            raise
    return sock
