"""Pipelined lanes: a call may wait for its busy lane, a reply may be deferred (`Later`).

Real hub, real service process (tests/bus/lane_service.py), raw sockets so several calls
are in flight at once: the order of starts and replies, a full queue (`busy`), an abort
dropping what waits, retries (`in_progress`), a finish that fails, a stop with calls waiting.
"""

from __future__ import annotations

import itertools

import msgpack
import pytest
import zmq

from bus.config import endpoints
from bus.envelope import Session
from tests.support.bus import Bus
from tests.support.procs import stop, wait_until

_ids = itertools.count()


class Wire:
    """A raw DEALER on the bus: send requests without waiting, collect replies by id."""

    def __init__(self, bus: Bus, service: str):
        self.service = service.encode()
        self.sock = bus.raw(zmq.DEALER)
        self.sock.connect(endpoints(bus.address).cmd)
        self.session = Session("tester")
        self.replies: dict[str, list[dict]] = {}

    def send(self, cmd: str, req_id: str | None = None, **args) -> str:
        req_id = req_id or f"r{next(_ids)}"
        self.sock.send_multipart([self.service, self.session.pack("request", {"id": req_id, "cmd": cmd, "args": args})])
        return req_id

    def reply(self, req_id: str, timeout: float = 20.0, final: bool = True) -> dict:
        def arrived():
            while self.sock.poll(0):
                body = msgpack.unpackb(self.sock.recv_multipart()[-1])["body"]
                self.replies.setdefault(body["id"], []).append(body)
            return [b for b in self.replies.get(req_id, []) if not final or "in_progress" not in b]

        wait_until(arrived, timeout=timeout, what=f"a reply to {req_id}")
        got = arrived()
        self.replies[req_id] = [b for b in self.replies[req_id] if b not in got[:1]]
        return got[0]

    def pending(self, req_id: str) -> bool:
        while self.sock.poll(0):
            body = msgpack.unpackb(self.sock.recv_multipart()[-1])["body"]
            self.replies.setdefault(body["id"], []).append(body)
        return not self.replies.get(req_id)

    def close(self):
        self.sock.close(0)


@pytest.fixture(scope="module")
def lanes():
    bus = Bus("ipc")
    bus.start_hub()
    bus.spawn(["-m", "tests.bus.lane_service", "lanes"], "lanes")
    with bus.client() as c:
        c.wait_for("lanes", timeout=30)
    yield bus
    bus.close()


@pytest.fixture
def wire(lanes):
    w = Wire(lanes, "lanes")
    yield w
    w.close()


def _log(bus, tag):
    with bus.client() as c:
        return [e for e in c.call("lanes", "log") if e.endswith(f" {tag}") or e.endswith(f" {tag}b")]


def _call(bus, cmd, **args):
    with bus.client() as c:
        return c.call("lanes", cmd, **args)


def test_a_queued_call_starts_when_the_handler_returns_and_replies_keep_their_order(lanes, wire):
    first, second = wire.send("work", tag="o1"), wire.send("work", tag="o1b")
    wait_until(lambda: _log(lanes, "o1") == ["start o1"], what="o1 to start")
    busy = _call(lanes, "status")["busy"]["hw"]
    assert busy["cmd"] == "work" and [w["cmd"] for w in busy["waiting"]] == ["work"]
    _call(lanes, "release", tag="o1")  # o1's hardware ends; its commit is held
    wait_until(lambda: "start o1b" in _log(lanes, "o1"), what="o1b to start while o1 commits")
    _call(lanes, "release", tag="o1b")
    _call(lanes, "commit", tag="o1b")  # o1b's finish may not overtake o1's: one FIFO finisher
    wait_until(lambda: "hardware done o1b" in _log(lanes, "o1"), what="o1b's hardware")
    assert wire.pending(first) and wire.pending(second)
    _call(lanes, "commit", tag="o1")
    assert wire.reply(first) == {"id": first, "ok": True, "result": "done o1"}
    assert wire.reply(second) == {"id": second, "ok": True, "result": "done o1b"}
    assert _log(lanes, "o1") == [
        "start o1",
        "hardware done o1",
        "start o1b",
        "hardware done o1b",
        "finish o1",
        "finish o1b",
    ]
    wait_until(lambda: not _call(lanes, "status")["busy"], what="the lane to be free")
    use = _call(lanes, "status")["lanes"]["hw"]
    assert use["calls"] >= 2 and use["waited"] >= 1 and use["busy_s"] > 0


def test_beyond_the_queue_a_call_is_busy_and_a_command_without_queue_is_busy(lanes, wire):
    running, waiting = wire.send("work", tag="q1"), wire.send("work", tag="q1b")
    wait_until(lambda: _log(lanes, "q1") == ["start q1"], what="q1 to start")
    third = wire.send("work", tag="q1c")
    refused = wire.reply(third)
    assert refused["ok"] is False and refused["error"]["code"] == "busy"
    assert refused["error"]["waiting"] == 1
    other = wire.reply(wire.send("other"))
    assert other["ok"] is False and other["error"]["code"] == "busy"
    for tag in ("q1", "q1b"):
        _call(lanes, "release", tag=tag)
        _call(lanes, "commit", tag=tag)
    assert wire.reply(running)["ok"] and wire.reply(waiting)["ok"]
    assert "start q1c" not in _log(lanes, "q1c")


