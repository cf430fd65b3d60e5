"""Metric values from heartbeats, contact checks and passes; liveness and survey progress."""

import math

from hypothesis import given
from hypothesis import strategies as st

from ohmpi.alarms.values import pass_values, rhoa_change_pct, rs_check_values, soh_values
from ohmpi.alarms.watch import Liveness, SurveyWatch


def test_soh_keeps_numbers_only():
    assert soh_values("controller", {"supply_V": 11.2, "simulated": True, "instrument": "sim", "n": 3}) == {
        "soh.controller.supply_V": 11.2,
        "soh.controller.n": 3.0,
    }
    assert soh_values("x", "garbage") == {}


def test_rs_check_open_is_infinite():
    result = {
        "electrodes": [
            {"electrode": 1, "contact_kohm": 1.2, "status": "ok"},
            {"electrode": 2, "contact_kohm": None, "status": "open"},
        ],
        "open": [2],
        "bad": [],
    }
    values = rs_check_values(result)
    assert math.isinf(values["rs_check.max_kohm"]) and values["rs_check.open"] == 1.0
    assert rs_check_values({"electrodes": [{"contact_kohm": 3.0, "status": "ok"}]})["rs_check.max_kohm"] == 3.0


def rows(rhos):
    return [{"a": i, "b": i + 1, "m": i + 2, "n": i + 3, "rhoa_ohmm": r} for i, r in enumerate(rhos)]


@given(st.lists(st.floats(1, 1000), min_size=1, max_size=30), st.floats(0.5, 2.0), st.integers(1, 40))
def test_change_is_the_kth_largest(base, factor, k):
    current = rows([r * factor for r in base])
    value = rhoa_change_pct(current, rows(base), k)
    if k > len(base):
        assert value is None
    else:
        assert math.isclose(value, 100 * abs(factor - 1), rel_tol=1e-9, abs_tol=1e-9)


def test_change_counts_only_common_quadrupoles():
    base = rows([100, 100, 100, 100])
    current = rows([150, 100, 100, 100])
    assert rhoa_change_pct(current, base, 1) == 50.0
    assert rhoa_change_pct(current, base, 2) == 0.0
    assert rhoa_change_pct(current[:1], base, 2) is None
    assert rhoa_change_pct(current, rows([0, None, float("nan"), 100]), 1) == 0.0


def test_pass_values_flagged_share():
    values = pass_values([{"flags": ["open_electrode"]}, {"flags": []}, {"flags": None}, {}])
    assert values["survey.flagged_pct"] == 25.0 and values["survey.reciprocal_error_pct"] is None
    assert pass_values([]) == {}


def test_liveness_after_three_beats():
    live = Liveness(heartbeat_s=1.0, started=0.0)
    assert live.dead_s("sequencer", 2.0) == 0.0 and live.dead_s("sequencer", 3.5) == 3.5
    live.beat("sequencer", 4.0)
    assert live.dead_s("sequencer", 6.9) == 0.0 and live.dead_s("sequencer", 7.0) == 3.0


def test_survey_watch_reports_each_completed_pass_once():
    w = SurveyWatch()
    base = {"survey_id": "S1", "total": 4, "failed": 0}
    assert w.update({**base, "state": "running", "pass_index": 0, "done_all": 1}, 0.0) == []
    assert w.update({**base, "state": "running", "pass_index": 1, "done_all": 4}, 1.0) == [("S1", 0, 4)]
    assert w.update({**base, "state": "finished", "pass_index": 1, "done_all": 8}, 2.0) == [("S1", 1, 4)]
    assert w.update({**base, "state": "finished", "pass_index": 1, "done_all": 8}, 3.0) == []
    assert w.update({"survey_id": "S2", "total": 4, "state": "running", "pass_index": 0, "done_all": 0}, 4.0) == []
    assert w.values(10.0)["survey.stalled_s"] == 6.0 and w.values(10.0)["survey.state"] == "running"
    assert w.update("garbage", 11.0) == []


def test_a_pause_is_not_a_stall():
    w = SurveyWatch()
    base = {"survey_id": "S1", "total": 4, "failed": 0, "pass_index": 0, "done_all": 2}
    w.update({**base, "state": "running"}, 0.0)
    w.update({**base, "state": "paused"}, 5.0)
    assert w.values(100.0)["survey.stalled_s"] == 0.0
    w.update({**base, "state": "running"}, 100.0)
    assert w.values(103.0)["survey.stalled_s"] == 3.0
