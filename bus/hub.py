"""The hub: one well-known address for every event and every command. No external broker.

Events: publishers connect to an XSUB, subscribers to an XPUB, and libzmq's steerable
proxy moves messages between them in C (subscriptions flow upstream, so publishers only
send what someone wants). Commands: a ROUTER takes requests `[service, envelope]` from
clients and routes them to the service that registered that name, with a frame saying who
the caller is; replies come back the same way. The hub also keeps the latest `state.*` and
`soh.*` message of every source, so late joiners get them at once (`snapshot`), and lists
live processes from heartbeats.

It is also the trust boundary (docs/security.md). On a tcp bus every socket is a CurveZMQ
server and a ZAP handler here admits only keys of the key table (`bus.keys`): any key may
send commands and subscribe, only `service` keys may publish or register a service. The
hub vouches for every caller (key name and role) to the service; a service name belongs to
the live process holding it; a reply is forwarded only for a request the hub delivered to
that service. Everything it keeps is bounded.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import msgpack
import zmq
import zmq.utils.z85

from .commands import error_reply, parse_request
from .config import BusConfig, ConfigError, check_bindable, endpoints, load_bus_config, uses_curve
from .envelope import FrameError, check_name, decode, unpack_envelope
from .errors import BadRequest, BusError, Busy, Forbidden, Unavailable
from .keys import KeyTableError
from .node import Node, RateLimit
from .roles import Caller, check_role, lowest
from .sockets import client_socket, make_socket
from .topics import pattern

CACHED_ROOTS = ("state.", "soh.")
MAX_CACHED_TOPICS = 10_000
MAX_CACHE_ENTRY = 64 * 1024  # a cached state/SOH message larger than this is not kept
MAX_CACHE_BYTES = 4 << 20  # all cached messages together; the oldest go first
CACHE_TTL_S = 600.0  # a topic not refreshed for this long (its process is gone) is forgotten
MAX_PENDING = 100_000  # requests delivered and not yet answered, remembered to accept their reply
PENDING_TTL_S = 6 * 3600.0
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAINS = {"cmd": "commands", "pub": "publish", "sub": "subscribe"}


@dataclass
class _Service:
    identity: bytes
    last_seen: float  # time.monotonic() of the last registration
    user: str  # the key (or local source) that registered it


class Hub:
    """Binds the bus endpoints and serves them until stopped."""

    def __init__(self, address: str | None = None, *, cfg: BusConfig | None = None, ctx: zmq.Context | None = None):
        self.cfg = cfg or load_bus_config()
        self.address = address or self.cfg.resolved_address()
        self.warning = check_bindable(self.address, self.cfg.curve)
        self.endpoints = endpoints(self.address)
        self.curve = uses_curve(self.address, self.cfg)
        # A CURVE hub owns its context: the ZAP endpoint is one per context.
        self.ctx = ctx or (zmq.Context() if self.curve else zmq.Context.instance())
        self.services: dict[str, _Service] = {}
        self.cache: dict[str, tuple[bytes, float]] = {}  # topic -> (envelope, monotonic arrival)
        self.cache_bytes = 0
        # (service identity, route, request id) -> [deliveries not yet answered, monotonic time]
        self.pending: OrderedDict[tuple[bytes, bytes, str], list] = OrderedDict()
        self._warn_budget = RateLimit(per_minute=6)
        self.keys = None
        if self.curve:
            from .keys import LOCAL, SERVER, KeyTable, ensure_keypair, keys_dir

            self.server_public, self._server_secret = ensure_keypair(SERVER)
            local_public, _ = ensure_keypair(LOCAL)
            self.keys = KeyTable(keys_dir(), local_public)
            self.zap = self.ctx.socket(zmq.ROUTER)
            self.zap.linger = 0
            self.zap.bind(ZAP_ENDPOINT)
        hard_limit = 4 * self.cfg.max_message_bytes

        self.router = self._server_socket(zmq.ROUTER, "cmd", max_bytes=hard_limit)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unknown peer -> error, not silent loss
        self.router.bind(self.endpoints.cmd)
        self._start_proxy()

        self.node = Node("hub", address=self.address, cfg=self.cfg, ctx=self.ctx, serve=False)
        self.lvc = client_socket(self.ctx, zmq.SUB, self.cfg, self.address)
        for root in CACHED_ROOTS:
            self.lvc.setsockopt(zmq.SUBSCRIBE, root.encode())
        self.lvc.connect(self.endpoints.sub)
        self.node.add_socket(self.router, self._on_router)
        self.node.add_socket(self.lvc, self._on_cached)
        if self.curve:
            self.node.add_socket(self.zap, self._on_zap)
        self.node.soh_providers.append(self._soh)
        self.node.status_providers.append(self._soh)
        self.node.every(60.0, self._expire)
        for fn in (self.services_cmd, self.processes, self.snapshot, self.endpoints_cmd, self.server_key):
            self.node.command(fn, name=fn.__name__.removesuffix("_cmd"), role="viewer")
        for fn in (self.keys_list, self.keys_add, self.keys_revoke):
            self.node.command(fn, role="admin")

    def _server_socket(self, kind: int, domain: str, max_bytes: int | None = None) -> zmq.Socket:
        sock = make_socket(self.ctx, kind, self.cfg, max_bytes=max_bytes)
        if self.curve:
            sock.curve_server = True
            sock.curve_secretkey = self._server_secret
            sock.zap_domain = domain.encode()
        return sock

    # ---- event path ---------------------------------------------------------------------
    def _start_proxy(self) -> None:
        """Bind XSUB/XPUB and run libzmq's proxy between them in a thread (again after a revocation)."""
        self.xsub = self._server_socket(zmq.XSUB, "pub")
        self.xpub = self._server_socket(zmq.XPUB, "sub")
        for sock, endpoint in ((self.xsub, self.endpoints.pub), (self.xpub, self.endpoints.sub)):
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    sock.bind(endpoint)
                    break
                except zmq.ZMQError as exc:  # the previous socket of a restart may still hold the port
                    if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        control = f"inproc://hub-control-{id(self)}-{time.monotonic_ns()}"
        self._control = self.ctx.socket(zmq.PAIR)
        self._control.bind(control)
        proxy_control = self.ctx.socket(zmq.PAIR)
        proxy_control.connect(control)
        self._proxy = threading.Thread(
            target=self._run_proxy, args=(self.xsub, self.xpub, proxy_control), name="hub-proxy", daemon=True
        )
        if getattr(self, "_running", False):
            self._proxy.start()

    @staticmethod
    def _run_proxy(xsub: zmq.Socket, xpub: zmq.Socket, control: zmq.Socket) -> None:
        try:
            zmq.proxy_steerable(xsub, xpub, None, control)
        except zmq.ContextTerminated:
            pass
        finally:
            for sock in (xsub, xpub, control):
                sock.close(linger=0)

    def _stop_proxy(self) -> None:
        try:
            self._control.send(b"TERMINATE", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        if self._proxy.is_alive():
            self._proxy.join(timeout=2.0)
        self._control.close(linger=0)

    def _restart_proxy(self) -> None:
        """Drop every publisher and subscriber connection; they reconnect through ZAP (a revoked key can't)."""
        self._stop_proxy()
        self._start_proxy()
        self.node.stats["proxy_restarts"] += 1

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
        stats = self.node.stats
        for _ in range(1000):
            try:
                frames = self.lvc.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = decode(frames, self.cfg.max_message_bytes)
            except FrameError:
                stats["dropped"] += 1
                stats["dropped:invalid_event"] += 1
                continue
            size = len(frames[1])
            if size > MAX_CACHE_ENTRY:
                stats["dropped"] += 1
                stats["dropped:cache_entry_too_large"] += 1
                continue
            old = self.cache.pop(msg.topic, None)
            if old is not None:
                self.cache_bytes -= len(old[0])
            elif len(self.cache) >= MAX_CACHED_TOPICS:
                stats["dropped:cache_full"] += 1
                continue
            self.cache[msg.topic] = (frames[1], time.monotonic())  # re-inserted: the dict is oldest-first
            self.cache_bytes += size
            while self.cache_bytes > MAX_CACHE_BYTES:
                _, (data, _) = self._pop_oldest()
                stats["cache_evicted"] += 1

    def _pop_oldest(self):
        topic = next(iter(self.cache))
        entry = self.cache.pop(topic)
        self.cache_bytes -= len(entry[0])
        return topic, entry

    def _expire(self) -> None:
        """Forget cached topics of processes gone for CACHE_TTL_S, and requests never answered."""
        now = time.monotonic()
        while self.cache and now - next(iter(self.cache.values()))[1] > CACHE_TTL_S:
            self._pop_oldest()
        while self.pending and now - next(iter(self.pending.values()))[1] > PENDING_TTL_S:
            self.pending.popitem(last=False)

    # ---- authentication (ZAP, RFC 27) ---------------------------------------------------
    def _on_zap(self) -> None:
        for _ in range(100):
            try:
                frames = self.zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._authenticate(frames)

    def _authenticate(self, frames: list[bytes]) -> None:
        try:
            sep = frames.index(b"")
        except ValueError:
            return
        envelope, request = frames[: sep + 1], frames[sep + 1 :]
        if len(request) < 6:
            return
        version, request_id, domain, address, _identity, mechanism = request[:6]
        credentials = request[6:]
        status, text, user = b"400", b"NO ACCESS", b""
        domain_name = domain.decode("ascii", "replace")
        peer = address.decode("ascii", "replace")
        entry = None
        if mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
            public = zmq.utils.z85.encode(credentials[0]).decode("ascii")
            entry = self.keys.lookup(public)
            if entry is None:
                text = b"unknown key"
            elif not entry.active:
                text = b"key revoked"
            elif domain_name == "pub" and entry.role != "service":
                text = b"publishing needs a service key"
            else:
                status, text, user = b"200", b"OK", public.encode("ascii")
        else:
            text = b"CURVE required"
        self.zap.send_multipart(envelope + [version, request_id, status, text, user, b""])
        if status != b"200":
            self.node.stats["auth_refused"] += 1
            who = entry.name if entry is not None else "an unknown key"
            reason = text.decode()
            self.node.audit(
                "connect",
                ok=False,
                user=who,
                role=entry.role if entry else None,
                peer=peer,
                socket=ZAP_DOMAINS.get(domain_name, domain_name),
                reason=reason,
            )
            if self._warn_budget.take("zap"):
                self.node.log(
                    "warning",
                    f"refused a {ZAP_DOMAINS.get(domain_name, domain_name)} connection from {peer} ({who}): {reason}",
                )

    def _peer(self, frame: zmq.Frame | bytes, env: dict | None) -> Caller:
        """Who sent a request: the key (CURVE) or, on a keyless bus, the local program (`src`)."""
        if not self.curve:
            return Caller(env["src"] if env else "local", "service")
        try:
            public = frame.get("User-Id")
        except (zmq.ZMQError, AttributeError):
            public = None
        entry = self.keys.lookup(public) if public else None
        if entry is None or not entry.active:
            raise Forbidden(
                "this key was revoked or is unknown: it may no longer use the bus", role="viewer", have=None
            )
        return Caller(entry.name, entry.role)

    @staticmethod
    def _caller(peer: Caller, body: object) -> Caller:
        """The caller the service is told about: the peer, or the peer acting for one of its users
        (`as`: the role can only be lowered, the user is named `peer:user`)."""
        acting = body.get("as") if isinstance(body, dict) else None
        if acting is None:
            return peer
        try:
            user, role = acting["user"], check_role(acting["role"])
            check_name(user, "user name")
        except (TypeError, KeyError, ValueError) as exc:
            raise BadRequest(f"request field 'as' must be {{user, role}}: {exc}", arg="as", reason="invalid") from None
        return Caller(f"{peer.user}:{user}", lowest(peer.role, role))

    # ---- command path -------------------------------------------------------------------
    def _on_router(self) -> None:
        for _ in range(1000):
            try:
                if self.curve:  # frames keep their metadata: the ZAP User-Id of the sender
                    frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                    meta = frames[-1]
                    frames = [f.bytes for f in frames]
                else:
                    frames = self.router.recv_multipart(zmq.NOBLOCK)
                    meta = None
            except zmq.Again:
                return
            self._route(frames, meta)

    def _route(self, frames: list[bytes], meta) -> None:
        identity, rest = frames[0], frames[1:]
        style = b"D"
        if rest and rest[0] == b"":  # a REQ socket put an empty delimiter first
            style, rest = b"R", rest[1:]
        if rest and rest[0].startswith(b"!"):
            return self._from_service(identity, rest, meta)
        route = style + identity
        self.node.stats["requests"] += 1
        if len(rest) != 2:
            return self._reply(
                route,
                None,
                BadRequest(
                    f"expected frames [service, envelope] (after an empty frame for REQ sockets), got {len(rest)}",
                    arg="frames",
                    reason="wrong frame count",
                ),
            )
        service_frame, data = rest
        req_id = None
        try:
            if len(data) > self.cfg.max_message_bytes:
                raise FrameError(
                    f"request of {len(data)} bytes exceeds the limit of {self.cfg.max_message_bytes}", "oversized"
                )
            env = unpack_envelope(data, self.cfg.max_message_bytes)
            req_id, cmd, args = parse_request(env["body"])
            try:
                service = check_name(service_frame.decode("ascii"), "service name")
            except (UnicodeDecodeError, ValueError):
                raise BadRequest(
                    f"service frame {service_frame[:40]!r} is not a valid service name",
                    arg="service",
                    reason="invalid name",
                ) from None
            caller = self._caller(self._peer(meta, env), env["body"])
        except FrameError as exc:
            return self._reply(route, req_id, BadRequest(str(exc), arg="envelope", reason="invalid envelope"))
        except BusError as exc:
            return self._reply(route, req_id, exc)
        if service == "hub":
            return self._serve_locally(route, req_id, cmd, args, caller)
        target = self.services.get(service)
        if target is None or not self._alive(target):
            known = sorted(n for n, s in self.services.items() if self._alive(s))
            why = (
                "is not running"
                if target is None
                else f"has not checked in for {time.monotonic() - target.last_seen:.1f} s (stuck or stopped)"
            )
            return self._reply(
                route,
                req_id,
                Unavailable(
                    f"service {service!r} {why}; running: {', '.join(known) or 'none'}", service=service, running=known
                ),
            )
        try:
            self.router.send_multipart([target.identity, route, msgpack.packb(caller.to_wire()), data], zmq.NOBLOCK)
        except zmq.Again:
            return self._reply(route, req_id, Busy(f"service {service!r} has {self.cfg.command_hwm} requests queued"))
        except zmq.ZMQError:  # EHOSTUNREACH: the service's connection is gone (killed)
            self.services.pop(service, None)
            return self._reply(
                route, req_id, Unavailable(f"service {service!r} is not running (connection lost)", service=service)
            )
        key = (target.identity, route, req_id)
        entry = self.pending.pop(key, None) or [0, 0.0]
        self.pending[key] = [entry[0] + 1, time.monotonic()]  # a retry on the same route: one more reply due
        while len(self.pending) > MAX_PENDING:
            self.pending.popitem(last=False)
            self.node.stats["pending_evicted"] += 1

    def _serve_locally(self, route: bytes, req_id: str, cmd_name: str, args, caller: Caller) -> None:
        try:
            cmd = self.node.authorized(cmd_name, caller)
            reply = self.node._execute(cmd, cmd.bind(args), req_id, caller)
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
            self._drop("reply_undeliverable")

    def _drop(self, reason: str) -> None:
        self.node.stats["dropped"] += 1
        self.node.stats[f"dropped:{reason}"] += 1

    def _from_service(self, identity: bytes, rest: list[bytes], meta) -> None:
        verb = rest[0]
        if verb == b"!reply" and len(rest) == 3:
            return self._forward_reply(identity, rest[1], rest[2])
        if verb in (b"!register", b"!bye") and len(rest) == 2:
            try:
                env = unpack_envelope(rest[1], self.cfg.max_message_bytes)
                name = check_name(env["body"]["service"], "service name")
                peer = self._peer(meta, env)
            except (FrameError, ValueError, KeyError, TypeError, Forbidden):
                pass
            else:
                if verb == b"!register":
                    return self._register(identity, name, peer)
                holder = self.services.get(name)
                if holder is not None and holder.identity == identity:
                    del self.services[name]
                    self.node.log("info", f"service {name!r} left")
                return
        self._drop("bad_service_frame")

    def _forward_reply(self, identity: bytes, route: bytes, data: bytes) -> None:
        """Forward a service's reply only to a request the hub delivered to that very service."""
        try:
            body = unpack_envelope(data, 4 * self.cfg.max_message_bytes)["body"]
            req_id = body.get("id") if isinstance(body, dict) else None
        except FrameError:
            req_id = None
        key = (identity, route, req_id)
        entry = self.pending.get(key) if isinstance(req_id, str) else None
        if entry is None:
            return self._drop("unsolicited_reply")
        entry[0] -= 1
        if entry[0] <= 0:
            del self.pending[key]
        self._send(route, data)

    def _register(self, identity: bytes, name: str, peer: Caller) -> None:
        """A name belongs to the live process holding it until it says bye or dies."""
        refusal = None
        holder = self.services.get(name)
        if peer.role != "service":
            refusal = f"registering service {name!r} needs a service key; {peer.user} has {peer.role}"
        elif name == "hub":
            refusal = "the name 'hub' belongs to the hub"
        elif (
            holder is not None
            and holder.identity != identity
            and self._alive(holder)
            and self._connected(holder.identity)
        ):
            refusal = (
                f"service name {name!r} is held by another live process (registered by {holder.user}); stop it first"
            )
        if refusal is not None:
            self.node.stats["register_refused"] += 1
            try:
                self.router.send_multipart([identity, b"!refused", refusal.encode()], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
            if self._warn_budget.take(f"register:{name}"):
                self.node.log("warning", f"refused a registration: {refusal}")
                self.node.audit("register", ok=False, user=peer.user, role=peer.role, service=name, reason=refusal)
            return
        if holder is None or holder.identity != identity:
            self.node.log("info", f"service {name!r} registered" + (f" by {peer.user}" if self.curve else ""))
        self.services[name] = _Service(identity, time.monotonic(), peer.user)

    def _connected(self, identity: bytes) -> bool:
        """Is the peer `identity` still connected? (ROUTER_MANDATORY says EHOSTUNREACH when not.)"""
        try:
            self.router.send_multipart([identity, b"!probe"], zmq.NOBLOCK)
        except zmq.Again:
            return True  # connected, its queue is full
        except zmq.ZMQError:
            return False
        return True

    def _alive(self, svc: _Service) -> bool:
        return time.monotonic() - svc.last_seen < 3 * self.cfg.heartbeat_s

    # ---- hub commands -------------------------------------------------------------------
    def _page(self, items: list, offset: int) -> dict:
        """`items[offset:]` cut to fit one reply: `{items, next_offset, total}` (follow next_offset)."""
        if offset < 0:
            raise BadRequest(f"offset must be >= 0, got {offset}", arg="offset", reason="out of range")
        budget = max(self.cfg.max_message_bytes - 2 * MAX_CACHE_ENTRY, MAX_CACHE_ENTRY)
        page, size = [], 0
        for item in items[offset:]:
            size += len(msgpack.packb(item, use_bin_type=True)) + 8
            if page and size > budget:
                break
            page.append(item)
        following = offset + len(page)
        return {"items": page, "next_offset": following if following < len(items) else None, "total": len(items)}

    def services_cmd(self) -> list[dict]:
        """Services registered for commands, with seconds since they last registered."""
        now = time.monotonic()
        return [
            {"name": n, "age_s": round(now - s.last_seen, 3), "alive": self._alive(s), "by": s.user}
            for n, s in sorted(self.services.items())
        ]

    def processes(self, offset: int = 0) -> dict:
        """Every process that sent a heartbeat, with its last-seen age and health, a page at a time
        (`{items, next_offset, total}`)."""
        now = time.monotonic()
        out = []
        for topic, (data, arrived) in sorted(self.cache.items()):
            if not topic.startswith("soh.") or topic.count(".") != 1:
                continue
            body = unpack_envelope(data, self.cfg.max_message_bytes)["body"]
            body = body if isinstance(body, dict) else {}
            age = now - arrived
            out.append({**body, "name": topic[4:], "age_s": round(age, 3), "alive": age < 3 * self.cfg.heartbeat_s})
        return self._page(out, offset)

    def snapshot(self, patterns: list[str] = ["#"], offset: int = 0) -> dict:  # noqa: B006 (the spec; never mutated)
        """The latest cached `state.*`/`soh.*` message per topic matching `patterns`, as
        [topic, envelope], a page at a time (`{items, next_offset, total}`)."""
        try:
            compiled = [pattern(p) for p in patterns]
        except ValueError as exc:
            raise BadRequest(str(exc), arg="patterns", reason="invalid pattern") from None
        return self._page(
            [[t, data] for t, (data, _) in sorted(self.cache.items()) if any(p.matches(t) for p in compiled)], offset
        )

    def endpoints_cmd(self) -> dict:
        """The three endpoints behind this bus address, and whether they speak CurveZMQ."""
        return {
            "address": self.address,
            "cmd": self.endpoints.cmd,
            "pub": self.endpoints.pub,
            "sub": self.endpoints.sub,
            "curve": self.curve,
        }

    def server_key(self) -> dict:
        """The hub's public CurveZMQ key (what a client's `server.key` holds)."""
        from .keys import SERVER, ensure_keypair

        public = self.server_public if self.curve else ensure_keypair(SERVER)[0]
        return {"public": public.decode("ascii"), "address": self.address, "curve": self.curve}

    def _table(self):
        if self.keys is None:
            from .keys import LOCAL, KeyTable, ensure_keypair, keys_dir

            self.keys = KeyTable(keys_dir(), ensure_keypair(LOCAL)[0])
        return self.keys

    def keys_list(self) -> list[dict]:
        """The client keys this hub accepts (and revoked ones), without secrets."""
        return self._table().list()

    def keys_add(self, name: str, public: str, role: str) -> dict:
        """Accept a client key (its Z85 public key) with a role; the secret never reaches the hub."""
        try:
            entry = self._table().add(name, public, role)
        except KeyTableError as exc:
            raise BadRequest(str(exc), arg=exc.field, reason="refused") from None
        except (OSError, ConfigError) as exc:
            raise BusError(f"could not save the key table: {exc}") from None
        self.node.audit("key_create", key=name, key_role=role)
        self.node.log("info", f"key {name!r} ({role}) accepted")
        return {"name": entry.name, "role": entry.role, "created": entry.created, "public": entry.public}

    def keys_revoke(self, name: str) -> dict:
        """Revoke a client key now: its requests are refused, its connections are cut."""
        try:
            entry = self._table().revoke(name)
        except KeyError:
            raise BadRequest(f"no key named {name!r}", arg="name", reason="unknown key") from None
        except KeyTableError as exc:
            raise BadRequest(str(exc), arg=exc.field, reason="refused") from None
        except (OSError, ConfigError) as exc:
            raise BusError(f"could not save the key table: {exc}") from None
        for svc_name in [n for n, s in self.services.items() if s.user == name]:
            del self.services[svc_name]
        if self.curve:
            self._restart_proxy()  # its subscriptions and publishers end; the others reconnect
        self.node.audit("key_revoke", key=name)
        self.node.log("warning", f"key {name!r} revoked")
        return {"name": entry.name, "role": entry.role, "revoked": entry.revoked}

    def _soh(self) -> dict:
        return {
            "services": len([s for s in self.services.values() if self._alive(s)]),
            "cached_topics": len(self.cache),
            "cached_bytes": self.cache_bytes,
            "pending_replies": len(self.pending),
            "curve": self.curve,
            **{k: self.node.stats[k] for k in ("auth_refused", "register_refused", "proxy_restarts")},
            **self._proxy_stats(),
        }

    # ---- lifecycle ----------------------------------------------------------------------
    def run(self) -> None:
        self._running = True
        self._proxy.start()
        if self.warning:
            self.node.log("warning", self.warning)
        self.node.log("info", f"hub serving {self.address}" + (" (CurveZMQ)" if self.curve else ""))
        try:
            self.node.run()
        finally:
            self.close()

    def stop(self) -> None:
        self.node.stop()

    def close(self) -> None:
        self.node.close()
        self._stop_proxy()
        if self.curve:
            self.zap.close(linger=0)
