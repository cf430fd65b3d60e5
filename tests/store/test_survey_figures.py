"""What a survey cost (seconds, seconds injecting, relay operations, energy): each measurement
carries its own cost, the store sums them per survey and per pass, bad costs are refused by
name, and databases from before the cost columns migrate and still list their surveys."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.items import ItemError, check_body
from ohmpi.store import MIGRATIONS, SCHEMA_VERSION, Store, _statements

from .factories import meas, survey_item


def costly(i: int, pass_index: int = 0, cost=None, **kw) -> dict:
    item = meas(i, pass_index=pass_index, waveform=False, **kw)
    item["body"]["cost"] = (
        cost
        if cost is not None
        else {"duration_s": 1.5, "injection_s": 1.0 + i, "relay_operations": 2 + i, "energy_j": 0.25}
    )
    return item


def test_a_survey_and_each_pass_sum_their_measurements_costs(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.ingest(
            [
                survey_item(),
                costly(0),
                costly(1, flags=["high_std"]),
                costly(2, pass_index=1),
                meas(3, pass_index=1, waveform=False),
            ]
        )  # an older producer: no cost
        s = next(s for s in store.surveys() if s["survey_id"] == "S1")
        assert (s["quadrupoles"], s["metered"], s["flagged"]) == (4, 3, 1)
        assert s["sim_duration_s"] == 4.5 and s["injection_s"] == 6.0
        assert s["relay_operations"] == 9 and s["energy_j"] == 0.75
        first, second = store.pass_figures("S1")
        assert (first["pass_index"], first["quadrupoles"], first["flagged"], first["relay_operations"]) == (0, 2, 1, 5)
        assert (second["pass_index"], second["quadrupoles"], second["metered"], second["injection_s"]) == (1, 2, 1, 3.0)
        assert [p["pass_index"] for p in store.pass_figures("S1", limit=1)] == [1]  # the newest passes


def test_a_pi_without_a_supply_meter_sums_what_it_knows(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.ingest(
            [costly(0, cost={"duration_s": 2.0, "injection_s": None, "relay_operations": 4, "energy_j": None})]
        )
        s = store.surveys()[0]
        assert (s["sim_duration_s"], s["relay_operations"], s["injection_s"], s["energy_j"]) == (2.0, 4, None, None)


@pytest.mark.parametrize(
    "cost, field",
    [
        ({"duration_s": -1.0}, "cost.duration_s"),
        ({"energy_j": float("nan")}, "cost.energy_j"),
        ({"injection_s": float("inf")}, "cost.injection_s"),
        ({"relay_operations": 2.5}, "cost.relay_operations"),
        ({"relay_operations": True}, "cost.relay_operations"),
        ({"duration_s": "1"}, "cost.duration_s"),
        ({"watts": 1.0}, "cost.watts"),
        ([1, 2], "cost"),
    ],
)
def test_a_bad_cost_is_refused_by_name_and_stores_nothing_of_the_item(tmp_path, cost, field):
    item = costly(0, cost=cost)
    with pytest.raises(ItemError) as err:
        check_body("measurement", item["body"], item["key"])
    assert err.value.field == field
    with Store(tmp_path / "s.db") as store:
        result = store.ingest([item, costly(1)])  # the good item behind it is stored
        assert store.counts["measurements"] == 1 and store.counts["dead_letters"] == 1
        assert field in result["refused"][0]["reason"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.integers(0, 10_000)), min_size=1, max_size=8))
def test_sums_match_the_measurements(tmp_path_factory, costs):
    with Store(tmp_path_factory.mktemp("h") / "s.db") as store:
        store.ingest([costly(i, cost={"duration_s": d, "relay_operations": r}) for i, (d, r) in enumerate(costs)])
        s = store.surveys()[0]
        assert s["relay_operations"] == sum(r for _, r in costs)
        assert s["sim_duration_s"] == pytest.approx(sum(d for d, _ in costs), abs=2e-3)
        assert s["injection_s"] is None and s["metered"] == len(costs)


def test_a_version_6_database_migrates_and_lists_its_old_surveys_uncosted(tmp_path):
    path = tmp_path / "v6.db"
    with sqlite3.connect(path) as con:  # a database as schema 6 left it
        for script in MIGRATIONS[:6]:
            for statement in _statements(script):
                con.execute(statement)
        con.execute("PRAGMA user_version = 6")
    old = meas(0, waveform=False)["body"]
    with sqlite3.connect(path) as con:
        con.execute(
            "INSERT INTO measurements(measurement_id, survey_id, pass_index, seq_index, instrument, "
            "received, a, b, m, n, time) VALUES (?, ?, 0, 0, 'sim', '2026-01-01T00:00:00Z', 1, 2, 3, 4, ?)",
            (old["measurement_id"], "S1", old["record"]["time"]),
        )
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 8
        s = store.surveys()[0]
        assert (s["quadrupoles"], s["metered"], s["sim_duration_s"], s["relay_operations"]) == (1, 0, None, None)
        store.ingest([costly(1)])
        assert store.surveys()[0]["metered"] == 1 and store.pass_figures("S1")[0]["sim_duration_s"] == 1.5
