#!/usr/bin/env python3
"""Bus benchmark: `python bench/bus_speed.py [--json] [--messages N] [--seconds S]`.

One command, one run, every system measured side by side:

1. PUB->SUB throughput of ~150-byte measurement records, publisher and subscriber in
   separate processes, counted at the subscriber from its first to its last received
   record:
     - our bus: a real hub process (`python -m workers.hub`), `bus.events.Publisher`
       (through `bus.node.Node(serve=False)`) -> hub -> `bus.events.Subscriber`
       (`data.+.measurement`, decoding to Message objects, gap counting on), receiving
       with `recv_batch` (what the recorder and the web use);
     - the same, received one message per call the way `Subscriber.recv` did before the
       batch receive (frames, then `Subscriber.handle`): the "before" of docs/performance.md;
     - raw pyzmq PUB -> SUB over ipc, msgpack of the same record, no hub;
     - mosquitto + paho-mqtt v2, QoS 0, the same msgpack payload (when installed).
2. Command round trip p50/p99: `bus.rpc.Client.call("benchsvc", "echo", x=1)` through
   the hub to a `bus.node.Node` service vs raw pyzmq REQ/REP + msgpack.

Method (see docs/performance.md): each subscriber starts first; the publisher sends paced
warm-up records until the subscriber has seen one (slow joiner), then sends the measured
records as fast as it can, then end markers. Records the publisher's or the subscriber's
high-water mark dropped are reported as loss, never hidden.

The script starts its helpers as `python bench/bus_speed.py --role ...` in their own process
groups and kills those groups on any exit (Ctrl-C, error); its temp directory is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import msgpack  # noqa: E402

RECORD = {
    "a": 1,
    "b": 4,
    "m": 2,
    "n": 3,
    "r_ohm": 12.3456,
    "rhoa_ohmm": 98.7,
    "vmn_mV": 123.4,
    "iab_mA": 10.2,
    "r_std_pct": 0.3,
    "sp_mV": -1.25,
    "stack": 2,
    "time": "2026-11-21T12:00:00.123456Z",
}
TOPIC = "data.bench.measurement"
MQTT_TOPIC = "data/bench/measurement"  # MQTT separates levels with "/"
WARMUP = {"warmup": 1}
END_KEY = "end"
TARGETS = {"bus_vs_raw": 0.5, "bus_vs_mqtt": 3.0, "rpc_p99_us": 2000.0}
IDLE_S = 3.0  # a subscriber gives up this long after its last record if no end marker arrives


# ==== helper processes (run as `bench/bus_speed.py --role NAME --arg JSON`) =========================


def _say(obj) -> None:
    """Tell the parent something: one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _stdin_line(timeout: float) -> str | None:
    if select.select([sys.stdin], [], [], timeout)[0]:
        return sys.stdin.readline().strip() or "EOF"
    return None


def _publish_loop(send, n: int | None, seconds: float | None) -> None:
    """Warm up until GO, blast, then send end markers until QUIT (sockets stay open meanwhile)."""
    _say({"ready": True})
    warm_packed = msgpack.packb(WARMUP)
    while True:
        send(WARMUP, warm_packed)
        line = _stdin_line(0.005)
        if line == "GO":
            break
        if line in ("QUIT", "EOF"):
            return
    sent = 0
    t0 = time.perf_counter()
    if seconds is not None:
        stop = t0 + seconds
        while True:
            for _ in range(256):
                send(RECORD, None)
            sent += 256
            if time.perf_counter() >= stop:
                break
    else:
        for _ in range(n):
            send(RECORD, None)
        sent = n
    elapsed = time.perf_counter() - t0
    _say({"sent": sent, "send_s": elapsed})
    end = {END_KEY: sent}
    end_packed = msgpack.packb(end)
    while True:
        send(end, end_packed)
        if _stdin_line(0.02) is not None:  # QUIT or EOF
            return


