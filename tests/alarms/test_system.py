"""Alarms on the simulated instrument under the real supervisord: a low-battery supply, an open
electrode, an earth that changes between passes, a process that dies — raise, debounce,
acknowledge (CLI), clear (with hysteresis), actions (a local command, pausing the survey), the
history in the recorder, the states restored after the alarm process is killed, and rules
replaced by an admin (a bad one changes nothing).

One system for the whole module: the supply, the contacts and the earth are changed by
rewriting the config and restarting only the controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import zmq

from bus.envelope import Session
from bus.events import Publisher
from tests.support.procs import wait_until
from tests.support.system import PROGRAMS, System

FOR_S = 2.0


def config(battery: float, rho: float, open_electrode: bool, marker) -> str:
    bad = '16 = "open"' if open_electrode else ""
    return f"""
[instrument.injection]
battery_V = {battery}

[instrument.sim]
model = "homogeneous:rho={rho}"
noise = 0.0
[instrument.sim.bad_electrodes]
{bad}

[[alarms]]
name = "low_battery"
when = "soh.controller.supply_V < 11.5"
for_s = {FOR_S}
clear = 12.0
clear_for_s = 1
severity = "warning"
actions = ["mqtt", "command"]
command = ["/bin/sh", "-c", "echo $ALARM_NAME $ALARM_STATE $ALARM_VALUE >> {marker}; echo sent"]
command_timeout_s = 5

[[alarms]]
name = "open_contact"
when = "rs_check.max_kohm > 50"
severity = "critical"

[[alarms]]
name = "ground_moved"
when = "change.rhoa_pct > 20"
baseline = "previous"
min_quadrupoles = 3
severity = "critical"
actions = ["pause_survey"]

[[alarms]]
name = "sequencer_dead"
when = "process.sequencer.dead_s > 0"
severity = "critical"
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    marker = tmp_path_factory.mktemp("alarm") / "sent.txt"
    s = System(electrodes=16, time_scale=0.0, extra=config(11.0, 100, True, marker), wait=(*PROGRAMS, "alarms"))
    s.marker = marker
    s.base = s.config.read_text()
    yield s
    s.close()


def alarms(system) -> dict:
    return {a["name"]: a for a in system.client.call("alarms", "alarms")}


def wait_state(system, name, state, timeout=30):
    return wait_until(
        lambda: (a := alarms(system)[name])["state"] == state and a, timeout=timeout, what=f"alarm {name} {state}"
    )


def reconfigure(system, battery: float, rho: float, open_electrode: bool) -> None:
    """A new supply, earth or contacts: rewrite the config and restart the controller only."""
    text = config(battery, rho, open_electrode, system.marker)
    head = system.base.split("\n[instrument.injection]")[0]
    web = system.base[system.base.index("\n[web]") :] if "\n[web]" in system.base else ""
    system.config.write_text(head + text + web)
    system.ctl("restart", "controller")
    system.client.wait_for("controller", timeout=60)
    wait_until(
        lambda: system.client.call("controller", "status")["supply_V"] == battery,
        timeout=30,
        what="the controller with the new supply",
    )


def survey(system, repeat=1, every_s=0.0) -> str:
    system.client.call("sequencer", "generate", array="wenner", electrodes=12)
    return system.client.call("sequencer", "start", repeat=repeat, every_s=every_s)["survey_id"]


def history(system, name) -> list:
    return [
        (r["state"], r.get("user"), r.get("comment"))
        for r in reversed(system.client.call("recorder", "alarm_history", name=name))
    ]


