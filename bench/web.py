#!/usr/bin/env python3
"""Web gateway benchmark: `python bench/web.py [--json] [--samples N]`.

Starts the whole system under supervisord (temporary OHMPI_VAR, simulated instrument, the
gateway on a free port) and runs each measurement part against it. Every part is a function
`part(system) -> dict` of figures; PARTS lists them in order and their dicts are merged into
one JSON line (`--json`) or printed one figure per line.

Parts:
  sse_latency   sse_latency_ms_p50 / _p95: a measurement event published on the bus
                (`bus.events.Publisher`, `data.bench.measurement`, the controller's event shape
                plus a send timestamp) to its arrival at an SSE client of the real gateway
                (cheroot under supervisord, over HTTP, logged in with a viewer token). Paced at
                50 events/s after a warm-up (slow joiner); target p95 <= 250 ms.
  login         login_ms_p50 / _max: POST /api/login with the right password (the scrypt
                check dominates), sequential.
  (page_kb, pseudosection_render_ms: added by the page's own part functions, same pattern.)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import secrets
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zmq  # noqa: E402

from bus.envelope import Session  # noqa: E402
from bus.events import Publisher  # noqa: E402
from tests.support.system import System  # noqa: E402
from tests.support.web import start_web_system  # noqa: E402


# ---- the system under test ----------------------------------------------------------------------
@contextlib.contextmanager
def running_system(electrodes: int = 32, time_scale: float = 20.0):
    """The whole system with the gateway under supervisord (tests/support/web.py) in a temp
    OHMPI_VAR, with an admin made over the bus (`.user`, `.password`, as `ohmpi users add` does) and
    a viewer API token (`.token`); `.extra` is where parts leave things for later parts."""
    system = start_web_system(electrodes=electrodes, time_scale=time_scale, accounts=False)
    try:
        system.user, system.password = "bench", secrets.token_urlsafe(16)
        system.client.call("web", "users_add", name=system.user, role="admin", password=system.password)
        system.token = system.client.call("web", "tokens_create", name="bench", role="viewer")["token"]
        system.extra = {}
        yield system
    finally:
        system.close()


# ---- an SSE client ----------------------------------------------------------------------------------
class SSEReader:
    """Reads `event`/`data` frames from the gateway's /api/events in a thread; calls on_event(name, data)."""

    def __init__(self, base_url: str, on_event, token: str):
        host, port = base_url.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.conn.request(
            "GET", "/api/events", headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
        )
        self.sock = self.conn.sock  # the response takes it over
        self.resp = self.conn.getresponse()
        self.on_event = on_event
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        name, data = "message", []
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    return
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        self.on_event(name, "\n".join(data))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # the stream was cut (closing the reader ends it mid-read)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


# ---- parts ----------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def sse_latency(system: System, samples: int = 300, rate_hz: float = 50.0) -> dict:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    arrived = threading.Event()
    done = threading.Event()

    def on_event(name: str, text: str) -> None:
        if name != "measurement":
            return
        now = time.perf_counter()
        body = json.loads(text)
        mid = body.get("measurement_id", "")
        if mid.startswith("warmup-"):
            arrived.set()
        elif mid in sent:
            latencies.append((now - sent.pop(mid)) * 1000)
            if len(latencies) >= samples:
                done.set()

    reader = SSEReader(system.web_url, on_event, system.token)
    publisher = Publisher(Session("bench"), system.address, system.cfg, zmq.Context.instance())
    record = {
        "a": 1,
        "b": 4,
        "m": 2,
        "n": 3,
        "time": "",
        "r_ohm": 12.5,
        "rhoa_ohmm": 78.5,
        "r_std_pct": 0.1,
        "k_m": 6.28,
        "iab_mA": 50.0,
        "vmn_mV": 625.0,
        "flags": [],
    }
    try:
        for i in range(400):  # slow joiner: until a warm-up event reaches the browser side
            publisher.publish("data.bench.measurement", {"measurement_id": f"warmup-{i}", **record})
            if arrived.wait(0.05):
                break
        else:
            raise RuntimeError("no event reached the SSE client")
        time.sleep(0.2)
        period = 1.0 / rate_hz
        for i in range(samples):
            mid = f"bench-{i}"
            body = {
                "measurement_id": mid,
                "survey_id": None,
                "pass_index": None,
                "seq_index": i,
                "sent_ts": time.time(),
                **record,
            }
            sent[mid] = time.perf_counter()
            publisher.publish("data.bench.measurement", body)
            time.sleep(period)
        done.wait(10)
    finally:
        publisher.close()
        reader.close()
    lost = samples - len(latencies)
    return {
        "sse_latency_ms_p50": round(statistics.median(latencies), 2),
        "sse_latency_ms_p95": round(_percentile(latencies, 95), 2),
        "sse_latency_samples": len(latencies),
        "sse_latency_lost": lost,
    }


def login(system: System, samples: int = 5) -> dict:
    times = []
    body = json.dumps({"username": system.user, "password": system.password}).encode()
    for _ in range(samples):
        request = urllib.request.Request(
            system.web_url + "/api/login", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
        times.append((time.perf_counter() - started) * 1000)
    return {"login_ms_p50": round(statistics.median(times), 1), "login_ms_max": round(max(times), 1)}


def page(system: System) -> dict:
    """page_kb and pseudosection_render_ms, measured in the real browser (bench/web_page.py)."""
    from bench.web_page import page_metrics

    return page_metrics(url=system.web_url, user=system.user, password=system.password)


PARTS = [sse_latency, login, page]


def run(parts=None) -> dict:
    result: dict = {}
    with running_system() as system:
        for part in parts or PARTS:
            result.update(part(system))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()
    result = run()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
