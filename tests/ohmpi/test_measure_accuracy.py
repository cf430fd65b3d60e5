"""Accuracy of the whole chain (drivers → emulated chips → physics → analysis)."""

import numpy as np
import pytest

from ohmpi import earth, geometry, sequences
from ohmpi.measure import measure
from ohmpi.sim.world import electrode_positions, simulated_board


def test_homogeneous_dipole_dipole_32_within_2pct_mean_within_half_pct():
    # 1 % relative noise on every Vmn conversion, SP with drift, mains hum, 1 kΩ
    # contacts; the adaptive strategy drives the DPS up to the limits for weak quads
    board, hw, cfg = simulated_board(
        {"n_electrodes": 32, "injection": {"supply": "dps5005"}, "sim": {"model": "homogeneous:rho=100", "noise": 0.01}}
    )
    positions = electrode_positions(cfg)
    rhoa = []
    for a, b, m, n in sequences.generate("dipole-dipole", 32):
        record, _ = measure(board, positions, (int(a), int(b), int(m), int(n)), {"strategy": "adaptive", "nb_stack": 3})
        rhoa.append(record["rhoa_ohmm"])
    rhoa = np.array(rhoa)
    assert len(rhoa) > 400
    assert np.all(np.abs(rhoa / 100 - 1) < 0.02), np.abs(rhoa / 100 - 1).max()
    assert abs(rhoa.mean() / 100 - 1) < 0.005


@pytest.mark.parametrize("a,expected", [(1, 99.57), (5, 73.39), (20, 12.86)])
def test_two_layers_wenner(a, expected):
    board, hw, cfg = simulated_board({"n_electrodes": 64, "sim": {"model": "layers:rho=100,10;h=5", "noise": 0.01}})
    positions = electrode_positions(cfg)
    record, _ = measure(board, positions, (1, 1 + 3 * a, 1 + a, 1 + 2 * a), {"nb_stack": 2})
    assert record["rhoa_ohmm"] == pytest.approx(expected, rel=0.01)
    assert record["k_m"] == pytest.approx(2 * np.pi * a)


def test_record_fields_are_consistent():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    positions = electrode_positions(cfg)
    record, wave = measure(board, positions, (1, 4, 2, 3))
    assert record["r_ohm"] == pytest.approx(record["vmn_mV"] / record["iab_mA"])
    assert record["rhoa_ohmm"] == pytest.approx(record["k_m"] * record["r_ohm"])
    truth = earth.HomogeneousEarth(100).transfer_resistance(positions, 1, 4, 2, 3)
    assert record["r_ohm"] == pytest.approx(truth, rel=0.01)
    # Rab: the contacts of electrodes 1 and 4 plus nothing else
    contact = (hw.physics.contact_ohm[0] + hw.physics.contact_ohm[3]) / 1000
    assert record["rab_kohm"] == pytest.approx(contact, rel=0.01)
    assert record["n_samples"] == len(wave["t_s"]) == len(wave["voltage_mV"])
    assert set(wave["polarity"]) == {1, -1, 0}
    on = np.array(wave["polarity"]) != 0
    # current in the waveform carries the polarity, voltage follows it
    cur = np.array(wave["current_mA"])[on] * np.array(wave["polarity"])[on]
    assert np.all(cur > 0)
    assert record["time"].endswith("Z") and record["flags"] == []
    assert record["strategy"] == "fixed" and record["n_stacks"] == 2
    assert geometry.geometric_factor(positions, 1, 4, 2, 3) == pytest.approx(record["k_m"])


def test_self_potential_with_strong_drift_is_removed():
    board, hw, cfg = simulated_board(
        {"n_electrodes": 16, "sim": {"sp_mV": 40.0, "sp_drift_mV_per_s": 2.0, "noise": 0.0, "hum_V": 0.0}}
    )
    positions = electrode_positions(cfg)
    record, _ = measure(board, positions, (1, 2, 3, 4), {"nb_stack": 3})
    truth = earth.HomogeneousEarth(100).transfer_resistance(positions, 1, 2, 3, 4)
    sp0 = (hw.physics.sp_V[2] - hw.physics.sp_V[3]) * 1000
    drift = (hw.physics.sp_drift[2] - hw.physics.sp_drift[3]) * 1000
    assert record["sp_mV"] == pytest.approx(sp0, abs=abs(drift) * hw.clock.monotonic() + 0.5)
    assert record["r_ohm"] == pytest.approx(truth, rel=0.005)
