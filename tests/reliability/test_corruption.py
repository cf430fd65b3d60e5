"""Corrupt files under real supervisord: the database, the sequencer's state and the saved
controller settings are damaged while their process is down. Each process starts anyway, sets
the file aside (kept, never deleted), says so in a log line (and the recorder in
`state.recorder`), and the producers' outboxes refill the new database with what they hold."""

from __future__ import annotations

import pytest

from bus.events import Subscriber
from tests.support.procs import wait_until
from tests.support.system import FieldSystem, check_files, wreck_pages


@pytest.mark.timeout(300)
def test_damaged_files_are_set_aside_and_the_database_refills_from_the_outboxes():
    system = FieldSystem(electrodes=16)
    events = Subscriber(["state.recorder", "log.#"], address=system.address, cfg=system.cfg, snapshot=False)
    try:
        system.client.call("sequencer", "generate", array="wenner")
        started = system.client.call("sequencer", "start", settings={"nb_stack": 1})
        sid, total = started["survey_id"], started["total"]
        system.wait_survey()
        check = system.client.call("controller", "rs_check")
        assert check["stored"] is True
        system.wait_stored(sid, total)
        system.client.call("controller", "set_settings", settings={"nb_stack": 3})

        for name in ("recorder", "sequencer", "controller"):
            assert "stopped" in system.ctl("stop", name)
        db = system.var / "ohmpi.db"
        wreck_pages(db, every=1)
        (system.var / "sequencer.json").write_bytes(b'{"version": 2, "rev": 9, "loaded": {"na')
        (system.var / "controller-settings.json").write_bytes(b"\x00\x13garbage")
        for name in ("recorder", "sequencer", "controller"):
            assert "started" in system.ctl("start", name)
            system.client.wait_for(name, timeout=60)

        # the recorder said what it did, and shows it
        seen = []

        def told():
            while (msg := events.recv(timeout=0.1)) is not None:
                seen.append(msg)
            return [m for m in seen if m.topic == "state.recorder" and m.body.get("db_set_aside")]

        state = wait_until(told, timeout=30, what="state.recorder naming the database set aside")[-1].body
        aside = state["db_set_aside"][-1]
        assert aside["reason"] and aside["path"].startswith(str(db) + ".corrupt-")
        errors = {m.topic.split(".")[1]: m.body["message"] for m in seen if m.topic.endswith(".error")}
        assert "set aside" in errors.get("recorder", ""), errors
        corrupt = [p for p in system.var.iterdir() if ".corrupt-" in p.name]
        assert {p.name.split(".corrupt-")[0] for p in corrupt} >= {
            "ohmpi.db",
            "sequencer.json",
            "controller-settings.json",
        }

        # the outboxes refill the new database: every measurement, the survey, the contact check
        rows = system.wait_stored(sid, total, timeout=120)
        assert len({r[0] for r in rows}) == total
        wait_until(
            lambda: (
                system.client.call("recorder", "survey", survey_id=sid)["state"] == "finished"
                if sid in {s["survey_id"] for s in system.client.call("recorder", "surveys")}
                else False
            ),
            timeout=60,
            what="the survey description refilled",
        )
        wait_until(
            lambda: [c["id"] for c in system.client.call("recorder", "rs_checks")] == [check["id"]],
            timeout=60,
            what="the contact check refilled",
        )

        # the sequencer starts idle, the controller with its defaults; both said why
        assert system.survey()["state"] == "idle"
        assert system.client.call("controller", "get_settings")["settings"]["nb_stack"] != 3
        logs = system.client.call("recorder", "logs", level="error", limit=100)
        said = {row["process"] for row in logs if "set aside" in row["message"]}
        assert said >= {"recorder", "sequencer", "controller"}, logs
        # and they work: a new survey runs and is stored
        system.client.call("sequencer", "generate", array="wenner", electrodes=8)
        again = system.client.call("sequencer", "start")
        system.wait_survey()
        system.wait_stored(again["survey_id"], again["total"])
        check_files(system.var)
        status = system.ohmpi("status")
        assert "damaged databases set aside: 1" in status.stdout
    finally:
        events.close()
        system.close()