class Tally:
    """Counts measured records at the subscriber, from the first to the last one received."""

    def __init__(self, expected: int | None, on_first=None):
        self.expected = expected
        self.on_first = on_first
        self.count = 0
        self.first = self.last = 0.0
        self.sent = None

    def feed(self, body: dict) -> bool:
        """Account one received body; True when the run is over (all records or the end marker)."""
        if "a" in body:
            self.last = now = time.perf_counter()
            if not self.count:
                self.first = now
                if self.on_first is not None:
                    self.on_first()
            self.count += 1
            return self.count == self.expected
        if END_KEY in body:
            self.sent = body[END_KEY]
            return True
        return False

    def result(self) -> dict:
        return {"received": self.count, "sub_s": self.last - self.first, "sent_seen": self.sent}


def _subscribe_loop(recv, tally: Tally, deadline_s: float) -> dict:
    """Drive a pull-style subscriber: `recv(timeout)` gives a list of bodies ([] on timeout)."""
    _say({"ready": True})
    deadline = time.monotonic() + deadline_s
    while not recv(0.5):  # warm-up: one record proves the subscription reached the publisher
        if time.monotonic() > deadline:
            return {"error": "no warm-up record arrived"}
    _say({"warm": True})
    feed = tally.feed
    while True:
        bodies = recv(IDLE_S if tally.count else 30.0)
        if not bodies:
            break
        for body in bodies:
            if feed(body):
                return tally.result()
    return tally.result()


def role_bus_pub(arg: dict) -> None:
    import zmq

    from bus.node import Node

    node = Node("benchpub", serve=False)  # OHMPI_BUS / OHMPI_VAR come from the environment
    publish = node.publish
    try:
        _publish_loop(lambda body, _packed: publish(TOPIC, body), arg.get("n"), arg.get("seconds"))
    finally:
        node.publisher._sock.setsockopt(zmq.LINGER, 0)
        node.close()


def _recv_one_at_a_time(sub):
    """`recv(timeout)` receiving one message per call as Subscriber.recv did before recv_batch:
    the frames of one multipart (a poll when none is queued), then `Subscriber.handle`."""
    import zmq

    sock, handle, nb = sub.socket, sub.handle, int(zmq.NOBLOCK)

    def recv(timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = sock.recv(nb, copy=False)
            except zmq.Again:
                if not sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
                    return []
                continue
            frames = [frame.bytes]
            while frame.more:
                frame = sock.recv(nb, copy=False)
                frames.append(frame.bytes)
            msg = handle(frames)
            if msg is not None:
                return [msg.body]

    return recv


def role_bus_sub(arg: dict) -> None:
    import zmq

    from bus.events import Subscriber

    sub = Subscriber(["data.+.measurement"], snapshot=False)
    base = [0]

    def mark():  # the tracker counts from the first warm-up record; measure from the first record
        base[0] = sub.missed

    def recv(timeout):
        return [msg.body for msg in sub.recv_batch(timeout)]

    if arg.get("one_at_a_time"):
        recv = _recv_one_at_a_time(sub)
    try:
        out = _subscribe_loop(recv, Tally(arg.get("n"), mark), arg["deadline"])
        out["missed"] = sub.missed - base[0]
        out["dropped_invalid"] = sub.stats.get("dropped", 0)
        _say(out)
    finally:
        sub.socket.setsockopt(zmq.LINGER, 0)
        sub.close()


def role_zmq_pub(arg: dict) -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, arg["hwm"])
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(arg["endpoint"])
    topic = TOPIC.encode()
    packb = msgpack.packb
    send = sock.send_multipart

    def publish(body, packed):
        send((topic, packed if packed is not None else packb(body)))

    try:
        _publish_loop(publish, arg.get("n"), arg.get("seconds"))
    finally:
        sock.close()
        ctx.term()


def role_zmq_sub(arg: dict) -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, arg["hwm"])
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"data.")
    sock.connect(arg["endpoint"])
    unpackb = msgpack.unpackb

    def recv(timeout):
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            if not sock.poll(int(timeout * 1000)):
                return []
            frames = sock.recv_multipart()
        return [unpackb(frames[1])]

    try:
        _say(_subscribe_loop(recv, Tally(arg.get("n")), arg["deadline"]))
    finally:
        sock.close()
        ctx.term()


