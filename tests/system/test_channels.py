"""Several receiver channels end to end, under real supervisord: a survey on a 2-channel instrument
stores one record per quadrupole with its channel, nothing twice, even when the controller is
killed (-9) mid-survey."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from bus.errors import BadRequest
from bus.events import Subscriber
from tests.support.procs import wait_until
from tests.support.system import System

TWO_CHANNELS = '[instrument.adc]\nreceivers = [{address = 0x4A, mux = "AIN0-AIN1"}]\n'


@pytest.fixture(scope="module")
def system():
    s = System(electrodes=12, time_scale=20.0, extra=TWO_CHANNELS)
    yield s
    s.close()


def test_a_two_channel_survey_stores_each_quadrupole_once_with_its_channel_through_a_kill(system):
    assert system.client.call("controller", "geometry")["channels"] == 2
    watcher = Subscriber(["data.+.measurement"], address=system.address, cfg=system.cfg, snapshot=False)
    system.client.call("sequencer", "generate", array="dipole-dipole")
    started = system.client.call("sequencer", "start")
    total = started["total"]
    wait_until(lambda: system.survey()["done"] >= total // 3, what="a third of the survey")
    system.kill9("controller")
    assert system.wait_survey(timeout=300)["done"] == total
    system.wait_stored(started["survey_id"], total)
    with sqlite3.connect(system.var / "ohmpi.db") as con:
        rows = con.execute(
            "SELECT measurement_id, seq_index, channel, a, b, m, n FROM measurements WHERE survey_id = ?",
            (started["survey_id"],),
        ).fetchall()
    assert sorted(r[1] for r in rows) == list(range(total)), "a quadrupole missing or stored twice"
    sequence = system.client.call("sequencer", "status")
    assert Counter(r[2] for r in rows).keys() == {1, 2}
    # the channel-2 records share A-B with the quadrupole before them (one injection, two dipoles)
    by_index = {r[1]: r for r in rows}
    for index, row in by_index.items():
        if row[2] == 2:
            assert by_index[index - 1][3:5] == row[3:5] and by_index[index - 1][2] == 1
    seen = Counter()
    while (msg := watcher.recv(timeout=0.5)) is not None:
        seen[msg.body["measurement_id"]] += 1
    watcher.close()
    assert not [mid for mid, n in seen.items() if n > 1], "a quadrupole was measured twice"
    assert sequence["state"] == "finished"


def test_a_group_measure_answers_one_entry_per_dipole_and_refuses_bad_groups(system):
    reply = system.client.call("controller", "measure", a=1, b=2, m=3, n=4, also=[{"m": 4, "n": 5}])
    assert reply["record"]["channel"] == 1 and [e["record"]["channel"] for e in reply["also"]] == [2]
    assert reply["also"][0]["record"]["m"] == 4 and reply["also"][0]["stored"] is True
    single = system.client.call("controller", "measure", a=1, b=2, m=3, n=4)
    assert "also" not in single and single["record"]["channel"] == 1
    for also, arg in [
        ([{"m": 4, "n": 5}, {"m": 5, "n": 6}], "also"),  # 3 dipoles on 2 channels
        ([{"m": 4}], "also[0]"),
        ("x", "also"),
        ([{"m": 4, "n": 5, "measurement_id": "S:0:1"}], "also[0].measurement_id"),  # ids for all or none
    ]:
        with pytest.raises(BadRequest) as info:
            system.client.call("controller", "measure", a=1, b=2, m=3, n=4, also=also)
        assert info.value.details.get("arg") == arg, (also, info.value)
    # ids: one already stored is answered from the outbox, only the other is measured; then both repeat
    first = system.client.call("controller", "measure", a=1, b=2, m=3, n=4, measurement_id="G-1")
    group = dict(a=1, b=2, m=3, n=4, measurement_id="G-1", also=[{"m": 4, "n": 5, "measurement_id": "G-2"}])
    mixed = system.client.call("controller", "measure", **group)
    assert mixed["repeated"] and mixed["record"] == first["record"] and not mixed["also"][0]["repeated"]
    assert mixed["also"][0]["record"]["channel"] == 1  # measured alone: on the first channel
    again = system.client.call("controller", "measure", **group)
    assert again["repeated"] and again["also"][0]["repeated"]
    assert again["also"][0]["record"] == mixed["also"][0]["record"]
    with pytest.raises(BadRequest, match="on M2 while injecting"):
        system.client.call("controller", "measure", a=1, b=2, m=3, n=4, also=[{"m": 2, "n": 5}])
