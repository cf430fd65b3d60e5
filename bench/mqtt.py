#!/usr/bin/env python3
"""MQTT bridge benchmark: `python bench/mqtt.py [--json] [--samples N] [--burst N]`.

Starts a real mosquitto (tests/support/mqtt.py: loopback, password file, ACL) and the whole
system under supervisord with the bridge configured (`[mqtt] instrument = "bench"`), then
publishes measurement events on the bus as the controller does (`data.bench.measurement`, a full
record of every field, ~0.7 KB of JSON) and receives them from the broker with a paho subscriber
(MQTT 5, QoS 1) in this same process, so one clock times both ends.

  latency     bus -> bridge (durable queue, QoS 1) -> mosquitto -> subscriber, paced at 50/s:
              mqtt_latency_ms_p50 / _p95
  baseline    the same payload published straight to mosquitto by paho (QoS 1), paced alike:
              direct_latency_ms_p50 / _p95; bridge_added_ms_p95 = the difference of the p95s
  throughput  a burst of N events published as fast as the bus takes them: mqtt_msgs_per_s from
              the first send to the last arrival, with lost and duplicated counts
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zmq  # noqa: E402

from bus.envelope import Session  # noqa: E402
from bus.events import Publisher  # noqa: E402
from ohmpi.record import make_record  # noqa: E402
from tests.support.mqtt import Broker  # noqa: E402
from tests.support.system import PROGRAMS, System  # noqa: E402

TOPIC = "ohmpi/bench/measurement"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _record(i: int) -> dict:
    return {
        "measurement_id": f"bench-{i}",
        "survey_id": "Sbench",
        "pass_index": 0,
        "seq_index": i,
        **make_record(
            a=1,
            b=4,
            m=2,
            n=3,
            time="2026-11-30T10:00:00.000Z",
            vab_V=12.0,
            iab_mA=50.0,
            iab_std_pct=0.01,
            vmn_mV=625.0,
            vmn_std_pct=0.1,
            sp_mV=-7.2,
            r_ohm=12.5,
            r_std_pct=0.1,
            r_stack_std_pct=0.17,
            r_budget_pct={"noise": 0.1, "sp": 0.0, "current": 0.01},
            k_m=6.28,
            rhoa_ohmm=78.5,
            rab_kohm=1.9,
            ip_mvv=0.1,
            ip_std_mvv=0.01,
            ip_windows_mvv=[0.1, 0.1, 0.1, 0.1],
            ip_delay_ms=20.0,
            ip_windows_ms=[20.0, 20.0, 40.0, 80.0],
            n_stacks=2,
            injection_ms=200.0,
            duty_cycle=0.5,
            sampling_hz=100.0,
            n_samples=168,
            strategy="fixed",
            flags=[],
        ),
    }


class Timed:
    """Arrival times of measurement ids at a subscriber."""

    def __init__(self, broker: Broker):
        self.arrived: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.sub = broker.client("viewer", [TOPIC])
        self.sub.client.on_message = self._on_message
        self.sub.wait_subscribed()

    def _on_message(self, client, userdata, message) -> None:
        now = time.perf_counter()
        mid = json.loads(message.payload)["measurement_id"]
        with self.lock:
            self.arrived.setdefault(mid, []).append(now)

    def first(self, mid: str) -> float | None:
        with self.lock:
            times = self.arrived.get(mid)
            return times[0] if times else None

    def wait(self, mids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(self.first(m) is None for m in mids):
            time.sleep(0.02)


def _paced(send, timed: Timed, prefix: str, samples: int, rate_hz: float) -> list[float]:
    sent = {}
    period = 1.0 / rate_hz
    for i in range(samples):
        body = _record(i) | {"measurement_id": f"{prefix}-{i}"}
        sent[body["measurement_id"]] = time.perf_counter()
        send(body)
        time.sleep(period)
    timed.wait(list(sent), 30)
    return [(timed.first(m) - t) * 1000 for m, t in sent.items() if timed.first(m) is not None]


def run(samples: int, burst: int, rate_hz: float = 50.0) -> dict:
    broker = Broker()
    system = None
    try:
        system = System(
            electrodes=16,
            wait=PROGRAMS + ("mqtt",),
            extra=broker.mqtt_table(broker.dir, instrument="bench", discovery=False),
        )
        timed = Timed(broker)
        publisher = Publisher(Session("bench"), system.address, system.cfg, zmq.Context.instance())
        bus_send = lambda body: publisher.publish("data.bench.measurement", body)  # noqa: E731
        for i in range(400):  # slow joiner: until one event went all the way through
            bus_send(_record(i) | {"measurement_id": f"warmup-{i}"})
            time.sleep(0.05)
            if timed.arrived:
                break
        else:
            raise RuntimeError("no event reached the MQTT subscriber")
        via_bridge = _paced(bus_send, timed, "paced", samples, rate_hz)

        direct = broker.client("bridge")
        direct_send = lambda body: direct.client.publish(TOPIC, json.dumps(body).encode(), qos=1)  # noqa: E731
        time.sleep(0.3)
        straight = _paced(direct_send, timed, "direct", samples, rate_hz)
        direct.close()

        mids = [f"burst-{i}" for i in range(burst)]
        start = time.perf_counter()
        for i, mid in enumerate(mids):
            bus_send(_record(i) | {"measurement_id": mid})
        timed.wait(mids, 120)
        arrivals = [timed.first(m) for m in mids if timed.first(m) is not None]
        with timed.lock:
            duplicates = sum(len(timed.arrived.get(m, [])) - 1 for m in mids if m in timed.arrived)
        status = system.client.call("mqtt", "status")
        publisher.close()
        timed.sub.close()
        return {
            "mqtt_latency_ms_p50": round(statistics.median(via_bridge), 2),
            "mqtt_latency_ms_p95": round(_percentile(via_bridge, 95), 2),
            "direct_latency_ms_p50": round(statistics.median(straight), 2),
            "direct_latency_ms_p95": round(_percentile(straight, 95), 2),
            "bridge_added_ms_p95": round(_percentile(via_bridge, 95) - _percentile(straight, 95), 2),
            "latency_samples": len(via_bridge),
            "latency_lost": samples - len(via_bridge),
            "mqtt_msgs_per_s": round(len(arrivals) / (max(arrivals) - start), 1) if arrivals else 0.0,
            "burst": burst,
            "burst_lost": burst - len(arrivals),
            "burst_duplicates": duplicates,
            "payload_bytes": len(json.dumps(_record(0))),
            "bridge_rss_mb": status.get("rss_mb"),
            "bridge_queue_dropped": status.get("mqtt_queue_dropped"),
        }
    finally:
        if system is not None:
            system.close()
        broker.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--samples", type=int, default=300, help="paced events per latency part (300)")
    parser.add_argument("--burst", type=int, default=3000, help="events in the throughput burst (3000)")
    args = parser.parse_args()
    result = run(args.samples, args.burst)
    if args.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
