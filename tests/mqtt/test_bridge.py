"""The MQTT bridge against a real mosquitto (password file, ACL) and the whole system under the
real supervisord: discovery, measurements during a survey, a broker restart mid-survey, commands
with and without permission, hostile payloads. One System and one broker for the module."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zmq

from bus.envelope import Session
from bus.events import Publisher
from ohmpi.record import FIELDS
from tests.support.mqtt import Broker, make_ca_and_server
from tests.support.procs import ROOT, short_tmpdir, stop, wait_until
from tests.support.system import PROGRAMS, System

BASE = "ohmpi/sim"
QUAD = [1, 4, 2, 3]  # the first Wenner quadrupole of 16 electrodes: its rhoa gets a sensor
ALARMS = """
[[alarms]]
name = "low_battery"
when = "soh.controller.supply_V < 1"
for_s = 0
severity = "warning"
actions = ["mqtt"]

[[alarms]]
name = "supply_seen"
when = "soh.controller.supply_V > 1"
for_s = 0
severity = "info"
actions = ["mqtt"]

[[alarms]]
name = "quiet"
when = "soh.controller.supply_V > 1"
for_s = 0
severity = "info"
actions = ["event"]
"""


@pytest.fixture(scope="module")
def broker():
    b = Broker()
    yield b
    b.close()


@pytest.fixture(scope="module")
def system(broker):
    table = broker.mqtt_table(broker.dir, commands=True, quadrupole=QUAD, soh_every_s=0.5)
    s = System(electrodes=16, extra=table + ALARMS, wait=PROGRAMS + ("mqtt",))
    s.client.call("sequencer", "generate", array="wenner")
    yield s
    s.close()


@pytest.fixture(scope="module")
def viewer(broker, system):
    """A read-only subscriber that was there from the start (persistent session: nothing missed)."""
    c = broker.client("viewer", [f"{BASE}/#", "homeassistant/#"], client_id="viewer-1", persistent=True)
    c.wait_subscribed()
    yield c
    c.close()


@pytest.fixture(scope="module")
def ops(broker, system):
    c = broker.client("ops", [f"{BASE}/reply/#"])
    c.wait_subscribed()
    yield c
    c.close()


def survey(system, **args) -> str:
    return system.client.call("sequencer", "start", **args)["survey_id"]


def by_id(payloads: list[bytes], survey_id: str) -> dict[str, list[dict]]:
    """Measurement id -> every copy received, for one survey's measurements."""
    out: dict[str, list[dict]] = {}
    for p in payloads:
        body = json.loads(p)
        if body["survey_id"] == survey_id:
            out.setdefault(body["measurement_id"], []).append(body)
    return out


