"""Publish/subscribe: Publisher, Subscriber and the gap tracker.

Events are lossy by design under overload (PUB drops at its high-water mark rather than
block the instrument); what is lost is never silent: every message carries a per-source,
per-topic sequence number and subscribers count the gaps.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque

import zmq

from .config import BusConfig, endpoints, load_bus_config
from .envelope import FrameError, Message, Session, decode_topic, message, unpack_envelope
from .topics import Pattern, check_topic, pattern

MATCH_CACHE_SIZE = 4096  # distinct topics whose pattern verdict a Subscriber remembers
BATCH = 1000  # messages one receive takes from the socket before it returns
ZERO_COPY_BYTES = 65536  # events at least this big are sent without copying
# Plain ints: pyzmq's enum arithmetic on every call is measurable at 100k messages/s.
_SNDMORE, _NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)


class Publisher:
    """Publishes events to the hub. Thread-safe: a lock serialises the socket."""

    def __init__(
        self,
        session: Session,
        address: str,
        cfg: BusConfig,
        ctx: zmq.Context,
        stats: Counter | None = None,
        *,
        key=None,
    ):
        from .sockets import client_socket

        self.session = session
        self.max_bytes = cfg.max_message_bytes
        self.stats = stats if stats is not None else Counter()
        self._sock = client_socket(ctx, zmq.PUB, cfg, address, key=key)
        self._sock.connect(endpoints(address).pub)
        self._lock = threading.Lock()
        self._topics: dict[str, bytes] = {}

    def publish(self, topic: str, body: object) -> None:
        """Send one event; raise ValueError for a bad topic or an oversized body."""
        frame = self._topics.get(topic)
        if frame is None:
            frame = check_topic(topic).encode("ascii")
            if len(self._topics) < 4096:
                self._topics[topic] = frame
        with self._lock:
            data = self.session.pack("event", body, topic)
            if len(data) > self.max_bytes:
                raise ValueError(f"event on {topic} is {len(data)} bytes, over the limit of {self.max_bytes}")
            # Two plain sends rather than send_multipart: pyzmq's send_multipart type-checks every
            # part and ORs enum flags in Python, which cost twice what the send itself does. Small
            # frames are copied (cheapest); large ones go zero-copy.
            self._sock.send(frame, _SNDMORE)
            self._sock.send(data, 0, copy=len(data) < ZERO_COPY_BYTES)
        self.stats["msgs_out"] += 1

    def close(self) -> None:
        with self._lock:
            self._sock.close()


class GapTracker:
    """Counts messages missed per source, from gaps in per-(source, topic) sequence numbers.

    Bounded against hostile or buggy peers: it remembers the newest `max_keys` (source, topic)
    pairs, and a `seq` that jumps by more than `max_gap` (far beyond any queue) is counted as
    one `anomalies`, not as millions of missed messages.
    """

    def __init__(self, max_keys: int = 4096, max_gap: int = 1_000_000):
        self._last: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self.max_keys = max_keys
        self.max_gap = max_gap
        self.missed = 0
        self.missed_by_source: Counter = Counter()
        self.duplicates = 0
        self.anomalies = 0

    def accept(self, msg: Message) -> bool:
        """Record `msg`; False if it is a duplicate (already seen) and should be dropped."""
        key = (msg.src, msg.topic)
        instance = msg.instance
        last = self._last.get(key)
        if last is not None and last[1] + 1 == msg.seq and last[0] == instance:  # the usual case: the next one
            self._last.move_to_end(key)
            self._last[key] = (instance, msg.seq)
            return True
        if last is None or last[0] != instance:
            # First message from this publisher instance: a restart starts again at 1.
            gap = msg.seq - 1 if last is not None else 0
        elif msg.seq <= last[1]:
            self.duplicates += 1
            return False
        else:
            gap = msg.seq - last[1] - 1
        if gap > self.max_gap:
            self.anomalies += 1
        elif gap > 0:
            self.missed += gap
            if msg.src in self.missed_by_source or len(self.missed_by_source) < self.max_keys:
                self.missed_by_source[msg.src] += gap
        if last is None:
            if len(self._last) >= self.max_keys:
                self._last.popitem(last=False)
        else:
            self._last.move_to_end(key)
        self._last[key] = (instance, msg.seq)
        return True


def _could_match(patterns: list[Pattern], roots: tuple[str, ...]) -> list[str]:
    """The patterns (as text) whose matches may include cached `state.`/`soh.` topics."""
    out = []
    for p in patterns:
        if p.prefix == "" or any(p.prefix.startswith(r) or r.startswith(p.prefix) for r in roots):
            out.append(p.text)
    return out


class Subscriber:
    """Receives events matching MQTT-style patterns, drops bad frames, counts gaps.

    With `snapshot=True` a late joiner first receives the hub's cached latest `state.*`
    and `soh.*` message of every source (marked `replayed`), then live events;
    overlaps are removed by sequence number.
    """

    def __init__(
        self,
        patterns: list[str] | str = "#",
        *,
        address: str | None = None,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        snapshot: bool = True,
        stats: Counter | None = None,
        snapshot_timeout: float = 2.0,
        key=None,
    ):
        self.cfg = cfg or load_bus_config()
        self.address = address or self.cfg.resolved_address()
        self.ctx = ctx or zmq.Context.instance()
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns = [pattern(p) for p in patterns]
        self.stats = stats if stats is not None else Counter()
        self.tracker = GapTracker()
        self.max_bytes = self.cfg.max_message_bytes
        from .sockets import client_socket

        self.key = key
        self.socket = client_socket(self.ctx, zmq.SUB, self.cfg, self.address, key=key)
        for prefix in sorted({p.prefix for p in self.patterns}):
            self.socket.setsockopt(zmq.SUBSCRIBE, prefix.encode("ascii"))
        self.socket.connect(endpoints(self.address).sub)
        self._pending: deque[Message] = deque()
        self._topics: dict[bytes, tuple[str, bool]] = {}  # topic frame -> (topic, do the patterns match it)
        if snapshot:
            wanted = _could_match(self.patterns, ("state", "soh"))
            if wanted:
                self._load_snapshot(wanted, snapshot_timeout)

    @property
    def missed(self) -> int:
        return self.tracker.missed

    def _load_snapshot(self, wanted: list[str], timeout: float) -> None:
        from .errors import BusError
        from .rpc import Client

        client = Client(self.address, cfg=self.cfg, ctx=self.ctx, timeout=timeout, retries=0, key=self.key)
        try:
            cached = client.call_paged("hub", "snapshot", patterns=wanted)
        except BusError:
            self.stats["snapshot_failed"] += 1
            return
        finally:
            client.close()
        for topic, data in cached:
            msg = self.handle([topic.encode("ascii"), data])
            if msg is not None:
                msg.replayed = True
                self._pending.append(msg)

    def handle(self, frames: list[bytes]) -> Message | None:
        """Decode, filter and track one received multipart; None if dropped."""
        if len(frames) != 2:
            return self._drop("frames")
        msg = self._accept(frames[0], frames[1])
        if msg is not None:
            self.stats["msgs_in"] += 1
        return msg

    def _drop(self, reason: str) -> None:
        self.stats["dropped"] += 1
        self.stats[f"dropped:{reason}"] += 1

    def _accept(self, topic_frame: bytes, data) -> Message | None:
        """Every check on one `[topic, envelope]` pair: topic, envelope, pattern, sequence gap."""
        known = self._topics.get(topic_frame)
        if known is None:  # first time this topic arrives: check it and run the patterns once
            try:
                topic = decode_topic(topic_frame)
            except FrameError as exc:
                return self._drop(exc.reason)
            known = (topic, any(p.matches(topic) for p in self.patterns))
            if len(self._topics) < MATCH_CACHE_SIZE:
                self._topics[topic_frame] = known
        try:
            env = unpack_envelope(data, self.max_bytes)
        except FrameError as exc:
            return self._drop(exc.reason)
        if not known[1]:
            return None  # prefix matched but the exact pattern does not
        msg = message(known[0], env)
        return msg if self.tracker.accept(msg) else None

    def _drain(self, out: list[Message], max_count: int) -> None:
        """Take up to `max_count` queued multiparts off the socket without waiting; append the
        accepted messages to `out`.

        The batch is what makes a receive cheap: no poll per message, the counter bumped once,
        and each frame read as a zero-copy Frame whose `.more` gives the frame count that
        recv_multipart asks getsockopt for (dearer than the receive itself)."""
        recv, accept, append = self.socket.recv, self._accept, out.append
        before = len(out)
        for _ in range(max_count):
            try:
                head = recv(_NOBLOCK, copy=False)
            except zmq.Again:
                break
            if not head.more:  # one frame: not [topic, envelope]
                self._drop("frames")
                continue
            body = recv(_NOBLOCK, copy=False)  # the rest of a multipart is there once its first frame is
            if body.more:  # three or more frames: skip the rest of this multipart
                while recv(_NOBLOCK, copy=False).more:
                    pass
                self._drop("frames")
                continue
            msg = accept(head.bytes, body)  # msgpack reads the Frame in place: no copy
            if msg is not None:
                append(msg)
        if len(out) > before:
            self.stats["msgs_in"] += len(out) - before

    def recv_batch(self, timeout: float | None = None, max_count: int = BATCH) -> list[Message]:
        """Every matching message queued now (at most `max_count`), waiting up to `timeout` seconds
        (None = forever) for the first; [] if none came. The same checks as recv(), per batch."""
        out: list[Message] = []
        pending = self._pending
        while pending and len(out) < max_count:
            out.append(pending.popleft())
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self.socket
        while True:
            self._drain(out, max_count - len(out))
            if out:
                return out
            if deadline is None:
                sock.poll()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sock.poll(int(remaining * 1000)):
                return out

    def recv(self, timeout: float | None = None) -> Message | None:
        """The next matching message, or None after `timeout` seconds (None = wait forever)."""
        if not self._pending:
            self._pending.extend(self.recv_batch(timeout))
        return self._pending.popleft() if self._pending else None

    def __iter__(self):
        while True:
            msg = self.recv()
            if msg is not None:
                yield msg

    def close(self) -> None:
        self.socket.close()
