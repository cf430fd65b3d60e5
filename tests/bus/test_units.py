"""Envelope, topic patterns, argument binding and config: properties over generated input."""

from __future__ import annotations

import re

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.commands import Command, Registry
from bus.config import BusConfig, ConfigError, check_bindable, endpoints
from bus.envelope import FrameError, Session, decode, unpack_envelope
from bus.errors import BadRequest, Busy, UnknownCommand, from_wire
from bus.topics import Pattern, check_topic

segment = st.text(alphabet="abcdef01_-", min_size=1, max_size=4)
topic_st = st.builds(
    lambda root, rest: ".".join([root, *rest]),
    st.sampled_from(["control", "data", "log", "soh", "state"]),
    st.lists(segment, max_size=4),
)


def mqtt_match(pattern: str, topic: str) -> bool:
    """A reference matcher written independently: walk both segment lists."""
    p, t = pattern.split("."), topic.split(".")
    for i, seg in enumerate(p):
        if seg == "#":
            return True
        if i >= len(t) or (seg != "+" and seg != t[i]):
            return False
    return len(p) == len(t)


@st.composite
def pattern_for(draw, topic):
    segs = topic.split(".")
    out = [draw(st.sampled_from([s, "+", s + "x"])) for s in segs[: draw(st.integers(1, len(segs)))]]
    if draw(st.booleans()):
        out.append("#")
    return ".".join(out)


@given(st.data(), topic_st)
def test_pattern_agrees_with_reference_and_prefix_is_sound(data, topic):
    text = data.draw(pattern_for(topic))
    p = Pattern(text)
    assert p.matches(topic) == mqtt_match(text, topic)
    if p.matches(topic):
        assert topic.startswith(p.prefix)  # libzmq's prefix filter never loses a match


def test_pattern_examples():
    assert Pattern("log.#").matches("log") and Pattern("log.#").matches("log.hub.info")
    assert not Pattern("log.#").matches("logs.hub")
    assert Pattern("data.+.measurement").prefix == "data."
    assert not Pattern("soh.ctrl").matches("soh.ctrl2")
    for bad in ("", "a.#.b", "a..b", "a.b c", "data.x#"):
        with pytest.raises(ValueError):
            Pattern(bad)


@given(topic_st)
def test_valid_topics_pass(topic):
    assert check_topic(topic) == topic


@given(st.text(max_size=30))
def test_check_topic_accepts_or_explains(text):
    try:
        check_topic(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert re.fullmatch(r"(control|data|log|soh|state)(\.[A-Za-z0-9_-]+)*", text)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=False)
        | st.text(max_size=20)
        | st.binary(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=20,
    ),
    topic_st,
)
def test_session_round_trip(body, topic):
    session = Session("proc-1")
    msg = decode([topic.encode(), session.pack("event", body, topic)], 1 << 20)
    assert msg.body == body and msg.topic == topic and msg.src == "proc-1" and msg.seq == 1
    assert msg.instance == session.instance


def test_seq_counts_per_topic():
    s = Session("p")
    seqs = [msgpack.unpackb(s.pack("event", None, t))["seq"] for t in ["data.a", "data.a", "log.p.info", "data.a"]]
    assert seqs == [1, 2, 1, 3]


@given(st.binary(max_size=300))
def test_random_bytes_are_refused_with_frame_error_only(data):
    try:
        unpack_envelope(data, 1 << 20)
    except FrameError as exc:
        assert exc.reason and str(exc)


@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "src", "seq", "ts", "type", "body", "x"]),
        st.none() | st.integers(-3, 3) | st.text(max_size=5) | st.floats(allow_nan=False),
        max_size=8,
    )
)
def test_partial_envelopes_are_refused_or_valid(env):
    try:
        out = unpack_envelope(msgpack.packb(env), 1 << 20)
    except FrameError as exc:
        assert exc.reason in {"missing_field", "mistyped_field", "version", "type", "source"}
    else:
        assert out["v"] == 1 and out["seq"] >= 1


def test_oversized_envelope_is_refused():
    data = Session("p").pack("event", "x" * 2000)
    with pytest.raises(FrameError) as err:
        unpack_envelope(data, 1000)
    assert err.value.reason == "oversized"


def _measure(
    a: int,
    b: int,
    m: int,
    n: int,
    nb_stack: int = 4,
    gain: float | None = None,
    electrodes: list[int] = [],  # noqa: B006
) -> dict:
    """Measure one quadrupole."""
    return {}


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none() | st.integers() | st.text(max_size=3) | st.floats() | st.lists(st.integers(), max_size=3),
        max_size=6,
    )
)
def test_bind_accepts_only_matching_arguments(args):
    cmd = Command.from_function("measure", _measure, role="operator")
    try:
        bound = cmd.bind(args)
    except BadRequest as exc:
        assert "arg" in exc.details and exc.details["reason"]
    else:
        assert set(bound) <= {"a", "b", "m", "n", "nb_stack", "gain", "electrodes"}
        assert all(isinstance(bound[k], int) and not isinstance(bound[k], bool) for k in "abmn")
        if bound.get("gain") is not None:
            assert isinstance(bound["gain"], float)


