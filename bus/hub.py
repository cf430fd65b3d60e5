"""The hub: one well-known address for every event and every command. No external broker.

Events: publishers connect to an XSUB, subscribers to an XPUB, and libzmq's steerable
proxy moves messages between them in C (subscriptions flow upstream, so publishers only
send what someone wants). Commands: a ROUTER takes requests `[service, envelope]` from
clients and routes them to the service that registered that name; replies come back the
same way. The hub also keeps the latest `state.*` and `soh.*` message of every source,
so late joiners get them at once (`snapshot`), and lists live processes from heartbeats.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass

import zmq

from .commands import error_reply, ok_reply, parse_request
from .config import BusConfig, check_bindable, endpoints, load_bus_config
from .envelope import FrameError, check_name, decode, unpack_envelope
from .errors import BadRequest, BusError, Busy, Unavailable
from .node import Node
from .sockets import make_socket
from .topics import pattern

CACHED_ROOTS = ("state.", "soh.")
MAX_CACHED_TOPICS = 10_000


@dataclass
class _Service:
    identity: bytes
    last_seen: float  # time.monotonic() of the last registration


class Hub:
    """Binds the bus endpoints and serves them until stopped."""

    def __init__(self, address: str | None = None, *, cfg: BusConfig | None = None,
                 ctx: zmq.Context | None = None):
        self.cfg = cfg or load_bus_config()
        self.address = address or self.cfg.resolved_address()
        check_bindable(self.address)
        self.endpoints = endpoints(self.address)
        self.ctx = ctx or zmq.Context.instance()
        self.services: dict[str, _Service] = {}
        self.cache: dict[str, tuple[bytes, float]] = {}  # topic -> (envelope, monotonic arrival)
        hard_limit = 4 * self.cfg.max_message_bytes

        self.router = make_socket(self.ctx, zmq.ROUTER, self.cfg, max_bytes=hard_limit)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unknown peer -> error, not silent loss
        self.router.bind(self.endpoints.cmd)
        self.xsub = make_socket(self.ctx, zmq.XSUB, self.cfg)
        self.xsub.bind(self.endpoints.pub)
        self.xpub = make_socket(self.ctx, zmq.XPUB, self.cfg)
        self.xpub.bind(self.endpoints.sub)
        control = f"inproc://hub-control-{id(self)}"
        self._control = self.ctx.socket(zmq.PAIR)
        self._control.bind(control)
        proxy_control = self.ctx.socket(zmq.PAIR)
        proxy_control.connect(control)
        self._proxy = threading.Thread(target=self._run_proxy, args=(proxy_control,), name="hub-proxy",
                                       daemon=True)

        self.node = Node("hub", address=self.address, cfg=self.cfg, ctx=self.ctx, serve=False)
        self.lvc = make_socket(self.ctx, zmq.SUB, self.cfg)
        for root in CACHED_ROOTS:
            self.lvc.setsockopt(zmq.SUBSCRIBE, root.encode())
        self.lvc.connect(self.endpoints.sub)
        self.node.add_socket(self.router, self._on_router)
        self.node.add_socket(self.lvc, self._on_cached)
        self.node.soh_providers.append(self._soh)
        self.node.status_providers.append(self._soh)
        for fn in (self.services_cmd, self.processes, self.snapshot, self.endpoints_cmd):
            self.node.registry.add(fn.__name__.removesuffix("_cmd"), fn)

    # ---- event path ---------------------------------------------------------------------
    def _run_proxy(self, control: zmq.Socket) -> None:
        try:
            zmq.proxy_steerable(self.xsub, self.xpub, None, control)
        except zmq.ContextTerminated:
            pass
        finally:
            for sock in (self.xsub, self.xpub, control):
                sock.close()

    def _proxy_stats(self) -> dict:
        """Frames counted by libzmq's proxy (two frames per event)."""
        try:
            self._control.send(b"STATISTICS")
            if not self._control.poll(500):
                return {}
            values = [struct.unpack("=Q", f)[0] for f in self._control.recv_multipart()]
        except zmq.ZMQError:
            return {}
        return {"events_in": values[0] // 2, "events_out": values[6] // 2}

    def _on_cached(self) -> None:
        for _ in range(1000):
            try:
                frames = self.lvc.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = decode(frames, self.cfg.max_message_bytes)
            except FrameError:
                self.node.stats["dropped"] += 1
                self.node.stats["dropped:invalid_event"] += 1
                continue
            if msg.topic not in self.cache and len(self.cache) >= MAX_CACHED_TOPICS:
                self.node.stats["dropped:cache_full"] += 1
                continue
            self.cache[msg.topic] = (frames[1], time.monotonic())

    # ---- command path -------------------------------------------------------------------
    def _on_router(self) -> None:
        for _ in range(1000):
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._route(frames)

    def _route(self, frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        style = b"D"
        if rest and rest[0] == b"":  # a REQ socket put an empty delimiter first
            style, rest = b"R", rest[1:]
        if rest and rest[0].startswith(b"!"):
            return self._from_service(identity, rest)
        route = style + identity
        self.node.stats["requests"] += 1
        if len(rest) != 2:
            return self._reply(route, None, BadRequest(
                f"expected frames [service, envelope] (after an empty frame for REQ sockets), got {len(rest)}",
                arg="frames", reason="wrong frame count"))
        service_frame, data = rest
        req_id = None
        try:
            if len(data) > self.cfg.max_message_bytes:
                raise FrameError(f"request of {len(data)} bytes exceeds the limit of {self.cfg.max_message_bytes}",
                                 "oversized")
            env = unpack_envelope(data, self.cfg.max_message_bytes)
            req_id, cmd, args = parse_request(env["body"])
            try:
                service = check_name(service_frame.decode("ascii"), "service name")
            except (UnicodeDecodeError, ValueError):
                raise BadRequest(f"service frame {service_frame[:40]!r} is not a valid service name",
                                 arg="service", reason="invalid name") from None
        except FrameError as exc:
            return self._reply(route, req_id, BadRequest(str(exc), arg="envelope", reason="invalid envelope"))
        except BusError as exc:
            return self._reply(route, req_id, exc)
        if service == "hub":
            return self._serve_locally(route, req_id, cmd, args)
        target = self.services.get(service)
        if target is None or not self._alive(target):
            known = sorted(n for n, s in self.services.items() if self._alive(s))
            why = ("is not running" if target is None else
                   f"has not checked in for {time.monotonic() - target.last_seen:.1f} s (stuck or stopped)")
            return self._reply(route, req_id, Unavailable(
                f"service {service!r} {why}; running: {', '.join(known) or 'none'}",
                service=service, running=known))
        try:
            self.router.send_multipart([target.identity, route, data], zmq.NOBLOCK)
        except zmq.Again:
            self._reply(route, req_id, Busy(f"service {service!r} has {self.cfg.command_hwm} requests queued"))
        except zmq.ZMQError:  # EHOSTUNREACH: the service's connection is gone (killed)
            self.services.pop(service, None)
            self._reply(route, req_id, Unavailable(f"service {service!r} is not running (connection lost)",
                                                   service=service))

    def _serve_locally(self, route: bytes, req_id: str, cmd_name: str, args) -> None:
        try:
            cmd = self.node.registry.lookup(cmd_name)
            reply = ok_reply(req_id, cmd.handler(**cmd.bind(args)))
        except BusError as exc:
            reply = error_reply(req_id, exc)
        self._send(route, self.node.session.pack("reply", reply))

    def _reply(self, route: bytes, req_id: str | None, error: BusError) -> None:
        self.node.stats["errors"] += 1
        self._send(route, self.node.session.pack("reply", error_reply(req_id, error)))

    def _send(self, route: bytes, data: bytes) -> None:
        style, identity = route[:1], route[1:]
        frames = [identity, b"", data] if style == b"R" else [identity, data]
        try:
            self.router.send_multipart(frames, zmq.NOBLOCK)
        except zmq.ZMQError:  # the client went away or its queue is full
            self.node.stats["dropped"] += 1
            self.node.stats["dropped:reply_undeliverable"] += 1

    def _from_service(self, identity: bytes, rest: list[bytes]) -> None:
        verb = rest[0]
        if verb == b"!reply" and len(rest) == 3 and rest[1][:1] in (b"R", b"D"):
            return self._send(rest[1], rest[2])
        if verb in (b"!register", b"!bye") and len(rest) == 2:
            try:
                env = unpack_envelope(rest[1], self.cfg.max_message_bytes)
                name = check_name(env["body"]["service"], "service name")
            except (FrameError, ValueError, KeyError, TypeError):
                pass
            else:
                if verb == b"!register":
                    if name not in self.services or self.services[name].identity != identity:
                        self.node.log("info", f"service {name!r} registered")
                    self.services[name] = _Service(identity, time.monotonic())
                elif self.services.get(name, _Service(b"", 0)).identity == identity:
                    del self.services[name]
                    self.node.log("info", f"service {name!r} left")
                return
        self.node.stats["dropped"] += 1
        self.node.stats["dropped:bad_service_frame"] += 1

    def _alive(self, svc: _Service) -> bool:
        return time.monotonic() - svc.last_seen < 3 * self.cfg.heartbeat_s

    # ---- hub commands -------------------------------------------------------------------
    def services_cmd(self) -> list[dict]:
        """Services registered for commands, with seconds since they last registered."""
        now = time.monotonic()
        return [{"name": n, "age_s": round(now - s.last_seen, 3), "alive": self._alive(s)}
                for n, s in sorted(self.services.items())]

    def processes(self) -> list[dict]:
        """Every process that sent a heartbeat, with its last-seen age and health."""
        now = time.monotonic()
        out = []
        for topic, (data, arrived) in sorted(self.cache.items()):
            if not topic.startswith("soh.") or topic.count(".") != 1:
                continue
            body = unpack_envelope(data, self.cfg.max_message_bytes)["body"]
            body = body if isinstance(body, dict) else {}
            age = now - arrived
            out.append({**body, "name": topic[4:], "age_s": round(age, 3),
                        "alive": age < 3 * self.cfg.heartbeat_s})
        return out

    def snapshot(self, patterns: list[str] = ["#"]) -> list:
        """The latest cached `state.*`/`soh.*` message per topic matching `patterns`, as [topic, envelope]."""
        try:
            compiled = [pattern(p) for p in patterns]
        except ValueError as exc:
            raise BadRequest(str(exc), arg="patterns", reason="invalid pattern") from None
        return [[t, data] for t, (data, _) in sorted(self.cache.items()) if any(p.matches(t) for p in compiled)]

    def endpoints_cmd(self) -> dict:
        """The three endpoints behind this bus address."""
        return {"address": self.address, "cmd": self.endpoints.cmd, "pub": self.endpoints.pub,
                "sub": self.endpoints.sub}

    def _soh(self) -> dict:
        return {"services": len([s for s in self.services.values() if self._alive(s)]),
                "cached_topics": len(self.cache), **self._proxy_stats()}

    # ---- lifecycle ----------------------------------------------------------------------
    def run(self) -> None:
        self._proxy.start()
        self.node.log("info", f"hub serving {self.address}")
        try:
            self.node.run()
        finally:
            self.close()

    def stop(self) -> None:
        self.node.stop()

    def close(self) -> None:
        self.node.close()
        try:
            self._control.send(b"TERMINATE", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        self._proxy.join(timeout=1.0) if self._proxy.is_alive() else None
        self._control.close()
