"""Induced polarization: the Cole–Cole earth of the simulator and the chargeability measured over it."""

import numpy as np
import pytest

from ohmpi import colecole, earth
from ohmpi.measure import measure, validate_settings
from ohmpi.measure.ip import binomial_weights
from ohmpi.measure.sampling import plan_window
from ohmpi.simulate import simulate
from ohmpi.sim.world import electrode_positions, simulated_board

QUIET = {"noise": 0.0, "hum_V": 0.0, "sp_mV": 0.0, "sp_drift_mV_per_s": 0.0, "noise_floor_uV": 0.0,
         "current_noise": 0.0}


@pytest.mark.parametrize("c", [1.0, 0.5])
@pytest.mark.parametrize("tau", [0.01, 1.0])
def test_relaxation_spectrum_matches_the_closed_forms(c, tau):
    t = np.concatenate([[0.0], np.logspace(-4, 2, 60)]) * tau
    approx = colecole.spectrum(tau, c).relaxation(t)
    assert np.max(np.abs(approx - colecole.relaxation_exact(t, tau, c))) < 2e-5
    assert approx[0] == pytest.approx(1.0)


def test_model_strings_with_cole_cole_parameters():
    model = earth.parse_model("homogeneous:rho=100;m=50;tau=1;c=0.5")
    assert model.chargeable and model.ip[0] == earth.ColeCole(50, 1, 0.5)
    layers = earth.parse_model("layers:rho=100,20;h=5;m=0,80")
    assert [layer.m for layer in layers.ip] == [0, 80] and layers.ip[1].tau == 1.0 and layers.ip[1].c == 0.5
    assert not earth.parse_model("homogeneous:rho=100").chargeable  # defaults: no IP


@pytest.mark.parametrize("text,message", [
    ("homogeneous:rho=100;m=-1", "m must be"),
    ("homogeneous:rho=100;c=1.5", "c must be"),
    ("homogeneous:rho=100;tau=0", "tau must be"),
    ("layers:rho=100,20,5;h=1,2;m=1,2", "m takes 1 or 3"),
    ("homogeneous:rho=100;q=3", "unknown key"),
])
def test_bad_cole_cole_parameters_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        earth.parse_model(text)


def test_ip_settings_are_validated():
    assert validate_settings({"ip_windows_ms": [10, 20]}).ip_windows_ms == (10.0, 20.0)
    for bad in ([], [0.0], ["a"], [1.0] * 21, 5):
        with pytest.raises(ValueError, match="ip_windows_ms"):
            validate_settings({"ip_windows_ms": bad})


def _analytic_chargeability(wave, steps, model, settings, conversion_s):
    """The documented definition applied to the model's own voltage (closed-form Cole–Cole)."""
    layer = model.ip[0]
    t = np.asarray(wave["t_s"]) + steps["t0"] + conversion_s / 2
    pol = np.asarray(wave["polarity"])
    counted = np.asarray(wave["counted"])

    def volts(times):  # V / R0 in A: the current minus the polarization
        times = np.atleast_1d(times)
        current = np.zeros_like(times)
        polar = np.zeros_like(times)
        for t_k, delta in steps["steps"]:
            after = times >= t_k
            current[after] += delta
            polar[after] += delta * colecole.relaxation_exact(times[after] - t_k, layer.tau, layer.c)
        return current - layer.m / 1000 * polar

    seg = np.cumsum(np.r_[0, np.diff(pol) != 0])
    edges = settings.ip_delay_ms / 1000 + np.cumsum([0, *settings.ip_windows_ms]) / 1000
    primaries = [pol[seg == s][0] * volts(t[(seg == s) & counted]).mean() for s in np.unique(seg) if pol[seg == s][0]]
    vp = np.mean(primaries)
    values = []
    for s in np.unique(seg)[1:]:
        if pol[seg == s][0] != 0 or pol[seg == s - 1][0] == 0:
            continue
        off_start = min(tk for tk, _ in steps["steps"] if tk >= t[seg == s - 1][-1] - conversion_s / 2)
        values.append([1000 * pol[seg == s - 1][0] * volts(np.linspace(off_start + a, off_start + b, 400)).mean() / vp
                       for a, b in zip(edges[:-1], edges[1:])])
    filt = binomial_weights(len(values))  # 1-3-3-1 for two stacks
    windows = filt @ np.array(values)
    widths = np.asarray(settings.ip_windows_ms)
    return float(windows @ widths / widths.sum())


