"""The bus as an attacker meets it: CurveZMQ keys, roles, service names, replies, bounded state.

Each test is an attack that worked before the trust-boundary work, run against a real hub
and a real service (tests/bus/demo_service.py) on tcp with CurveZMQ (and on ipc where the
attacker is a buggy local program rather than a stranger).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from bus.config import endpoints
from bus.envelope import Session
from bus.errors import BadRequest, Forbidden, Unavailable
from bus.events import Subscriber
from bus.files import atomic_write
from bus.keys import certificate_text, write_keypair
from bus.roles import HUMAN_ROLES, allows
from bus.rpc import Client
from tests.support.bus import Bus
from tests.support.procs import wait_until

OHMPI = str(Path(sys.executable).parent / "ohmpi")


@pytest.fixture
def curve_bus(monkeypatch):
    bus = Bus("tcp", heartbeat_s=0.3)
    monkeypatch.setenv("OHMPI_KEY", str(bus.key))
    bus.start_hub()
    bus.start_service("demo")
    yield bus
    bus.close()


def make_key(bus: Bus, name: str, role: str) -> Path:
    """A client key registered with the hub (what `ohmpi keys create` does), in its own directory."""
    public, secret = zmq.curve_keypair()
    with bus.client() as c:
        c.call("hub", "keys_add", name=name, public=public.decode(), role=role)
        server = c.call("hub", "server_key")["public"]
    out = bus.dir / "clients" / name
    out.mkdir(parents=True)
    write_keypair(out, name, public, secret)
    atomic_write(out / "server.key", certificate_text(server.encode()))
    return out / f"{name}.key_secret"


def client_with(bus: Bus, key: Path, **kw) -> Client:
    kw.setdefault("timeout", 5.0)
    return Client(bus.address, cfg=bus.cfg, key=key, **kw)


def hub_stats(bus: Bus) -> dict:
    with bus.client() as c:
        return c.call("hub", "status")


# ---- CurveZMQ handshakes --------------------------------------------------------------------
def test_a_registered_key_gets_in_an_unknown_key_does_not(curve_bus):
    alice = make_key(curve_bus, "alice", "viewer")
    with client_with(curve_bus, alice) as c:
        assert c.call("demo", "echo", value="hi") == "hi"
    stranger_dir = curve_bus.dir / "stranger"
    stranger_dir.mkdir()
    public, secret = zmq.curve_keypair()
    write_keypair(stranger_dir, "stranger", public, secret)
    (stranger_dir / "server.key").write_bytes((alice.parent / "server.key").read_bytes())
    refused_before = hub_stats(curve_bus).get("auth_refused", 0)
    with client_with(curve_bus, stranger_dir / "stranger.key_secret", timeout=0.5, retries=0) as c:
        with pytest.raises(Unavailable):  # the handshake never completes: nothing gets through
            c.call("demo", "echo", value="hi")
    assert hub_stats(curve_bus)["auth_refused"] > refused_before


def test_a_client_without_curve_cannot_talk_to_a_tcp_bus(curve_bus):
    sock = zmq.Context.instance().socket(zmq.DEALER)  # plain tcp, no keys at all
    sock.linger = 0
    sock.connect(endpoints(curve_bus.address).cmd)
    sock.send_multipart([b"demo", Session("plain").pack("request", {"id": "x", "cmd": "echo", "args": {}})])
    assert not sock.poll(1500)
    sock.close()


def test_a_client_checks_the_hub_key(curve_bus):
    """A client holding the wrong server.key never talks to this hub (no man in the middle)."""
    alice = make_key(curve_bus, "alice", "viewer")
    other_public, _ = zmq.curve_keypair()
    atomic_write(alice.parent / "server.key", certificate_text(other_public))
    with client_with(curve_bus, alice, timeout=0.5, retries=0) as c:
        with pytest.raises(Unavailable):
            c.call("demo", "echo", value=1)


def test_revoked_key_is_refused_at_once_and_its_subscription_ends(curve_bus):
    alice = make_key(curve_bus, "alice", "operator")
    c = client_with(curve_bus, alice)
    assert c.call("demo", "echo", value=1) == 1
    watched = Subscriber(["data.mark.#"], address=curve_bus.address, cfg=curve_bus.cfg, key=alice, snapshot=False)
    local = Subscriber(["data.mark.#"], address=curve_bus.address, cfg=curve_bus.cfg, snapshot=False)
    with curve_bus.client() as admin:
        wait_until(
            lambda: admin.call("demo", "emit", topic="data.mark.before") and watched.recv(timeout=0.2),
            what="alice's subscription",
        )
        admin.call("hub", "keys_revoke", name="alice")
        with pytest.raises(Forbidden, match="revoked"):  # the same open connection, refused at once
            c.call("demo", "echo", value=2)
        with client_with(curve_bus, alice, timeout=0.5, retries=0) as fresh, pytest.raises(Unavailable):
            fresh.call("demo", "echo", value=3)  # and no new connection gets through
        # the local subscriber reconnects and sees new events; alice's never again
        wait_until(
            lambda: (
                admin.call("demo", "emit", topic="data.mark.after")
                and (m := local.recv(timeout=0.2)) is not None
                and m.topic == "data.mark.after"
            ),
            timeout=30,
            what="the local subscriber back after the revocation",
        )
        admin.call("demo", "emit", topic="data.mark.after", count=20)
        got = []
        while (m := watched.recv(timeout=1.0)) is not None:
            got.append(m.topic)
        assert "data.mark.after" not in got
        keys = {k["name"]: k for k in admin.call("hub", "keys_list")}
        assert keys["alice"]["active"] is False and keys["alice"]["revoked"]
    c.close()
    watched.close()
    local.close()


def test_keys_cli_create_list_revoke_and_use(curve_bus):
    env = {**os.environ, **curve_bus.env}
    out = curve_bus.dir / "cli-keys"
    made = subprocess.run(
        [OHMPI, "keys", "create", "field-laptop", "--role", "viewer", "-o", str(out), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    key_file = out / "field-laptop.key_secret"
    assert key_file.stat().st_mode & 0o777 == 0o600 and (out / "server.key").exists()
    assert zmq.auth.load_certificate(key_file)[1] is not None  # the zmq.auth format a plain script reads
    status = subprocess.run(
        [OHMPI, "--bus", curve_bus.address, "--key", str(key_file), "--json", "ping", "demo"],
        env={**env, "OHMPI_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    listed = subprocess.run([OHMPI, "keys", "list", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert any(k["name"] == "field-laptop" and k["role"] == "viewer" for k in __import__("json").loads(listed.stdout))
    again = subprocess.run(
        [OHMPI, "keys", "create", "field-laptop", "--role", "admin", "-o", str(curve_bus.dir / "x")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "exists" in again.stderr
    revoked = subprocess.run(
        [OHMPI, "keys", "revoke", "field-laptop"], env=env, capture_output=True, text=True, timeout=60
    )
    assert revoked.returncode == 0, revoked.stderr
    denied = subprocess.run(
        [OHMPI, "--bus", curve_bus.address, "--key", str(key_file), "--timeout", "0.5", "ping", "demo"],
        env={**env, "OHMPI_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert denied.returncode != 0
    # the secret key never reached the hub: its key table holds public keys only
    table = (curve_bus.dir / "keys" / "keys.json").read_text()
    assert zmq.auth.load_certificate(key_file)[1].decode() not in table


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Bad Name", "role": "viewer"},
        {"name": "local", "role": "viewer"},
        {"name": "x", "role": "root"},
        {"name": "x", "role": "viewer", "public": "not-z85"},
        {"name": "x", "role": "viewer", "public": "0" * 39},
    ],
)
def test_keys_add_refuses_bad_input_and_changes_nothing(curve_bus, bad):
    public = bad.pop("public", zmq.curve_keypair()[0].decode())
    with curve_bus.client() as c:
        before = c.call("hub", "keys_list")
        with pytest.raises(BadRequest):
            c.call("hub", "keys_add", public=public, **bad)
        assert c.call("hub", "keys_list") == before


# ---- roles --------------------------------------------------------------------------------
def test_role_matrix_over_the_bus_from_help(curve_bus):
    """Every command of the hub and of a service × every role: allowed or `forbidden`, from `help`."""
    keys = {role: make_key(curve_bus, f"k-{role}", role) for role in HUMAN_ROLES}
    with curve_bus.client() as c:
        commands = {svc: c.call(svc, "help") for svc in ("hub", "demo")}
    checked = 0
    for role, key in keys.items():
        with client_with(curve_bus, key) as c:
            for svc, cmds in commands.items():
                for cmd in cmds:
                    assert cmd["role"] in ("viewer", "operator", "admin", "service"), cmd
                    # an unknown argument makes an allowed call fail at argument checking, after the
                    # role check: nothing runs, and the error tells the two apart
                    try:
                        c.call(svc, cmd["name"], zz_matrix_probe=1)
                        outcome = "ran"
                    except Forbidden as exc:
                        outcome = "forbidden"
                        assert exc.details["role"] == cmd["role"] and exc.details["have"] == role
                    except BadRequest as exc:
                        outcome = "allowed"
                        assert exc.details.get("arg") == "zz_matrix_probe"
                    expected = "allowed" if allows(role, cmd["role"]) else "forbidden"
                    assert outcome == expected, (role, svc, cmd["name"], outcome)
                    checked += 1
    assert checked >= 3 * 15


def test_acting_on_behalf_never_raises_a_role(curve_bus):
    viewer = make_key(curve_bus, "gateway-ish", "viewer")
    with client_with(curve_bus, viewer) as c:
        with pytest.raises(Forbidden):
            c.call("demo", "unblock", on_behalf=("mallory", "admin"))
    with curve_bus.client() as c:  # the system's own key acting for a viewer: lowered to viewer
        with pytest.raises(Forbidden) as err:
            c.call("demo", "unblock", on_behalf=("bob", "viewer"))
        assert err.value.details["have"] == "viewer" and "local:bob" in err.value.message
        assert c.call("demo", "unblock", on_behalf=("carol", "operator")) is True
        with pytest.raises(BadRequest):
            c.call("demo", "echo", on_behalf=("Bad Name!", "viewer"))


# ---- service names ------------------------------------------------------------------------
def _register(sock: zmq.Socket, name: str) -> None:
    sock.send_multipart([b"!register", Session("impostor").pack("register", {"service": name, "commands": []})])


@pytest.mark.parametrize("kind", ["ipc", "tcp"])
def test_an_impostor_cannot_take_a_live_service_name(kind, monkeypatch):
    bus = Bus(kind, heartbeat_s=0.3)
    if bus.key is not None:
        monkeypatch.setenv("OHMPI_KEY", str(bus.key))
    try:
        bus.start_hub()
        bus.start_service("demo")
        impostor = bus.raw(zmq.DEALER)  # on tcp it even holds the system's own service key
        impostor.linger = 0
        impostor.connect(endpoints(bus.address).cmd)
        with bus.client() as c:
            real_pid = c.call("demo", "ping")["pid"]
            deadline = time.monotonic() + 3.0
            refusals = 0
            while time.monotonic() < deadline:  # hammer the name every 50 ms, as the attack did
                _register(impostor, "demo")
                while impostor.poll(50):
                    frames = impostor.recv_multipart()
                    refusals += frames[0] == b"!refused"
                    assert frames[0] != b"demo" and len(frames) < 3, "the impostor received a request"
                assert c.call("demo", "ping")["pid"] == real_pid
            assert refusals > 0
            assert c.call("hub", "status")["register_refused"] > 0
        impostor.close()
    finally:
        bus.close()


def test_registering_a_service_over_tcp_needs_a_service_key(curve_bus):
    operator = make_key(curve_bus, "op", "operator")
    sock = curve_bus.raw(zmq.DEALER)
    from bus.keys import client_credentials

    client_credentials(operator).apply(sock)
    sock.linger = 0
    sock.connect(endpoints(curve_bus.address).cmd)
    _register(sock, "recorder")
    assert sock.poll(10000)
    frames = sock.recv_multipart()
    assert frames[0] == b"!refused" and b"service key" in frames[1]
    with curve_bus.client() as c:
        assert "recorder" not in {s["name"] for s in c.call("hub", "services")}
    sock.close()


def test_a_killed_service_is_replaced_by_its_restart_at_once(curve_bus):
    """Ownership must not slow recovery: the holder's connection is gone, so the new process wins."""
    with curve_bus.client() as c:
        old = c.call("demo", "ping")["pid"]
        curve_bus.procs[-1].kill()
        curve_bus.procs[-1].wait(10)
        curve_bus.start_service("demo")
        assert wait_until(lambda: c.call("demo", "ping", timeout=1.0, retries=0)["pid"] != old, timeout=30)


