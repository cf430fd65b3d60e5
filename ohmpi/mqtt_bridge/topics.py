"""What the bridge publishes: bus events mapped to MQTT topics and JSON payloads (docs/mqtt.md).

Measurements and contact checks are a stream (QoS 1, queued durably, never retained). Survey
progress, heartbeats, process liveness and alarms are states (retained, only the latest of each
topic matters): they are coalesced, never queued."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from .settings import Settings

ALARM_ON = ("active", "acknowledged")


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    durable: bool = False  # a stream item: queued on disk until the broker acknowledged it
    key: str | None = None  # a stream item's identity (measurement id): queued once


def segment(name: object) -> str:
    """A name made safe as one MQTT topic level (no '/', '+', '#', control characters)."""
    text = re.sub(r"[^A-Za-z0-9_-]", "_", str(name))[:64]
    return text or "_"


def plain(value):
    """JSON-safe: NaN and infinities become null, bytes hex, tuples lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def dumps(value) -> bytes:
    return json.dumps(plain(value), separators=(",", ":"), allow_nan=False).encode()


class Mapper:
    """Turns bus events into MQTT messages for one instrument; remembers what states need."""

    def __init__(self, settings: Settings, *, dead_after_s: float = 6.0):
        self.s = settings
        self.base = settings.base
        self.dead_after_s = dead_after_s
        self.seen: dict[str, float] = {}  # process -> monotonic time of its last heartbeat
        self._soh_sent: dict[str, float] = {}
        self.alarms: set[str] = set()

    def topic(self, *levels: str) -> str:
        return "/".join((self.base, *levels))

    def status(self, online: bool) -> Message:
        return Message(self.topic("status"), b"online" if online else b"offline", qos=1, retain=True)

    def measurement(self, body: dict) -> list[Message]:
        """Every record field plus measurement_id, survey_id, pass_index, seq_index."""
        mid = body.get("measurement_id")
        out = [
            Message(
                self.topic("measurement"), dumps(body), qos=1, durable=True, key=mid if isinstance(mid, str) else None
            )
        ]
        quad = self.s.quadrupole
        if quad is not None and tuple(body.get(k) for k in "abmn") == quad:
            picked = {
                k: body.get(k)
                for k in (
                    "a",
                    "b",
                    "m",
                    "n",
                    "rhoa_ohmm",
                    "r_ohm",
                    "r_std_pct",
                    "time",
                    "measurement_id",
                    "survey_id",
                    "pass_index",
                )
            }
            out.append(Message(self.topic("quadrupole"), dumps(picked), qos=1, retain=True))
        return out

    def rs_check(self, body: dict) -> list[Message]:
        return [Message(self.topic("rs_check"), dumps(body), qos=1, durable=True)]

    def survey(self, body: dict) -> list[Message]:
        body = dict(body)
        done, total = body.get("done_all"), body.get("total_all")
        if isinstance(done, int) and isinstance(total, int) and total > 0:
            body["progress_pct"] = round(100.0 * done / total, 1)
        else:
            body["progress_pct"] = 100.0 if body.get("state") == "finished" else 0.0
        return [Message(self.topic("survey"), dumps(body), qos=1, retain=True)]

    def soh(self, process: str, body: dict, now: float) -> list[Message]:
        """A heartbeat, at most one per process every `soh_every_s` (a 4G link pays per byte)."""
        name = segment(process)
        self.seen[name] = now
        last = self._soh_sent.get(name)
        if last is not None and now - last < self.s.soh_every_s:
            return []
        self._soh_sent[name] = now
        return [Message(self.topic("soh", name), dumps(body), qos=1, retain=True)]

    def processes(self, now: float) -> Message:
        """How many processes sent a heartbeat lately, and which are dead."""
        alive = {name: now - t < self.dead_after_s for name, t in sorted(self.seen.items())}
        return Message(
            self.topic("processes"),
            dumps({"alive": sum(alive.values()), "total": len(alive), "processes": alive}),
            qos=1,
            retain=True,
        )

    def alarm(self, body: dict) -> list[Message]:
        """An alarm's state (`on`: active or acknowledged). Alarms without the `mqtt` action stay home."""
        if not wants_mqtt(body) or not isinstance(body.get("name"), str):
            return []
        name = segment(body["name"])
        self.alarms.add(name)
        payload = {**body, "on": body.get("state") in ALARM_ON}
        return [Message(self.topic("alarm", name), dumps(payload), qos=1, retain=True)]


def wants_mqtt(alarm: dict) -> bool:
    """Does this alarm have the `mqtt` action? (events say `mqtt: bool`, summaries list `actions`)."""
    if isinstance(alarm.get("mqtt"), bool):
        return alarm["mqtt"]
    actions = alarm.get("actions")
    return "mqtt" in actions if isinstance(actions, list) else True


def alarm_bodies(body) -> list[dict]:
    """One event may carry one alarm `{name, state, …}`, a list of them, or `{alarms: [...]}`."""
    if isinstance(body, dict) and isinstance(body.get("alarms"), list):
        body = body["alarms"]
    if isinstance(body, dict):
        body = [body]
    return [b for b in body if isinstance(b, dict) and isinstance(b.get("name"), str)] if isinstance(body, list) else []
