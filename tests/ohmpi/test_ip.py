"""Induced polarization: the Cole–Cole earth of the simulator and the chargeability measured over it."""

import numpy as np
import pytest

from ohmpi import colecole, earth
from ohmpi.measure import measure, validate_settings
from ohmpi.sim.world import electrode_positions, simulated_board
from ohmpi.simulate import simulate

QUIET = {
    "noise": 0.0,
    "hum_V": 0.0,
    "sp_mV": 0.0,
    "sp_drift_mV_per_s": 0.0,
    "noise_floor_uV": 0.0,
    "current_noise": 0.0,
}


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


@pytest.mark.parametrize(
    "text,message",
    [
        ("homogeneous:rho=100;m=-1", "m must be"),
        ("homogeneous:rho=100;c=1.5", "c must be"),
        ("homogeneous:rho=100;tau=0", "tau must be"),
        ("layers:rho=100,20,5;h=1,2;m=1,2", "m takes 1 or 3"),
        ("homogeneous:rho=100;q=3", "unknown key"),
    ],
)
def test_bad_cole_cole_parameters_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        earth.parse_model(text)


def test_ip_settings_are_validated():
    assert validate_settings({"ip_windows_ms": [10, 20]}).ip_windows_ms == (10.0, 20.0)
    for bad in ([], [0.0], ["a"], [1.0] * 21, 5):
        with pytest.raises(ValueError, match="ip_windows_ms"):
            validate_settings({"ip_windows_ms": bad})


@pytest.mark.parametrize(
    "model,settings",
    [
        (
            "homogeneous:rho=100;m=60;tau=0.3;c=0.5",
            {"nb_stack": 2, "injection_ms": 400, "ip_delay_ms": 20, "ip_windows_ms": [40, 60, 80, 120]},
        ),
        ("homogeneous:rho=50;m=100;tau=0.05;c=1", {"nb_stack": 1}),  # Debye, the default windows
    ],
)
def test_chargeability_equals_the_models_windowed_value(model, settings):
    record, reference = colecole.measured_with_reference(model, settings)
    assert record["ip_mvv"] == pytest.approx(reference, rel=0.02)
    assert record["ip_std_mvv"] < 0.5 and not record["flags"]
    windows = record["ip_windows_mvv"]
    assert record["ip_windows_ms"] == list(validate_settings(settings).ip_windows_ms)
    assert all(a > b > 0 for a, b in zip(windows, windows[1:]))  # a decay


def test_homogeneous_chargeable_earth_gives_one_chargeability_everywhere():
    records, _ = simulate(
        electrodes=32,
        array="wenner",
        model="homogeneous:rho=100;m=50;tau=1;c=0.5",
        noise=0.01,
        stacks=2,
        seed=1,
        strategy="fixed",
    )
    strong = np.array([r["ip_mvv"] for r in records if abs(r["vmn_mV"]) > 1])
    assert len(strong) > 100
    assert np.all(np.abs(strong / np.median(strong) - 1) < 0.03)
    assert 3 < np.median(strong) < 10  # a 200 ms half-cycle charges a τ = 1 s earth only partly


def test_chargeable_second_layer_grows_with_spacing():
    records, _ = simulate(
        electrodes=32,
        array="wenner",
        model="layers:rho=100,20;h=3;m=0,80;tau=1",
        noise=0.01,
        stacks=1,
        seed=1,
        strategy="fixed",
    )
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
    board, hw, cfg = simulated_board(
        {"n_electrodes": 16, "sim": {"model": "homogeneous:rho=100;m=80;tau=0.1", **QUIET}}
    )
    hw.physics.earth.ip = (earth.ColeCole(0.0),)  # keep the model but flip the decay's sign below
    hw.physics._ip_weights.clear()
    hw.physics._circuits.clear()
    original = hw.physics._sensitivities
    hw.physics._sensitivities = lambda key, transfer: None if not transfer else [-0.08]
    record, _ = measure(board, electrode_positions(cfg), (1, 4, 2, 3))
    hw.physics._sensitivities = original
    assert record["ip_mvv"] < 0 and "ip_wrong_sign" in record["flags"]