def test_bind_coerces_int_to_float_and_checks_list_items():
    cmd = Command.from_function("measure", _measure, role="operator")
    assert cmd.bind({"a": 1, "b": 2, "m": 3, "n": 4, "gain": 2})["gain"] == 2.0
    with pytest.raises(BadRequest) as err:
        cmd.bind({"a": 1, "b": 2, "m": 3, "n": 4, "electrodes": [1, "2"]})
    assert err.value.details["arg"] == "electrodes"
    with pytest.raises(BadRequest):
        cmd.bind([1, 2, 3, 4])


def test_registry_refuses_varargs_duplicates_and_unknown_names():
    reg = Registry()
    reg.add("measure", _measure, role="operator")
    with pytest.raises(ValueError):
        reg.add("measure", _measure, role="operator")
    with pytest.raises(TypeError):
        reg.add("bad", lambda *args: None, role="viewer")
    with pytest.raises(TypeError):  # every command says who may call it
        reg.add("norole", _measure)
    with pytest.raises(ValueError, match="role"):
        reg.add("badrole", _measure, role="root")
    with pytest.raises(UnknownCommand) as err:
        reg.lookup("__class__")
    assert err.value.details["known"] == ["measure"]
    assert reg.help()[0]["args"][0] == {"name": "a", "type": "int", "required": True}
    assert reg.help()[0]["role"] == "operator"
    assert reg.help()[0]["args"][5] == {"name": "gain", "type": "float | null", "required": False, "default": None}


def test_errors_round_trip_the_wire():
    err = from_wire(Busy("measuring", running="measure").to_wire())
    assert isinstance(err, Busy) and err.details == {"running": "measure"} and err.message == "measuring"
    odd = from_wire({"code": "future_code", "message": "m"})
    assert odd.code == "future_code"


def test_endpoints_derivation():
    t = endpoints("tcp://127.0.0.1:5550")
    assert (t.cmd, t.pub, t.sub) == ("tcp://127.0.0.1:5550", "tcp://127.0.0.1:5551", "tcp://127.0.0.1:5552")
    e = endpoints("ipc:///tmp/x/bus")
    assert (e.cmd, e.pub, e.sub) == ("ipc:///tmp/x/bus.cmd", "ipc:///tmp/x/bus.pub", "ipc:///tmp/x/bus.sub")
    for bad in ("127.0.0.1:5550", "tcp://host", "tcp://h:99999", "udp://x:1", "ipc:///" + "x" * 200):
        with pytest.raises(ConfigError):
            endpoints(bad)


@pytest.mark.parametrize(
    "address", ["tcp://0.0.0.0:5550", "tcp://192.168.1.10:5550", "tcp://*:5550", "tcp://example.org:5550"]
)
def test_binding_beyond_loopback_without_curve_is_refused_with_the_reason(address):
    assert check_bindable(address) is None  # CurveZMQ (the default) may bind any address
    with pytest.raises(ConfigError, match="curve = false"):
        check_bindable(address, curve=False)


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:5550", "tcp://localhost:5550", "tcp://[::1]:5550", "ipc:///tmp/bus"]
)
def test_binding_loopback_or_ipc_without_curve_is_allowed(address):
    assert check_bindable(address) is None
    warning = check_bindable(address, curve=False)
    assert (warning is None) == address.startswith("ipc") and (warning is None or "full rights" in warning)


def test_bus_config_validation():
    assert BusConfig.from_dict({"heartbeat_s": 1}).heartbeat_s == 1.0
    for table, word in (
        ({"heartbeat": 1}, "unknown"),
        ({"heartbeat_s": "2"}, "must be float"),
        ({"event_hwm": -1}, "> 0"),
        ({"event_hwm": True}, "must be int"),
    ):
        with pytest.raises(ConfigError, match=word):
            BusConfig.from_dict(table)


def test_var_dir_and_config_follow_the_environment(tmp_path, monkeypatch):
    from bus.config import load_bus_config, var_dir

    monkeypatch.setenv("OHMPI_VAR", str(tmp_path / "v"))
    assert var_dir() == tmp_path / "v" and (tmp_path / "v").is_dir()
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[bus]\naddress = "tcp://127.0.0.1:7000"\n')
    monkeypatch.setenv("OHMPI_CONFIG", str(cfg_file))
    monkeypatch.delenv("OHMPI_BUS", raising=False)
    assert load_bus_config().resolved_address() == "tcp://127.0.0.1:7000"
    monkeypatch.setenv("OHMPI_BUS", "ipc")
    assert load_bus_config().resolved_address() == f"ipc://{tmp_path / 'v'}/bus"
    cfg_file.write_text("[bus\n")
    with pytest.raises(ConfigError):
        load_bus_config()


def test_commands_are_registered_one_way_only():
    """`node.command(fn, role=...)`: no decorator, no direct Registry.add outside bus/node.py."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    other = re.compile(r"@\w+(\.node)?\.command\(|\.registry\.add\(")
    found = [
        f"{p.relative_to(root)}:{i}"
        for d in ("bus", "workers", "web", "ohmpi", "client", "bench", "tests")
        for p in (root / d).rglob("*.py")
        if p.resolve() != (root / "bus" / "node.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if other.search(line)
    ]
    assert found == []
