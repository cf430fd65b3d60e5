"""Hypothesis-generated garbage at every socket of a live hub and service: nothing crashes."""

from __future__ import annotations

import time

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.config import endpoints
from tests.support.bus import Bus

heads = st.sampled_from(
    [
        b"",
        b"!register",
        b"!reply",
        b"!bye",
        b"!other",
        b"hub",
        b"demo",
        b"DEMO",
        b"soh.x",
        b"state.y",
        b"data.z",
        b"\xff\xfe",
        b"R\x00\x01",
        b"D",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70).filter(lambda i: -(2**63) <= i < 2**64)
    | st.floats()
    | st.text(max_size=10)
    | st.binary(max_size=10)
)
values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8
)
envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", None]),
        "id": st.sampled_from(["i-1", "", 3]),
        "src": st.sampled_from(["demo", "x", "Bad Name", ""]),
        "seq": st.integers(-2, 3),
        "ts": st.floats(),
        "type": st.sampled_from(["request", "event", "reply", "register", "zz"]),
        "body": st.one_of(
            values,
            st.fixed_dictionaries(
                {},
                optional={
                    "id": st.sampled_from(["r", None, 5]),
                    "cmd": st.sampled_from(["ping", "add", "crash", "snapshot", "processes", 3, None]),
                    "args": values,
                    "service": st.sampled_from(["demo", "hub", "x y", 1]),
                },
            ),
        ),
    },
)
frame = st.one_of(heads, st.binary(max_size=40), values.map(msgpack.packb), envelope_like.map(msgpack.packb))
multipart = st.lists(frame, min_size=1, max_size=5)


@pytest.fixture(scope="module")
def live():
    bus = Bus("ipc", heartbeat_s=0.3)
    bus.start_hub()
    bus.start_service("demo")
    ctx = zmq.Context.instance()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoints(bus.address).cmd)
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(endpoints(bus.address).pub)
    time.sleep(0.3)
    yield bus, dealer, pub
    dealer.close()
    pub.close()
    bus.close()


def _drain(sock):
    replies = []
    while sock.poll(20):
        replies.append(sock.recv_multipart())
    return replies


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command_frames=multipart, event_frames=multipart)
def test_garbage_never_crashes_the_hub_or_the_service(live, command_frames, event_frames):
    bus, dealer, pub = live
    dealer.send_multipart(command_frames)
    pub.send_multipart(event_frames)
    for reply in _drain(dealer):
        env = msgpack.unpackb(reply[-1])  # whatever comes back is a well-formed reply envelope
        assert env["type"] == "reply" and set(env["body"]) >= {"id", "ok"}
        if env["body"]["ok"] is False:
            assert env["body"]["error"]["code"] and env["body"]["error"]["message"]


def test_still_alive_and_counting_after_the_garbage(live):
    bus, _, _ = live
    assert bus.hub.poll() is None and bus.procs[-1].poll() is None
    with bus.client() as c:
        assert c.call("hub", "ping")["pong"] is True
        assert c.call("demo", "add", x=1) == 2.0
        status = c.call("hub", "status")
        assert status["errors"] > 0  # bad requests were answered with errors, not ignored
