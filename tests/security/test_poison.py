"""One bad item loses nothing and blocks nothing (issue 8), against the whole system under supervisord.

The attack it pins: `POST /api/rs-check {"survey_id": ""}` used to be accepted by the controller,
refused by the store, and then sat at the head of the controller's outbox forever: every later
measurement was measured and never stored, across restarts.
"""

from __future__ import annotations

import json
import sqlite3
import time

import msgpack
import pytest

from bus.errors import BadRequest
from tests.support.procs import wait_until
from tests.support.system import System


@pytest.fixture(scope="module")
def system():
    s = System(electrodes=16)
    yield s
    s.close()


def _outbox_rows(system: System) -> int:
    with sqlite3.connect(system.var / "controller-outbox.db", timeout=30) as con:
        return con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


def test_a_poison_rs_check_is_refused_at_the_controller_naming_the_field(system):
    before = _outbox_rows(system)
    for survey_id in ("", "x" * 300):
        with pytest.raises(BadRequest) as info:
            system.client.call("controller", "rs_check", survey_id=survey_id, timeout=30)
        assert info.value.details["arg"] == "survey_id" and "survey_id" in info.value.message
    with pytest.raises(BadRequest) as info:
        system.client.call("controller", "measure", a=1, b=4, m=2, n=3, survey_id="S", pass_index=-1, timeout=30)
    assert info.value.details["arg"] == "pass_index"
    assert _outbox_rows(system) == before  # nothing entered the outbox: the hardware never ran
    assert system.client.call("recorder", "stats")["dead_letters"] == 0


def test_a_manual_check_and_measurement_answer_once_stored_and_visible(system):
    """What users expect of `POST /api/rs-check` and a single `measure`: when the answer comes,
    the recorder lists it (the race behind the flaky tests/web/test_api.py::test_rs_check)."""
    for _ in range(3):
        check = system.client.call("controller", "rs_check", timeout=30)
        assert check["stored"] is True
        assert system.client.call("recorder", "rs_checks", limit=1)[0]["id"] == check["id"]
        single = system.client.call("controller", "measure", a=1, b=4, m=2, n=3, settings={"nb_stack": 1}, timeout=30)
        assert single["stored"] is True
        assert system.client.call("recorder", "has", measurement_ids=[single["measurement_id"]]) == [
            single["measurement_id"]
        ]


def test_a_poison_item_in_an_outbox_ends_in_dead_letters_and_a_survey_after_it_stores_exact_counts(system):
    s = system
    # an older controller left a check the store refuses at the head of its outbox
    body = {
        "id": "C-old-poison",
        "time": "2026-03-01T10:00:00.000Z",
        "survey_id": "",
        "instrument": "sim",
        "result": {"pairs": [], "bad_electrodes": []},
    }
    with sqlite3.connect(s.var / "controller-outbox.db", timeout=30) as con:
        con.execute(
            "INSERT INTO outbox(key, kind, body, created) VALUES (?, 'rs_check', ?, ?)",
            ("C-old-poison", msgpack.packb(body), time.time()),
        )
    s.client.call("sequencer", "generate", array="wenner", electrodes=16)
    started = s.client.call("sequencer", "start", name="after-poison", settings={"nb_stack": 1}, repeat=2)
    s.wait_survey(timeout=300)
    expected = started["total"] * 2
    rows = s.wait_stored(started["survey_id"], expected)
    time.sleep(1.0)  # anything stored twice would arrive now
    rows = s.db_rows(started["survey_id"])
    assert len(rows) == expected  # no duplicates, nothing missing
    assert len({r[0] for r in rows}) == expected and len({(r[1], r[2]) for r in rows}) == expected
    assert {(r[1], r[2]) for r in rows} == {(p, i) for p in (0, 1) for i in range(started["total"])}
    page = s.client.call("recorder", "dead_letters")
    (letter,) = [d for d in page["items"] if d["key"] == "C-old-poison"]
    assert "body.survey_id" in letter["reason"] and letter["kind"] == "rs_check" and letter["producer"]
    assert json.loads(letter["body"]) == body
    status = wait_until(
        lambda: (st := s.client.call("controller", "status"))["outbox_pending"] == 0 and st,
        timeout=60,
        what="the controller's outbox drained",
    )
    assert status["outbox_refused"] == 1
    assert status["outbox_refusals"][0]["key"] == "C-old-poison"
    assert s.client.call("recorder", "stats")["dead_letters"] == 1


def test_settings_changes_and_surveys_are_in_the_audit_log(system):
    s = system
    old = s.client.call("controller", "get_settings")["settings"]["nb_stack"]
    s.client.call("controller", "set_settings", settings={"nb_stack": old + 1})
    s.client.call("controller", "set_settings", settings={"nb_stack": old})
    s.wait_survey(("idle", "finished", "stopped"))
    s.client.call("sequencer", "generate", array="wenner", electrodes=16)
    started = s.client.call("sequencer", "start", name="audited", settings={"nb_stack": 1})
    s.client.call("sequencer", "stop")

    def audited():
        out = s.ohmpi("audit", "--json", "--limit", "100")
        assert out.returncode == 0, out.stderr
        records = json.loads(out.stdout)
        return {r["action"] for r in records} >= {"settings_change", "survey_start", "survey_stop"} and records

    records = wait_until(audited, timeout=60, what="settings and survey audit records")
    change = next(r for r in records if r["action"] == "settings_change")  # newest first: back to old
    assert change["process"] == "controller" and change["role"] == "service" and change["ok"] is True
    assert change["details"]["changes"] == {"nb_stack": {"from": old + 1, "to": old}}
    start = next(r for r in records if r["action"] == "survey_start")
    assert start["process"] == "sequencer" and start["details"]["name"] == "audited"
    assert (
        start["details"]["survey_id"]
        == started["survey_id"]
        == next(r for r in records if r["action"] == "survey_stop")["details"]["survey_id"]
    )
    only = json.loads(s.ohmpi("audit", "--json", "--action", "settings_change").stdout)
    assert len(only) >= 2 and {r["action"] for r in only} == {"settings_change"}
    table = s.ohmpi("audit", "--user", change["user"])
    assert table.returncode == 0 and "settings_change" in table.stdout and "ACTION" in table.stdout