def test_low_battery_is_raised_after_holding_for_s_and_runs_its_command(system):
    seen_pending = wait_until(
        lambda: (
            (a := alarms(system)["low_battery"])["state"] != "ok"
            or a["pending_s"] is not None
            and (time.monotonic(), a)
        ),
        timeout=30,
        what="low_battery pending",
    )
    if isinstance(seen_pending, tuple):  # seen while debouncing: not raised before for_s
        at, pending = seen_pending
        raised = wait_state(system, "low_battery", "active")
        assert time.monotonic() - at >= FOR_S - pending["pending_s"] - 0.6
    raised = wait_state(system, "low_battery", "active")
    assert raised["value"] == 11.0 and raised["severity"] == "warning"
    text = wait_until(
        lambda: system.marker.exists() and system.marker.read_text(), timeout=20, what="the alarm's command ran"
    )
    assert text.splitlines() == ["low_battery active 11.0"]
    logs = system.client.call("recorder", "logs", process="alarms", limit=50)
    assert any(
        "command /bin/sh exited 0" in line["message"] and line["extra"]["output"].strip() == "sent" for line in logs
    )


def test_cli_lists_and_acknowledges(system):
    wait_state(system, "low_battery", "active")
    listed = system.ohmpi("alarms", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert set(rows["low_battery"]) == {"name", "state", "severity", "since", "value"}
    assert rows["low_battery"]["state"] == "active" and rows["low_battery"]["since"].endswith("Z")
    refused = system.ohmpi("alarms", "ack", "open_contact")
    assert refused.returncode == 1 and "only an active alarm" in refused.stderr
    unknown = system.ohmpi("alarms", "ack", "no_such_alarm")
    assert unknown.returncode == 1 and "no alarm named" in unknown.stderr
    done = system.ohmpi("alarms", "ack", "low_battery", "--comment", "swapping the battery")
    assert done.returncode == 0, done.stderr
    acked = alarms(system)["low_battery"]
    assert acked["state"] == "acknowledged" and acked["comment"] == "swapping the battery"
    metrics = system.ohmpi("alarms", "metrics", "--json")
    values = json.loads(metrics.stdout)["values"]
    assert values["soh.controller.supply_V"] == 11.0 and values["process.sequencer.dead_s"] == 0.0


def test_open_electrode_from_a_contact_check(system):
    assert alarms(system)["open_contact"]["state"] == "ok"
    check = system.client.call("controller", "rs_check", timeout=30)
    assert 16 in check["open"]
    raised = wait_state(system, "open_contact", "active")
    assert raised["value"] == "inf"


def test_ground_change_between_passes_pauses_the_survey_and_hysteresis_holds(system):
    first = survey(system)
    system.wait_survey(timeout=120)
    system.wait_stored(first, 1)
    reconfigure(system, battery=11.8, rho=200, open_electrode=False)  # in the band: low_battery stays
    assert alarms(system)["ground_moved"]["state"] == "ok"
    second = survey(system, repeat=3, every_s=5.0)
    raised = wait_state(system, "ground_moved", "active", timeout=120)
    assert 95 < raised["value"] < 105  # ρa doubled on every quadrupole
    paused = system.wait_survey(state=("paused",), timeout=60)  # the rule's action
    assert paused["survey_id"] == second and paused["pass_index"] >= 1
    still = wait_until(
        lambda: (a := alarms(system)["low_battery"])["value"] == 11.8 and a, timeout=10, what="the 11.8 V supply seen"
    )
    assert still["state"] == "acknowledged"  # above 11.5 but below the clear level of 12.0
    system.client.call("controller", "rs_check", timeout=30)
    wait_state(system, "open_contact", "cleared")
    system.client.call("sequencer", "stop")


def test_clearing_and_the_history(system):
    reconfigure(system, battery=12.5, rho=200, open_electrode=False)
    wait_state(system, "low_battery", "cleared")
    changes = history(system, "low_battery")
    assert [(state, comment) for state, _, comment in changes] == [
        ("active", None),
        ("acknowledged", "swapping the battery"),
        ("cleared", None),
    ]
    assert changes[1][1]  # who acknowledged
    assert [s for s, *_ in history(system, "open_contact")] == ["active", "cleared"]
    assert system.marker.read_text().splitlines() == ["low_battery active 11.0"]  # run on raising only


def test_a_dead_process_and_its_return(system):
    system.ctl("stop", "sequencer")
    raised = wait_state(system, "sequencer_dead", "active", timeout=30)
    assert raised["value"] >= 1.5  # three missed beats of 0.5 s
    system.ctl("start", "sequencer")
    wait_state(system, "sequencer_dead", "cleared", timeout=30)


def test_states_survive_the_alarm_process_being_killed(system):
    before = alarms(system)
    events = len(system.client.call("recorder", "alarm_history", limit=1000))
    system.kill9("alarms")
    wait_until(lambda: system.client.call("alarms", "status")["restored"], timeout=30, what="states restored")
    after = alarms(system)
    assert {n: a["state"] for n, a in after.items()} == {n: a["state"] for n, a in before.items()}
    assert after["ground_moved"]["since"] == before["ground_moved"]["since"]
    time.sleep(2 * FOR_S)  # what is still true is not raised a second time
    assert len(system.client.call("recorder", "alarm_history", limit=1000)) == events


def test_rules_are_replaced_by_an_admin_whole_or_not_at_all(system):
    rules = system.client.call("alarms", "rules_get")
    assert rules["source"] == "config" and [r["name"] for r in rules["rules"]][0] == "low_battery"
    bad = [*rules["rules"], {"name": "hot", "when": "soh.controller.cpu_temp_C >> 70"}]
    with pytest.raises(Exception) as err:
        system.client.call("alarms", "rules_set", rules=bad)
    assert err.value.details["arg"] == "alarms['hot'].when"
    assert system.client.call("alarms", "rules_get") == rules
    kept = [r for r in rules["rules"] if r["name"] != "ground_moved"]
    hot = {"name": "hot", "when": "soh.controller.cpu_temp_C > 40", "severity": "info"}
    result = system.client.call("alarms", "rules_set", rules=[*kept, hot])
    assert result["source"] == "saved" and [r["name"] for r in result["rules"]][-1] == "hot"
    wait_state(system, "hot", "active")  # the simulated CPU is at 47 °C
    assert "ground_moved" not in alarms(system)
    assert history(system, "ground_moved")[-1] == ("cleared", None, "rule removed")
    audit = system.client.call("recorder", "audit", action="alarm_rules_set")
    assert audit and audit[0]["details"]["removed"] == ["ground_moved"]
    assert (system.var / "alarm-rules.json").exists()


def test_forged_and_malformed_events_change_nothing(system):
    """A script publishing alarm.* does not write the history; junk heartbeats do not crash the
    evaluation nor change a real metric."""
    before = system.client.call("recorder", "alarm_history", limit=1000)
    pub = Publisher(Session("probe"), system.address, system.cfg, zmq.Context.instance())
    try:

        def sent():
            pub.publish("alarm.low_battery.cleared", {"name": "low_battery", "state": "cleared", "since": 1.0})
            pub.publish("soh.controller2", {"supply_V": "lots", "x": [1, 2], "y": float("nan")})
            pub.publish("soh.probe", "not a map")
            pub.publish("state.sequencer", {"state": 3, "survey_id": None})
            values = system.client.call("alarms", "metrics")["values"]
            return "process.probe.dead_s" in values and values

        values = wait_until(sent, timeout=20, what="the probe's heartbeats seen")
    finally:
        pub.close()
    assert "soh.controller2.supply_V" not in values and values["soh.controller.supply_V"] == 12.5
    system.client.call("recorder", "logs", limit=1)  # the recorder has flushed what it received
    assert system.client.call("recorder", "alarm_history", limit=1000) == before
    assert system.client.call("alarms", "ping")["pong"]


def test_changes_made_while_the_recorder_is_down_reach_the_history_once(system):
    """Each change goes through the alarm worker's durable outbox: raised and cleared with the
    recorder stopped, both are in the history once it is back, each once."""
    rules = system.client.call("alarms", "rules_get")["rules"]
    probe = {"name": "durable_probe", "when": "soh.controller.cpu_temp_C > 40", "severity": "info"}
    system.ctl("stop", "recorder")
    try:
        system.client.call("alarms", "rules_set", rules=[*rules, probe])
        wait_state(system, "durable_probe", "active")
        system.client.call("alarms", "rules_set", rules=rules)  # its rule removed: cleared
        wait_until(
            lambda: system.client.call("alarms", "status")["outbox_pending"] >= 2, timeout=20, what="2 changes kept"
        )
    finally:
        system.ctl("start", "recorder")
    system.client.wait_for("recorder", timeout=60)
    wait_until(
        lambda: system.client.call("alarms", "status")["outbox_pending"] == 0, timeout=30, what="the outbox delivered"
    )
    assert history(system, "durable_probe") == [("active", None, None), ("cleared", None, "rule removed")]


def test_a_restart_while_the_recorder_is_down_keeps_what_the_outbox_holds(system):
    """Raised with the recorder stopped, then the alarm process killed: it comes back with the
    state its outbox still holds (the recorder cannot tell it), and never raises it twice."""
    rules = system.client.call("alarms", "rules_get")["rules"]
    probe = {"name": "restart_probe", "when": "soh.controller.cpu_temp_C > 40", "severity": "info"}
    system.ctl("stop", "recorder")  # first: a rule that rises at once must not reach the recorder
    try:
        system.client.call("alarms", "rules_set", rules=[*rules, probe])
        raised = wait_state(system, "restart_probe", "active")
        wait_until(
            lambda: system.client.call("alarms", "status")["outbox_pending"] >= 1, timeout=20, what="the change kept"
        )
        system.kill9("alarms")
        wait_until(lambda: system.client.call("alarms", "status")["restored"], timeout=60, what="states restored")
        after = alarms(system)["restart_probe"]
        assert after["state"] == "active" and after["since"] == raised["since"], (after, raised)
    finally:
        system.ctl("start", "recorder")
    system.client.wait_for("recorder", timeout=60)
    wait_until(
        lambda: system.client.call("alarms", "status")["outbox_pending"] == 0, timeout=30, what="the outbox delivered"
    )
    assert history(system, "restart_probe") == [("active", None, None)]  # raised once, not again after the restart
    system.client.call("alarms", "rules_set", rules=rules)  # its rule removed: cleared, out of the way
    wait_until(lambda: alarms(system).get("restart_probe", {}).get("state") != "active", timeout=30, what="cleared")


def test_a_hostile_alarm_change_is_refused_by_field_name_and_blocks_nothing(system):
    good = {"name": "hostile_probe", "state": "active", "severity": "info", "value": 1, "since": time.time()}
    items = [
        {"key": "alarm:hostile_probe:1", "kind": "alarm", "body": {**good, "comment": "x" * 20_000}},
        {"key": "alarm:hostile_probe:2", "kind": "alarm", "body": {**good, "admin": True}},
        {"key": "alarm:hostile_probe:3", "kind": "alarm", "body": {**good, "since": "now"}},
        {"key": "alarm:hostile_probe:4", "kind": "alarm", "body": good},
    ]
    result = system.client.call("recorder", "alarm_put", items=items)
    assert result["acked"] == [item["key"] for item in items]
    reasons = {r["key"]: r["reason"] for r in result["refused"]}
    assert set(reasons) == {"alarm:hostile_probe:1", "alarm:hostile_probe:2", "alarm:hostile_probe:3"}
    assert "body.comment" in reasons["alarm:hostile_probe:1"] and "body.admin" in reasons["alarm:hostile_probe:2"]
    assert "body.since" in reasons["alarm:hostile_probe:3"]
    assert history(system, "hostile_probe") == [("active", None, None)]  # the good one behind them
    dead = system.client.call("recorder", "dead_letters", limit=100)["items"]
    assert {r["key"] for r in dead} >= set(reasons)
    assert system.client.call("recorder", "alarm_put", items=items)["refused"] == result["refused"]
    assert history(system, "hostile_probe") == [("active", None, None)]  # delivered again: stored once


def test_a_bad_rule_in_the_config_is_one_line_and_status_2(tmp_path):
    bad = tmp_path / "ohmpi.toml"
    bad.write_text('[[alarms]]\nname = "x"\nwhen = "soh.controller.supply_V < 11"\nfor_s = -3\n')
    env = {**os.environ, "OHMPI_CONFIG": str(bad), "OHMPI_VAR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "workers.alarms"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "alarms: configuration error: alarms['x'].for_s: must be a number in 0..604800, got -3"
    )
