"""The runtime of one bus process: its commands, its events, its heartbeat, its shutdown.

A worker creates a Node, registers commands and subscriptions, and calls run(). One
thread owns every socket; background commands run in their own thread and hand their
reply back through a queue and a wake-up pipe, so the loop keeps answering (`abort`,
`status`) while a long command runs. SIGTERM/SIGINT end run() at once; sockets close with
a bounded LINGER.

Pipelining: a command registered with `queue=k` waits (FIFO, at most k) for its busy lane
instead of being refused `busy`; a handler returning `Later(finish)` frees its lane at once
and `finish` (a durable commit) runs on the one finisher thread, which sends every lane's
replies in the order the handlers ended. `drop_waiting` refuses the waiting calls of a lane,
`cancel_running` flags the one it runs (`current_cancel`): an abort leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from typing import Callable

import msgpack
import zmq

from .commands import Later, Registry, current_caller, current_cancel, error_reply, ok_reply, parse_request
from .config import BusConfig, endpoints, load_bus_config
from .constants import LOG_LEVELS, LOG_PER_MINUTE, MAX_LOG_TEXT  # noqa: F401 (re-exported)
from .envelope import FrameError, Session, unpack_envelope
from .errors import BadRequest, BusError, Busy, Forbidden, InternalError, Unavailable
from .events import Publisher, Subscriber
from .heartbeat import ProcessHealth
from .roles import Caller
from .sockets import client_socket

DEDUP_SIZE = 512
FINISH_ON_STOP_S = 5.0  # at stop, how long the finisher may take to send the replies it holds

log = logging.getLogger("bus.node")


class _Lane:
    """A background command in progress on one lane; `cancel` is its `current_cancel`."""

    def __init__(self, cmd: str, args: dict):
        self.cmd = cmd
        self.args = args
        self.started = time.monotonic()
        self.cancel = threading.Event()


@dataclass
class _Call:
    """An accepted background call: run now, or waiting for its lane."""

    cmd: object
    kwargs: dict
    route: bytes
    req_id: str
    caller: Caller
    since: float


@dataclass
class Timer:
    """A periodic call of the node's loop: next `due` (monotonic s), every `interval` s."""

    due: float
    interval: float
    fn: Callable[[], None]


