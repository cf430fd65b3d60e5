"""The bridge's domain without a network: settings, topic and payload mapping, discovery, the
durable queue and the command parser, with hypothesis where inputs vary."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ohmpi.mqtt_bridge import commands, discovery
from ohmpi.mqtt_bridge.queue import DurableQueue
from ohmpi.mqtt_bridge.settings import TYPES, Settings, SettingsError, load, warnings
from ohmpi.mqtt_bridge.topics import Mapper, dumps, segment

TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def make(tmp_path, **table) -> Settings:
    return load({"host": "127.0.0.1", **table}, var=tmp_path)


# ---- settings -------------------------------------------------------------------------------------
def test_no_table_or_disabled_means_off(tmp_path):
    assert load({}, var=tmp_path) is None
    assert load({"enabled": False, "host": "x"}, var=tmp_path) is None


def test_defaults_and_password_file_relative_to_var(tmp_path):
    (tmp_path / "pw").write_text("s3cret\nignored\n")
    s = make(tmp_path, username="bridge", password_file="pw")
    assert (s.port, s.prefix, s.discovery_prefix, s.role, s.commands, s.base) == (
        1883,
        "ohmpi",
        "homeassistant",
        "viewer",
        False,
        "ohmpi/sim",
    )
    assert s.password == "s3cret" and s.authenticated
    assert make(tmp_path, tls=True).port == 8883


def test_warnings_for_a_readable_password_and_a_clear_text_link(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    pw.chmod(0o600)
    assert warnings(make(tmp_path, username="u", password_file="pw")) == []
    pw.chmod(0o644)
    assert "readable by others" in " ".join(warnings(make(tmp_path, username="u", password_file="pw")))
    pw.chmod(0o600)
    far = warnings(
        load({"host": "broker.example", "username": "u", "password_file": "pw", "commands": True}, var=tmp_path)
    )
    assert len(far) == 2 and "in clear" in far[0] and "inject" in far[1]


@pytest.mark.parametrize(
    "table, key",
    [
        ({"role": "admin"}, "role"),
        ({"role": "service"}, "role"),
        ({"commands": True}, "commands"),
        ({"password_file": "pw"}, "password_file"),
        ({"username": "u", "password_file": "missing"}, "password_file"),
        ({"ca_file": "missing.pem"}, "ca_file"),
        ({"port": 0}, "port"),
        ({"prefix": "a/+/b"}, "prefix"),
        ({"discovery_prefix": ""}, "discovery_prefix"),
        ({"instrument": "a b"}, "instrument"),
        ({"quadrupole": [1, 2, 3]}, "quadrupole"),
        ({"quadrupole": [1, 2, 3, True]}, "quadrupole"),
        ({"protocol": "4"}, "protocol"),
        ({"queue_max": 1}, "queue_max"),
        ({"client_id": "x/#"}, "client_id"),
        ({"host": "a b"}, "host"),
        ({"keepalive_s": 1}, "keepalive_s"),
    ],
)
def test_a_wrong_value_names_its_key(tmp_path, table, key):
    with pytest.raises(SettingsError, match=re.escape(f"[mqtt].{key}")):
        make(tmp_path, **table)


@hsettings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(TYPES) + ["bogus"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-10, 10**6),
            st.floats(allow_nan=True),
            st.text(max_size=20),
            st.lists(st.integers(0, 99), max_size=5),
        ),
        max_size=6,
    )
)
def test_any_table_is_settings_or_one_error_naming_mqtt(tmp_path_factory, table):
    var = tmp_path_factory.getbasetemp()
    try:
        s = load(table, var=var)
    except SettingsError as exc:
        assert str(exc).startswith("[mqtt]")
        return
    assert s is None or (TOPIC_LEVEL.match(s.instrument) and s.role in ("viewer", "operator"))


# ---- mapping --------------------------------------------------------------------------------------
@given(st.text(max_size=100))
def test_a_segment_is_always_one_safe_topic_level(name):
    assert TOPIC_LEVEL.match(segment(name))


@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()),
        lambda kids: st.one_of(st.lists(kids), st.dictionaries(st.text(), kids)),
        max_leaves=20,
    )
)
def test_any_body_becomes_strict_json(body):
    json.loads(dumps(body))  # NaN, infinities and bytes never break a payload


def test_measurement_is_a_durable_qos1_stream_and_the_chosen_quadrupole_a_retained_state(tmp_path):
    mapper = Mapper(make(tmp_path, quadrupole=[1, 4, 2, 3]))
    body = {
        "measurement_id": "M1",
        "survey_id": "S1",
        "seq_index": 0,
        "a": 1,
        "b": 4,
        "m": 2,
        "n": 3,
        "rhoa_ohmm": float("nan"),
        "r_ohm": 2.0,
    }
    stream, state = mapper.measurement(body)
    assert (stream.topic, stream.qos, stream.retain, stream.durable) == ("ohmpi/sim/measurement", 1, False, True)
    assert json.loads(stream.payload)["rhoa_ohmm"] is None
    assert (state.topic, state.retain, state.durable) == ("ohmpi/sim/quadrupole", True, False)
    assert len(mapper.measurement({**body, "a": 2})) == 1


def test_soh_is_throttled_per_process_and_liveness_counts_the_silent(tmp_path):
    mapper = Mapper(make(tmp_path, soh_every_s=10), dead_after_s=6)
    assert mapper.soh("controller", {"supply_V": 12}, now=100.0)
    assert not mapper.soh("controller", {"supply_V": 12}, now=105.0)
    assert mapper.soh("hub", {}, now=105.0)  # another process has its own budget
    assert mapper.soh("controller", {}, now=110.0)
    body = json.loads(mapper.processes(now=115.5).payload)
    assert body == {"alive": 1, "total": 2, "processes": {"controller": True, "hub": False}}


def test_survey_progress_and_alarm_state(tmp_path):
    mapper = Mapper(make(tmp_path))
    (survey,) = mapper.survey({"state": "running", "done_all": 5, "total_all": 20})
    assert json.loads(survey.payload)["progress_pct"] == 25.0 and survey.retain
    (alarm,) = mapper.alarm({"name": "low/bat#", "state": "acknowledged", "mqtt": True})
    assert alarm.topic == "ohmpi/sim/alarm/low_bat_" and json.loads(alarm.payload)["on"] is True
    assert mapper.alarm({"name": "quiet", "state": "active", "actions": ["event"]}) == []
    assert json.loads(mapper.alarm({"name": "x", "state": "cleared", "actions": ["mqtt"]})[0].payload)["on"] is False


# ---- discovery ------------------------------------------------------------------------------------
def test_discovery_ids_are_unique_and_every_state_topic_is_ours(tmp_path):
    s = make(tmp_path, quadrupole=[1, 4, 2, 3], instrument="dam-1")
    msgs = discovery.messages(s, ["low_battery", "a/b", "a+b"])
    bodies = [json.loads(m.payload) for m in msgs]
    assert len({b["unique_id"] for b in bodies}) == len(bodies)
    assert all(m.retain and m.topic.startswith("homeassistant/") and m.topic.endswith("/config") for m in msgs)
    assert all(b["state_topic"].startswith("ohmpi/dam-1/") for b in bodies)
    assert sum(m.topic.split("/")[1] == "binary_sensor" for m in msgs) == 2  # 'a/b' and 'a+b' become one level
    assert all(all(TOPIC_LEVEL.match(level) for level in m.topic.split("/")) for m in msgs)


# ---- the durable queue ----------------------------------------------------------------------------
def test_queue_keeps_order_drops_the_oldest_when_full_and_counts_across_restarts(tmp_path):
    q = DurableQueue(tmp_path / "q.db", max_items=100)
    assert q.put_many([("t", str(i).encode(), 1, None) for i in range(130)]) == 30
    rows = q.take(5)
    assert [r[2] for r in rows] == [b"30", b"31", b"32", b"33", b"34"] and q.dropped == 30
    q.ack([rows[0][0], rows[1][0]])
    assert q.take(2)[0][2] == b"35"  # handed out once per process
    q.close()
    q = DurableQueue(tmp_path / "q.db", max_items=100)
    assert q.dropped == 30 and q.pending() == 98
    assert q.take(1)[0][2] == b"32"  # handed out but never acknowledged: sent again
    q.close()


def test_a_keyed_item_is_queued_once_even_after_delivery_and_restart(tmp_path):
    q = DurableQueue(tmp_path / "q.db", max_items=100)
    q.put_many([("t", b"live", 1, "M1"), ("t", b"again", 1, "M1"), ("t", b"other", 1, "M2")])
    rows = q.take(10)
    assert [r[2] for r in rows] == [b"live", b"other"]
    q.ack([r[0] for r in rows])
    q.close()
    q = DurableQueue(tmp_path / "q.db", max_items=100)
    q.put_many([("t", b"catch-up", 1, "M1"), ("t", b"new", 1, "M3")])
    assert [r[2] for r in q.take(10)] == [b"new"] and q.was_queued("M1")
    q.close()


@hsettings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), max_size=12), st.integers(100, 130))
def test_queue_never_holds_more_than_its_bound_and_loses_only_what_it_counts(tmp_path_factory, batches, bound):
    q = DurableQueue(tmp_path_factory.mktemp("q") / "q.db", max_items=bound)
    sent = 0
    for n in batches:
        q.put_many([("t", str(sent + i).encode(), 1, None) for i in range(n * 5)])
        sent += n * 5
        assert q.pending() <= bound
    left = [int(r[2]) for r in q.take(10**6)]
    assert left == list(range(sent - len(left), sent)) and q.dropped + len(left) == sent  # the newest kept
    assert q.pending() == len(left)
    q.ack([seq for seq, *_ in q._db.execute("SELECT seq FROM queue ORDER BY seq LIMIT 3")])
    assert q.pending() == max(len(left) - 3, 0)
    q.close()


# ---- commands -------------------------------------------------------------------------------------
def test_a_request_is_parsed():
    assert commands.parse(["sequencer", "status"], b'{"id": "r1", "args": {"x": 1}}') == commands.Request(
        "r1", "sequencer", "status", {"x": 1}
    )
    assert commands.parse(["hub", "ping"], b'{"id": "r2"}').args == {}


JSON_BODIES = st.dictionaries(
    st.sampled_from(["id", "args", "x"]),
    st.one_of(st.text(max_size=70), st.integers(), st.dictionaries(st.text(max_size=5), st.integers())),
)


@given(
    st.lists(st.text(max_size=12), max_size=4),
    st.one_of(st.binary(max_size=200), JSON_BODIES.map(lambda d: json.dumps(d).encode())),
)
def test_any_input_is_a_request_or_an_error_whose_reply_topic_is_safe(levels, payload):
    try:
        req = commands.parse(levels, payload)
    except commands.CommandError as exc:
        reply = exc.reply()
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request" and reply["error"]["message"]
        assert exc.id is None or commands.ID_RE.match(exc.id)
        return
    assert commands.ID_RE.match(req.id) and isinstance(req.args, dict)
    assert commands.SERVICE_RE.match(req.service) and commands.COMMAND_RE.match(req.command)


@pytest.mark.parametrize("name", commands.RESERVED_ARGS)
def test_args_that_would_steer_the_bridges_own_call_are_refused(name):
    with pytest.raises(commands.CommandError) as err:
        commands.parse(["sequencer", "status"], json.dumps({"id": "r", "args": {name: 1}}).encode())
    assert err.value.arg == f"args.{name}" and err.value.id == "r"


def test_deep_nesting_is_a_clear_error_not_a_crash():
    with pytest.raises(commands.CommandError, match="nested too deeply"):
        commands.parse(["hub", "ping"], b"[" * 60_000)


def test_nan_in_a_command_payload_is_refused_or_harmless():
    try:
        req = commands.parse(["hub", "ping"], b'{"id": "n", "args": {"x": NaN}}')
    except commands.CommandError:
        return
    assert math.isnan(req.args["x"]) and json.loads(dumps(req.args)) == {"x": None}