# ---- forged replies -------------------------------------------------------------------------
def test_forged_replies_never_reach_a_client(bus):
    """A peer sends `!reply` to every plausible route while a real request is in flight."""
    bus.start_service("demo")
    forger = bus.raw(zmq.DEALER)
    forger.linger = 0
    forger.connect(endpoints(bus.address).cmd)
    session = Session("forger")
    victim = bus.client(timeout=10.0, retries=0)
    import threading

    result = {}
    t = threading.Thread(target=lambda: result.update(r=victim.call("demo", "slow", seconds=1.5)))
    t.start()
    forged = 0
    for style in (b"D", b"R"):
        for n in range(0, 64):  # ROUTER identities are 0x00 + a 4-byte counter: guessable
            route = style + b"\x00" + n.to_bytes(4, "big")
            for rid in (None, "x"):
                forger.send_multipart(
                    [b"!reply", route, session.pack("reply", {"id": rid, "ok": True, "result": "FORGED"})]
                )
                forged += 1
    t.join(30)
    assert result["r"] == "done"
    with bus.client() as c:
        assert c.call("hub", "status")["dropped_by_reason"].get("unsolicited_reply", 0) >= forged
    victim.close()
    forger.close()


def test_a_client_accepts_a_null_id_reply_only_from_the_hub(bus):
    """The one legitimate id-less reply is the hub's "could not read your request"."""
    sock = bus.raw(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoints(bus.address).cmd)
    sock.send_multipart([b"hub", b"\xc1 not msgpack"])
    assert sock.poll(10000)
    env = msgpack.unpackb(sock.recv_multipart()[-1])
    assert env["src"] == "hub" and env["body"]["id"] is None and env["body"]["error"]["code"] == "bad_request"
    sock.close()


