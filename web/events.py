"""Server-Sent Events: one bus subscription per app, fanned out to every browser.

One background thread subscribes the bus (`data.#`, `state.#`, `soh.#`, `log.#`, with the
hub's snapshot so the latest survey/recorder/SOH are known at once) and turns each message
into one SSE frame, formatted once. Every client has its own bounded queue: a slow client
loses its *oldest* frames (counted, and told with a `dropped` event), it never blocks the
thread or the other clients. A second thread polls the process list and pushes a
`processes` event when the alive set changes and every 5 s.

Frames carry an incrementing `id:`; a browser reconnecting with `Last-Event-ID` first gets
what it missed if it is still in the recent-frame ring, then the current snapshot.
"""

from __future__ import annotations

import json
import math
import select
import threading
import time
from collections import deque
from typing import Callable, Iterator

from bus.config import BusConfig
from bus.events import Subscriber

PATTERNS = ["data.#", "state.#", "soh.#", "log.#"]
CLIENT_QUEUE = 1000  # frames held per client before its oldest are dropped
RING = 512  # recent frames kept for Last-Event-ID replay
SNAPSHOT_MAX = 100_000  # more than the hub's snapshot ever holds: it is taken in one batch
KEEPALIVE_S = 15.0
RETRY_MS = 2000
PROCESSES_EVERY_S = 5.0
PROCESSES_POLL_S = 1.0
GONE_CHECK_S = 1.0  # how often a quiet stream checks that its client is still there


def _finite(obj):
    """JSON-safe copy: NaN/inf become null, bytes become text, tuples lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    return obj


def to_json(obj) -> str:
    """Compact JSON that browsers can parse (never NaN)."""
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False, default=str)


def frame(event: str, data, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {to_json(data)}\n\n"


def translate(topic: str, body, ts: float) -> tuple[str, object] | None:
    """(SSE event name, data) for one bus message, or None if the page has no use for it."""
    parts = topic.split(".")
    root = parts[0]
    if root == "data" and len(parts) >= 3:
        kind = parts[-1]
        if kind in ("measurement", "waveform", "rs_check"):
            data = dict(body) if isinstance(body, dict) else {"value": body}
            data.setdefault("instrument", parts[1])
            return kind, data
        return None
    if root == "state" and len(parts) == 2:
        if parts[1] == "sequencer":
            return "survey", body
        if parts[1] == "recorder":
            return "recorder", body
        return "state", {"process": parts[1], "state": body}
    if root == "soh" and len(parts) == 2:
        data = dict(body) if isinstance(body, dict) else {"value": body}
        data["process"] = parts[1]
        data.setdefault("ts", ts)
        return "soh", data
    if root == "log" and len(parts) >= 3:
        data = dict(body) if isinstance(body, dict) else {"message": body}
        if not isinstance(data.get("message"), str):
            data["message"] = str(data.get("message"))
        data.update({"process": parts[1], "level": parts[-1], "ts": ts})
        return "log", data
    return None


class Stream:
    """One connected client's bounded queue."""

    def __init__(self, maxlen: int = CLIENT_QUEUE, client: str = ""):
        self.client = client  # the peer address: streams per address are capped
        self.queue: deque[str] = deque()
        self.maxlen = maxlen
        self.cond = threading.Condition()
        self.dropped = 0
        self.reported = 0
        self.closed = False

    def put_many(self, texts: list[str]) -> None:
        """Queue frames in order; past `maxlen` the oldest go (counted)."""
        with self.cond:
            self.queue.extend(texts)
            over = len(self.queue) - self.maxlen
            for _ in range(max(0, over)):
                self.queue.popleft()
            self.dropped += max(0, over)
            self.cond.notify()

    def take(self, timeout: float) -> list[str]:
        with self.cond:
            if not self.queue and not self.closed:
                self.cond.wait(timeout)
            out = list(self.queue)
            self.queue.clear()
            return out

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()