def test_drop_refuses_the_waiting_call_and_flags_the_running_one(lanes, wire):
    running, waiting = wire.send("work", tag="d1"), wire.send("work", tag="d1b")
    wait_until(lambda: _log(lanes, "d1") == ["start d1"], what="d1 to start")
    dropped = _call(lanes, "drop")
    assert dropped["dropped"] == ["d1b"] and dropped["running"]["cmd"] == "work"
    assert dropped["running"]["args"] == {"tag": "d1"}
    refused = wire.reply(waiting)
    assert refused["ok"] is False and refused["error"]["code"] == "aborted"
    aborted = wire.reply(running)
    assert aborted["ok"] is False and aborted["error"]["code"] == "aborted"
    assert _log(lanes, "d1") == ["start d1", "cancelled d1"]  # d1b never started
    again = wire.send("work", req_id=waiting, tag="d1b")  # a retry of the dropped call: its answer
    assert wire.reply(again)["error"]["code"] == "aborted"
    assert "start d1b" not in _log(lanes, "d1")
    assert _call(lanes, "drop") == {"dropped": [], "running": None}


def test_a_retry_of_a_waiting_or_committing_call_is_in_progress_then_the_one_reply(lanes, wire):
    running, waiting = wire.send("work", tag="r1"), wire.send("work", tag="r1b")
    wait_until(lambda: _log(lanes, "r1") == ["start r1"], what="r1 to start")
    wire.send("work", req_id=waiting, tag="r1b")
    still = wire.reply(waiting, final=False)
    assert still["in_progress"] is True and still["cmd"] == "work"
    _call(lanes, "release", tag="r1")
    _call(lanes, "release", tag="r1b")
    wait_until(lambda: "hardware done r1b" in _log(lanes, "r1"), what="r1b's hardware")
    wire.send("work", req_id=running, tag="r1")  # r1's commit is held: still in progress
    assert wire.reply(running, final=False)["in_progress"] is True
    _call(lanes, "commit", tag="r1")
    _call(lanes, "commit", tag="r1b")
    assert wire.reply(running)["result"] == "done r1"
    done = wire.reply(waiting)
    assert done["result"] == "done r1b"
    wire.send("work", req_id=waiting, tag="r1b")
    assert wire.reply(waiting) == done
    assert _log(lanes, "r1").count("start r1b") == 1


@pytest.mark.parametrize("how, code", [("bus", "bad_request"), ("crash", "internal")])
def test_a_finish_that_fails_is_the_reply_and_the_lane_goes_on(lanes, wire, how, code):
    tag = f"f{how}"
    failing = wire.send("work", tag=tag, fail=how, hold=False)
    _call(lanes, "commit", tag=tag)
    reply = wire.reply(failing)
    assert reply["ok"] is False and reply["error"]["code"] == code and tag in reply["error"]["message"]
    after = wire.send("work", tag=f"{tag}b", hold=False)
    _call(lanes, "commit", tag=f"{tag}b")
    assert wire.reply(after)["result"] == f"done {tag}b"


def test_a_stopping_service_refuses_the_waiting_call(lanes):
    proc = lanes.spawn(["-m", "tests.bus.lane_service", "lanes2"], "lanes2")
    with lanes.client() as c:
        c.wait_for("lanes2", timeout=30)
    wire = Wire(lanes, "lanes2")
    try:
        done = wire.send("work", tag="s1", hold=False)  # its hardware part ends at once
        with lanes.client() as c:
            wait_until(lambda: "hardware done s1" in c.call("lanes2", "log"), what="s1's hardware")
            wire.send("work", tag="s2")
            waiting = wire.send("work", tag="s3")
            wait_until(lambda: c.call("lanes2", "log")[-1:] == ["start s2"], what="s2 to run")
            c.call("lanes2", "commit", tag="s1")
        assert wire.reply(done)["result"] == "done s1"
        stop(proc)  # SIGTERM: s3 never starts and says so; s2 is cut short (never answered)
        refused = wire.reply(waiting)
        assert refused["ok"] is False and refused["error"]["code"] == "unavailable"
        assert refused["error"]["reason"] == "stopping"
    finally:
        wire.close()


def test_a_pipeline_delivers_its_calls_in_the_order_submitted_on_one_connection(lanes):
    """Two calls submitted back to back reach the service in that order, every time (separate
    sockets do not promise it: the hub's ROUTER fair-queues between connections)."""
    from bus.errors import BusError
    from bus.rpc import Client, Pipeline

    with lanes.client() as control:
        pipe = Pipeline(Client(lanes.address, cfg=lanes.cfg, name="pipe-test", timeout=2.0), retries=2)
        try:
            for i in range(8):
                tag = f"p{i}"
                first = pipe.submit("lanes", "work", tag=tag, hold=False)
                second = pipe.submit("lanes", "work", tag=f"{tag}b", hold=False)
                control.call("lanes", "commit", tag=tag)
                control.call("lanes", "commit", tag=f"{tag}b")
                assert first.result(30) == f"done {tag}" and second.result(30) == f"done {tag}b"
                assert [e for e in _log(lanes, tag) if e.startswith("start")] == [f"start {tag}", f"start {tag}b"]
            refused = pipe.submit("lanes", "work", tag="px", fail="bus", hold=False)
            control.call("lanes", "commit", tag="px")
            with pytest.raises(BusError, match="refused at commit"):
                refused.result(30)
        finally:
            pipe.close()
