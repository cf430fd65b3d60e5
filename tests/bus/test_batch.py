"""Subscriber.recv_batch through a real hub: the batch keeps every check of recv().

Hostile multiparts (one frame, three frames, bad msgpack, wrong topic) interleaved with good
events in any order: every good event arrives once, in order, and every bad one is counted
under its reason; a lone frame never joins the next multipart.
"""

from __future__ import annotations

import time

import msgpack
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.config import endpoints
from bus.envelope import Session
from bus.events import Subscriber
from tests.support.procs import wait_until

GOOD = Session("good")
BAD = {  # reason counted -> multipart a hostile publisher sends
    "frames1": [b"data.b.x"],
    "frames3": [b"data.b.x", GOOD.pack("event", "three", "data.b.x"), b"tail"],
    "msgpack": [b"data.b.x", b"\xc1 not msgpack"],
    "topic": [b"data.b.\xff", GOOD.pack("event", "bad topic", "data.b.x")],
    "mistyped_field": [
        b"data.b.x",
        msgpack.packb({"v": 1, "id": "i-1", "src": "x", "seq": "1", "ts": 0.0, "type": "event", "body": None}),
    ],
}
REASON = {"frames1": "frames", "frames3": "frames"}


def _received_until_end(sub, end_topic: str, timeout: float = 20.0) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = sub.recv_batch(timeout=0.2)
        assert len(batch) <= 1000
        got.extend(batch)
        if any(m.topic == end_topic for m in batch):
            return got
    raise AssertionError(f"no {end_topic} within {timeout} s")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.just("good"), st.sampled_from(sorted(BAD))), min_size=1, max_size=40))
def test_a_batch_delivers_every_good_event_and_counts_every_bad_one(ipc_bus, sequence):
    sub = Subscriber(["data.b.#"], address=ipc_bus.address, cfg=ipc_bus.cfg, snapshot=False)
    raw = ipc_bus.raw(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(endpoints(ipc_bus.address).pub)
    try:
        probe = Session("probe")
        wait_until(
            lambda: (
                raw.send_multipart([b"data.b.probe", probe.pack("event", 0, "data.b.probe")]),
                sub.recv_batch(timeout=0.1),
            )[1],
            what="subscription",
        )
        sub.recv_batch(timeout=0.3)  # probes still on their way
        before = dict(sub.stats)
        sender = Session("good")
        sent = []
        for kind in sequence:
            if kind == "good":
                body = {"n": len(sent)}
                raw.send_multipart([b"data.b.x", sender.pack("event", body, "data.b.x")])
                sent.append(body)
            else:
                raw.send_multipart(BAD[kind])
        raw.send_multipart([b"data.b.end", sender.pack("event", "end", "data.b.end")])
        got = [m.body for m in _received_until_end(sub, "data.b.end") if m.topic == "data.b.x"]
        assert got == sent
        for kind in set(sequence) - {"good"}:
            reason = REASON.get(kind, kind)
            expected = sum(REASON.get(k, k) == reason for k in sequence)
            assert sub.stats[f"dropped:{reason}"] - before.get(f"dropped:{reason}", 0) == expected, reason
        assert sub.stats["dropped"] - before.get("dropped", 0) == sum(k != "good" for k in sequence)
        assert sub.missed == 0
    finally:
        raw.close()
        sub.close()


def test_recv_batch_waits_for_the_first_then_returns_what_is_queued(ipc_bus):
    sub = Subscriber(["data.w.#"], address=ipc_bus.address, cfg=ipc_bus.cfg, snapshot=False)
    raw = ipc_bus.raw(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.SNDHWM, 100_000)
    raw.connect(endpoints(ipc_bus.address).pub)
    s = Session("waiter")
    try:
        wait_until(
            lambda: (raw.send_multipart([b"data.w.p", s.pack("event", 0, "data.w.p")]), sub.recv_batch(timeout=0.1))[1],
            what="subscription",
        )
        sub.recv_batch(timeout=0.3)
        t0 = time.monotonic()
        assert sub.recv_batch(timeout=0.3) == []  # nothing queued: waits its timeout, then []
        assert time.monotonic() - t0 >= 0.25
        for i in range(2500):
            raw.send_multipart([b"data.w.x", s.pack("event", i, "data.w.x")])
        got = []
        wait_until(
            lambda: got.extend(sub.recv_batch(timeout=0.2, max_count=1000)) or len(got) >= 2500, what="2500 events"
        )
        assert [m.body for m in got] == list(range(2500))
        assert sub.stats["msgs_in"] >= 2500
    finally:
        raw.close()
        sub.close()
