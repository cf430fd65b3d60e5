"""Earth models: half-space, exact two layers, N layers by Hankel quadrature, parsing."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.earth import (
    HomogeneousEarth,
    LayeredEarth,
    bessel_j0,
    parse_model,
    resistivity_transform,
)
from ohmpi.geometry import geometric_factor, geometric_factors, line_positions

resistivity = st.floats(0.5, 5000)


def wenner_rhoa(model, a):
    pos = line_positions(4, a)
    return geometric_factor(pos, 1, 4, 2, 3) * model.transfer_resistance(pos, 1, 4, 2, 3)


def test_half_space_potential():
    model = HomogeneousEarth(100)
    v = model.potential([0, 0, 0], [[1, 0, 0], [0, 2, 0], [3, 4, 0]])
    assert v == pytest.approx(100 / (2 * math.pi) * np.array([1, 0.5, 0.2]))


def test_potential_on_the_source_is_infinite():
    v = HomogeneousEarth(10).potential([1, 0, 0], [[1, 0, 0], [2, 0, 0]])
    assert np.isinf(v[0]) and np.isfinite(v[1])


@given(rho=resistivity, data=st.data())
def test_half_space_apparent_resistivity_is_rho_for_any_quadrupole(rho, data):
    quad = data.draw(st.permutations(range(1, 13)).map(lambda p: p[:4]))
    b_inf = data.draw(st.booleans())
    a, b, m, n = quad
    if b_inf:
        b, n = 0, 0
    pos = line_positions(12, 1.7)
    model = HomogeneousEarth(rho)
    rhoa = geometric_factor(pos, a, b, m, n) * model.transfer_resistance(pos, a, b, m, n)
    assert rhoa == pytest.approx(rho, rel=1e-9)


@pytest.mark.parametrize("a, expected", [(1, 99.57), (5, 73.39), (20, 12.86)])
def test_two_layer_wenner_reference_values(a, expected):
    model = LayeredEarth([100, 10], [5])
    assert wenner_rhoa(model, a) == pytest.approx(expected, rel=1e-3)


def test_two_layer_parsed_model_gives_the_same():
    assert wenner_rhoa(parse_model("layers:rho=100,10;h=5"), 5) == pytest.approx(73.39, rel=1e-3)


@given(rho=resistivity, h=st.floats(0.5, 20))
def test_equal_layers_are_a_half_space(rho, h):
    assert wenner_rhoa(LayeredEarth([rho, rho], [h]), 3.0) == pytest.approx(rho, rel=1e-9)


@given(rho1=resistivity, ratio=st.floats(0.001, 20))
def test_two_layer_limits(rho1, ratio):
    """Short spacings see the top layer, long ones the basement.

    (Over a resistive basement the approach is slow, ~ h·ρ2/ρ1, hence the bounded ratio.)
    """
    rho2 = rho1 * ratio
    model = LayeredEarth([rho1, rho2], [10.0])
    assert wenner_rhoa(model, 0.01) == pytest.approx(rho1, rel=1e-3)
    assert wenner_rhoa(model, 5000.0) == pytest.approx(rho2, rel=2e-2)


@settings(max_examples=30, deadline=None)
@given(rho1=st.floats(1, 1000), rho2=st.floats(1, 1000), h=st.floats(0.5, 10), split=st.floats(0.1, 0.9))
def test_three_layer_quadrature_matches_exact_images(rho1, rho2, h, split):
    """Splitting the top layer in two identical layers must not change anything."""
    pos = line_positions(48, 1.0)
    quads = np.array([[1, 48, 2, 47], [1, 0, 48, 0], [1, 2, 3, 4], [10, 11, 30, 31], [5, 0, 6, 0]])
    exact = LayeredEarth([rho1, rho2], [h]).transfer_resistances(pos, quads)
    split_top = LayeredEarth([rho1, rho1, rho2], [h * split, h * (1 - split)])
    assert split_top.transfer_resistances(pos, quads) == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("rho1, rho2", [(1, 1e4), (1e4, 1), (10, 10.0001)])
def test_strong_contrasts_agree_between_methods(rho1, rho2):
    pos = line_positions(64, 2.0)
    quads = np.array([[1, 64, 2, 63], [1, 0, 64, 0], [20, 21, 22, 23]])
    exact = LayeredEarth([rho1, rho2], [1.0]).transfer_resistances(pos, quads)
    deep_copy = LayeredEarth([rho1, rho2, rho2], [1.0, 3.0]).transfer_resistances(pos, quads)
    assert deep_copy == pytest.approx(exact, rel=1e-5)


def test_three_layers_go_from_top_to_basement():
    model = LayeredEarth([100, 10, 1000], [2, 5])
    small, mid, large = (wenner_rhoa(model, a) for a in (0.01, 8, 50000))
    assert small == pytest.approx(100, rel=1e-3)
    assert mid < 60  # the conductive middle layer pulls it down
    assert large == pytest.approx(1000, rel=5e-2)


def test_reciprocity_in_a_layered_earth():
    pos = line_positions(24, 1.0)
    model = LayeredEarth([50, 500, 20], [1, 3])
    quads = np.array([[1, 2, 5, 9], [3, 8, 12, 20], [1, 0, 7, 0]])
    swapped = quads[:, [2, 3, 0, 1]]
    assert model.transfer_resistances(pos, swapped) == pytest.approx(model.transfer_resistances(pos, quads), rel=1e-9)


def test_vectorised_transfer_resistances_match_scalar():
    pos = line_positions(16, 1.0)
    model = LayeredEarth([100, 10], [5])
    quads = np.array([[1, 4, 2, 3], [2, 1, 3, 4], [5, 0, 9, 0], [3, 9, 1, 16]])
    many = model.transfer_resistances(pos, quads)
    for q, r in zip(quads, many):
        assert r == pytest.approx(model.transfer_resistance(pos, *q))
    assert np.all(
        geometric_factors(pos, quads) * HomogeneousEarth(7).transfer_resistances(pos, quads) == pytest.approx(7)
    )


def test_potential_electrode_on_current_electrode_rejected():
    with pytest.raises(ValueError, match="coincide"):
        HomogeneousEarth(10).transfer_resistance(line_positions(8), 1, 2, 2, 3)


def test_electrode_beyond_positions_rejected():
    with pytest.raises(ValueError, match="N=9"):
        HomogeneousEarth(10).transfer_resistance(line_positions(8), 1, 2, 3, 9)


def test_resistivity_transform_limits():
    lam = np.array([1e-9, 1e3])
    t = resistivity_transform(lam, (100.0, 10.0), (5.0,))
    assert t == pytest.approx([10.0, 100.0], rel=1e-6)


@given(x=st.floats(0, 200))
def test_bessel_j0_matches_its_integral_representation(x):
    theta = np.linspace(0, np.pi, 4001)
    values = np.cos(x * np.sin(theta))
    reference = (values.sum() - (values[0] + values[-1]) / 2) * (theta[1] - theta[0]) / np.pi
    assert bessel_j0(np.array([x]))[0] == pytest.approx(reference, abs=1e-10)


def test_bessel_j0_known_values():
    assert bessel_j0(np.array([0.0, 1.0, 2.404825557695773, 10.0])) == pytest.approx(
        [1.0, 0.7651976865579666, 0.0, -0.2459357644513483], abs=1e-12
    )


@pytest.mark.parametrize(
    "text, kind, rhos, hs",
    [
        ("homogeneous:rho=100", HomogeneousEarth, (100.0,), None),
        (" Homogeneous : rho = 42.5 ", HomogeneousEarth, (42.5,), None),
        ("layers:rho=100,10;h=5", LayeredEarth, (100.0, 10.0), (5.0,)),
        ("layers:rho=100,10,300;h=2,8", LayeredEarth, (100.0, 10.0, 300.0), (2.0, 8.0)),
    ],
)
def test_parse_model(text, kind, rhos, hs):
    model = parse_model(text)
    assert isinstance(model, kind)
    if kind is HomogeneousEarth:
        assert (model.rho,) == rhos
    else:
        assert model.resistivities == rhos and model.thicknesses == hs


@pytest.mark.parametrize(
    "text, message",
    [
        ("rho=100", "expected"),
        ("sphere:rho=100", "unknown kind 'sphere'"),
        ("homogeneous:rho=abc", "not a list of numbers"),
        ("homogeneous:rho=-5", "positive"),
        ("homogeneous:rho=0", "positive"),
        ("layers:h=5", "missing rho"),
        ("homogeneous:rho=1,2", "one rho"),
        ("homogeneous:rho=1;h=3", "unknown key.*h"),
        ("layers:rho=100,10", "2 resistivities need 1 thicknesses"),
        ("layers:rho=100,10;h=5,6", "got 2"),
        ("layers:rho=100,10;h=-5", "thickness of layer 1"),
        ("layers:rho=100,10;h=5;h=5", "twice"),
        ("layers:rho=100,10;h", "key=value"),
        ("layers:rho=100,nan;h=5", "layer 2"),
    ],
)
def test_parse_model_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_model(text)


def test_memoised_potentials_match_fresh_computation_and_keep_shape():
    model = LayeredEarth([100, 10, 300], [2, 5])
    r = np.array([[1.0, 2.0], [3.0, 1.0]])
    first = model.potential_at_distance(r)
    assert first.shape == (2, 2)
    assert first[0, 0] == first[1, 1]
    fresh = LayeredEarth([100, 10, 300], [2, 5]).potential_at_distance(np.array([3.0]))
    assert first[1, 0] == pytest.approx(fresh[0], rel=1e-10)
    assert np.array_equal(model.potential_at_distance(r), first)
