"""The `ohmpi` console script against a live bus: output, --json and exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.procs import stop

OHMPI = str(Path(sys.executable).parent / "ohmpi")


def ohmpi(bus, *args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OHMPI, *args], env={**os.environ, **bus.env}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def live(ipc_bus):
    ipc_bus.start_service("demo")
    return ipc_bus


def test_ping_and_status(live):
    out = ohmpi(live, "ping", "hub")
    assert out.returncode == 0 and "pong" in out.stdout
    data = json.loads(ohmpi(live, "ping", "demo", "--json").stdout)
    assert data["name"] == "demo" and data["rtt_ms"] > 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        procs = json.loads(ohmpi(live, "status", "--json").stdout)
        if {"hub", "demo"} <= {p["name"] for p in procs}:
            break
        time.sleep(0.2)
    assert {"hub", "demo"} <= {p["name"] for p in procs}
    table = ohmpi(live, "status").stdout.splitlines()
    assert table[0].split()[:3] == ["PROCESS", "ALIVE", "SEEN(s)"] and any(line.startswith("demo") for line in table)


def test_call_parses_key_values(live):
    out = ohmpi(live, "call", "demo", "add", "x=2", "y=0.5", "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == 2.5
    echoed = json.loads(ohmpi(live, "--json", "call", "demo", "echo", 'value={"a": [1, true]}').stdout)
    assert echoed == {"a": [1, True]}
    assert json.loads(ohmpi(live, "call", "demo", "echo", "value=plain words", "--json").stdout) == "plain words"


@pytest.mark.parametrize(
    "args, status, words",
    [
        (["call", "demo", "add", "x=abc"], 1, "bad_request"),
        (["call", "demo", "nope"], 1, "unknown_command"),
        (["call", "demo", "add", "x"], 2, "key=value"),
        (["ping", "ghost"], 3, "not running"),
        (["ping", "Bad Name"], 2, "service name"),
    ],
)
def test_errors_exit_non_zero_with_one_line(live, args, status, words):
    out = ohmpi(live, *args)
    assert out.returncode == status
    assert len(out.stderr.strip().splitlines()) == 1 and words in out.stderr


def test_no_hub_exits_3(live):
    stop(live.hub)
    out = ohmpi(live, "ping", "hub", "--timeout", "0.3")
    assert out.returncode == 3 and "no hub answering" in out.stderr


def test_watch_prints_events_like_mosquitto_sub(live):
    done = threading.Event()

    def emit():
        with live.client() as c:
            while not done.wait(0.1):  # until the watcher has seen enough (it may join late)
                c.call("demo", "emit", topic="data.cli.measurement", count=1, body={"r_ohm": 1.5})

    emitter = threading.Thread(target=emit)
    emitter.start()
    try:
        out = ohmpi(live, "watch", "data.+.measurement", "-n", "2")
        json_out = ohmpi(live, "watch", "data.#", "-n", "1", "--json")
    finally:
        done.set()
        emitter.join(30)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 2
    topic, body = lines[0].split(" ", 1)
    assert topic == "data.cli.measurement" and json.loads(body)["r_ohm"] == 1.5
    msg = json.loads(json_out.stdout)
    assert msg["topic"] == "data.cli.measurement" and msg["src"] == "demo" and msg["seq"] >= 1


def test_watch_starts_with_cached_state(live):
    with live.client() as c:
        c.call("demo", "emit", topic="state.demo", count=1, body={"phase": "idle"})
        deadline = time.monotonic() + 20
        while not any(t == "state.demo" for t, _ in c.call_paged("hub", "snapshot")) and time.monotonic() < deadline:
            c.call("demo", "emit", topic="state.demo", count=1, body={"phase": "idle"})
            time.sleep(0.1)
    out = ohmpi(live, "watch", "state.#", "--for", "0.5", "--json")
    first = json.loads(out.stdout.splitlines()[0])
    assert first["topic"] == "state.demo" and first["replayed"] is True and first["body"]["phase"] == "idle"
