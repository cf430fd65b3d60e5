"""Calibrated error bars: over whole simulated surveys, the standardized errors against the
analytic truth have a spread near 1 and few beyond 3σ (the seeded noise makes this exact and
repeatable; bench/science.py sweeps more scenarios)."""

import functools

import numpy as np
import pytest

from ohmpi import earth
from ohmpi.measure import measure
from ohmpi.record import KNOWN_FLAGS
from ohmpi.sim.world import electrode_positions, simulated_board
from ohmpi.simulate import simulate

RHO = 37.0


@functools.cache
def _survey(**options) -> tuple[list[dict], np.ndarray]:
    """A seeded simulated survey over the homogeneous earth, made once per module: the same
    survey serves several tests (it is the suite's costliest simulation)."""
    return simulate(model=f"homogeneous:rho={RHO}", seed=1, **options)


def z_scores(records, positions):
    quads = np.array([[r[k] for k in "abmn"] for r in records])
    truth = earth.HomogeneousEarth(RHO).transfer_resistances(positions, quads)
    r = np.array([rec["r_ohm"] for rec in records], float)
    std = np.array([rec["r_std_pct"] for rec in records], float)
    return (r - truth) / (np.abs(r) * std / 100)  # the absolute error an inversion is given


@pytest.mark.parametrize(
    "array,electrodes,noise,contact,stacks",
    [
        ("dipole-dipole", 32, 0.005, 1000.0, 2),  # the survey where the stack spread said 1.49 and 2.8 %
        ("gradient", 24, 0.05, 5000.0, 1),
        ("wenner", 32, 0.01, 20000.0, 2),
    ],
)
def test_standardized_errors_are_calibrated(array, electrodes, noise, contact, stacks):
    records, positions = _survey(electrodes=electrodes, array=array, noise=noise, stacks=stacks, contact_ohm=contact)
    z = z_scores(records, positions)
    assert np.all(np.isfinite(z)) and len(z) >= 80
    assert 0.8 <= np.std(z) <= 1.25, np.std(z)
    assert np.mean(np.abs(z) > 3) <= 0.01


def test_stack_spread_alone_is_not_calibrated_but_kept():
    # the first calibrated survey above (contact_ohm 1000 Ω is simulate's default)
    records, positions = _survey(electrodes=32, array="dipole-dipole", noise=0.005, stacks=2, contact_ohm=1000.0)
    quads = np.array([[r[k] for k in "abmn"] for r in records])
    truth = earth.HomogeneousEarth(RHO).transfer_resistances(positions, quads)
    r = np.array([rec["r_ohm"] for rec in records])
    stack_se = np.array([rec["r_stack_std_pct"] for rec in records]) / 100 / np.sqrt(4)
    z_stack = (r - truth) / (np.abs(r) * stack_se)
    assert np.mean(np.abs(z_stack) > 3) > 0.02  # t-distributed with 3 dof: heavy tails


def test_budget_combines_in_quadrature_and_names_the_dominant_source():
    board, hw, cfg = simulated_board(
        {
            "n_electrodes": 32,
            "injection": {"supply": "dps5005"},
            "sim": {"model": f"homogeneous:rho={RHO}", "noise": 0.005},
        }
    )
    positions = electrode_positions(cfg)
    strong, _ = measure(board, positions, (1, 2, 3, 4), {"strategy": "adaptive"})
    weak, _ = measure(board, positions, (1, 2, 30, 31), {"strategy": "adaptive"})
    for rec in (strong, weak):
        budget = rec["r_budget_pct"]
        assert set(budget) == {"noise", "sp", "quantization", "current", "excess"}
        assert rec["r_std_pct"] == pytest.approx(np.sqrt(sum(v * v for v in budget.values())))
    assert weak["r_std_pct"] > 20 * strong["r_std_pct"]
    assert max(weak["r_budget_pct"], key=weak["r_budget_pct"].get) == "noise"


def test_undithered_quantization_is_counted():
    # no noise and no hum: the ADC codes never change, and only the quantization term knows it
    board, hw, cfg = simulated_board(
        {
            "n_electrodes": 32,
            "sim": {"model": f"homogeneous:rho={RHO}", "noise": 0.0, "hum_V": 0.0, "noise_floor_uV": 0.0},
        }
    )
    positions = electrode_positions(cfg)
    rec, _ = measure(board, positions, (1, 2, 20, 21))
    budget = rec["r_budget_pct"]
    assert budget["quantization"] > budget["noise"]
    truth = earth.HomogeneousEarth(RHO).transfer_resistance(positions, 1, 2, 20, 21)
    assert abs(rec["r_ohm"] - truth) < 3 * abs(rec["r_ohm"]) * rec["r_std_pct"] / 100


def test_flags_are_known():
    records, _ = simulate(
        electrodes=16, array="dipole-dipole", model="homogeneous:rho=100;m=40;tau=0.2", noise=0.01, stacks=1, seed=2
    )
    assert {f for r in records for f in r["flags"]} <= KNOWN_FLAGS