# ---- bounded state ------------------------------------------------------------------------
def test_oversized_cache_entries_do_not_break_status(bus):
    """Five 1 MB soh events once made `ohmpi status` fail until the hub restarted."""
    pub = bus.raw(zmq.PUB)
    pub.linger = 0
    pub.connect(endpoints(bus.address).pub)
    session = Session("bloat")
    with bus.client() as c:

        def flood():
            for i in range(5):
                pub.send_multipart(
                    [f"soh.bloat{i}".encode(), session.pack("event", {"x": "y" * 1_000_000}, f"soh.bloat{i}")]
                )
            return c.call("hub", "status")["dropped_by_reason"].get("cache_entry_too_large", 0) >= 5

        wait_until(flood, timeout=30, what="the big entries refused by the cache")

        def listed():  # the hub lists itself from its first heartbeat on
            processes = c.call_paged("hub", "processes")
            return processes if "hub" in {p["name"] for p in processes} else None

        processes = wait_until(listed, timeout=30, what="the hub in its process list")
        assert not any(p["name"].startswith("bloat") for p in processes)
        status = c.call("hub", "status")
        assert status["cached_bytes"] < 4 << 20
        # many medium entries: the cache stays under its cap, replies stay paged under the limit
        for i in range(120):
            pub.send_multipart(
                [f"soh.medium{i}".encode(), session.pack("event", {"x": "z" * 60_000}, f"soh.medium{i}")]
            )
        pub.send_multipart([b"soh.zz-last", session.pack("event", {}, "soh.zz-last")])
        wait_until(
            lambda: c.call("hub", "snapshot", patterns=["soh.zz-last"])["items"],
            timeout=30,
            what="the flood processed (events reach the cache in order)",
        )
        assert c.call("hub", "status")["cached_bytes"] <= 4 << 20
        snap = c.call("hub", "snapshot", patterns=["soh.#"])
        assert snap["next_offset"] is not None and len(snap["items"]) < snap["total"]
        topics = [topic for topic, _ in c.call_paged("hub", "snapshot", patterns=["soh.#"])]
        # every page read: nothing twice, nothing lost (a heartbeat may add a topic in between)
        assert len(topics) == len(set(topics)) and len(topics) >= snap["total"] and "soh.zz-last" in topics
    pub.close()


