"""Less waiting: with the same A–B the previous probe's loop resistance predicts voltage,
current and ADC ranges, so the next quadrupole starts stacking at once — and a prediction that
misses (a saturated reading) is thrown away and probed, never stored."""

import dataclasses

import pytest

from ohmpi import earth
from ohmpi.measure import measure
from ohmpi.measure.procedure import RangeMemory
from ohmpi.sim.world import electrode_positions, simulated_board

RHO = 50.0


def board_for(strategy):
    board, hw, cfg = simulated_board(
        {
            "n_electrodes": 16,
            "injection": {"supply": "dps5005"},
            "sim": {"model": f"homogeneous:rho={RHO}", "noise": 0.005},
        }
    )
    return board, hw, electrode_positions(cfg), {"strategy": strategy, "nb_stack": 1}


@pytest.mark.parametrize("strategy", ["adaptive", "fixed"])
def test_same_injection_pair_skips_the_probe_and_measures_right(strategy):
    board, hw, positions, s = board_for(strategy)
    memory = RangeMemory()
    t0 = board.clock.monotonic()
    measure(board, positions, (1, 2, 3, 4), s, hold_relays=True, memory=memory)
    first = board.clock.monotonic() - t0
    assert memory.last is not None
    t0 = board.clock.monotonic()
    record, _ = measure(board, positions, (1, 2, 4, 5), s, hold_relays=True, memory=memory)
    second = board.clock.monotonic() - t0
    assert second < first - 0.05  # no probe pulse: a mains period or more saved
    truth = earth.HomogeneousEarth(RHO).transfer_resistance(positions, 1, 2, 4, 5)
    assert abs(record["r_ohm"] - truth) < 4 * abs(truth) * record["r_std_pct"] / 100
    assert "saturated" not in record["flags"]
    board.safe_state()
    fresh, _ = measure(board, positions, (1, 2, 4, 5), s)  # probed as usual: the same voltage found
    assert record["vab_V"] == pytest.approx(fresh["vab_V"], rel=0.05)
    assert abs(record["vmn_mV"]) == pytest.approx(abs(fresh["vmn_mV"]), rel=0.05)
    measure(board, positions, (1, 2, 3, 4), s, hold_relays=True, memory=memory)
    t0 = board.clock.monotonic()
    measure(board, positions, (2, 3, 5, 6), s, hold_relays=True, memory=memory)  # another A–B: probed
    assert board.clock.monotonic() - t0 > second + 0.05
    board.safe_state()


def test_a_prediction_that_misses_is_probed_again_not_stored():
    board, hw, positions, s = board_for("fixed")
    memory = RangeMemory()
    measure(board, positions, (1, 2, 3, 4), s, hold_relays=True, memory=memory)
    # pretend the previous Vmn was tiny: the planned voltage range is far too small
    memory.last = dataclasses.replace(memory.last, vmn_mV=0.01, sp_peak_mV=0.0)
    record, _ = measure(board, positions, (1, 2, 3, 4), s, hold_relays=True, memory=memory)
    assert "saturated" not in record["flags"]
    truth = earth.HomogeneousEarth(RHO).transfer_resistance(positions, 1, 2, 3, 4)
    assert record["r_ohm"] == pytest.approx(truth, rel=0.02)
    board.safe_state()


def test_without_held_relays_nothing_is_remembered():
    board, hw, positions, s = board_for("adaptive")
    memory = RangeMemory()
    measure(board, positions, (1, 2, 3, 4), s, memory=memory)
    assert memory.last is None
