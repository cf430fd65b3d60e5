"""The vertical contact (two quarter-spaces, exact by images) against limits known in closed form."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi import simulate
from ohmpi.earth import ContactEarth, HomogeneousEarth, parse_model
from ohmpi.geometry import geometric_factors, line_positions

resistivity = st.floats(0.5, 5000)
QUADS = [[1, 4, 2, 3], [5, 9, 6, 7], [12, 16, 13, 15], [1, 20, 8, 14], [3, 0, 10, 0], [18, 2, 11, 7]]


@given(rho=resistivity, x=st.floats(-50, 50))
def test_equal_sides_is_the_half_space(rho, x):
    pos = line_positions(20, 1.5)
    got = ContactEarth(rho, rho, x).transfer_resistances(pos, QUADS)
    assert got == pytest.approx(HomogeneousEarth(rho).transfer_resistances(pos, QUADS), rel=1e-12)


@given(left=resistivity, right=resistivity)
def test_far_contact_leaves_the_side_the_line_is_on(left, right):
    pos = line_positions(20, 1.0)
    k = geometric_factors(pos, QUADS)
    far_right = ContactEarth(left, right, 1e7).transfer_resistances(pos, QUADS) * k
    far_left = ContactEarth(left, right, -1e7).transfer_resistances(pos, QUADS) * k
    assert far_right == pytest.approx(np.full(len(QUADS), left), rel=1e-5)
    assert far_left == pytest.approx(np.full(len(QUADS), right), rel=1e-5)


def test_source_on_an_insulating_contact_sees_a_quarter_space():
    """ρ2 → ∞: the current fills a quarter-space, twice the half-space potential ρ1/(π r)."""
    model = ContactEarth(100.0, 1e15, 0.0)
    r = np.array([1.0, 2.5, 7.0])
    points = np.stack([-r, np.zeros(3), np.zeros(3)], axis=1)
    assert model.potential([0, 0, 0], points) == pytest.approx(100.0 / (math.pi * r), rel=1e-9)


@given(left=resistivity, right=resistivity, r=st.floats(0.5, 30))
def test_source_on_the_contact_sees_the_harmonic_mean(left, right, r):
    """A source on the contact: V = ρ1ρ2/(π(ρ1+ρ2) r) on both sides (pole-pole ρa = 2ρ1ρ2/(ρ1+ρ2))."""
    model = ContactEarth(left, right, 3.0)
    v = model.potential([3.0, 0, 0], [[3.0 - r, 0, 0], [3.0 + r, 0, 0], [3.0, r, 0]])
    assert v == pytest.approx(np.full(3, left * right / (math.pi * (left + right) * r)), rel=1e-12)


@settings(max_examples=50)
@given(left=resistivity, right=resistivity, xs=st.floats(-20, -0.5), y=st.floats(0.5, 10))
def test_potential_and_normal_current_are_continuous_across_the_contact(left, right, xs, y):
    model = ContactEarth(left, right, 0.0)
    src = [xs, 0.0, 0.0]
    h = 1e-4
    v = model.potential(src, [[-1e-12, y, 0], [1e-12, y, 0], [-h, y, 0], [-2 * h, y, 0], [h, y, 0], [2 * h, y, 0]])
    # the two points are 2e-12 m apart: the steep side (ρ up to 1e4 Ω·m) moves V by ~1e-9 relative there
    assert v[0] == pytest.approx(v[1], rel=1e-8)
    # (1/ρ) ∂V/∂x on each side, by second-order one-sided differences
    flux_left = (3 * v[0] - 4 * v[2] + v[3]) / (2 * h) / left
    flux_right = (-3 * v[1] + 4 * v[4] - v[5]) / (2 * h) / right
    unit = HomogeneousEarth(1.0).potential(src, [[h, y, 0], [0, y, 0]])
    scale = abs(unit[0] - unit[1]) / h
    assert flux_left == pytest.approx(flux_right, abs=1e-5 * scale)


@given(left=resistivity, right=resistivity, x=st.floats(-5, 30))
def test_reciprocity(left, right, x):
    pos = line_positions(20, 1.0)
    quads = np.array([q for q in QUADS if q[1] and q[3]])
    model = ContactEarth(left, right, x)
    swapped = quads[:, [2, 3, 0, 1]]
    assert model.transfer_resistances(pos, swapped) == pytest.approx(model.transfer_resistances(pos, quads), rel=1e-9)


def test_matches_the_scalar_potential_path_the_simulator_uses():
    """transfer_resistances (vectorised) agrees with potentials summed the way ohmpi.sim.physics does."""
    pos = line_positions(20, 1.0)
    model = ContactEarth(100, 10, 9.5)
    for a, b, m, n in QUADS:
        v = model.potential(pos[a - 1], [pos[m - 1], *([pos[n - 1]] if n else [])])
        if b:
            v = v - model.potential(pos[b - 1], [pos[m - 1], *([pos[n - 1]] if n else [])])
        want = v[0] - (v[1] if n else 0.0)
        assert model.transfer_resistances(pos, [[a, b, m, n]])[0] == pytest.approx(want, rel=1e-12)


def test_simulated_survey_sees_both_sides():
    records, pos = simulate.simulate(
        electrodes=24, spacing=1.0, array="wenner", model="contact:rho=100,10;x=11.5", noise=0.0, stacks=1
    )
    first_level = [r for r in records if r["b"] - r["a"] == 3]  # a = 1 m
    left = [r["rhoa_ohmm"] for r in first_level if r["b"] <= 11]
    right = [r["rhoa_ohmm"] for r in first_level if r["a"] >= 14]
    assert left and right
    assert np.median(left) == pytest.approx(100, rel=0.1) and np.median(right) == pytest.approx(10, rel=0.1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("contact:rho=100;x=2", "two rho"),
        ("contact:rho=100,10", "one x"),
        ("contact:rho=100,10;x=1,2", "one x"),
        ("contact:rho=100,-1;x=2", "right of the contact"),
        ("contact:rho=100,10;x=inf", "finite"),
        ("contact:rho=100,10;x=2;h=3", "unknown key.*h"),
    ],
)
def test_contact_errors_name_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_model(text)


def test_contact_parses_with_chargeability():
    model = parse_model("contact:rho=100,10;x=20;m=0,50")
    assert isinstance(model, ContactEarth) and model.rhos == (100, 10) and model.x_contact == 20
    assert model.chargeable and model.ip[1].m == 50
    assert model.with_resistivity_scaled(1, 2.0).rhos == (100, 20)
