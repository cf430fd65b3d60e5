"""A long command answers a retried request id with `in_progress`; the client waits for it.

Real hub, real demo service (tests/bus/demo_service.py), real sockets: the `slow` command
runs in the background lane and is far longer than one attempt's timeout.
"""

from __future__ import annotations

import time

import msgpack
import pytest
import zmq

from bus.config import endpoints
from bus.envelope import Session
from bus.errors import Timeout
from tests.support.procs import wait_until


def _raw_reply(sock, timeout_s: float = 10.0) -> dict:
    assert sock.poll(int(timeout_s * 1000)), "no reply"
    return msgpack.unpackb(sock.recv_multipart()[-1])["body"]


def test_a_retried_id_of_a_running_command_is_answered_in_progress_then_the_reply(service):
    sock = service.raw(zmq.DEALER)
    sock.connect(endpoints(service.address).cmd)
    session = Session("tester")
    data = session.pack("request", {"id": "long-1", "cmd": "slow", "args": {"seconds": 30.0}})
    with service.client() as c:
        before = c.call("demo", "counts").get("slow", 0)
        sock.send_multipart([b"demo", data])
        wait_until(lambda: c.call("demo", "status")["busy"], what="slow to start")
        sock.send_multipart([b"demo", data])  # the retry, while it runs
        still = _raw_reply(sock)
        assert still["id"] == "long-1" and still["in_progress"] is True and still["cmd"] == "slow"
        assert "ok" not in still and still["for_s"] >= 0
        c.call("demo", "unblock")
        done = _raw_reply(sock)
        assert done == {"id": "long-1", "ok": True, "result": "done"}
        sock.send_multipart([b"demo", data])  # a retry after the end: the same reply, not a second run
        assert _raw_reply(sock) == done
        assert c.call("demo", "counts")["slow"] == before + 1
    sock.close(0)


def test_the_client_waits_past_its_timeout_for_a_running_command_without_guessing(service):
    """2.5 s of work, attempts of 0.4 s, one retry: the first attempt hears nothing (the command
    runs), the retry hears `in_progress`, and from then on the client waits for the reply."""
    with service.client(timeout=0.4, retries=1) as c:
        before = c.call("demo", "counts").get("slow", 0)
        t0 = time.monotonic()
        assert c.call("demo", "slow", seconds=2.5) == "done"
        assert time.monotonic() - t0 >= 2.4
        assert c.call("demo", "counts")["slow"] == before + 1  # asked several times, ran once


def test_the_callers_deadline_bounds_the_wait(service):
    with service.client(timeout=0.3, retries=1) as c:
        t0 = time.monotonic()
        with pytest.raises(Timeout, match="still running"):
            c.call("demo", "slow", seconds=30.0, deadline=1.5)
        assert time.monotonic() - t0 < 10
        c.call("demo", "unblock")
        wait_until(lambda: not c.call("demo", "status")["busy"], what="the lane to be free")


def test_a_stuck_service_still_times_out(service):
    """No in_progress from a service whose loop is blocked: the usual timeout, not an endless wait."""
    with service.client(timeout=0.5, retries=1) as c:
        t0 = time.monotonic()
        with pytest.raises(Timeout, match="did not answer"):
            c.call("demo", "hang", seconds=4.0)
        assert time.monotonic() - t0 < 4.0
