"""A misbehaving process for the storm tests: `python -m tests.reliability.storm MODE SECONDS`.

MODE `log`: a bus process (bus.node.Node) logging in a tight loop from a thread, as a buggy
worker would; MODE `raw`: a publisher that bypasses Node and floods `log.*` and `soh.*` topics."""

from __future__ import annotations

import sys
import threading
import time

import zmq

from bus.config import load_bus_config
from bus.envelope import Session
from bus.events import Publisher
from bus.node import Node
from bus.rpc import Client


def _connected(node: Node) -> None:
    """Wait until the hub has our heartbeat: our publisher then has the subscriptions (a line
    published before would reach nobody: PUB/SUB's slow joiner)."""
    with Client(node.address, cfg=node.cfg, timeout=2.0) as client:
        deadline = time.monotonic() + 60
        while "storm" not in {p["name"] for p in client.call_paged("hub", "processes")}:
            if time.monotonic() > deadline:
                raise SystemExit("the hub never saw the storm's heartbeat")
            time.sleep(0.1)


def log_storm(seconds: float) -> int:
    node = Node("storm", serve=False)
    sent = [0]

    def loop():
        _connected(node)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            node.log("error", f"sensor read failed again (#{sent[0]})", attempt=sent[0])
            sent[0] += 1
        time.sleep(2 * node.cfg.heartbeat_s)  # the summary line goes out on the next beats
        node.stop()

    threading.Thread(target=loop, daemon=True).start()
    node.run()
    print(sent[0], flush=True)
    return 0


def raw_storm(seconds: float) -> int:
    cfg = load_bus_config()
    pub = Publisher(Session("rogue"), cfg.resolved_address(), cfg, zmq.Context.instance())
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pub.publish("log.rogue.warning", {"message": "x" * 400, "n": sent})
        pub.publish(f"soh.rogue{sent % 500}", {"n": sent, "pad": "y" * 200})
        sent += 2
    pub.close()
    print(sent, flush=True)
    return 0


if __name__ == "__main__":
    mode, seconds = sys.argv[1], float(sys.argv[2])
    sys.exit(log_storm(seconds) if mode == "log" else raw_storm(seconds))