def test_chargeability_equals_the_models_windowed_value():
    model_text = "homogeneous:rho=100;m=60;tau=0.3;c=0.5"
    board, hw, cfg = simulated_board({"n_electrodes": 16, "sim": {"model": model_text, **QUIET}})
    saved = {}

    def keep(now):  # the current steps the emulated earth saw (reset when the relays change)
        if hw.physics.steps:
            saved["steps"] = list(hw.physics.steps)

    hw.clock.listeners.append(keep)
    settings = validate_settings({"nb_stack": 2, "injection_ms": 400, "ip_delay_ms": 20,
                                  "ip_windows_ms": [40, 60, 80, 120]})
    record, wave = measure(board, electrode_positions(cfg), (1, 4, 2, 3), settings)
    # the first switch-off ends the first recorded half-cycle: its samples start one planned offset in
    level, first_off = 0.0, None
    for t_k, delta in saved["steps"]:
        level += delta
        if abs(level) < 1e-12 and first_off is None:
            first_off = t_k
    window = plan_window(0.4, settings.settling_ms / 1000, settings.sampling_hz, settings.mains_hz)
    saved["t0"] = first_off - 0.4 + window.offsets[0]
    expected = _analytic_chargeability(wave, saved, earth.parse_model(model_text), settings, 1 / 250)
    assert record["ip_mvv"] == pytest.approx(expected, rel=0.02)
    assert record["ip_std_mvv"] < 0.5 and not record["flags"]
    assert record["ip_windows_ms"] == [40.0, 60.0, 80.0, 120.0] and record["ip_delay_ms"] == 20.0
    windows = record["ip_windows_mvv"]
    assert all(a > b > 0 for a, b in zip(windows, windows[1:]))  # a decay


def test_homogeneous_chargeable_earth_gives_one_chargeability_everywhere():
    records, _ = simulate(electrodes=32, array="wenner", model="homogeneous:rho=100;m=50;tau=1;c=0.5",
                          noise=0.01, stacks=2, seed=1, strategy="fixed")
    strong = np.array([r["ip_mvv"] for r in records if abs(r["vmn_mV"]) > 1])
    assert len(strong) > 100
    assert np.all(np.abs(strong / np.median(strong) - 1) < 0.03)
    assert 3 < np.median(strong) < 10  # a 200 ms half-cycle charges a τ = 1 s earth only partly


def test_chargeable_second_layer_grows_with_spacing():
    records, _ = simulate(electrodes=32, array="wenner", model="layers:rho=100,20;h=3;m=0,80;tau=1",
                          noise=0.01, stacks=1, seed=1, strategy="fixed")
    by_spacing = {}
    for r in records:
        by_spacing.setdefault(r["m"] - r["a"], []).append(r["ip_mvv"])
    means = [np.mean(by_spacing[a]) for a in sorted(by_spacing)]
    assert means[0] < 0.5 and means[-1] > 5
    assert all(b > a - 0.2 for a, b in zip(means, means[1:]))


def test_earth_without_ip_reads_zero_and_wrong_sign_is_flagged():
    records, _ = simulate(electrodes=16, array="wenner", model="homogeneous:rho=100", noise=0.01, seed=3)
    ip = np.array([r["ip_mvv"] for r in records])
    std = np.array([r["ip_std_mvv"] for r in records])
    assert np.all(np.abs(ip) < 4 * std + 0.05)
    board, hw, cfg = simulated_board({"n_electrodes": 16, "sim": {"model": "homogeneous:rho=100;m=80;tau=0.1",
                                                                  **QUIET}})
    hw.physics.earth.ip = (earth.ColeCole(0.0),)  # keep the model but flip the decay's sign below
    hw.physics._ip_weights.clear()
    hw.physics._circuits.clear()
    original = hw.physics._sensitivities
    hw.physics._sensitivities = lambda key, transfer: None if not transfer else [-0.08]
    record, _ = measure(board, electrode_positions(cfg), (1, 4, 2, 3))
    hw.physics._sensitivities = original
    assert record["ip_mvv"] < 0 and "ip_wrong_sign" in record["flags"]