class Node:
    """One process on the bus. `serve=False` for processes that only publish/subscribe."""

    def __init__(
        self,
        name: str,
        *,
        address: str | None = None,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        serve: bool = True,
        key=None,
    ):
        self.cfg = cfg or load_bus_config()
        self.address = address or self.cfg.resolved_address()
        self.ctx = ctx or zmq.Context.instance()
        self.name = name
        self.key = key  # key file for a CURVE bus (None: $OHMPI_KEY or this machine's service key)
        os.umask(0o077)  # what a bus process creates (databases, outboxes, settings) is private
        self.session = Session(name)
        self.stats: Counter = Counter()
        self.health = ProcessHealth(name, self.stats)
        self.publisher = Publisher(self.session, self.address, self.cfg, self.ctx, self.stats, key=key)
        self.registry = Registry()
        self.status_providers: list[Callable[[], dict]] = []
        self.soh_providers: list[Callable[[], dict]] = []
        self.stop_hooks: list[Callable[[], None]] = []
        self._handlers: dict[object, Callable] = {}
        self.subscribers: list[Subscriber] = []
        self._closed = False
        self._poller = zmq.Poller()
        self._timers: list[Timer] = []
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poller.register(self._wake_r, zmq.POLLIN)
        self._finished: queue.SimpleQueue = queue.SimpleQueue()
        self._lanes: dict[str, _Lane] = {}
        self._waiting: dict[str, deque[_Call]] = {}
        # per lane: calls run, seconds their handlers ran, calls that waited (the lane's thread
        # writes calls/busy_s, the loop `waited`): how well a pipeline keeps the lane busy
        self._lane_use: dict[str, Counter] = {}
        self._lane_lock = threading.Lock()  # _lanes and _waiting: the loop and the lanes' threads
        self._finisher: tuple[threading.Thread, queue.SimpleQueue] | None = None
        self._workers: dict[str, tuple[threading.Thread, queue.SimpleQueue]] = {}
        self._recent: OrderedDict[tuple, dict] = OrderedDict()
        self._audit_budget = RateLimit(per_minute=30)
        self._log_budget = RateLimit(per_minute=LOG_PER_MINUTE)  # per level: a storm stops here, at its source
        self._log_lock = threading.Lock()  # log() is called from any thread
        self._reply_session = Session(name)
        self.dealer: zmq.Socket | None = None
        self.command(self._ping, name="ping", role="viewer")
        self.command(self._help, name="help", role="viewer")
        self.command(self._status, name="status", role="viewer")
        if serve:
            self.dealer = client_socket(
                self.ctx, zmq.DEALER, self.cfg, self.address, key=key, max_bytes=4 * self.cfg.max_message_bytes
            )
            self.dealer.connect(endpoints(self.address).cmd)
            self.add_socket(self.dealer, self._on_request)
            self.every(self.cfg.heartbeat_s, self._register, first=0.0)
        self.every(self.cfg.heartbeat_s, self._heartbeat, first=0.05)
        self.every(self.cfg.heartbeat_s, self._log_suppressed)

    # ---- registration -------------------------------------------------------------------
    def command(
        self,
        fn: Callable,
        *,
        role: str,
        name: str | None = None,
        background: bool = False,
        lane: str | None = None,
        queue: int = 0,
    ) -> None:
        """Register `fn` as a command (its name unless `name` is given) that callers of at least
        `role` may run (bus.roles). The one way a service declares a command: a plain call,
        `node.command(fn, role=...)`, never a decorator nor the registry itself. `queue`: how
        many calls of it may wait for its busy lane (background commands only)."""
        name = name or fn.__name__
        if queue and not background:
            raise ValueError(f"command {name!r}: only a background command can wait for its lane (queue)")
        self.registry.add(
            name, fn, role=role, background=background, lane=(lane or name) if background else None, queue=queue
        )

    def add_socket(self, sock, handler: Callable[[], None]) -> None:
        self._poller.register(sock, zmq.POLLIN)
        self._handlers[sock] = handler

    def subscribe(self, patterns: list[str] | str, handler: Callable, *, snapshot: bool = False) -> Subscriber:
        """Call `handler(message)` in the loop for each event matching `patterns`."""
        sub = Subscriber(
            patterns,
            address=self.address,
            cfg=self.cfg,
            ctx=self.ctx,
            snapshot=snapshot,
            stats=self.stats,
            key=self.key,
        )

        def on_ready():
            for msg in sub.recv_batch(timeout=0):  # bounded: timers and commands still get their turn
                handler(msg)

        self.subscribers.append(sub)
        while sub._pending:
            handler(sub._pending.popleft())
        self.add_socket(sub.socket, on_ready)
        return sub

    def every(self, interval: float, fn: Callable[[], None], *, first: float | None = None) -> None:
        """Run `fn` in the loop every `interval` seconds (first after `first`, default interval)."""
        due = time.monotonic() + (interval if first is None else first)
        self._timers.append(Timer(due, interval, fn))

    # ---- events -------------------------------------------------------------------------
    def publish(self, topic: str, body: object) -> None:
        self.publisher.publish(topic, body)

    def log(self, level: str, message: str, **fields) -> None:
        """Publish a log record on `log.<process>.<level>` and echo it to stderr (texts capped).

        At most LOG_PER_MINUTE records per level and minute (bursts up to that many): beyond,
        records are counted, not sent, and one "N messages suppressed" line per heartbeat says so."""
        if level not in LOG_LEVELS:
            raise ValueError(f"log level {level!r} must be one of {', '.join(LOG_LEVELS)}")
        with self._log_lock:
            if not self._log_budget.take(level):
                return
        self._send_log(level, message, fields)

    def _log_suppressed(self) -> None:
        """One summary line per level for the records the rate limit held back since the last one."""
        with self._log_lock:
            counts = dict(self._log_budget.suppressed)
            self._log_budget.suppressed.clear()
        for level, count in counts.items():
            self._send_log(
                level, f"{count} {level} messages suppressed (over {LOG_PER_MINUTE} a minute)", {"suppressed": count}
            )

    def _send_log(self, level: str, message: str, fields: dict) -> None:
        message = _cap(str(message))
        print(f"{self.name} {level.upper()}: {message}", file=sys.stderr, flush=True)
        try:
            self.publish(
                f"log.{self.name}.{level}",
                {"message": message, **{k: _cap(v) if isinstance(v, str) else v for k, v in fields.items()}},
            )
        except (ValueError, TypeError, zmq.ZMQError):
            pass

    def audit(self, action: str, *, ok: bool = True, **fields) -> None:
        """Publish an audit record on `audit.<process>`: who (the current caller) did what.

        The recorder stores these apart from logs (`ohmpi audit`). `fields` add details."""
        caller = current_caller.get()
        if not ok and not self._audit_budget.take(action):
            return  # refusals are rate-limited: a flood of them must not flood the store
        body = {
            "action": action,
            "ok": ok,
            "user": fields.pop("user", caller.user if caller else self.name),
            "role": fields.pop("role", caller.role if caller else None),
            **{k: _cap(v) if isinstance(v, str) else v for k, v in fields.items()},
        }
        try:
            self.publish(f"audit.{self.name}", body)
        except (ValueError, TypeError, zmq.ZMQError):
            pass

    def _sample(self) -> dict:
        """Health now; gaps are summed over the subscribers here, not on every event."""
        self.stats["missed"] = sum(sub.missed for sub in self.subscribers)
        self.stats["seq_anomalies"] = sum(sub.tracker.anomalies for sub in self.subscribers)
        return self.health.sample()

    def _heartbeat(self) -> None:
        body = self._sample()
        for provider in self.soh_providers:
            try:
                body.update(provider())
            except Exception as exc:  # a broken sensor must not stop the heartbeat
                body.setdefault("soh_errors", []).append(f"{type(exc).__name__}: {exc}")
        self.publish(f"soh.{self.name}", body)

    # ---- commands -----------------------------------------------------------------------
    def _ping(self) -> dict:
        """Answer that this process is alive."""
        return {
            "pong": True,
            "name": self.name,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.health.started_mono, 3),
        }

    def _help(self) -> list:
        """List this service's commands with their arguments."""
        return self.registry.help()

    def _status(self) -> dict:
        """This process's health and state."""
        body = self._sample()
        now = time.monotonic()
        with self._lane_lock:
            body["busy"] = {
                lane: {
                    "cmd": busy.cmd,
                    "for_s": round(now - busy.started, 3),
                    "waiting": [
                        {"cmd": c.cmd.name, "for_s": round(now - c.since, 3)} for c in self._waiting.get(lane, ())
                    ],
                }
                for lane, busy in self._lanes.items()
            }
        body["lanes"] = {lane: {**use, "busy_s": round(use["busy_s"], 4)} for lane, use in self._lane_use.items()}
        for provider in self.status_providers:
            body.update(provider())
        return body

    def _register(self) -> None:
        body = {"service": self.name, "commands": sorted(self.registry.commands)}
        try:
            self.dealer.send_multipart([b"!register", self.session.pack("register", body)], zmq.NOBLOCK)
        except zmq.Again:  # the hub is away and the queue is full: the next beat tries again
            self.stats["register_skipped"] += 1

    def _send_reply(self, route: bytes, reply: dict, key: tuple | None = None) -> None:
        """Send `reply` to `route`; `key` (caller, request id) files it for retries of that request."""
        try:
            data = self._reply_session.pack("reply", reply)
        except (TypeError, ValueError) as exc:
            reply = error_reply(reply.get("id"), InternalError(f"result could not be encoded: {exc}"))
            data = self._reply_session.pack("reply", reply)
        if len(data) > self.cfg.max_message_bytes:
            reply = error_reply(
                reply.get("id"),
                InternalError(
                    f"reply of {len(data)} bytes exceeds the limit of {self.cfg.max_message_bytes}; ask for less"
                ),
            )
            data = self._reply_session.pack("reply", reply)
        entry = self._recent.get(key) if key is not None else None
        if entry is not None:
            entry["reply"] = data
            route = entry["route"]  # a retry may have come in on a newer route meanwhile
        if not reply.get("ok"):
            self.stats["errors"] += 1
        try:
            self.dealer.send_multipart([b"!reply", route, data], zmq.NOBLOCK)
        except zmq.Again:
            self.stats["dropped"] += 1
            self.stats["dropped:reply_queue_full"] += 1

    def _on_request(self) -> None:
        for _ in range(100):
            try:
                frames = self.dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._handle_request(frames)

    def _handle_request(self, frames: list[bytes]) -> None:
        if frames[0][:1] == b"!":
            return self._from_hub(frames)
        if len(frames) != 3:
            self.stats["dropped"] += 1
            self.stats["dropped:frames"] += 1
            return
        route, caller_frame, data = frames
        self.stats["requests"] += 1
        req_id = None
        try:
            try:
                caller = Caller.from_wire(msgpack.unpackb(caller_frame, raw=False))
            except Exception as exc:
                raise BadRequest(f"the hub's caller frame is unreadable: {exc}", arg="caller") from None
            env = unpack_envelope(data, self.cfg.max_message_bytes)
            req_id, cmd_name, args = parse_request(env["body"])
            key = (caller.user, req_id)  # ids are unique per caller: another caller's id is not ours
            seen = self._recent.get(key)
            if seen is not None:  # a retry: never run twice
                seen["route"] = route
                self._answer_retry(route, req_id, seen)
                return
            cmd = self.authorized(cmd_name, caller)
            kwargs = cmd.bind(args)
        except FrameError as exc:
            return self._send_reply(route, error_reply(req_id, BadRequest(str(exc), arg="envelope")))
        except BusError as exc:
            return self._send_reply(route, error_reply(req_id, exc))
        self._recent[key] = {"route": route, "reply": None, "cmd": cmd.name, "started": time.monotonic()}
        while len(self._recent) > DEDUP_SIZE:
            self._recent.popitem(last=False)
        if cmd.background:
            call = _Call(cmd, kwargs, route, req_id, caller, time.monotonic())
            with self._lane_lock:
                busy = self._lanes.get(cmd.lane)
                if busy is None:
                    return self._lane_queue(cmd.lane).put((call, self._occupy(call)))
                waiting = self._waiting.setdefault(cmd.lane, deque())
                if len(waiting) < cmd.queue:
                    waiting.append(call)  # answered `in_progress` if asked again meanwhile
                    self._lane_use[cmd.lane]["waited"] += 1
                    return
            err = Busy(
                f"{cmd.name!r} refused: {busy.cmd!r} is running (for {time.monotonic() - busy.started:.1f} s)"
                + (f" and {len(waiting)} call(s) wait" if waiting else ""),
                running=busy.cmd,
                waiting=len(waiting),
            )
            return self._send_reply(route, error_reply(req_id, err), key)
        reply = self._execute(cmd, kwargs, req_id, caller)
        if isinstance(reply, Later):
            self._finisher_queue().put((cmd, reply, route, req_id, caller))
            return
        self._send_reply(route, reply, key)

    def authorized(self, cmd_name: str, caller: Caller):
        """The command `caller` asked for, if its role allows it; a refusal is audited, then raised
        (Forbidden). Every request served here or by the hub locally comes through this one check."""
        cmd = self.registry.lookup(cmd_name)
        try:
            cmd.authorize(caller)
        except Forbidden as exc:
            self.audit(
                "forbidden",
                ok=False,
                user=caller.user,
                role=caller.role,
                command=cmd_name,
                needed=exc.details.get("role"),
            )
            raise
        return cmd

    def _occupy(self, call: _Call) -> _Lane:
        """Mark `call`'s lane as running it (lane lock held)."""
        self._lane_use.setdefault(call.cmd.lane, Counter(calls=0, busy_s=0.0, waited=0))
        lane = self._lanes[call.cmd.lane] = _Lane(call.cmd.name, call.kwargs)
        return lane

    def _next_waiting(self, name: str) -> tuple[_Call | None, _Lane | None]:
        """The lane's thread, its handler returned: the next waiting call (it runs it at once, no
        hop through the loop), or the lane is free."""
        with self._lane_lock:
            waiting = self._waiting.get(name)
            if waiting and not self._closed:
                call = waiting.popleft()
                return call, self._occupy(call)
            self._lanes.pop(name, None)
            return None, None

    def drop_waiting(self, lane: str, error: BusError) -> list[dict]:
        """Refuse every call waiting for `lane` with `error` (they never start); returns their
        arguments. From the IO thread only: a non-background handler (`abort`)."""
        with self._lane_lock:
            waiting = self._waiting.pop(lane, None) or deque()
        for call in waiting:
            self._send_reply(call.route, error_reply(call.req_id, error), (call.caller.user, call.req_id))
        return [call.kwargs for call in waiting]

    def cancel_running(self, lane: str) -> dict | None:
        """Set the `current_cancel` event of the command `lane` runs (even one not yet started):
        `{"cmd", "args"}` of it, None if the lane is free. From the IO thread only."""
        with self._lane_lock:
            running = self._lanes.get(lane)
        if running is None:
            return None
        running.cancel.set()
        return {"cmd": running.cmd, "args": running.args}

    def _answer_retry(self, route: bytes, req_id: str, seen: dict) -> None:
        """A retried request id: its reply again if it is done, else `in_progress`, so the caller
        knows the command is running and keeps waiting instead of guessing how long it takes."""
        data = seen["reply"]
        if data is None:
            data = self._reply_session.pack(
                "reply",
                {
                    "id": req_id,
                    "in_progress": True,
                    "cmd": seen["cmd"],
                    "for_s": round(time.monotonic() - seen["started"], 3),
                },
            )
            self.stats["in_progress_replies"] += 1
        try:
            self.dealer.send_multipart([b"!reply", route, data], zmq.NOBLOCK)
        except zmq.Again:
            self.stats["dropped"] += 1
            self.stats["dropped:reply_queue_full"] += 1

    def _answer_before_stop(self) -> None:
        """At stop: the waiting calls are refused (`unavailable`: they never started), the
        replies the finisher holds (commits under way) are sent, within FINISH_ON_STOP_S."""
        if self.dealer is None or self.dealer.closed:
            return
        for lane in list(self._waiting):  # the lanes' threads start no waiting call once closed
            self.drop_waiting(
                lane, Unavailable(f"{self.name} is stopping: the call was not started", reason="stopping")
            )
        if self._finisher is not None:
            thread, jobs = self._finisher
            jobs.put(None)
            thread.join(FINISH_ON_STOP_S)
        self._send_finished()

    def _from_hub(self, frames: list[bytes]) -> None:
        """Control frames from the hub: `!probe` (are you there?), `!refused` (our name is taken)."""
        if frames[0] == b"!refused" and len(frames) == 2:
            reason = frames[1][:300].decode("utf-8", "replace")
            self.stats["register_refused"] += 1
            if self.stats["register_refused"] in (1, 10, 100) or self.stats["register_refused"] % 1000 == 0:
                self.log("error", f"the hub refused our registration: {reason}")
        elif frames[0] != b"!probe":
            self.stats["dropped"] += 1
            self.stats["dropped:frames"] += 1

    def _execute(self, cmd, kwargs: dict, req_id: str, caller: Caller) -> dict | Later:
        """The reply of the handler called with `kwargs`, or the `Later` it returned."""
        return self._reply_of(cmd, lambda: cmd.handler(**kwargs), req_id, caller)

    def _reply_of(self, cmd, run: Callable[[], object], req_id: str, caller: Caller) -> dict | Later:
        """The reply of `run()` (a handler, or a `Later`'s finish), or the `Later` it returned."""
        token = current_caller.set(caller)
        try:
            result = run()
            return result if isinstance(result, Later) else ok_reply(req_id, result)
        except BusError as exc:
            return error_reply(req_id, exc)
        except Exception as exc:
            self.log(
                "error",
                f"command {cmd.name!r} failed: {type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
            )
            return error_reply(req_id, InternalError(f"{cmd.name}: {type(exc).__name__}: {exc}"))
        finally:
            current_caller.reset(token)

    def _lane_queue(self, lane: str) -> queue.SimpleQueue:
        """The job queue of the lane's worker thread, started on first use and kept (a thread
        per command would cost its start-up on every measurement). A lane runs one command at
        a time: the next starts once the previous handler has returned."""
        worker = self._workers.get(lane)
        if worker is None or not worker[0].is_alive():
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            thread = threading.Thread(target=self._lane_worker, args=(jobs,), name=f"lane-{lane}", daemon=True)
            thread.start()
            worker = self._workers[lane] = (thread, jobs)
        return worker[1]

    def _lane_worker(self, jobs: queue.SimpleQueue) -> None:
        while (job := jobs.get()) is not None:
            call, lane = job
            while call is not None:
                self._run_background(call, lane)
                call, lane = self._next_waiting(call.cmd.lane)

    def _run_background(self, call: _Call, lane: _Lane) -> None:
        """Run the handler; the lane is free as soon as it returns. Its reply (or its `Later`)
        goes through the finisher, so the replies of a lane leave in the order handlers ended."""
        token = current_cancel.set(lane.cancel)
        started = time.perf_counter()
        try:
            outcome = self._execute(call.cmd, call.kwargs, call.req_id, call.caller)
        finally:
            current_cancel.reset(token)
            use = self._lane_use[call.cmd.lane]
            use["calls"] += 1
            use["busy_s"] += time.perf_counter() - started
        self._finisher_queue().put((call.cmd, outcome, call.route, call.req_id, call.caller))

    def _finisher_queue(self) -> queue.SimpleQueue:
        """The queue of the one finisher thread (started on first use; after close, a queue no one
        reads: a call still running then is never answered, so its caller asks again)."""
        if self._closed:
            return queue.SimpleQueue()
        if self._finisher is None or not self._finisher[0].is_alive():
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            thread = threading.Thread(target=self._finish_worker, args=(jobs,), name="finisher", daemon=True)
            thread.start()
            self._finisher = (thread, jobs)
        return self._finisher[1]

    def _finish_worker(self, jobs: queue.SimpleQueue) -> None:
        while (job := jobs.get()) is not None:
            cmd, outcome, route, req_id, caller = job
            if isinstance(outcome, Later):
                outcome = self._reply_of(cmd, outcome.finish, req_id, caller)
                if isinstance(outcome, Later):
                    outcome = error_reply(req_id, InternalError(f"{cmd.name}: a finish may not defer again"))
            self._finished.put((route, outcome, (caller.user, req_id)))
            self.wake()

    def _drain_finished(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        self._send_finished()

    def _send_finished(self) -> None:
        """Send every reply the lanes and the finisher have ready (loop thread only)."""
        while True:
            try:
                route, reply, key = self._finished.get_nowait()
            except queue.Empty:
                return
            self._send_reply(route, reply, key)

    # ---- loop ---------------------------------------------------------------------------
    def wake(self) -> None:
        """Interrupt the loop's poll (thread- and signal-safe)."""
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    def stop(self) -> None:
        """Ask run() to return (thread- and signal-safe)."""
        self._stopping.set()
        self.wake()

    def _run_timers(self) -> float:
        now = time.monotonic()
        for timer in self._timers:
            if timer.due <= now:
                timer.due = max(timer.due + timer.interval, now)
                try:
                    timer.fn()
                except Exception as exc:
                    self.log("error", f"timer {getattr(timer.fn, '__name__', timer.fn)} failed: {exc!r}")
        return min((t.due for t in self._timers), default=now + 1.0) - time.monotonic()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT or stop(); then close everything."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        try:
            while not self._stopping.is_set():
                wait = self._run_timers()
                events = dict(self._poller.poll(max(0, min(wait, 1.0)) * 1000))
                if self._stopping.is_set():
                    break
                if self._wake_r in events:
                    self._drain_finished()
                for sock, handler in self._handlers.items():
                    if sock in events:
                        try:
                            handler()
                        except Exception as exc:  # no input may crash the process
                            self.stats["errors"] += 1
                            self.log(
                                "error",
                                f"handler failed: {type(exc).__name__}: {exc}",
                                traceback=traceback.format_exc(limit=8),
                            )
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _, jobs in self._workers.values():
            jobs.put(None)  # idle lane workers end; a running command finishes on its own (daemon)
        self._answer_before_stop()
        for hook in self.stop_hooks:
            try:
                hook()
            except Exception:
                pass
        self._log_suppressed()
        if self.dealer is not None and not self.dealer.closed:
            try:
                self.dealer.send_multipart([b"!bye", self.session.pack("bye", {"service": self.name})], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        for sock in list(self._handlers):
            if isinstance(sock, zmq.Socket):
                sock.close()
        self._handlers.clear()
        self.publisher.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _cap(text: str, limit: int = MAX_LOG_TEXT) -> str:
    """`text`, cut to `limit` characters with a note of how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} characters cut]"


class RateLimit:
    """At most `per_minute` events per key in any minute (a token bucket per key, bounded in keys)."""

    def __init__(self, per_minute: int, max_keys: int = 1024):
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.suppressed: Counter = Counter()
        self._lock = threading.Lock()  # commands, lanes and request threads may all log

    def take(self, key: str) -> bool:
        with self._lock:
            return self._take(key)

    def _take(self, key: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.pop(key, None) or [self.burst, now]
        bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        self.suppressed[key] += 1
        return False
