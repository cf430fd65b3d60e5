"""Each measurement's own cost (seconds, seconds injecting, relay operations, energy) on the
emulated instrument: the costs of a survey's measurements add up to what the survey cost, and
a board without a supply meter (a Pi) still counts seconds and relay operations."""

import pytest

from ohmpi import measurement_cost, simulate
from ohmpi.instrument import Instrument

QUADS = [(1, 2, 3, 4), (1, 2, 4, 5), (1, 2, 5, 6), (2, 3, 5, 6)]
CONFIG = {
    "n_electrodes": 8,
    "spacing_m": 1.0,
    "injection": {"supply": "dps5005"},
    "sim": {"model": "homogeneous:rho=100", "noise": 0.001, "contact_ohm": 1000.0, "seed": 3},
}


def test_measurement_costs_add_up_to_the_survey_cost():
    with Instrument.from_config(CONFIG, time_scale=0) as inst:
        inst.settings = {"nb_stack": 1}
        start = measurement_cost.totals(inst)
        costs = []
        for quad in QUADS:
            before = measurement_cost.totals(inst)
            inst.measure(*quad, hold_relays=True)
            costs.append(measurement_cost.spent(before, measurement_cost.totals(inst)))
        whole = measurement_cost.spent(start, measurement_cost.totals(inst))
    for name in measurement_cost.COST_FIELDS:
        assert sum(c[name] for c in costs) == pytest.approx(whole[name], abs=1e-5)
    assert costs[0]["relay_operations"] == 4  # A, B, M, N closed
    assert costs[1]["relay_operations"] == 2  # held: only M and N move by one electrode
    for c in costs:
        assert 0 < c["injection_s"] < c["duration_s"] and c["energy_j"] > 0


def test_simulate_survey_reports_its_figures_from_the_same_meters():
    _, _, figures = simulate.simulate_survey(electrodes=8, array="wenner", stacks=1, seed=3, noise=0.001)
    assert figures["quadrupoles"] == 7 and figures["relay_operations"] > 0
    assert 0 < figures["injection_s"] < figures["sim_duration_s"] and figures["energy_j"] > 0


def test_a_board_without_a_supply_meter_counts_seconds_and_relay_operations():
    with Instrument.from_config(CONFIG, time_scale=0) as inst:
        inst.sim, emulated = None, inst.sim  # as on a Pi: no emulated side to read
        try:
            before = measurement_cost.totals(inst)
            inst.measure(*QUADS[0])  # not held: closed, then released
            cost = measurement_cost.spent(before, measurement_cost.totals(inst))
        finally:
            inst.sim = emulated
    assert cost["injection_s"] is None and cost["energy_j"] is None
    assert cost["relay_operations"] == 8 and cost["duration_s"] > 0
