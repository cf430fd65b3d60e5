"""The MQTT bridge: `python -m workers.mqtt`. Off unless `[mqtt]` is configured (docs/mqtt.md).

The instrument's bus stays broker-less; this process forwards what it hears there to a broker
(Home Assistant, Node-RED, Grafana) and, when allowed, commands back. The mapping, discovery,
queue and command parsing are in `ohmpi.mqtt_bridge`; here only the wiring:

* the bus loop thread subscribes, queues stream messages durably and hands them to paho, at most
  WINDOW unacknowledged at a time (paho resends those after a reconnect); PUBACKs reported by
  paho's thread are settled back in the loop thread through a pipe (the queue has one owner);
* retained states are only ever the latest, sent again on every connect (one lock keeps an older
  copy from following a newer one);
* measurements the bus did not bring (the bridge was down, events were dropped) are read back from
  the recorder by a catch-up thread;
* commands run on a few threads with their own bus clients, on behalf of `mqtt` with the
  configured role (the hub lowers, never raises it); a full queue answers `busy` at once.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections import deque

from bus.config import ConfigError, config_table, load_file, var_dir
from bus.errors import BadRequest, BusError
from bus.node import Node
from bus.rpc import Client
from ohmpi.mqtt_bridge import commands, discovery
from ohmpi.mqtt_bridge.queue import DurableQueue
from ohmpi.mqtt_bridge.settings import Settings, SettingsError, warnings
from ohmpi.mqtt_bridge.settings import load as load_settings
from ohmpi.mqtt_bridge.topics import Mapper, Message, alarm_bodies, dumps
from ohmpi.record import FIELDS

from .common import log_soon, var_path, worker_main

WINDOW = 100  # stream messages handed to paho and not yet acknowledged by the broker
COMMAND_THREADS = 2
COMMAND_QUEUE = 32
COMMAND_TIMEOUT_S = 10.0
MAX_PAYLOAD_BYTES = 256 * 1024  # a measurement is ~1 KB; brokers commonly cap messages at 256 KB or more
DISCOVERY_EVERY_S = 5.0  # Home Assistant's birth message resends discovery at most this often
PASS_ENDED = ("waiting", "finished", "stopped", "failed")  # survey states after a pass: time to check it
CATCH_UP_DELAY_S = 2.0  # a catch-up waits this long: the recorder's outbox delivery lags the events a little
EVENT_KEYS = ("measurement_id", "survey_id", "pass_index", "seq_index", *FIELDS)  # what a measurement event holds


def settings() -> Settings | None:
    """The `[mqtt]` table checked (None: the bridge is off); errors name the key."""
    controller = config_table("controller")
    instrument = controller.get("instrument_name", "sim")
    try:
        s = load_settings(
            config_table("mqtt"), var=var_dir(), instrument=instrument if isinstance(instrument, str) else "sim"
        )
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    if s is not None:
        try:
            import paho.mqtt.client  # noqa: F401  (an optional dependency: say so rather than crash)
        except ImportError:
            raise ConfigError("[mqtt] is set but paho-mqtt is not installed: pip install -e '.[mqtt]'") from None
    return s


def configured_alarms() -> list[str]:
    """Names of the `[[alarms]]` rules with the `mqtt` action (their binary sensors exist from the start)."""
    rules = load_file().get("alarms", [])
    if not isinstance(rules, list):
        return []  # the alarms process reports a bad table; here it only means no sensor yet
    return [
        r["name"]
        for r in rules
        if isinstance(r, dict)
        and isinstance(r.get("name"), str)
        and isinstance(r.get("actions"), list)
        and "mqtt" in r["actions"]
    ]


class Bridge:
    def __init__(self, node: Node, s: Settings):
        import paho.mqtt.client as mqtt

        self.mqtt = mqtt
        self.node, self.s = node, s
        self.mapper = Mapper(s, dead_after_s=3 * node.cfg.heartbeat_s)
        self.mapper.alarms.update(configured_alarms())
        self.queue = DurableQueue(var_path("mqtt-queue.db"), s.queue_max)
        self.states: dict[str, Message] = {}  # retained topic -> its latest message
        self.lock = threading.Lock()  # states and alarm names, shared by the loop and paho's on_connect
        self.inflight: dict[int, int] = {}  # paho mid -> queue seq (loop thread only)
        self.acked: deque[int] = deque()  # mids paho reported acknowledged (paho thread -> loop thread)
        self.connected = threading.Event()
        self.started = time.monotonic()
        self.discovery_sent = 0.0
        self.protocol = mqtt.MQTTv311 if s.protocol == "3.1.1" else mqtt.MQTTv5
        self._fallback = False
        self.counts = {
            "published": 0,
            "connects": 0,
            "disconnects": 0,
            "commands": 0,
            "command_errors": 0,
            "caught_up": 0,
            "rejected": 0,
            "oversized": 0,
        }
        self.last_error: str | None = None
        self._poke_r, self._poke_w = os.pipe()
        os.set_blocking(self._poke_r, False)
        os.set_blocking(self._poke_w, False)
        node.add_socket(self._poke_r, self._on_poke)
        self.jobs: queue.Queue = queue.Queue(maxsize=COMMAND_QUEUE)
        self.client = self._make_client()
        instrument = s.instrument
        self.survey: dict | None = None  # the latest state.sequencer
        self.catch_up = threading.Event()
        self.stopping = threading.Event()
        self.missed_seen = 0
        self.measurements = node.subscribe(f"data.{instrument}.measurement", self._on_measurement)
        node.subscribe(
            f"data.{instrument}.rs_check",
            lambda m: isinstance(m.body, dict) and self._stream(self.mapper.rs_check(m.body)),
        )
        # the states, in one subscription: one snapshot call to the hub for all (a start without a hub waits once)
        node.subscribe(["state.sequencer", "soh.+", "alarm.#", "state.alarms"], self._on_state, snapshot=True)
        node.every(0.5, self._pump)
        node.every(max(s.soh_every_s, node.cfg.heartbeat_s), self._processes)
        node.soh_providers.append(self.health)
        node.status_providers.append(
            lambda: {**self.health(), "broker": f"{s.host}:{s.port}", "last_error": self.last_error}
        )
        node.stop_hooks.append(self.close)
        self.threads = [
            threading.Thread(target=self._command_worker, name=f"mqtt-cmd-{i}", daemon=True)
            for i in range(COMMAND_THREADS if s.commands else 0)
        ]
        self.catch_thread = threading.Thread(target=self._catch_up_worker, name="mqtt-catch-up", daemon=True)

    # ---- the paho client ------------------------------------------------------------------
    def _make_client(self):
        mqtt, s = self.mqtt, self.s
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=self.protocol,
            **({} if self.protocol == mqtt.MQTTv5 else {"clean_session": True}),
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file)
        client.will_set(self.mapper.status(False).topic, b"offline", qos=1, retain=True)
        client.suppress_exceptions = True  # a failing callback is logged by paho, never ends its network thread
        client.max_inflight_messages_set(WINDOW)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = lambda *_: self._note(
            f"cannot connect to the broker at {self.s.host}:{self.s.port} (unreachable, not MQTT, or the TLS "
            "handshake failed: check ca_file); retrying"
        )
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        for t in (*self.threads, self.catch_thread):
            t.start()
        self._connect()

    def _connect(self) -> None:
        self.client.connect_async(self.s.host, self.s.port, keepalive=self.s.keepalive_s)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self._note(f"the broker at {self.s.host}:{self.s.port} refused the connection: {reason}")
            if self.s.protocol == "auto" and self.protocol == self.mqtt.MQTTv5 and reason.value in (1, 132):
                self._fallback = True  # an MQTT 3.1.1 broker: the loop thread starts again in 3.1.1
                self._poke()
            return
        self.counts["connects"] += 1
        self.last_error = None
        self.node.log(
            "info",
            f"connected to the broker at {self.s.host}:{self.s.port} "
            f"(MQTT {'5' if self.protocol == self.mqtt.MQTTv5 else '3.1.1'})",
        )
        if self.s.commands:  # ready for commands before saying online
            client.subscribe(f"{self.s.base}/cmd/+/+", qos=1)
        client.publish(self.mapper.status(True).topic, b"online", qos=1, retain=True)
        if self.s.discovery:
            self._send_discovery()
            client.subscribe(f"{self.s.discovery_prefix}/status", qos=1)  # Home Assistant's birth message
        with self.lock:  # the latest states, then live ones: an older copy never follows a newer one
            for msg in self.states.values():
                client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
            self.connected.set()
        self._poke()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if self.connected.is_set():
            self.counts["disconnects"] += 1
            self.last_error = None
        self.connected.clear()
        self._note(f"lost the broker at {self.s.host}:{self.s.port} ({reason}); measurements wait on disk")

    def _note(self, text: str) -> None:
        """Log a connection problem once, not at every reconnect attempt."""
        if text != self.last_error:
            self.last_error = text
            self.node.log("warning", text)

    def _on_publish(self, client, userdata, mid, reason, properties) -> None:
        if reason.is_failure:  # MQTT 5: the broker refused it (its ACL, a quota): resending would not help
            self.counts["rejected"] += 1
            self._note(f"the broker refused a message: {reason}")
        self.acked.append(mid)
        self._poke()

    def _on_message(self, client, userdata, message) -> None:
        topic = message.topic
        if topic == f"{self.s.discovery_prefix}/status":
            now = time.monotonic()
            if message.payload == b"online" and now - self.discovery_sent > DISCOVERY_EVERY_S:
                self.discovery_sent = now
                self._send_discovery()  # Home Assistant restarted: tell it again (not at a flood's pace)
            return
        levels = topic[len(self.s.base) + 1 :].split("/")
        if not self.s.commands or levels[0] != "cmd":
            return
        try:
            if message.retain:  # kept by the broker: it would run again at every reconnect
                raise commands.CommandError(
                    "a retained command is never run (it would run again at every "
                    "reconnect); publish commands without retain",
                    arg="retain",
                    id=commands.request_id(message.payload),
                )
            request = commands.parse(levels[1:], message.payload)
        except commands.CommandError as exc:
            self._answer(exc.id, exc.reply())
            self._audit(None, ok=False, id=exc.id, error="bad_request", reason=str(exc)[:200])
            return
        try:
            self.jobs.put_nowait(request)
        except queue.Full:
            self._answer(
                request.id,
                {
                    "id": request.id,
                    "ok": False,
                    "error": {
                        "code": "busy",
                        "message": f"{COMMAND_QUEUE} MQTT commands are waiting already; try again later",
                    },
                },
            )
            self._audit(request, ok=False, error="busy")

    # ---- commands ------------------------------------------------------------------------
    def _command_worker(self) -> None:
        client = Client(self.node.address, cfg=self.node.cfg, name="mqtt-cmd", timeout=COMMAND_TIMEOUT_S, retries=1)
        try:
            while (request := self.jobs.get()) is not None:
                try:
                    result = client.call(
                        request.service, request.command, on_behalf=("mqtt", self.s.role), **request.args
                    )
                    reply = commands.ok_reply(request.id, result)
                    self._audit(request, ok=True)
                except BusError as exc:
                    reply = {"id": request.id, "ok": False, "error": exc.to_wire()}
                    self._audit(request, ok=False, error=exc.code)
                except (ValueError, TypeError, OverflowError) as exc:  # over the size limit, an integer msgpack
                    reply = commands.CommandError(f"args cannot be sent: {exc}", id=request.id, arg="args").reply()
                    self._audit(request, ok=False, error="bad_request")  # cannot carry (> 64 bits), ...
                except Exception as exc:  # noqa: BLE001 — no request may end this thread
                    reply = {
                        "id": request.id,
                        "ok": False,
                        "error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"[:500]},
                    }
                    self._audit(request, ok=False, error="internal")
                self._answer(request.id, reply)
        finally:
            client.close()

    def _answer(self, req_id: str | None, reply: dict) -> None:
        topic = f"{self.s.base}/reply/{req_id or commands.INVALID}"
        self.counts["commands"] += 1
        if not reply.get("ok"):
            self.counts["command_errors"] += 1
        if self.connected.is_set():
            self.client.publish(topic, dumps(reply), qos=1)

    def _audit(self, request, *, ok: bool, **fields) -> None:
        what = {"service": request.service, "command": request.command, "id": request.id} if request else {}
        self.node.audit("mqtt_command", ok=ok, user="mqtt", role=self.s.role, **what, **fields)

    # ---- from the bus --------------------------------------------------------------------
    def _stream(self, messages: list[Message]) -> None:
        self._queue(messages)
        self._states([m for m in messages if not m.durable])
        self._pump()

    def _queue(self, messages: list[Message]) -> None:
        stream = [m for m in messages if m.durable]
        fit = [(m.topic, m.payload, m.qos, m.key) for m in stream if len(m.payload) <= MAX_PAYLOAD_BYTES]
        self.counts["oversized"] += len(stream) - len(fit)  # one the broker could refuse would block the queue
        self.queue.put_many(fit)

    def _on_measurement(self, msg) -> None:
        if isinstance(msg.body, dict):
            self._stream(self.mapper.measurement(msg.body))
        if self.measurements.missed > self.missed_seen:  # events lost on the bus: fetch them from the store
            self.missed_seen = self.measurements.missed
            self.catch_up.set()

    def _on_survey(self, msg) -> None:
        if not isinstance(msg.body, dict):
            return
        body = msg.body
        previous, self.survey = self.survey, body
        ended = body.get("state") in PASS_ENDED and (previous or {}).get("state") != body.get("state")
        if body.get("survey_id") and (previous is None or ended):
            self.catch_up.set()  # at start (what happened while we were away) and when a pass or survey ends
        self._states(self.mapper.survey(body))

    # ---- catching up from the recorder ---------------------------------------------------------
    def _catch_up_worker(self) -> None:
        """Measurements the bus did not bring us (we were stopped, or events were dropped) are read
        back from the recorder: the current and previous pass of the latest survey. The queue's
        keys make it idempotent: what went out live is not sent again."""
        client = Client(self.node.address, cfg=self.node.cfg, name="mqtt-catchup", timeout=10.0, retries=1)
        try:
            while not self.stopping.is_set():
                if not self.catch_up.wait(1.0):
                    continue
                self.stopping.wait(CATCH_UP_DELAY_S)  # the recorder gets what the controller just measured
                self.catch_up.clear()
                try:
                    self._catch_up_once(client)
                except BadRequest:
                    pass  # the recorder does not know this survey (yet): its live events are all there is
                except BusError as exc:
                    self.last_error = f"catch-up from the recorder failed: {exc}"
                    self.stopping.wait(5.0)
                    self.catch_up.set()
        finally:
            client.close()

    def _catch_up_once(self, client) -> None:
        survey = self.survey or {}
        survey_id, current = survey.get("survey_id"), survey.get("pass_index")
        if not isinstance(survey_id, str) or not isinstance(current, int):
            return
        found = 0
        for pass_index in sorted({max(current - 1, 0), current}):
            offset = 0
            while offset is not None:
                page = client.call(
                    "recorder", "data", survey_id=survey_id, pass_index=pass_index, offset=offset, limit=500
                )
                rows = [
                    r
                    for r in page.get("rows", [])
                    if isinstance(r, dict) and not self.queue.was_queued(str(r.get("measurement_id")))
                ]
                for row in rows:
                    self._queue(self.mapper.measurement({k: row.get(k) for k in EVENT_KEYS}))
                found += len(rows)
                offset = page.get("next_offset")
        if found:
            self.counts["caught_up"] += found
            self.node.log(
                "info",
                f"{found} measurement(s) of {survey_id} the bus did not bring were read back "
                "from the recorder and queued for MQTT",
            )
            self._poke()

    def _states(self, messages: list[Message]) -> None:
        with self.lock:
            for m in messages:
                if (last := self.states.get(m.topic)) is not None and last.payload == m.payload:
                    continue  # a state repeated as it is (state.alarms every few seconds): nothing new
                self.states[m.topic] = m
                if self.connected.is_set():
                    self.client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)
                    self.counts["published"] += 1

    def _on_state(self, msg) -> None:
        if msg.topic == "state.sequencer":
            self._on_survey(msg)
        elif msg.topic.startswith("soh."):
            self._on_soh(msg)
        else:
            self._on_alarm(msg)

    def _on_soh(self, msg) -> None:
        if not isinstance(msg.body, dict):
            return
        process = msg.topic.split(".", 1)[1]
        now = time.monotonic()
        if msg.replayed:  # a cached beat says nothing of being alive now
            self.mapper.seen.setdefault(process, now - self.mapper.dead_after_s)
        self._states(self.mapper.soh(process, msg.body, now))

    def _on_alarm(self, msg) -> None:
        with self.lock:
            known = set(self.mapper.alarms)
            states = [m for body in alarm_bodies(msg.body) for m in self.mapper.alarm(body)]
            new = self.mapper.alarms - known
        self._states(states)
        if new and self.s.discovery and self.connected.is_set():
            for m in discovery.messages(self.s, new):
                if "/binary_sensor/" in m.topic:
                    self.client.publish(m.topic, m.payload, qos=1, retain=True)

    def _processes(self) -> None:
        now = time.monotonic()
        if now - self.started >= self.mapper.dead_after_s:  # by then every live process has beaten
            self._states([self.mapper.processes(now)])

    def _send_discovery(self) -> None:
        with self.lock:
            alarms = set(self.mapper.alarms)
        for m in discovery.messages(self.s, alarms):
            self.client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)

    # ---- to the broker -------------------------------------------------------------------
    def _poke(self) -> None:
        try:
            os.write(self._poke_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _on_poke(self) -> None:
        try:
            while os.read(self._poke_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        if self._fallback:
            self._fallback = False
            self.client.loop_stop()
            self.protocol = self.mqtt.MQTTv311
            self.node.log("warning", "the broker does not speak MQTT 5: using MQTT 3.1.1")
            self.client = self._make_client()
            self.inflight.clear()  # what the old client held was never acknowledged: hand it out again
            self.queue.rewind()
            self._connect()
        self._pump()

    def _pump(self) -> None:
        """Settle what the broker acknowledged; hand the next queued messages to paho."""
        done = []
        while self.acked:
            seq = self.inflight.pop(self.acked.popleft(), None)
            if seq is not None:
                done.append(seq)
        self.queue.ack(done)
        if not self.connected.is_set():
            return
        for seq, topic, payload, qos in self.queue.take(WINDOW - len(self.inflight)):
            info = self.client.publish(topic, payload, qos=qos)
            self.inflight[info.mid] = seq
            self.counts["published"] += 1

    def health(self) -> dict:
        return {
            "mqtt_connected": self.connected.is_set(),
            "mqtt_queue_pending": self.queue.pending(),
            "mqtt_queue_dropped": self.queue.dropped,
            "mqtt_inflight": len(self.inflight),
            **{f"mqtt_{k}": v for k, v in self.counts.items()},
        }

    def close(self) -> None:
        self.stopping.set()
        self.catch_thread.join(timeout=12.0)  # it may be using the queue
        for _ in self.threads:
            try:
                self.jobs.put_nowait(None)
            except queue.Full:
                pass
        if self.connected.is_set():  # a clean stop: say offline ourselves (the will is for crashes)
            try:
                self.client.publish(self.mapper.status(False).topic, b"offline", qos=1, retain=True).wait_for_publish(
                    1.0
                )
            except (RuntimeError, ValueError):
                pass  # the connection went meanwhile: the broker publishes the will instead
        self.client.disconnect()
        self.client.loop_stop()
        self.queue.close()
        for fd in (self._poke_r, self._poke_w):
            try:
                os.close(fd)
            except OSError:
                pass


def run() -> int:
    s = settings()
    if s is None:
        print("mqtt: no [mqtt] table in the configuration: the bridge is off", file=sys.stderr, flush=True)
        return 0  # supervisor.conf: exit 0 is expected here, never restarted
    node = Node("mqtt")
    for text in warnings(s):
        log_soon(node, "warning", text)
    bridge = Bridge(node, s)
    bridge.start()
    node.run()
    return 0


def main() -> int:
    return worker_main("mqtt", run)


if __name__ == "__main__":
    sys.exit(main())