class EventHub:
    """The per-app bus subscription and its fan-out to SSE clients."""

    def __init__(
        self,
        address: str,
        cfg: BusConfig,
        *,
        processes: Callable[[], list] | None = None,
        max_clients: int = 16,
        max_per_client: int = 4,
        keepalive_s: float = KEEPALIVE_S,
    ):
        self.address = address
        self.cfg = cfg
        self.processes_fn = processes
        self.max_clients = max_clients
        self.max_per_client = max_per_client
        self.keepalive_s = keepalive_s
        self.lock = threading.Lock()
        self.clients: set[Stream] = set()
        self.ring: deque[tuple[int, str]] = deque(maxlen=RING)
        self.next_id = 1
        self.cache: dict[str, str] = {}  # "survey", "recorder", "soh:<process>", "processes" -> frame text
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.started = False
        self.stats = {
            "events": 0,
            "dropped": 0,
            "clients_total": 0,
            "missed": 0,
            "subscribe_errors": 0,
            "refused_full": 0,
            "refused_client": 0,
            "ended_gone": 0,
            "ended_revoked": 0,
        }
        self.ready = threading.Event()

    # ---- threads --------------------------------------------------------------------------
    def start(self) -> None:
        with self.lock:
            if self.started:
                return
            self.started = True
        t = threading.Thread(target=self._run_bus, name="sse-bus", daemon=True)
        t.start()
        self.threads.append(t)
        if self.processes_fn is not None:
            p = threading.Thread(target=self._run_processes, name="sse-processes", daemon=True)
            p.start()
            self.threads.append(p)

    def close(self) -> None:
        self.stop.set()
        with self.lock:
            clients = list(self.clients)
        for c in clients:
            c.close()
        for t in self.threads:
            t.join(timeout=3)

    def _run_bus(self) -> None:
        while not self.stop.is_set():
            try:
                sub = Subscriber(PATTERNS, address=self.address, cfg=self.cfg, snapshot=True)
            except Exception:
                self.stats["subscribe_errors"] += 1
                self.stop.wait(1.0)
                continue
            try:
                # the hub's snapshot first (all of it): then the cache is ready
                self.publish_messages(sub.recv_batch(timeout=0, max_count=SNAPSHOT_MAX))
                self.ready.set()
                while not self.stop.is_set():
                    batch = sub.recv_batch(timeout=0.5)
                    self.stats["missed"] = sub.missed
                    self.publish_messages(batch)
            except Exception:
                self.stats["subscribe_errors"] += 1
                self.stop.wait(0.5)
            finally:
                sub.close()

    def _run_processes(self) -> None:
        last_alive = None
        last_sent = 0.0
        while not self.stop.is_set():
            try:
                procs = self.processes_fn()
            except Exception:
                procs = None
            if procs is not None:
                alive = frozenset((p.get("name"), bool(p.get("alive"))) for p in procs)
                now = time.monotonic()
                if alive != last_alive or now - last_sent >= PROCESSES_EVERY_S:
                    self.broadcast("processes", procs, cache_key="processes")
                    last_alive, last_sent = alive, now
            self.stop.wait(PROCESSES_POLL_S)

    # ---- fan-out --------------------------------------------------------------------------
    def publish_messages(self, messages) -> None:
        """Fan out a batch of bus messages (anything with topic, body, ts): one lock and one
        hand-over per client for the whole batch, not per message."""
        events = []
        for msg in messages:
            translated = translate(msg.topic, msg.body, msg.ts)
            if translated is None:
                continue
            event, data = translated
            key = None
            if event in ("survey", "recorder"):
                key = event
            elif event == "soh":
                key = f"soh:{data['process']}"
            events.append((event, data, key))
        if events:
            self._broadcast_many(events)

    def broadcast(self, event: str, data, cache_key: str | None = None) -> None:
        self._broadcast_many([(event, data, cache_key)])

    def _broadcast_many(self, events: list[tuple[str, object, str | None]]) -> None:
        texts = []
        with self.lock:
            for event, data, cache_key in events:
                event_id = self.next_id
                self.next_id += 1
                text = frame(event, data, event_id)
                self.ring.append((event_id, text))
                if cache_key is not None:
                    self.cache[cache_key] = frame(event, data)  # replayed without id on connect
                texts.append(text)
            clients = list(self.clients)
            self.stats["events"] += len(texts)
        for c in clients:
            c.put_many(texts)

    # ---- clients --------------------------------------------------------------------------
    def connect(self, last_event_id: int | None = None, client: str = "") -> Stream | str:
        """A new client's stream primed with what it missed and the snapshot; when full, why not:
        "full" (every stream in use) or "client" (this address has its share)."""
        self.start()
        self.ready.wait(2.0)
        stream = Stream(client=client)
        with self.lock:
            if sum(c.client == client for c in self.clients) >= self.max_per_client:
                self.stats["refused_client"] += 1
                return "client"
            if len(self.clients) >= self.max_clients:
                self.stats["refused_full"] += 1
                return "full"
            if last_event_id is not None and self.ring and self.ring[0][0] <= last_event_id + 1:
                for event_id, text in self.ring:
                    if event_id > last_event_id:
                        stream.queue.append(text)
            order = sorted(self.cache, key=lambda k: (k != "survey", k != "recorder", k != "processes", k))
            stream.queue.extend(self.cache[k] for k in order)
            self.clients.add(stream)
            self.stats["clients_total"] += 1
        return stream

    def disconnect(self, stream: Stream) -> None:
        with self.lock:
            self.clients.discard(stream)
            self.stats["dropped"] += stream.dropped

    def serve(
        self, stream: Stream, *, gone: Callable[[], bool] | None = None, still_allowed: Callable[[], bool] | None = None
    ) -> Iterator[str]:
        """The SSE body for one client. Ends when the client goes (`gone()`: checked every
        second, so its slot is free at once), when its credential is revoked
        (`still_allowed()`, checked at each keep-alive) or when the hub closes."""
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            quiet_since = checked = time.monotonic()
            while not self.stop.is_set() and not stream.closed:
                texts = stream.take(min(GONE_CHECK_S, self.keepalive_s))
                if gone is not None and gone():
                    self.stats["ended_gone"] += 1
                    return
                now = time.monotonic()
                if still_allowed is not None and now - checked >= self.keepalive_s:
                    checked = now
                    if not still_allowed():
                        self.stats["ended_revoked"] += 1
                        yield frame("revoked", {"message": "the credential of this stream was revoked or expired"})
                        return
                if stream.dropped != stream.reported:
                    texts.insert(
                        0, frame("dropped", {"dropped": stream.dropped, "new": stream.dropped - stream.reported})
                    )
                    stream.reported = stream.dropped
                if texts:
                    yield "".join(texts)
                    quiet_since = now
                elif now - quiet_since >= self.keepalive_s:
                    yield ": keep-alive\n\n"
                    quiet_since = now
        finally:
            self.disconnect(stream)

    def status(self) -> dict:
        with self.lock:
            return {
                "clients": len(self.clients),
                "max_clients": self.max_clients,
                "max_per_client": self.max_per_client,
                **self.stats,
                "dropped_live": sum(c.dropped for c in self.clients),
            }


def peer_gone(sock) -> bool:
    """Has the client of a streaming response gone? An EventSource sends nothing after its
    request, so a readable socket means it closed (or broke the protocol): either way, done."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