def _mqtt_client(port: int, name: str):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    client.connect("127.0.0.1", port, keepalive=60)
    return client


def role_mqtt_pub(arg: dict) -> None:
    client = _mqtt_client(arg["port"], f"benchpub-{os.getpid()}")
    client.loop_start()  # paho's network thread writes what publish() queues
    publish = client.publish
    packb = msgpack.packb
    try:
        _publish_loop(
            lambda body, packed: publish(MQTT_TOPIC, packed if packed is not None else packb(body), qos=0),
            arg.get("n"),
            arg.get("seconds"),
        )
    finally:
        client.disconnect()
        client.loop_stop()


def role_mqtt_sub(arg: dict) -> None:
    import threading

    done, subscribed = threading.Event(), threading.Event()
    warm = []
    tally = Tally(arg.get("n"))
    feed = tally.feed
    unpackb = msgpack.unpackb

    def on_message(_client, _userdata, message):  # runs in paho's network thread
        body = unpackb(message.payload)
        if not warm:
            warm.append(True)
            _say({"warm": True})
            return
        if feed(body):
            done.set()

    client = _mqtt_client(arg["port"], f"benchsub-{os.getpid()}")
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.subscribe("data/+/measurement", qos=0)
    client.loop_start()
    try:
        if not subscribed.wait(10):
            _say({"error": "no SUBACK from mosquitto"})
            return
        _say({"ready": True})
        deadline = time.monotonic() + arg["deadline"]
        seen, idle_since = -1, time.monotonic()
        while not done.wait(0.1):  # stop on the end marker, or IDLE_S after the last record
            now = time.monotonic()
            if tally.count != seen:
                seen, idle_since = tally.count, now
            elif (tally.count and now - idle_since > IDLE_S) or now > deadline:
                break
        _say(tally.result())
    finally:
        client.disconnect()
        client.loop_stop()


def role_bus_svc(arg: dict) -> None:
    from bus.node import Node

    node = Node("benchsvc")

    def echo(x: int = 0) -> dict:
        """Return x (benchmark round trip)."""
        return {"x": x}

    node.command(echo, role="viewer")
    node.run()


def role_zmq_rep(arg: dict) -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(arg["endpoint"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _say({"ready": True})
    try:
        while True:
            req = msgpack.unpackb(sock.recv())
            sock.send(msgpack.packb({"id": req["id"], "ok": True, "result": {"x": req["args"]["x"]}}))
    finally:
        sock.close()
        ctx.term()


ROLES = {
    "bus-pub": role_bus_pub,
    "bus-sub": role_bus_sub,
    "zmq-pub": role_zmq_pub,
    "zmq-sub": role_zmq_sub,
    "mqtt-pub": role_mqtt_pub,
    "mqtt-sub": role_mqtt_sub,
    "bus-svc": role_bus_svc,
    "zmq-rep": role_zmq_rep,
}


# ==== the parent: starts, drives and stops everything ========================================


class Procs:
    """Every child process, each in its own process group; stop() kills them all."""

    def __init__(self, env: dict):
        self.env = env
        self.children: list[subprocess.Popen] = []

    def start(self, argv: list[str], *, pipes: bool = True) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.children.append(proc)
        return proc

    def role(self, name: str, arg: dict) -> subprocess.Popen:
        return self.start([sys.executable, str(Path(__file__).resolve()), "--role", name, "--arg", json.dumps(arg)])

    def stop(self, proc: subprocess.Popen, grace: float = 1.0) -> None:
        if proc.poll() is None:
            try:
                if proc.stdin and not proc.stdin.closed:
                    proc.stdin.write("QUIT\n")
                    proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass
            try:
                proc.wait(0.3)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)  # the group: whatever the child started goes too
            except (ProcessLookupError, PermissionError):
                break
            try:
                proc.wait(grace)
                if sig == signal.SIGTERM:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # leftovers in the group, if any
                    except (ProcessLookupError, PermissionError):
                        pass
                break
            except subprocess.TimeoutExpired:
                continue
        for f in (proc.stdin, proc.stdout):
            try:
                f and f.close()
            except OSError:
                pass
        if proc in self.children:
            self.children.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.children)):
            self.stop(proc)