# ---- off and misconfigured: exits, never restarted -----------------------------------------------
def _run_worker(config_text: str):
    var = short_tmpdir()
    config = os.path.join(var, "ohmpi.toml")
    with open(config, "w") as fh:
        fh.write(config_text)
    env = {**os.environ, "OHMPI_VAR": var, "OHMPI_CONFIG": config}
    env.pop("OHMPI_BUS", None)
    try:
        return subprocess.run(
            [sys.executable, "-m", "workers.mqtt"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        shutil.rmtree(var, ignore_errors=True)


def test_without_a_table_the_bridge_is_off_and_exits_0():
    done = _run_worker('[controller]\ninstrument_name = "sim"\n')
    assert done.returncode == 0 and "the bridge is off" in done.stderr


@pytest.mark.parametrize(
    "table, names",
    [
        ('[mqtt]\nrole = "admin"\n', "[mqtt].role"),
        ("[mqtt]\ncommands = true\n", "[mqtt].commands"),
        ('[mqtt]\nport = "1883"\n', "[mqtt].port"),
        ('[mqtt]\nusername = "u"\npassword_file = "/nonexistent/pw"\n', "[mqtt].password_file"),
        ('[mqtt]\nprefix = "ohmpi/#"\n', "[mqtt].prefix"),
    ],
)
def test_a_bad_table_is_one_line_naming_the_key_and_exit_2(table, names):
    done = _run_worker(table)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and names in lines[0], done.stderr


def lone_bridge(table: str) -> tuple[subprocess.Popen, Path]:
    """The bridge as a process of its own, on a bus with no hub (it needs none to talk to a broker)."""
    var = Path(short_tmpdir())
    (var / "ohmpi.toml").write_text(f'[bus]\naddress = "ipc://{var}/bus"\n{table}')
    env = {**os.environ, "OHMPI_VAR": str(var), "OHMPI_CONFIG": str(var / "ohmpi.toml")}
    env.pop("OHMPI_BUS", None)
    log = var / "mqtt.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.mqtt"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def end(proc: subprocess.Popen, log: Path) -> None:
    stop(proc)
    shutil.rmtree(log.parent, ignore_errors=True)


def test_tls_with_the_brokers_ca_connects_and_with_another_ca_never(broker, tmp_path):
    other_ca = make_ca_and_server(tmp_path, "other")[0]
    viewer = broker.client("viewer", ["ohmpi/+/status"])
    good, good_log = lone_bridge(
        broker.mqtt_table(
            tmp_path,
            port=broker.tls_port,
            ca_file=str(broker.ca_file),
            instrument="tls",
            client_id="tls-good",
            discovery=False,
        )
    )
    bad, bad_log = lone_bridge(
        broker.mqtt_table(
            tmp_path,
            port=broker.tls_port,
            ca_file=str(other_ca),
            instrument="tls-bad",
            client_id="tls-bad",
            discovery=False,
        )
    )
    try:
        viewer.wait_for("ohmpi/tls/status", lambda p: p and p[-1] == b"online", timeout=60, what="online over TLS")
        # without `commands = true` it never even listens for commands (it subscribes before saying online)
        assert "ohmpi/+/status" in broker.log() and "ohmpi/tls/cmd" not in broker.log()
        wait_until(lambda: "TLS" in bad_log.read_text(), timeout=60, what="the bad CA logged")
        assert "cannot connect to the broker" in bad_log.read_text() and not viewer.on("ohmpi/tls-bad/status")
    finally:
        end(good, good_log)
        end(bad, bad_log)
        viewer.close()


def test_a_broker_without_mqtt_5_gets_mqtt_3_1_1(tmp_path):
    """No MQTT-3.1.1-only broker is packaged any more, so this one answers with the exact bytes such a
    broker (mosquitto <= 1.5) sends to an MQTT 5 CONNECT: CONNACK 'unacceptable protocol version'."""
    server = socket.create_server(("127.0.0.1", 0))
    levels: list[int] = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(4096)
                levels.append(data[8])  # fixed header, length, "MQTT", then the protocol level
                conn.sendall(bytes([0x20, 2, 0, 1 if data[8] == 5 else 0]))
                conn.recv(4096)  # until the client goes (or a PUBLISH arrives)

    threading.Thread(target=serve, daemon=True).start()
    proc, log = lone_bridge(f'[mqtt]\nhost = "127.0.0.1"\nport = {server.getsockname()[1]}\n')
    try:
        wait_until(lambda: 4 in levels, timeout=60, what="a second CONNECT in MQTT 3.1.1")
        assert levels[0] == 5 and levels[levels.index(4) :] == [4] * len(levels[levels.index(4) :])
    finally:
        end(proc, log)
        server.close()


def test_supervisord_does_not_restart_an_off_or_misconfigured_bridge():
    conf = (ROOT / "supervisor.conf").read_text().split("[program:mqtt]")[1].split("[program:")[0]
    assert "exitcodes=0,2" in conf and "autorestart=unexpected" in conf and "startsecs=0" in conf


# ---- what Home Assistant sees ---------------------------------------------------------------------
def test_discovery_makes_one_device_with_sensors_and_a_binary_sensor_per_alarm(viewer, broker, system):
    viewer.wait_for(f"{BASE}/status", lambda p: b"online" in p, what="status online")
    configs = {}
    wait_until(lambda: len(viewer.on("homeassistant/+/+/+/config")) >= 9, timeout=30, what="discovery configs")
    for topic, payload, retain, _ in list(viewer.messages):
        if topic.startswith("homeassistant/") and topic.endswith("/config"):
            configs[topic] = (json.loads(payload), retain)
    sensors = {t.split("/")[3]: body for t, (body, _) in configs.items() if t.split("/")[1] == "sensor"}
    assert {"supply_voltage", "cpu_temperature", "survey_progress", "processes_alive", "last_rhoa"} <= set(sensors)
    assert {"battery_charge", "surveys_left"} <= set(sensors)  # the battery beside the supply voltage
    assert sensors["surveys_left"]["state_topic"] == f"{BASE}/soh/controller"
    assert sensors["battery_charge"]["device_class"] == "battery"
    assert sensors["supply_voltage"]["state_topic"] == f"{BASE}/soh/controller"
    assert sensors["supply_voltage"]["unit_of_measurement"] == "V"
    assert sensors["last_rhoa"]["state_topic"] == f"{BASE}/quadrupole"
    alarm = configs["homeassistant/binary_sensor/ohmpi_sim/alarm_low_battery/config"][0]
    assert alarm["state_topic"] == f"{BASE}/alarm/low_battery" and alarm["device_class"] == "problem"
    bodies = [body for body, _ in configs.values()]
    assert all(retain for _, retain in configs.values())
    assert len({b["unique_id"] for b in bodies}) == len(bodies)  # HA refuses duplicates
    assert all(b["device"] == bodies[0]["device"] for b in bodies)
    assert all(b["availability_topic"] == f"{BASE}/status" for b in bodies)
    # a late subscriber (Home Assistant starting after us) gets every config: they are retained
    late = broker.client("viewer", ["homeassistant/#"])
    try:
        late.wait_for("homeassistant/+/+/+/config", lambda p: len(p) >= len(configs), what="retained configs")
    finally:
        late.close()


def test_home_assistant_restarting_gets_discovery_again(viewer, ops):
    before = len(viewer.on("homeassistant/sensor/ohmpi_sim/supply_voltage/config"))
    ops.publish("homeassistant/status", b"online").wait_for_publish(10)
    viewer.wait_for(
        "homeassistant/sensor/ohmpi_sim/supply_voltage/config",
        lambda p: len(p) > before,
        what="discovery sent again after HA's birth message",
    )


def test_states_are_retained_soh_processes_and_survey(viewer, system):
    soh = viewer.wait_for(f"{BASE}/soh/controller")
    assert "supply_V" in json.loads(soh[-1]) and "cpu_temp_C" in json.loads(soh[-1])
    wanted = {"hub", "recorder", "controller", "sequencer", "mqtt"}
    procs = viewer.wait_for(
        f"{BASE}/processes",
        lambda p: [b for b in map(json.loads, p) if {k for k, v in b["processes"].items() if v} >= wanted],
    )
    assert procs[-1]["alive"] >= len(wanted) and procs[-1]["total"] >= procs[-1]["alive"]


def test_an_alarm_with_the_mqtt_action_is_published_retained_and_others_stay_home(viewer, broker, system):
    raised = viewer.wait_for(
        f"{BASE}/alarm/supply_seen",
        lambda p: [b for b in map(json.loads, p) if b["on"]],
        what="the alarm raised over MQTT",
    )
    assert raised[-1]["state"] in ("active", "acknowledged") and raised[-1]["severity"] == "info"
    wait_until(
        lambda: viewer.on("homeassistant/binary_sensor/ohmpi_sim/alarm_supply_seen/config"),
        timeout=30,
        what="its binary sensor",
    )
    late = broker.client("viewer", [f"{BASE}/alarm/#"])
    try:
        assert json.loads(late.wait_for(f"{BASE}/alarm/supply_seen")[-1])["on"] is True  # retained
    finally:
        late.close()
    # once a summary of every alarm (state.alarms, which lists `quiet` too) went through ...
    viewer.wait_for(
        f"{BASE}/alarm/supply_seen",
        lambda p: [b for b in map(json.loads, p) if "pending_s" in b],
        what="an alarm summary forwarded",
    )
    assert not viewer.on(f"{BASE}/alarm/quiet")  # ... the alarm without the mqtt action was not


# ---- measurements -------------------------------------------------------------------------------
def test_measurements_during_a_survey_carry_every_field(viewer, system):
    sid = survey(system)
    system.wait_survey()
    rows = system.wait_stored(sid, 35)
    mine = viewer.wait_for(
        f"{BASE}/measurement",
        lambda p: len(got := by_id(p, sid)) >= len(rows) and got,
        what="every measurement over MQTT",
    )
    assert set(mine) == {r[0] for r in rows}
    for bodies in mine.values():
        body = bodies[0]
        assert set(FIELDS) | {"measurement_id", "survey_id", "seq_index", "pass_index"} <= set(body)
    assert sorted(b[0]["seq_index"] for b in mine.values()) == list(range(len(rows)))
    progress = viewer.wait_for(
        f"{BASE}/survey",
        lambda p: [
            json.loads(x) for x in p if json.loads(x).get("survey_id") == sid and json.loads(x)["state"] == "finished"
        ],
    )
    assert progress[-1]["progress_pct"] == 100.0
    quad = viewer.wait_for(
        f"{BASE}/quadrupole", lambda p: [json.loads(x) for x in p if json.loads(x)["survey_id"] == sid]
    )
    assert [quad[-1][k] for k in "abmn"] == QUAD and quad[-1]["rhoa_ohmm"] > 0


def test_a_broker_restart_mid_survey_loses_no_measurement(broker, system):
    """A persistent-session subscriber gets every measurement; QoS 1 may repeat one that was in flight
    when the broker went down (documented: consumers dedupe by measurement_id), never lose one."""
    sub = broker.client("viewer", [f"{BASE}/measurement"], client_id="restart-sub", persistent=True)
    try:
        sub.wait_subscribed()
        sid = survey(system, repeat=2)
        sub.wait_for(f"{BASE}/measurement", lambda p: len(p) >= 5, what="the survey under way")
        broker.stop()
        wait_until(
            lambda: system.client.call("mqtt", "status")["mqtt_queue_pending"] >= 5,
            timeout=60,
            what="measurements queued while the broker is away",
        )
        assert system.survey()["state"] in ("running", "waiting", "finished")  # the survey never waited for MQTT
        broker.start()
        system.wait_survey()
        rows = system.wait_stored(sid, 70)
        mine = sub.wait_for(
            f"{BASE}/measurement",
            lambda p: len(got := by_id(p, sid)) >= len(rows) and got,
            timeout=60,
            what="every measurement after the restart",
        )
        assert set(mine) == {r[0] for r in rows}
        duplicates = sum(len(b) - 1 for b in mine.values())
        assert duplicates <= 100  # at most the window that was in flight
        status = system.client.call("mqtt", "status")
        assert status["mqtt_queue_dropped"] == 0 and status["mqtt_connects"] >= 2
        wait_until(
            lambda: system.client.call("mqtt", "status")["mqtt_queue_pending"] == 0,
            timeout=30,
            what="the queue drained",
        )
    finally:
        sub.close()


def test_the_bridge_killed_mid_survey_catches_up_from_the_recorder(broker, system):
    """While the bridge is down the bus cannot keep its events: once restarted it reads the survey's
    pass back from the recorder and sends what it had not sent (its queue survived the kill too)."""
    sub = broker.client("viewer", [f"{BASE}/measurement", f"{BASE}/status"], client_id="kill-sub", persistent=True)
    try:
        sub.wait_subscribed()
        sid = survey(system, repeat=2)
        sub.wait_for(f"{BASE}/measurement", lambda p: len(p) >= 5, what="the survey under way")
        system.kill9("mqtt")
        # the broker published the last will, then the new bridge said it is back
        sub.wait_for(f"{BASE}/status", lambda p: b"offline" in p and p[-1] == b"online", what="offline, then online")
        system.wait_survey()
        rows = system.wait_stored(sid, 70)
        mine = sub.wait_for(
            f"{BASE}/measurement",
            lambda p: len(got := by_id(p, sid)) >= len(rows) and got,
            timeout=60,
            what="every measurement after the bridge came back",
        )
        assert set(mine) == {r[0] for r in rows}
        assert sum(len(b) - 1 for b in mine.values()) <= 100
        status = system.client.call("mqtt", "status")
        assert status["mqtt_caught_up"] > 0  # the events sent while it was down came from the recorder
    finally:
        sub.close()


def test_odd_events_on_the_bus_neither_block_nor_break_the_stream(viewer, system):
    """An event that is not a map, one too big for a broker, NaN and bytes in a record: the first two
    are skipped (the big one counted), the last forwarded as strict JSON, and what follows flows."""
    publisher = Publisher(Session("odd"), system.address, system.cfg, zmq.Context.instance())
    topic = "data.sim.measurement"
    try:
        for i in range(400):  # until this new publisher is joined
            publisher.publish(topic, {"measurement_id": f"odd-warm-{i}", "survey_id": "odd"})
            if any(b"odd-warm" in p for p in viewer.on(f"{BASE}/measurement")):
                break
            time.sleep(0.05)
        before = system.client.call("mqtt", "status")["mqtt_oversized"]
        publisher.publish(topic, [1, 2, 3])
        publisher.publish(topic, {"measurement_id": "odd-big", "survey_id": "odd", "note": "x" * 300_000})
        publisher.publish(
            topic, {"measurement_id": "odd-nan", "survey_id": "odd", "r_ohm": float("nan"), "raw": b"\x00\xff"}
        )
        publisher.publish(topic, {"measurement_id": "odd-after", "survey_id": "odd"})
        got = viewer.wait_for(
            f"{BASE}/measurement",
            lambda p: (b := by_id(p, "odd")).get("odd-after") and b,
            what="the event after the odd ones",
        )
        assert "odd-big" not in got and got["odd-nan"][0]["r_ohm"] is None and got["odd-nan"][0]["raw"] == "00ff"
        assert system.client.call("mqtt", "status")["mqtt_oversized"] == before + 1
    finally:
        publisher.close()


# ---- commands -----------------------------------------------------------------------------------
def ask(ops, topic: str, payload, reply_id: str, timeout: float = 30) -> dict:
    ops.publish(f"{BASE}/{topic}", payload)
    return json.loads(ops.wait_for(f"{BASE}/reply/{reply_id}", timeout=timeout, what=f"reply {reply_id}")[-1])


def test_a_viewer_command_runs_and_is_answered(ops, system, broker):
    assert f"{BASE}/cmd/+/+" in broker.log()  # commands = true: it listens
    reply = ask(ops, "cmd/sequencer/status", {"id": "st-1"}, "st-1")
    assert reply["ok"] is True and reply["id"] == "st-1" and "state" in reply["result"]
    reply = ask(ops, "cmd/recorder/surveys", {"id": "sv-1", "args": {}}, "sv-1")
    assert reply["ok"] is True and isinstance(reply["result"], list)


@pytest.mark.parametrize(
    "topic, cmd_id",
    [
        ("cmd/sequencer/stop", "no-1"),  # operator
        ("cmd/controller/measure", "no-2"),  # operator, would inject
        ("cmd/hub/keys_list", "no-3"),  # admin
    ],
)
def test_commands_above_the_role_are_forbidden_and_audited(ops, system, topic, cmd_id):
    args = {"a": 1, "b": 4, "m": 2, "n": 3} if topic.endswith("measure") else {}
    reply = ask(ops, topic, {"id": cmd_id, "args": args}, cmd_id)
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden"

    def audited():
        records = system.client.call("recorder", "audit", action="mqtt_command", limit=200)
        return [r for r in records if (r.get("details") or {}).get("id") == cmd_id]

    record = wait_until(audited, timeout=30, what="the refusal audited")[0]
    assert record["ok"] is False and record["user"] == "mqtt" and record["role"] == "viewer"
    assert record["details"]["error"] == "forbidden" and record["details"]["command"] == topic.split("/")[2]


@pytest.mark.parametrize(
    "topic, payload, reply_to, arg",
    [
        ("cmd/sequencer/status", b"{not json", "invalid", "payload"),
        ("cmd/sequencer/status", b"[1, 2]", "invalid", "payload"),
        ("cmd/sequencer/status", b'{"args": {}}', "invalid", "id"),
        ("cmd/sequencer/status", b'{"id": "a/b#"}', "invalid", "id"),
        ("cmd/sequencer/status", b'{"id": "bad-args", "args": [1]}', "bad-args", "args"),
        ("cmd/sequencer/status", b'{"id": "extra", "run": "rm -rf /"}', "extra", "run"),
        ("cmd/Hub!/status", b'{"id": "bad-svc"}', "bad-svc", "service"),
        ("cmd/sequencer/status", b'{"id": "big", "args": {"x": "' + b"y" * 70_000 + b'"}}', "invalid", "payload"),
        ("cmd/sequencer/status", b"[" * 60_000, "invalid", "payload"),  # json's recursion limit
        ("cmd/sequencer/status", b'{"id": "slow", "args": {"timeout": 100000}}', "slow", "args.timeout"),
        ("cmd/sequencer/status", b'{"id": "as", "args": {"on_behalf": ["x", "admin"]}}', "as", "args.on_behalf"),
        ("cmd/recorder/logs", b'{"id": "huge-int", "args": {"limit": 1' + b"0" * 30 + b"}}", "huge-int", "args"),
    ],
)
def test_bad_payloads_get_a_clear_error_naming_the_field(ops, system, topic, payload, reply_to, arg):
    before = len(ops.on(f"{BASE}/reply/{reply_to}"))
    ops.publish(f"{BASE}/{topic}", payload)
    got = ops.wait_for(f"{BASE}/reply/{reply_to}", lambda p: len(p) > before and p, what="the error reply")
    reply = json.loads(got[-1])
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request" and reply["error"]["arg"] == arg


def test_args_the_bus_cannot_carry_never_stop_the_command_threads(ops, system):
    for i in range(3):  # more than the bridge's command threads
        payload = b'{"id": "int-%d", "args": {"limit": 1' % i + b"0" * 30 + b"}}"
        reply = ask(ops, "cmd/recorder/logs", payload, f"int-{i}")
        assert reply["error"]["code"] == "bad_request" and reply["error"]["arg"] == "args"
    assert ask(ops, "cmd/sequencer/status", {"id": "after-ints"}, "after-ints")["ok"] is True


def test_a_retained_command_runs_once_live_and_never_again_at_a_reconnect(broker, ops, system):
    ops.publish(f"{BASE}/cmd/sequencer/status", {"id": "kept"}, retain=True)
    assert json.loads(ops.wait_for(f"{BASE}/reply/kept")[0])["ok"] is True  # live: it ran
    try:
        broker.restart()  # the bridge reconnects and the broker hands it the retained command
        replies = ops.wait_for(
            f"{BASE}/reply/kept", lambda p: len(p) >= 2 and p, timeout=60, what="the replayed command answered"
        )
        error = json.loads(replies[-1])["error"]
        assert error["code"] == "bad_request" and error["arg"] == "retain"
    finally:
        ops.publish(f"{BASE}/cmd/sequencer/status", b"", retain=True).wait_for_publish(10)  # clear it


def test_bus_errors_come_back_as_they_are(ops, system):
    reply = ask(ops, "cmd/sequencer/no_such_command", {"id": "unk-1"}, "unk-1")
    assert reply["error"]["code"] == "unknown_command"
    reply = ask(ops, "cmd/recorder/logs", {"id": "arg-1", "args": {"limit": "many"}}, "arg-1")
    assert reply["error"]["code"] == "bad_request" and reply["error"]["arg"] == "limit"
    reply = ask(ops, "cmd/nosuchservice/ping", {"id": "svc-1"}, "svc-1")
    assert reply["error"]["code"] in ("unavailable", "timeout")


def test_a_broker_account_without_write_rights_cannot_command(broker, ops, system):
    guest = broker.client("guest")
    try:
        guest.publish(f"{BASE}/cmd/sequencer/status", {"id": "guest-1"})
        guest.publish(f"{BASE}/status", b"offline", retain=True)  # nor pose as the instrument
    finally:
        guest.close()
    ask(ops, "cmd/sequencer/status", {"id": "after-guest"}, "after-guest")  # processed after the guest's
    assert ops.on(f"{BASE}/reply/guest-1") == []
    late = broker.client("viewer", [f"{BASE}/status"])
    try:
        assert late.wait_for(f"{BASE}/status")[-1] == b"online"
    finally:
        late.close()


def test_a_flood_of_commands_blocks_nothing(ops, system):
    for i in range(80):
        ops.publish(f"{BASE}/cmd/sequencer/status", {"id": f"flood-{i}"})
    replies = ops.wait_for(
        f"{BASE}/reply/+",
        lambda p: len([r for r in map(json.loads, p) if str(r.get("id")).startswith("flood-")]) >= 80 and p,
        timeout=60,
        what="every flood command answered (done or busy)",
    )
    codes = {
        json.loads(r)["error"]["code"] if not json.loads(r)["ok"] else "ok"
        for r in replies
        if str(json.loads(r).get("id")).startswith("flood-")
    }
    assert codes <= {"ok", "busy"}
    assert ask(ops, "cmd/sequencer/status", {"id": "after-flood"}, "after-flood")["ok"] is True
