"""Events through a real hub: routing, patterns, late joiners, gaps, bad frames."""

from __future__ import annotations

import time

import msgpack
import pytest
import zmq

from bus.config import endpoints
from bus.envelope import Session
from bus.events import Publisher, Subscriber
from tests.support.procs import wait_until


def _publisher(bus, name="pubtest"):
    return Publisher(Session(name), bus.address, bus.cfg, zmq.Context.instance())


def _drain_until(sub, predicate, timeout=20.0):
    """Receive until a message satisfies `predicate`; return every message received."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = sub.recv(timeout=0.2)
        if msg is not None:
            got.append(msg)
            if predicate(msg):
                return got
    raise AssertionError(f"no matching message within {timeout} s; got {[m.topic for m in got]}")


def _sync(pub, sub, topic="data.sync.probe"):
    """Publish probes until the subscriber sees one (the slow-joiner handshake)."""

    def probe():
        pub.publish(topic, {"probe": True})
        msg = sub.recv(timeout=0.1)
        return msg is not None and msg.topic == topic

    wait_until(probe, what="the subscription to reach the publisher")


def test_event_goes_through_the_hub_with_a_full_envelope(bus):
    sub = Subscriber(["data.#"], address=bus.address, cfg=bus.cfg, snapshot=False)
    pub = _publisher(bus)
    _sync(pub, sub)
    before = time.time()
    pub.publish("data.sim.measurement", {"a": 1, "b": 4, "m": 2, "n": 3, "r_ohm": 12.5})
    msg = _drain_until(sub, lambda m: m.topic == "data.sim.measurement")[-1]
    assert msg.body == {"a": 1, "b": 4, "m": 2, "n": 3, "r_ohm": 12.5}
    assert msg.src == "pubtest" and msg.type == "event" and msg.v == 1 and msg.seq == 1
    assert before - 1 <= msg.ts <= time.time() + 1
    assert msg.id.startswith(pub.session.instance)
    pub.close()
    sub.close()


def test_patterns_filter_what_prefixes_cannot(bus):
    sub = Subscriber(["soh.ctrl", "data.+.measurement"], address=bus.address, cfg=bus.cfg, snapshot=False)
    pub = _publisher(bus)
    _sync(pub, sub, "data.sync.measurement")
    for topic in (
        "soh.ctrl2",
        "soh.ctrl.extra",
        "data.sim.waveform",
        "data.a.b.measurement",
        "soh.ctrl",
        "data.sim.measurement",
        "log.ctrl.info",
    ):
        pub.publish(topic, {"t": topic})
    pub.publish("data.end.measurement", {})
    got = [m.topic for m in _drain_until(sub, lambda m: m.topic == "data.end.measurement")]
    assert [t for t in got if t != "data.sync.measurement"] == [
        "soh.ctrl",
        "data.sim.measurement",
        "data.end.measurement",
    ]
    pub.close()
    sub.close()


def test_late_joiner_gets_latest_state_and_soh_at_once(bus):
    pub = _publisher(bus, "stateful")
    watcher = Subscriber(["state.stateful"], address=bus.address, cfg=bus.cfg, snapshot=False)
    _sync(pub, watcher, "state.stateful")
    for i in range(5):
        pub.publish("state.stateful", {"index": i})
    pub.publish("data.stateful.measurement", {"not": "cached"})
    _drain_until(watcher, lambda m: m.body.get("index") == 4)
    with bus.client() as c:  # the hub has cached it once it answers with it

        def cached():
            topics = {t: msgpack.unpackb(d)["body"] for t, d in c.call_paged("hub", "snapshot")}
            return topics.get("state.stateful") == {"index": 4} and "soh.hub" in topics

        wait_until(cached, what="the hub to cache the last state and its own heartbeat")
    late = Subscriber(["state.#", "soh.#", "data.#"], address=bus.address, cfg=bus.cfg)
    first = [late.recv(timeout=0) for _ in range(50)]  # no waiting: they are already here
    first = [m for m in first if m is not None]
    states = [m for m in first if m.topic == "state.stateful"]
    assert len(states) == 1 and states[0].body == {"index": 4} and states[0].replayed
    assert any(m.topic == "soh.hub" for m in first)
    assert not any(m.topic.startswith("data.") for m in first)
    pub.publish("state.stateful", {"index": 5})
    later = _drain_until(late, lambda m: m.topic == "state.stateful")
    assert later[-1].body == {"index": 5} and not later[-1].replayed
    assert late.missed == 0
    pub.close()
    watcher.close()
    late.close()


def test_gaps_are_counted_per_source(bus):
    """Frames with seq 1, 2, 5, 6 then a restart (new instance) from 3: 2 + 2 missed."""
    sub = Subscriber(["data.gap.#"], address=bus.address, cfg=bus.cfg, snapshot=False)
    raw = bus.raw(zmq.PUB)
    raw.connect(endpoints(bus.address).pub)

    def send(topic, seq, instance="aaaa", n=0):
        env = {
            "v": 1,
            "id": f"{instance}-{seq}",
            "src": "gappy",
            "seq": seq,
            "ts": time.time(),
            "type": "event",
            "body": {"seq": seq},
        }
        raw.send_multipart([topic.encode(), msgpack.packb(env)])

    def probe():
        send("data.gap.probe", 1, instance=f"p{time.monotonic_ns()}")
        return sub.recv(timeout=0.1) is not None

    wait_until(probe, what="subscription")
    for seq in (1, 2, 5, 6):
        send("data.gap.x", seq)
    send("data.gap.x", 6)  # a duplicate is dropped, not counted as missed
    for seq in (3, 4):
        send("data.gap.x", seq, instance="bbbb")  # restarted publisher: seq 1 and 2 were lost
    send("data.gap.end", 1)
    got = _drain_until(sub, lambda m: m.topic == "data.gap.end")
    seqs = [m.seq for m in got if m.topic == "data.gap.x"]
    assert seqs == [1, 2, 5, 6, 3, 4]
    assert sub.missed == 4 and sub.tracker.missed_by_source["gappy"] == 4
    assert sub.tracker.duplicates == 1
    raw.close(0)
    sub.close()


def test_bad_event_frames_are_dropped_and_counted(bus):
    sub = Subscriber(["data.#"], address=bus.address, cfg=bus.cfg, snapshot=False)
    raw = bus.raw(zmq.PUB)
    raw.connect(endpoints(bus.address).pub)
    good = Session("good")
    wait_until(
        lambda: (
            (raw.send_multipart([b"data.p", good.pack("event", 1, "data.p")]), sub.recv(timeout=0.1))[1] is not None
        ),
        what="subscription",
    )
    bad = [
        [b"data.x", b"\xc1not msgpack"],
        [b"data.x"],
        [b"data.x", msgpack.packb({"v": 1}), b"extra"],
        [b"data.x", msgpack.packb([1, 2, 3])],
        [
            b"data.x",
            msgpack.packb({"v": 1, "id": "i-1", "src": "x", "seq": "1", "ts": 0.0, "type": "event", "body": None}),
        ],
        [
            b"data.x",
            msgpack.packb({"v": 99, "id": "i-1", "src": "x", "seq": 1, "ts": 0.0, "type": "event", "body": None}),
        ],
        [b"data.\xff", good.pack("event", 1, "x")],
    ]
    for frames in bad:
        raw.send_multipart(frames)
    raw.send_multipart([b"data.end", good.pack("event", "end", "data.end")])
    got = _drain_until(sub, lambda m: m.topic == "data.end")
    assert all(m.src == "good" for m in got)
    assert sub.stats["dropped"] == len(bad)
    assert sub.stats["dropped:msgpack"] == 1 and sub.stats["dropped:frames"] == 2
    assert sub.stats["dropped:not_map"] == 1 and sub.stats["dropped:mistyped_field"] == 1
    assert sub.stats["dropped:version"] == 1 and sub.stats["dropped:topic"] == 1
    raw.close(0)
    sub.close()


def test_publisher_refuses_bad_topics_and_oversized_bodies(bus):
    pub = _publisher(bus)
    for topic in ("", "nosuchroot.x", "data..x", "data.a b", "data.é", "data." + "x" * 300):
        with pytest.raises(ValueError):
            pub.publish(topic, {})
    with pytest.raises(ValueError, match="over the limit"):
        pub.publish("data.sim.waveform", {"v": "x" * (2 << 20)})
    pub.close()
