"""Heartbeats, the process list, shutdown and restarts of real processes."""

from __future__ import annotations

import signal
import time

import pytest

from bus.events import Subscriber
from tests.support.procs import stop, wait_until

HEARTBEAT_FIELDS = {"pid", "uptime_s", "rss_mb", "cpu_pct", "msgs_in", "msgs_out", "dropped", "missed"}


def test_every_process_beats_on_soh(service):
    sub = Subscriber(["soh.demo"], address=service.address, cfg=service.cfg, snapshot=False)
    msg = sub.recv(timeout=20)
    assert msg is not None and msg.topic == "soh.demo"
    assert HEARTBEAT_FIELDS <= set(msg.body)
    assert msg.body["pid"] == service.procs[-1].pid and msg.body["rss_mb"] > 1
    nxt = sub.recv(timeout=20)
    assert nxt.seq == msg.seq + 1 and nxt.body["uptime_s"] > msg.body["uptime_s"]
    sub.close()


def test_process_list_shows_alive_then_dead_with_age(service):
    with service.client() as c:
        procs = wait_until(
            lambda: (lambda d: d if len(d) == 2 else None)({p["name"]: p for p in c.call_paged("hub", "processes")}),
            what="both heartbeats",
        )
        assert procs["demo"]["alive"] and procs["demo"]["pid"] == service.procs[-1].pid
        assert 0 <= procs["demo"]["age_s"] < 10
        stop(service.procs[-1], signal.SIGKILL)
        dead = wait_until(
            lambda: [p for p in c.call_paged("hub", "processes") if p["name"] == "demo" and not p["alive"]],
            what="demo marked dead",
        )
        assert dead[0]["age_s"] >= 3 * service.cfg.heartbeat_s


@pytest.mark.parametrize("which", ["hub", "service"])
def test_sigterm_ends_a_process_promptly_and_cleanly(service, which):
    proc = service.hub if which == "hub" else service.procs[-1]
    started = time.monotonic()
    assert stop(proc, signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - started < 10  # a hang would hit the bound; bench measures the real figure


def test_killed_hub_restarts_onto_the_same_endpoints_at_once(bus):
    with bus.client() as c:
        first = c.call("hub", "ping")["pid"]
        stop(bus.hub, signal.SIGKILL)
        bus.start_hub()  # binds the same ipc path / tcp ports again immediately
        assert c.call("hub", "ping")["pid"] != first
