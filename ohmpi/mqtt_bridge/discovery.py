"""Home Assistant MQTT discovery: one device per instrument, its sensors and one binary sensor
per alarm, so the instrument appears in Home Assistant with no YAML.

Config topics are `<discovery_prefix>/<component>/ohmpi_<instrument>/<object>/config`, retained;
every entity is unavailable while `<prefix>/<instrument>/status` says `offline` (our last will)."""

from __future__ import annotations

from .settings import Settings
from .topics import Message, dumps, segment

VERSION = "0.1.0"

# object id -> (name, state topic under the instrument, value template, unit, device class, state class)
SENSORS = {
    "supply_voltage": ("Supply voltage", "soh/controller", "{{ value_json.supply_V }}", "V", "voltage", "measurement"),
    "cpu_temperature": (
        "CPU temperature",
        "soh/controller",
        "{{ value_json.cpu_temp_C }}",
        "°C",
        "temperature",
        "measurement",
    ),
    "battery_charge": (
        "Battery charge",
        "soh/controller",
        "{{ value_json.battery_soc_pct }}",
        "%",
        "battery",
        "measurement",
    ),
    "surveys_left": ("Surveys left", "soh/controller", "{{ value_json.surveys_left }}", None, None, "measurement"),
    "survey_progress": ("Survey progress", "survey", "{{ value_json.progress_pct }}", "%", None, "measurement"),
    "survey_state": ("Survey state", "survey", "{{ value_json.state }}", None, None, None),
    "processes_alive": ("Processes alive", "processes", "{{ value_json.alive }}", None, None, "measurement"),
}
RHOA = (
    "last_rhoa",
    "Last apparent resistivity",
    "quadrupole",
    "{{ value_json.rhoa_ohmm }}",
    "Ω·m",
    None,
    "measurement",
)


def node_id(s: Settings) -> str:
    return f"ohmpi_{segment(s.instrument)}"


def device(s: Settings) -> dict:
    return {
        "identifiers": [node_id(s)],
        "name": f"OhmPi {s.instrument}",
        "manufacturer": "OhmPi",
        "model": "resistivity meter",
        "sw_version": VERSION,
    }


def _common(s: Settings, object_id: str, name: str) -> dict:
    return {
        "name": name,
        "unique_id": f"{node_id(s)}_{object_id}",
        "object_id": f"{node_id(s)}_{object_id}",
        "availability_topic": f"{s.base}/status",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device(s),
    }


def config_topic(s: Settings, component: str, object_id: str) -> str:
    return f"{s.discovery_prefix}/{component}/{node_id(s)}/{object_id}/config"


def sensor(
    s: Settings, object_id: str, name: str, state: str, template: str, unit, device_class, state_class
) -> Message:
    body = {**_common(s, object_id, name), "state_topic": f"{s.base}/{state}", "value_template": template}
    for key, value in (("unit_of_measurement", unit), ("device_class", device_class), ("state_class", state_class)):
        if value is not None:
            body[key] = value
    return Message(config_topic(s, "sensor", object_id), dumps(body), qos=1, retain=True)


def alarm_sensor(s: Settings, alarm: str) -> Message:
    name = segment(alarm)
    body = {
        **_common(s, f"alarm_{name}", f"Alarm {alarm}"),
        "state_topic": f"{s.base}/alarm/{name}",
        "value_template": "{{ 'ON' if value_json.on else 'OFF' }}",
        "device_class": "problem",
        "json_attributes_topic": f"{s.base}/alarm/{name}",
    }
    return Message(config_topic(s, "binary_sensor", f"alarm_{name}"), dumps(body), qos=1, retain=True)


def messages(s: Settings, alarms=()) -> list[Message]:
    """Every discovery config: the sensors, ρa of the chosen quadrupole, one per alarm."""
    out = [sensor(s, key, *spec) for key, spec in SENSORS.items()]
    if s.quadrupole is not None:
        out.append(sensor(s, *RHOA))
    out.extend(alarm_sensor(s, name) for name in sorted({segment(a) for a in alarms}))  # one per topic level
    return out
