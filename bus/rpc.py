"""The command client: request/reply through the hub, never hanging (Lazy Pirate).

Each attempt waits `timeout` seconds; after a lost reply the socket is thrown away and a
fresh one resends the same request id (services de-duplicate ids, so a retried `measure`
runs once). After each lost reply the client pings the hub: with no hub it stops at once
("the hub is not running": `unavailable`) instead of retrying for minutes; with the hub up
it goes on, and after the last attempt says "the service did not answer" (`timeout`).

A long command needs no guessed timeout: asked again (same id) while it runs, the service
answers `in_progress`, and the client keeps waiting - asking again every `timeout` - until
the reply comes or the caller's overall `deadline` passes (`timeout`, "still running").
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from concurrent.futures import Future

import zmq

from .config import BusConfig, endpoints, load_bus_config
from .envelope import FrameError, Session, check_name, unpack_envelope
from .errors import BusError, Timeout, Unavailable, from_wire
from .sockets import client_socket

DEADLINE_S = 3600.0  # how long a call waits in all for a command its service says is still running


class Client:
    """Calls commands of any service on the bus. One per thread (sockets are not thread-safe)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        name: str | None = None,
        timeout: float = 3.0,
        retries: int = 2,
        deadline: float = DEADLINE_S,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        key=None,
    ):
        self.cfg = cfg or load_bus_config()
        self.address = address or self.cfg.resolved_address()
        self.endpoint = endpoints(self.address).cmd
        self.ctx = ctx or zmq.Context.instance()
        self.session = Session(name or f"client-{os.getpid()}")
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline
        self.key = key  # key file for a CURVE bus (None: $OHMPI_KEY or this machine's service key)
        self._sock: zmq.Socket | None = None

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = client_socket(
                self.ctx, zmq.DEALER, self.cfg, self.address, key=self.key, max_bytes=4 * self.cfg.max_message_bytes
            )
            self._sock.connect(self.endpoint)
        return self._sock

    def _discard_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def call(
        self,
        service: str,
        cmd: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        deadline: float | None = None,
        on_behalf: tuple[str, str] | None = None,
        **args,
    ) -> object:
        """Run `cmd` on `service` with keyword `args`; return its result or raise a BusError.

        `timeout`: seconds one attempt waits for an answer; `retries`: attempts after a lost
        one; `deadline`: seconds the whole call may last while the service answers that the
        command is still running (`in_progress`; default the client's, an hour). A command
        longer than `timeout` is found running by the first retry: give `retries` >= 1.
        `on_behalf=(user, role)`: a gateway acting for one of its own users; the hub lowers
        the call to that role and names the user (`gateway:user`), never raises it. Several calls in
        flight, received in order: `Pipeline`."""
        check_name(service, "service name")
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        started = time.monotonic()
        end = started + (self.deadline if deadline is None else deadline)
        request_id = self.session.next_id()
        body = {"id": request_id, "cmd": cmd, "args": args}
        if on_behalf is not None:
            body["as"] = {"user": on_behalf[0], "role": on_behalf[1]}
        envelope = self.session.pack("request", body)
        if len(envelope) > self.cfg.max_message_bytes:
            raise ValueError(f"request is {len(envelope)} bytes, over the limit of {self.cfg.max_message_bytes}")
        frames = [service.encode("ascii"), envelope]
        hub_up = False
        lost = 0
        running = None  # the last `in_progress` answer
        while True:
            sock = self._socket()
            sock.send_multipart(frames)
            reply, still = self._wait_answer(sock, request_id, min(timeout, max(0.0, end - time.monotonic())))
            if reply is not None:
                if reply.get("ok") is True:
                    return reply.get("result")
                raise from_wire(reply.get("error"))
            if still is not None:  # alive and working on it: ask again (same socket, same id) until the deadline
                running = still
                if time.monotonic() >= end:
                    break
                continue
            self._discard_socket()  # Lazy Pirate: a lost reply poisons nothing if the socket goes
            lost += 1
            if service != "hub":
                hub_up = self._hub_answers(timeout)
                if not hub_up:
                    break  # no hub: more attempts cannot succeed, say so now rather than after them all
            if lost > retries or time.monotonic() >= end:
                break
        if running is not None and time.monotonic() >= end:
            raise Timeout(
                f"{service}.{cmd} still running after {time.monotonic() - started:.1f} s (the caller's deadline)",
                service=service,
                running_s=running.get("for_s"),
            )
        if running is not None and hub_up:
            raise Timeout(
                f"{service}.{cmd} was running ({running.get('for_s')} s) and then stopped answering "
                f"({lost} attempt(s) of {timeout:g} s lost); the hub is up",
                service=service,
            )
        raise self._diagnose(service, cmd, timeout, lost, hub_up)

    def _hub_answers(self, timeout: float) -> bool:
        try:
            self.call("hub", "ping", timeout=min(timeout, 1.0), retries=0)
        except BusError:
            return False
        return True

    def _wait_answer(self, sock: zmq.Socket, request_id: str, timeout: float) -> tuple[dict | None, dict | None]:
        """(final reply, None), or (None, last `in_progress` answer) or (None, None) after `timeout`."""
        deadline = time.monotonic() + timeout
        still = None
        while (remaining := deadline - time.monotonic()) > 0:
            if not sock.poll(max(1, int(remaining * 1000))):
                break
            frames = sock.recv_multipart()
            try:
                env = unpack_envelope(frames[-1], 4 * self.cfg.max_message_bytes)
            except FrameError:
                continue
            body = env.get("body")
            if isinstance(body, dict) and (
                body.get("id") == request_id or (body.get("id") is None and env.get("src") == "hub")
            ):
                if body.get("in_progress") is True and body.get("id") is not None:
                    still = body  # the service has it and is running it: the reply comes later
                    continue
                return body, None  # id None: the hub could not read our request at all (only it may say so)
            # a late reply to an earlier request on this socket: ignore it
        return None, still

    def _diagnose(self, service: str, cmd: str, timeout: float, attempts: int, hub_up: bool) -> BusError:
        """Tell "the hub is not running" (unavailable) from "the service did not answer" (timeout)."""
        if hub_up:
            return Timeout(
                f"service {service!r} did not answer {cmd!r} within {timeout:g} s "
                f"({attempts} attempt(s)); the hub is up",
                service=service,
            )
        return Unavailable(
            f"no hub answering at {self.address} ({attempts} attempt(s) of {timeout:g} s): "
            "is the system running (make run)?",
            service=service,
        )

    def call_paged(self, service: str, cmd: str, **args) -> list:
        """All items of a paged command (`{"items", "next_offset"}` pages, following `offset`)."""
        items: list = []
        offset = 0
        while True:
            page = self.call(service, cmd, offset=offset, **args)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise BusError(f"{service}.{cmd} did not answer a page {{items, next_offset}}")
            items.extend(page["items"])
            following = page.get("next_offset")
            if following is None:
                return items
            if not isinstance(following, int) or following <= offset:
                raise BusError(f"{service}.{cmd} answered a page that does not advance (next_offset {following!r})")
            offset = following

    def call_chunked(self, service: str, cmd: str, *, attempts: int = 3, **args) -> tuple[str, dict]:
        """The whole text of a chunked command (replies `{text, chunks, sha256, ...}`, asked for
        `chunk` 0, 1, ... until `chunks`) checked against its `sha256`; read again from chunk 0,
        up to `attempts` times, if it changed meanwhile. Returns (text, the last reply without
        `text`). Other `call` options (timeout, on_behalf, ...) pass through `args`."""
        for _ in range(attempts):
            parts, chunk, chunks, reply = [], 0, 1, {}
            while chunk < chunks:
                reply = self.call(service, cmd, chunk=chunk, **args)
                if (
                    not isinstance(reply, dict)
                    or not isinstance(reply.get("text"), str)
                    or not isinstance(reply.get("chunks"), int)
                ):
                    raise BusError(f"{service}.{cmd} did not answer a chunk {{text, chunks, sha256}}")
                parts.append(reply["text"])
                chunks = reply["chunks"]
                chunk += 1
            text = "".join(parts)
            digest = reply.get("sha256")
            if digest is None or hashlib.sha256(text.encode("utf-8")).hexdigest() == digest:
                return text, {k: v for k, v in reply.items() if k != "text"}
        raise BusError(
            f"{service}.{cmd}: the text changed while it was being read (checksum mismatch {attempts} times): try again"
        )

    def wait_for(self, service: str, timeout: float = 10.0) -> dict:
        """Ping `service` until it answers or `timeout` passes (for start-up ordering)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.call(service, "ping", timeout=0.5, retries=0)
            except (Unavailable, Timeout):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        self._discard_socket()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Pipeline:
    """Several calls in flight on ONE connection, so a service receives them in the order they
    were submitted: one DEALER socket keeps its messages in order, separate sockets do not (the
    hub's ROUTER fair-queues between connections). `submit` returns a Future that gets the
    result or the BusError. A call with no answer for `client.timeout` seconds is sent again
    with the same id (the service answers a repeated id with its reply or `in_progress`, never
    runs it twice), at most `retries` times in a row, then fails with Timeout. One thread owns
    the socket; `close` ends it and fails what is still pending."""

    def __init__(self, client: Client, retries: int = 2):
        self.client = client
        self.retries = retries
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        threading.Thread(target=self._loop, name=f"{client.session.source}-pipeline", daemon=True).start()

    def submit(self, service: str, cmd: str, **args) -> Future:
        check_name(service, "service name")
        future: Future = Future()
        self._jobs.put((service, cmd, args, future))
        os.write(self._wake_w, b"\0")
        return future

    def close(self) -> None:
        self._jobs.put(None)
        os.write(self._wake_w, b"\0")

    def _loop(self) -> None:
        client = self.client
        sock = client._socket()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        pending: dict[str, list] = {}  # id -> [frames, future, last heard of (monotonic), silent attempts]
        try:
            while True:
                if self._take_jobs(sock, pending):
                    return
                events = dict(poller.poll(100))
                if sock in events:
                    self._receive(sock, pending)
                now = time.monotonic()
                for request_id, entry in list(pending.items()):
                    if now - entry[2] < client.timeout:
                        continue
                    entry[3] += 1
                    if entry[3] > self.retries:
                        del pending[request_id]
                        silent = f"no answer after {entry[3]} attempt(s) of {client.timeout:g} s"
                        entry[1].set_exception(Timeout(silent, request=request_id))
                    else:
                        sock.send_multipart(entry[0])
                        entry[2] = now
        finally:
            for entry in pending.values():
                entry[1].set_exception(Unavailable("the pipeline was closed before the answer came"))
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _take_jobs(self, sock, pending: dict) -> bool:
        """Send every submitted call, in order; True when the pipeline is closed."""
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            service, cmd, args, future = job
            request_id = self.client.session.next_id()
            envelope = self.client.session.pack("request", {"id": request_id, "cmd": cmd, "args": args})
            frames = [service.encode("ascii"), envelope]
            sock.send_multipart(frames)
            pending[request_id] = [frames, future, time.monotonic(), 0]

    def _receive(self, sock, pending: dict) -> None:
        """Every answer waiting on the socket: a final one completes its call, `in_progress` says
        the service is at it (heard of: not silent); others (late, unknown) are ignored."""
        while sock.poll(0):
            frames = sock.recv_multipart()
            try:
                env = unpack_envelope(frames[-1], 4 * self.client.cfg.max_message_bytes)
            except FrameError:
                continue
            body = env.get("body")
            entry = pending.get(body.get("id")) if isinstance(body, dict) else None
            if entry is None:
                continue
            if body.get("in_progress") is True:
                entry[2], entry[3] = time.monotonic(), 0
                continue
            del pending[body["id"]]
            if body.get("ok") is True:
                entry[1].set_result(body.get("result"))
            else:
                entry[1].set_exception(from_wire(body.get("error")))
