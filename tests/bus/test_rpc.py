"""Every command outcome through a real hub and a real service process, on ipc and tcp."""

from __future__ import annotations

import threading
import time

import msgpack
import pytest
import zmq

from bus.config import endpoints
from bus.envelope import Session
from bus.errors import BadRequest, Busy, InternalError, Timeout, Unavailable, UnknownCommand
from tests.support.procs import stop, wait_until


def test_result_comes_back(service):
    with service.client() as c:
        assert c.call("demo", "add", x=2, y=0.5) == 2.5
        assert c.call("demo", "echo", value={"nested": [1, "two", None]}) == {"nested": [1, "two", None]}


def test_every_service_answers_ping_help_status(service):
    with service.client() as c:
        pong = c.call("demo", "ping")
        assert pong["pong"] is True and pong["name"] == "demo" and pong["pid"] > 0
        commands = {cmd["name"]: cmd for cmd in c.call("demo", "help")}
        assert {"ping", "help", "status", "add", "slow"} <= set(commands)
        add_args = {a["name"]: a for a in commands["add"]["args"]}
        assert add_args["x"] == {"name": "x", "type": "int", "required": True}
        assert add_args["y"]["required"] is False and add_args["y"]["default"] == 1.0
        assert commands["add"]["doc"] == "Add two numbers."
        status = c.call("demo", "status")
        assert status["name"] == "demo" and status["requests"] >= 2


def test_unknown_command_lists_the_known_ones(service):
    with service.client() as c:
        with pytest.raises(UnknownCommand) as err:
            c.call("demo", "__init__")
        assert "add" in err.value.details["known"] and "ping" in err.value.details["known"]
        assert "__init__" not in err.value.details["known"]