def test_absurd_sequence_numbers_count_as_one_anomaly_not_millions(bus):
    sub = Subscriber(["data.rand.#"], address=bus.address, cfg=bus.cfg, snapshot=False)
    pub = bus.raw(zmq.PUB)
    pub.linger = 0
    pub.connect(endpoints(bus.address).pub)

    def send(i, seq, src="rnd"):
        env = {"v": 1, "id": f"inst{i}-{seq}", "src": src, "seq": seq, "ts": time.time(), "type": "event", "body": i}
        pub.send_multipart([b"data.rand.x", msgpack.packb(env)])

    wait_until(lambda: send(0, 1) or sub.recv(timeout=0.2), what="subscription")
    for i in range(1, 200):
        send(i, 10**12 + i, src=f"s{i % 50}")
    send(999, 1, src="end")
    seen = 0
    while (m := sub.recv(timeout=5.0)) is not None and m.src != "end":
        seen += 1
    # 50 sources, each then restarting absurdly: 149 anomalies, not 149 × 10^12 missed messages
    assert sub.tracker.missed == 0 and sub.tracker.anomalies == 149
    sub.close()
    pub.close()


def test_gap_tracker_memory_is_bounded():
    from bus.envelope import Message
    from bus.events import GapTracker

    tracker = GapTracker(max_keys=100)
    for i in range(5000):
        tracker.accept(Message(f"data.t{i}", 1, f"a{i}-1", f"s{i}", 1, 0.0, "event", None))
    assert len(tracker._last) == 100 and len(tracker.missed_by_source) <= 100


def test_the_plain_pyzmq_example_with_a_viewer_key(curve_bus):
    """docs/protocol.md §9: a client with nothing but pyzmq, msgpack and a key made for it."""
    viewer = make_key(curve_bus, "plain-viewer", "viewer")
    env = {**os.environ, **curve_bus.env, "OHMPI_KEY": str(viewer)}
    example = str(Path(__file__).resolve().parents[2] / "examples" / "plain_pyzmq_call.py")
    ok = subprocess.run(
        [sys.executable, example, curve_bus.address, "demo", "echo", "value=hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "hi", ok.stderr
    refused = subprocess.run(
        [sys.executable, example, curve_bus.address, "demo", "unblock"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "forbidden" in refused.stderr and "operator" in refused.stderr
