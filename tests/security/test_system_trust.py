"""The whole system under supervisord on a CurveZMQ tcp bus: it works, roles hold, files are private."""

from __future__ import annotations

import stat

import pytest
import zmq

from bus.errors import BadRequest, Forbidden
from bus.files import atomic_write
from bus.keys import certificate_text, write_keypair
from bus.roles import HUMAN_ROLES, allows
from bus.rpc import Client
from tests.support.system import System


@pytest.fixture(scope="module")
def tcp_system():
    system = System(electrodes=16, tcp=True)
    yield system
    system.close()


def _key(system: System, name: str, role: str):
    public, secret = zmq.curve_keypair()
    system.client.call("hub", "keys_add", name=name, public=public.decode(), role=role)
    out = system.var / "clients" / name
    out.mkdir(parents=True)
    write_keypair(out, name, public, secret)
    atomic_write(out / "server.key", certificate_text(system.client.call("hub", "server_key")["public"].encode()))
    return out / f"{name}.key_secret"


def test_a_survey_runs_and_is_stored_over_curve(tcp_system):
    s = tcp_system
    assert s.client.call("hub", "endpoints")["curve"] is True
    s.client.call("sequencer", "generate", array="wenner", electrodes=16)
    started = s.client.call("sequencer", "start", name="curve", settings={"nb_stack": 1})
    s.wait_survey()
    rows = s.wait_stored(started["survey_id"], started["total"])
    assert len({r[0] for r in rows}) == started["total"]


def test_role_matrix_over_every_running_service(tcp_system):
    s = tcp_system
    keys = {role: _key(s, f"m-{role}", role) for role in HUMAN_ROLES}
    services = [x["name"] for x in s.client.call("hub", "services") if x["alive"]] + ["hub"]
    assert {"controller", "sequencer", "recorder"} <= set(services)
    helps = {svc: s.client.call(svc, "help") for svc in services}
    assert "ingest" in {c["name"] for c in helps["recorder"]}
    for role, key in keys.items():
        with Client(s.address, cfg=s.cfg, key=key, timeout=5.0) as c:
            for svc, commands in helps.items():
                for cmd in commands:
                    try:
                        c.call(svc, cmd["name"], zz_probe=1)
                        outcome = "ran"
                    except Forbidden:
                        outcome = "forbidden"
                    except BadRequest as exc:
                        outcome = "allowed" if exc.details.get("arg") == "zz_probe" else f"bad: {exc}"
                    expected = "allowed" if allows(role, cmd["role"]) else "forbidden"
                    assert outcome == expected, (role, svc, cmd["name"], outcome)
    # what each role means, on the real commands
    by_name = {(svc, c["name"]): c["role"] for svc, cmds in helps.items() for c in cmds}
    assert by_name[("controller", "measure")] == "operator" and by_name[("controller", "abort")] == "operator"
    assert by_name[("recorder", "export")] == "viewer" and by_name[("recorder", "ingest")] == "service"
    assert by_name[("hub", "keys_add")] == "admin" and by_name[("sequencer", "start")] == "operator"


def test_runtime_files_are_private(tcp_system):
    s = tcp_system
    assert stat.S_IMODE(s.var.stat().st_mode) == 0o700
    made_by_test = ("ohmpi.toml", "clients")
    loose = [
        str(p.relative_to(s.var))
        for p in s.var.rglob("*")
        if p.relative_to(s.var).parts[0] not in made_by_test and stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert loose == []
    names = {p.name for p in s.var.rglob("*")}
    assert {"ohmpi.db", "controller-outbox.db", "local.key_secret", "server.key_secret"} <= names