@pytest.mark.parametrize(
    "args, arg, reason",
    [
        ({"x": "2"}, "x", "must be int"),
        ({"x": True}, "x", "must be int"),
        ({"x": 1, "y": "a"}, "y", "must be float"),
        ({}, "x", "missing"),
        ({"x": 1, "z": 3}, "z", "unknown argument"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_reason(service, args, arg, reason):
    with service.client() as c:
        with pytest.raises(BadRequest) as err:
            c.call("demo", "add", **args)
        assert err.value.details["arg"] == arg
        assert reason in err.value.details["reason"]
        assert arg in err.value.message


def test_handler_validation_is_a_bad_request(service):
    with service.client() as c:
        with pytest.raises(BadRequest) as err:
            c.call("demo", "positive", value=-3)
        assert err.value.details == {"arg": "value", "reason": "must be > 0"}


def test_internal_error_keeps_the_service_running(service):
    with service.client() as c:
        with pytest.raises(InternalError) as err:
            c.call("demo", "crash", message="kaput")
        assert "RuntimeError" in err.value.message and "kaput" in err.value.message
        with pytest.raises(InternalError) as err:
            c.call("demo", "unserializable")
        assert "could not be encoded" in err.value.message
        assert c.call("demo", "add", x=1) == 2.0
        assert c.call("demo", "counts")["crash"] == 1


def test_timeout_code_from_the_service(service):
    with service.client() as c:
        with pytest.raises(Timeout) as err:
            c.call("demo", "wait_inner")
        assert err.value.code == "timeout"


def test_busy_while_a_background_command_runs_and_others_still_answer(service):
    with service.client() as c1, service.client() as c2:
        result = []
        worker = threading.Thread(target=lambda: result.append(c1.call("demo", "slow", seconds=20.0, timeout=30)))
        worker.start()
        wait_until(lambda: c2.call("demo", "status")["busy"], what="slow to start")
        with pytest.raises(Busy) as err:
            c2.call("demo", "other_hw")
        assert err.value.details["running"] == "slow"
        assert c2.call("demo", "add", x=1) == 2.0  # the loop still serves other commands
        assert c2.call("demo", "unblock") is True
        worker.join(30)
        assert result == ["done"]
        assert c2.call("demo", "other_hw") == "ok"


def test_stuck_service_gives_a_timeout_not_a_hang(service):
    with service.client() as c:
        started = time.monotonic()
        with pytest.raises(Timeout) as err:
            c.call("demo", "hang", seconds=3.0, timeout=0.4, retries=0)
        assert time.monotonic() - started < 30  # bounded: no hang
        assert "did not answer" in err.value.message and "hub is up" in err.value.message


def test_service_stuck_longer_than_three_heartbeats_is_reported_unavailable(service):
    with service.client() as c:
        _ignore(c.call, "demo", "hang", seconds=4.0, timeout=0.2, retries=0)
        err = wait_until(
            lambda: _unavailable(c.call, "demo", "ping", timeout=0.3, retries=0),
            what="the hub to notice the stuck service",
        )
        assert "stuck or stopped" in err.message
        assert c.wait_for("demo", timeout=30)["name"] == "demo"  # back once unstuck


def _unavailable(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except Unavailable as exc:
        return exc
    except Timeout:
        pass
    return None


def _ignore(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except Exception:
        pass


def test_service_not_running_is_unavailable(bus):
    with bus.client() as c:
        with pytest.raises(Unavailable) as err:
            c.call("nobody", "ping")
        assert "not running" in err.value.message and err.value.details["service"] == "nobody"


def test_dead_hub_gives_unavailable_not_a_hang(bus):
    stop(bus.hub)
    with bus.client(timeout=0.3, retries=1) as c:
        with pytest.raises(Unavailable) as err:
            c.call("demo", "ping")
        assert "no hub answering" in err.value.message


def test_killed_service_is_unavailable_then_reached_again_when_restarted(service):
    import signal

    with service.client() as c:
        first = c.call("demo", "ping")["pid"]
        stop(service.procs[-1], signal.SIGKILL)
        with pytest.raises((Unavailable, Timeout)):
            c.call("demo", "ping", timeout=1.0, retries=0)
        service.start_service("demo")
        # the same client object, never restarted
        assert c.call("demo", "ping")["pid"] != first
        assert c.call("demo", "add", x=5) == 6.0


def test_restarted_hub_is_reached_again_by_the_same_client_and_service(service):
    with service.client() as c:
        assert c.call("demo", "add", x=1) == 2.0
        stop(service.hub)
        service.start_hub()
        # the service re-registers on its next heartbeat; the client's socket reconnects
        assert c.wait_for("demo", timeout=30)["name"] == "demo"
        assert c.call("demo", "add", x=2) == 3.0


def test_a_retried_request_runs_once(service):
    """Send the same request id twice (what a Lazy Pirate retry does): one execution."""
    sock = service.raw(zmq.DEALER)
    sock.connect(endpoints(service.address).cmd)
    session = Session("tester")
    with service.client() as c:
        before = c.call("demo", "counts").get("echo", 0)
        data = session.pack("request", {"id": "retry-1", "cmd": "echo", "args": {"value": 7}})
        sock.send_multipart([b"demo", data])
        sock.send_multipart([b"demo", data])
        replies = [msgpack.unpackb(sock.recv_multipart()[-1])["body"] for _ in range(2) if sock.poll(10000)]
        assert [r["result"] for r in replies] == [7, 7]
        assert c.call("demo", "counts")["echo"] == before + 1
    sock.close(0)


def test_plain_req_socket_works(service):
    """A REQ client written with nothing but pyzmq and msgpack (as docs/protocol.md shows)."""
    import os

    req = service.raw(zmq.REQ)
    req.connect(endpoints(service.address).cmd)
    envelope = {
        "v": 1,
        "id": f"plain-{os.getpid()}-1",
        "src": "plain",
        "seq": 1,
        "ts": time.time(),
        "type": "request",
        "body": {"id": "r1", "cmd": "add", "args": {"x": 40, "y": 2}},
    }
    req.send_multipart([b"demo", msgpack.packb(envelope)])
    assert req.poll(10000)
    frames = req.recv_multipart()
    reply = msgpack.unpackb(frames[-1])
    assert reply["type"] == "reply" and reply["src"] == "demo"
    assert reply["body"] == {"id": "r1", "ok": True, "result": 42.0}
    req.close(0)


def test_oversized_request_is_refused_with_a_clear_error(service):
    sock = service.raw(zmq.DEALER)
    sock.connect(endpoints(service.address).cmd)
    session = Session("tester")
    big = session.pack("request", {"id": "big", "cmd": "echo", "args": {"value": "x" * (2 << 20)}})
    sock.send_multipart([b"demo", big])
    assert sock.poll(10000)
    reply = msgpack.unpackb(sock.recv_multipart()[-1])["body"]
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    assert "exceeds the limit" in reply["error"]["message"]
    sock.close(0)
    with service.client() as c:
        assert c.call("demo", "add", x=1) == 2.0
        with pytest.raises(ValueError, match="over the limit"):
            c.call("demo", "echo", value="y" * (2 << 20))


def test_a_long_wait_ends_at_once_when_there_is_no_hub(tmp_path):
    """`ohmpi rs-check` retries for minutes by design; with no hub at all it must say so at once."""
    from bus.config import BusConfig
    from bus.errors import Unavailable
    from bus.rpc import Client

    c = Client(f"ipc://{tmp_path}/nobus", cfg=BusConfig(), timeout=0.5, retries=200)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="no hub answering"):
        c.call("controller", "rs_check")
    assert time.monotonic() - started < 30  # one attempt and one ping, not 200 attempts
    c.close()


def test_call_chunked_joins_the_chunks_and_checks_the_sha256(service):
    """The one paged-text helper the web export and `ohmpi export` share."""
    from bus.errors import BusError

    with service.client() as c:
        text, meta = c.call_chunked("demo", "chunked")
        assert text == "".join(f"v0-part{k};" * 1000 for k in range(3))
        assert meta["chunks"] == 3 and meta["filename"] == "demo.txt" and "text" not in meta
        before = c.call("demo", "counts")["chunked"]
        with pytest.raises(BusError, match="changed while it was being read"):
            c.call_chunked("demo", "chunked", changing=True, attempts=2)
        assert c.call("demo", "counts")["chunked"] == before + 2 * 3  # read again from chunk 0, twice
        with pytest.raises(BusError, match="did not answer a chunk"):
            c.call_chunked("demo", "chunked", malformed=True)
