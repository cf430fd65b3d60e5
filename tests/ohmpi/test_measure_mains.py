"""Mains rejection: 50 Hz hum ten times the signal leaves R within 1 %."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ohmpi import earth
from ohmpi.measure import measure
from ohmpi.measure.sampling import plan_window
from ohmpi.sim.world import electrode_positions, simulated_board

QUAD = (1, 4, 2, 3)


def run(mains_hz, hum_factor, settings_mains=None, **sim):
    board, hw, cfg = simulated_board(
        {"n_electrodes": 16, "mains_hz": mains_hz, "sim": {"noise": 0.0, "hum_V": 0.0, **sim}}
    )
    positions = electrode_positions(cfg)
    truth = earth.HomogeneousEarth(100).transfer_resistance(positions, *QUAD)
    # the signal amplitude at the Vmn input: R · I with I set by the contacts
    loop = cfg["front_end"]["shunt_ohm"] + hw.physics.contact_ohm[0] + hw.physics.contact_ohm[3]
    signal_V = truth * cfg["injection"]["battery_V"] / loop
    hw.physics.hum_V = hum_factor * signal_V
    s = {"mains_hz": settings_mains or mains_hz}
    record, wave = measure(board, positions, QUAD, s)
    return record, wave, truth, signal_V


@pytest.mark.parametrize("mains", [50, 60])
def test_hum_ten_times_the_signal_is_rejected(mains):
    record, wave, truth, signal = run(mains, 10.0)
    assert max(abs(v) for v in wave["voltage_mV"]) > 5 * signal * 1000  # the hum is really there
    assert record["r_ohm"] == pytest.approx(truth, rel=0.01)


def test_rejection_is_what_does_it_wrong_mains_frequency_fails():
    # tell the measurement 60 Hz while the hum is 50 Hz: windows no longer span whole
    # hum periods and the error becomes visible
    record, wave, truth, signal = run(50, 10.0, settings_mains=60)
    assert abs(record["r_ohm"] / truth - 1) > 0.01


@settings(max_examples=40, deadline=None)
@example(duration=0.5, settle=0.0, rate=5.0, mains=60, phase=0.0)  # 30 periods: 2, 3, 4, 5 samples all fail
@given(
    duration=st.floats(0.04, 2.0),
    settle=st.floats(0.0, 0.02),
    rate=st.floats(5, 250),
    mains=st.sampled_from([50, 60]),
    phase=st.floats(0, 6.3),
)
def test_counted_samples_cancel_any_hum_exactly(duration, settle, rate, mains, phase):
    window = plan_window(duration, settle, rate, mains)
    t = window.offsets[window.counted]
    assert len(t) >= 3
    span = (t[-1] - t[0]) + (t[1] - t[0])
    periods = span * mains
    assert periods == pytest.approx(round(periods), abs=1e-6) and round(periods) >= 1
    assert np.all(t >= settle - 1e-12) and np.all(window.offsets < duration)
    hum = np.sin(2 * np.pi * mains * t + phase)
    assert abs(hum.mean()) < 1e-9
