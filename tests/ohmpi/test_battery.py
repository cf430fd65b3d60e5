"""Surveys left from the battery's resting voltage: state of charge per chemistry, energy above the
reserve, what a survey costs (kept across restarts), and the emulated battery that sags as it is used."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi import battery, config
from ohmpi.instrument import Instrument
from ohmpi.survey_energy import KEEP, SurveyEnergy

chemistries = st.sampled_from(battery.CHEMISTRIES)
volts = st.floats(0, 60)


@given(chemistries, volts, volts)
def test_state_of_charge_is_monotonic_in_voltage_and_bounded(chemistry, v1, v2):
    low, high = sorted((v1, v2))
    s_low, s_high = battery.soc_pct(low, chemistry), battery.soc_pct(high, chemistry)
    assert 0 <= s_low <= s_high <= 100


@given(chemistries, st.floats(0, 100))
def test_the_curve_read_both_ways_agrees(chemistry, soc):
    assert battery.soc_pct(battery.resting_volts(soc, chemistry), chemistry) == pytest.approx(soc, abs=1e-6)


@given(chemistries, volts, volts, st.floats(0.001, 1e4), st.floats(0, 99), st.floats(1e-6, 1e3))
def test_surveys_left_never_negative_and_never_more_with_less_voltage(chemistry, v1, v2, capacity, reserve, per):
    inj = {"battery_chemistry": chemistry, "battery_capacity_wh": capacity, "battery_reserve_pct": reserve}
    low, high = sorted((v1, v2))
    a, b = (battery.estimate(v, inj, per, "x") for v in (low, high))
    assert 0 <= a["battery_wh_left"] <= b["battery_wh_left"]
    assert 0 <= a["surveys_left"] <= b["surveys_left"]


@pytest.mark.parametrize("v", [None, math.nan, math.inf, True, "12"])
def test_unknown_voltage_or_survey_cost_gives_none(v):
    inj = {"battery_chemistry": "lead-acid", "battery_capacity_wh": 84.0, "battery_reserve_pct": 30.0}
    assert battery.soc_pct(v, "lead-acid") is None
    got = battery.estimate(None, inj, 0.5, "last survey")
    assert (
        got["surveys_left"] is None
        and got["battery_soc_pct"] is None
        and "no battery voltage" in got["surveys_left_basis"]
    )
    assert battery.surveys_left(10.0, None) is None and battery.surveys_left(10.0, 0.0) is None
    assert battery.surveys_left(None, 0.5) is None and battery.surveys_left(10.0, 0.5) == 20


@pytest.mark.parametrize(
    "override,key",
    [
        ({"battery_chemistry": "nicd"}, "injection.battery_chemistry"),
        ({"battery_capacity_wh": 0}, "injection.battery_capacity_wh"),
        ({"battery_capacity_wh": "84"}, "injection.battery_capacity_wh"),
        ({"battery_reserve_pct": 100}, "injection.battery_reserve_pct"),
        ({"battery_reserve_pct": math.nan}, "injection.battery_reserve_pct"),
        ({"base_load_W": -1}, "injection.base_load_W"),
        ({"battery_colour": "red"}, "injection.battery_colour"),
    ],
)
def test_bad_battery_settings_are_refused_by_name(override, key):
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.load({"injection": override})


def test_per_survey_energy_from_running_then_last_survey_and_kept_across_a_restart(tmp_path):
    path = tmp_path / "battery.json"
    energy = SurveyEnergy(path)
    assert energy.per_survey(3.0) == (None, "no survey measured yet")
    cost = {"duration_s": 1.2, "energy_j": 0.4, "injection_s": 0.5, "relay_operations": 2}
    for _ in range(10):
        energy.add("S1", cost)
    wh, basis = energy.per_survey(3.0)
    assert wh is None and "length unknown" in basis
    energy.add("S1", cost, length=20)
    wh, basis = energy.per_survey(3.0)
    assert wh == pytest.approx(20 * (0.4 + 3.0 * 1.2) / 3600) and "x 20" in basis
    energy.add("S2", cost)  # S1 has finished
    wh, basis = energy.per_survey(3.0)
    assert wh == pytest.approx(11 * (0.4 + 3.0 * 1.2) / 3600) and "last survey S1 (11 quadrupoles)" in basis
    restarted = SurveyEnergy(path)  # written when S2 began
    assert restarted.per_survey(3.0) == (wh, basis)
    for _ in range(12):  # S1 was cut short: S2 already cost more
        restarted.add("S2", cost)
    assert "survey S2 so far" in restarted.per_survey(3.0)[1]
    for i in range(3, 10):
        restarted.add(f"S{i}", {"duration_s": 1.0, "energy_j": None})
    assert len(restarted.surveys) == KEEP and list(restarted.surveys)[-1] == "S9"
    assert "injection not metered" in restarted.per_survey(3.0)[1]


@pytest.mark.parametrize("content", [b"{", b'{"S1": 1}', b'[["S1", {"energy_j": -1}]]', b"[[1, 2]]"])
def test_an_unreadable_file_is_set_aside_and_counting_restarts(tmp_path, content):
    path = tmp_path / "battery.json"
    path.write_bytes(content)
    energy = SurveyEnergy(path)
    assert energy.set_aside and not path.exists() and energy.surveys == {}
    for survey_id, cost in ((None, {}), ("S", None), ("S", {"duration_s": "x", "energy_j": math.inf})):
        energy.add(survey_id, cost)  # never raises
    assert energy.surveys == {"S": {"energy_j": 0, "duration_s": 0, "quadrupoles": 1, "unmetered": 1}}
    assert json.loads(path.read_bytes()) == [["S", energy.surveys["S"]]]


def test_soh_shows_the_emulated_battery_sagging_with_the_energy_drawn():
    cfg = {"n_electrodes": 8, "injection": {"supply": "dps5005", "battery_V": 12.6, "battery_capacity_wh": 20.0}}
    with Instrument.from_config(cfg, time_scale=0) as inst:
        first = inst.soh()
        assert first["battery_V"] == first["supply_V"] == 12.6 and first["surveys_left"] is None
        inst.survey_energy.add("S1", {"duration_s": 600.0, "energy_j": 10.0})
        inst.survey_energy.add("S2", {"duration_s": 1.0, "energy_j": 1.0})
        inst.measure(1, 4, 2, 3)
        inst.sim.clock.advance(3600.0)  # an hour of the instrument's own 3 W load
        later = inst.soh()
        assert later["battery_V"] < 12.6 and later["battery_soc_pct"] < first["battery_soc_pct"]
        assert later["battery_wh_left"] == pytest.approx(
            first["battery_wh_left"] - 3.0 - inst.sim.meter.totals()[0] / 0.9 / 3600, abs=0.1
        )
        per = (10.0 + 3.0 * 600.0) / 3600
        assert later["survey_wh"] == pytest.approx(per, abs=1e-4) and later["surveys_left"] == int(
            later["battery_wh_left"] // per
        )
        assert "last survey S1" in later["surveys_left_basis"]


def test_a_fixed_battery_on_a_pi_is_not_metered_so_nothing_is_claimed():
    with Instrument.from_config({"n_electrodes": 8}, time_scale=0) as inst:
        inst.sim.battery = None  # as on a Pi: nothing reads a fixed battery's voltage
        soh = inst.soh()
        assert soh["supply_V"] == 12.0 and soh["battery_V"] is None and soh["surveys_left"] is None