def read_msg(proc: subprocess.Popen, timeout: float, want: str) -> dict:
    """The next JSON line from a child that has key `want` (raise on timeout or exit)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"child {proc.args[3] if len(proc.args) > 3 else proc.args} sent no {want!r} within {timeout:g} s"
            )
        if not select.select([proc.stdout], [], [], remaining)[0]:
            continue
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"child {proc.args[3]} exited ({proc.wait()}) before sending {want!r}")
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "error" in msg:
            raise RuntimeError(f"child {proc.args[3]}: {msg['error']}")
        if want in msg:
            return msg


def tell(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def run_pubsub(procs: Procs, kind: str, arg: dict, deadline: float) -> dict:
    """One throughput run: start subscriber, then publisher, warm up, GO, collect."""
    arg = dict(arg, deadline=deadline)
    sub = procs.role(f"{kind}-sub", arg)
    pub = None
    try:
        read_msg(sub, 15, "ready")
        pub = procs.role(f"{kind}-pub", arg)
        read_msg(pub, 15, "ready")
        read_msg(sub, 15, "warm")
        tell(pub, "GO")
        res = read_msg(sub, deadline + 5, "received")
        pubres = read_msg(pub, 10, "sent")
    finally:
        if pub is not None:
            procs.stop(pub)
        procs.stop(sub)
    sent = pubres["sent"]
    recv = res["received"]
    rate = (recv - 1) / res["sub_s"] if recv > 1 and res["sub_s"] > 0 else 0.0
    out = {
        "msgs_per_s": rate,
        "sent": sent,
        "received": recv,
        "loss_pct": 100.0 * (sent - recv) / sent if sent else 0.0,
        "send_per_s": sent / pubres["send_s"] if pubres["send_s"] > 0 else 0.0,
        "sub_s": res["sub_s"],
    }
    if "missed" in res:
        out["missed"] = res["missed"]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"mosquitto did not listen on port {port} within {timeout:g} s")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def bench_bus_rpc(address: str, calls: int, warmup: int) -> list[float]:
    from bus.rpc import Client

    client = Client(address, name="benchcli", timeout=2.0, retries=0)
    try:
        client.wait_for("benchsvc", timeout=10)
        call = client.call
        for _ in range(warmup):
            call("benchsvc", "echo", x=1)
        clock = time.perf_counter_ns
        out = []
        for _ in range(calls):
            t0 = clock()
            r = call("benchsvc", "echo", x=1)
            out.append((clock() - t0) / 1000)
            assert r == {"x": 1}, r
        return sorted(out)
    finally:
        client.close()


def bench_raw_rpc(endpoint: str, calls: int, warmup: int) -> list[float]:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 2000)
    sock.connect(endpoint)
    try:
        clock = time.perf_counter_ns
        out = []
        for i in range(warmup + calls):
            t0 = clock()
            sock.send(msgpack.packb({"id": f"req-{i}", "cmd": "echo", "args": {"x": 1}}))
            rep = msgpack.unpackb(sock.recv())
            dt = (clock() - t0) / 1000
            assert rep["ok"] and rep["result"] == {"x": 1}, rep
            if i >= warmup:
                out.append(dt)
        return sorted(out)
    finally:
        sock.close()
        ctx.term()


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="obench-", dir="/tmp"))
    env = dict(os.environ, OHMPI_BUS=f"ipc://{tmp}/bus", OHMPI_VAR=str(tmp), PYTHONUNBUFFERED="1")
    env.pop("OHMPI_CONFIG", None)
    procs = Procs(env)
    n = None if args.seconds else args.messages
    n_mqtt = None if args.seconds else (args.mqtt_messages or max(1000, args.messages // 4))
    deadline = (args.seconds or 0) + 30.0
    results: dict = {}
    mosquitto = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )
    try:
        # ---- our bus: a real hub process ------------------------------------------------
        hub = procs.start([sys.executable, "-m", "workers.hub"], pipes=False)
        from bus.rpc import Client

        with Client(env["OHMPI_BUS"], name="benchcli", timeout=1.0, retries=0) as c:
            deadline_hub = time.monotonic() + 15
            while True:
                try:
                    c.call("hub", "ping", timeout=0.5, retries=0)
                    break
                except Exception as exc:
                    if hub.poll() is not None or time.monotonic() > deadline_hub:
                        raise RuntimeError("the hub (python -m workers.hub) did not start") from exc
                    time.sleep(0.05)
        from bus.config import load_bus_config

        hwm = load_bus_config().event_hwm  # raw pyzmq gets the bus's high-water mark, on both ends
        port = None
        if mosquitto and not args.no_mqtt:
            port = free_port()
            conf = tmp / "mosquitto.conf"
            conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n")
            procs.start([mosquitto, "-c", str(conf)], pipes=False)
            wait_port(port, 10)

        # Rounds alternate the systems so a noisy neighbour hits them alike; the median round counts.
        rounds: dict[str, list] = {"bus": [], "bus_before": [], "raw": [], "mqtt": []}
        for i in range(1, args.rounds + 1):
            progress(f"round {i}/{args.rounds}: our bus PUB -> hub -> SUB ...")
            rounds["bus"].append(run_pubsub(procs, "bus", {"n": n, "seconds": args.seconds}, deadline))
            progress(f"round {i}/{args.rounds}: our bus, one receive per message (before recv_batch) ...")
            rounds["bus_before"].append(
                run_pubsub(procs, "bus", {"n": n, "seconds": args.seconds, "one_at_a_time": True}, deadline)
            )
            progress(f"round {i}/{args.rounds}: raw pyzmq PUB -> SUB ...")
            rounds["raw"].append(
                run_pubsub(
                    procs,
                    "zmq",
                    {"n": n, "seconds": args.seconds, "hwm": hwm, "endpoint": f"ipc://{tmp}/raw-pub"},
                    deadline,
                )
            )
            if port is not None:
                progress(f"round {i}/{args.rounds}: mosquitto + paho-mqtt QoS 0 ...")
                rounds["mqtt"].append(
                    run_pubsub(procs, "mqtt", {"n": n_mqtt, "seconds": args.seconds, "port": port}, deadline)
                )
        for key in ("bus", "bus_before", "raw", "mqtt"):
            runs = sorted(rounds[key], key=lambda r: r["msgs_per_s"])
            results[key] = (
                dict(runs[(len(runs) - 1) // 2], rounds=[round(r["msgs_per_s"]) for r in rounds[key]]) if runs else None
            )

        # ---- command round trip -----------------------------------------------------------
        progress("command round trip: our bus ...")
        svc = procs.role("bus-svc", {})
        try:
            results["rpc"] = bench_bus_rpc(env["OHMPI_BUS"], args.calls, args.warmup_calls)
        finally:
            procs.stop(svc)
        progress("command round trip: raw REQ/REP ...")
        rep_ep = f"ipc://{tmp}/raw-rep"
        rep = procs.role("zmq-rep", {"endpoint": rep_ep})
        try:
            read_msg(rep, 15, "ready")
            results["raw_rpc"] = bench_raw_rpc(rep_ep, args.calls, args.warmup_calls)
        finally:
            procs.stop(rep)
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    results["mosquitto"] = mosquitto
    return results


_quiet = False


def progress(text: str) -> None:
    if not _quiet:
        print(f"  {text}", file=sys.stderr, flush=True)


def summarize(r: dict) -> dict:
    bus, before, raw, mqtt = r["bus"], r["bus_before"], r["raw"], r["mqtt"]
    rpc, raw_rpc = r["rpc"], r["raw_rpc"]
    mqtt_rate = mqtt["msgs_per_s"] if mqtt else None
    out = {
        "bus_msgs_per_s": round(bus["msgs_per_s"]),
        "bus_before_msgs_per_s": round(before["msgs_per_s"]),
        "raw_zmq_msgs_per_s": round(raw["msgs_per_s"]),
        "mqtt_msgs_per_s": round(mqtt_rate) if mqtt_rate else None,
        "rpc_p50_us": round(percentile(rpc, 50), 1),
        "rpc_p99_us": round(percentile(rpc, 99), 1),
        "raw_rpc_p50_us": round(percentile(raw_rpc, 50), 1),
        "raw_rpc_p99_us": round(percentile(raw_rpc, 99), 1),
        "bus_vs_raw": round(bus["msgs_per_s"] / raw["msgs_per_s"], 3) if raw["msgs_per_s"] else None,
        "bus_vs_mqtt": round(bus["msgs_per_s"] / mqtt_rate, 2) if mqtt_rate else None,
        "bus_before_vs_mqtt": round(before["msgs_per_s"] / mqtt_rate, 2) if mqtt_rate else None,
        "batch_speedup": round(bus["msgs_per_s"] / before["msgs_per_s"], 2) if before["msgs_per_s"] else None,
        "message_bytes": len(msgpack.packb(RECORD)),
        "cpus": os.cpu_count(),
    }
    for key, res in (("bus", bus), ("bus_before", before), ("raw_zmq", raw), ("mqtt", mqtt)):
        if res:
            out[f"{key}_sent"] = res["sent"]
            out[f"{key}_received"] = res["received"]
            out[f"{key}_loss_pct"] = round(res["loss_pct"], 2)
            out[f"{key}_send_per_s"] = round(res["send_per_s"])
            out[f"{key}_rounds_msgs_per_s"] = res["rounds"]
    out["bus_missed"] = bus.get("missed")
    out["bus_before_missed"] = before.get("missed")
    out["rpc_calls"] = len(rpc)
    out["targets"] = {
        "bus_vs_raw": {"min": TARGETS["bus_vs_raw"], "met": (out["bus_vs_raw"] or 0) >= TARGETS["bus_vs_raw"]},
        "bus_vs_mqtt": {
            "min": TARGETS["bus_vs_mqtt"],
            "met": None if out["bus_vs_mqtt"] is None else out["bus_vs_mqtt"] >= TARGETS["bus_vs_mqtt"],
        },
        "rpc_p99_us": {"max": TARGETS["rpc_p99_us"], "met": out["rpc_p99_us"] <= TARGETS["rpc_p99_us"]},
    }
    return out


def table(s: dict, r: dict) -> str:
    from bus.envelope import Session

    env_bytes = len(Session("benchpub").pack("event", RECORD, TOPIC))
    lines = [
        f"bus benchmark - {s['cpus']} CPU(s); record {s['message_bytes']} B msgpack "
        f"({env_bytes} B in our envelope); publisher and subscriber in separate processes",
        "",
    ]
    lines.append(
        f"{'PUB->SUB throughput':34} {'msgs/s':>10} {'sent':>9} {'received':>9} {'loss %':>7} {'pub sends/s':>12}"
    )

    def row(name, res):
        if res is None:
            return f"{name:34} {'-':>10}"
        return (
            f"{name:34} {res['msgs_per_s']:>10,.0f} {res['sent']:>9,} {res['received']:>9,} "
            f"{res['loss_pct']:>7.2f} {res['send_per_s']:>12,.0f}"
        )

    lines.append(row("our bus (hub, Publisher/Subscriber)", r["bus"]))
    lines.append(row("  before: one receive per message", r["bus_before"]))
    lines.append(row("raw pyzmq PUB/SUB + msgpack", r["raw"]))
    if r["mqtt"] is None:
        lines.append(
            f"{'mosquitto + paho-mqtt QoS 0':34} "
            + ("mosquitto not installed: skipped (apt-get install mosquitto)" if not r["mosquitto"] else "skipped")
        )
    else:
        lines.append(row("mosquitto + paho-mqtt QoS 0", r["mqtt"]))
    lines.append(
        f"  median of {len(r['bus']['rounds'])} alternating round(s); every round (msgs/s): "
        + "; ".join(
            f"{k} {', '.join(f'{v:,}' for v in r[k]['rounds'])}" for k in ("bus", "bus_before", "raw", "mqtt") if r[k]
        )
    )
    lines.append(
        f"  our bus: sequence gaps counted by the Subscriber (median round): {r['bus'].get('missed'):,} "
        f"(before: {r['bus_before'].get('missed'):,}); loss = records sent but never received"
    )
    lines.append(f"  recv_batch vs one receive per message: x{s['batch_speedup'] or 0:.2f}")
    lines.append("")
    lines.append(f"{'command round trip':34} {'p50 us':>10} {'p99 us':>10} {'calls':>9}")
    lines.append(
        f"{'our bus (Client -> hub -> Node)':34} {s['rpc_p50_us']:>10,.1f} {s['rpc_p99_us']:>10,.1f} "
        f"{len(r['rpc']):>9,}"
    )
    lines.append(
        f"{'raw pyzmq REQ/REP + msgpack':34} {s['raw_rpc_p50_us']:>10,.1f} {s['raw_rpc_p99_us']:>10,.1f} "
        f"{len(r['raw_rpc']):>9,}"
    )
    lines.append("")
    lines.append(f"{'target':34} {'value':>10} {'goal':>10} {'result':>9}")
    t = s["targets"]

    def verdict(met):
        return "n/a" if met is None else ("pass" if met else "MISS")

    lines.append(
        f"{'bus / raw pyzmq':34} {s['bus_vs_raw']:>10.2f} {'>= 0.50':>10} {verdict(t['bus_vs_raw']['met']):>9}"
    )
    lines.append(
        f"{'bus / mosquitto+paho':34} {('%.2f' % s['bus_vs_mqtt']) if s['bus_vs_mqtt'] else '-':>10} "
        f"{'>= 3.00':>10} {verdict(t['bus_vs_mqtt']['met']):>9}"
    )
    lines.append(
        f"{'  before (one receive per message)':34} "
        f"{('%.2f' % s['bus_before_vs_mqtt']) if s['bus_before_vs_mqtt'] else '-':>10}"
    )
    lines.append(
        f"{'command p99 (us)':34} {s['rpc_p99_us']:>10,.1f} {'<= 2,000':>10} {verdict(t['rpc_p99_us']['met']):>9}"
    )
    return "\n".join(lines)


def _interrupt(*_):
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print a final JSON line after the table")
    ap.add_argument("--messages", type=int, default=200_000, help="records per zmq throughput run (200000)")
    ap.add_argument("--mqtt-messages", type=int, default=None, help="records for MQTT (default messages/4)")
    ap.add_argument(
        "--seconds", type=float, default=None, help="publish for this many seconds per system instead of a fixed count"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="throughput rounds per system, alternating; the median is reported (3)"
    )
    ap.add_argument("--calls", type=int, default=5000, help="timed command round trips per system (5000)")
    ap.add_argument("--warmup-calls", type=int, default=200, help="untimed calls first (200)")
    ap.add_argument("--no-mqtt", action="store_true", help="skip mosquitto even when installed")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    ap.add_argument("--arg", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        ROLES[args.role](json.loads(args.arg))
        return 0
    if args.rounds < 1 or args.messages < 10 or (args.seconds is not None and args.seconds <= 0):
        ap.error("--messages must be >= 10 and --seconds > 0")
    global _quiet
    _quiet = args.quiet
    # SIGTERM ends the run like Ctrl-C does: through the finally blocks that stop every child.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        results = run(args)
    except KeyboardInterrupt:
        print("interrupted: every helper process stopped", file=sys.stderr)
        return 130
    summary = summarize(results)
    print(table(summary, results))
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
