"""Geometric factor: textbook arrays, signs, poles, vectorisation, errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi.geometry import (
    geometric_factor,
    geometric_factors,
    line_positions,
    positions_from_xyz,
)


def test_line_positions_spacing_and_shape():
    pos = line_positions(5, spacing=2.5)
    assert pos.shape == (5, 3)
    assert pos[:, 0].tolist() == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert not pos[:, 1:].any()


@pytest.mark.parametrize("n, spacing", [(0, 1.0), (3, 0.0), (3, -1.0), (2.5, 1.0)])
def test_line_positions_rejects_nonsense(n, spacing):
    with pytest.raises(ValueError):
        line_positions(n, spacing)


def test_positions_from_xyz_fills_missing_coordinates():
    pos = positions_from_xyz([(0,), (1, 2), (3, 4, -5)])
    assert pos.tolist() == [[0, 0, 0], [1, 2, 0], [3, 4, -5]]


def test_positions_from_xyz_rejects_bad_rows():
    with pytest.raises(ValueError, match="electrode 2"):
        positions_from_xyz([(0, 0, 0), (1, 2, 3, 4)])
    with pytest.raises(ValueError):
        positions_from_xyz([])


@given(a=st.floats(0.1, 100), i=st.integers(1, 10))
def test_wenner_alpha_is_2_pi_a(a, i):
    pos = line_positions(40, a)
    k = geometric_factor(pos, i, i + 3, i + 1, i + 2)
    assert k == pytest.approx(2 * math.pi * a, rel=1e-12)


@given(s=st.integers(1, 8), a=st.floats(0.5, 10))
def test_schlumberger_factor(s, a):
    # A, B at ±(s + 1/2) a from the centre; M, N at ±a/2: k = π s (s+1) a
    pos = line_positions(30, a)
    k = geometric_factor(pos, 1, 2 * s + 4, s + 2, s + 3)
    assert k == pytest.approx(math.pi * (s + 1) * (s + 2) * a, rel=1e-12)


@given(nn=st.integers(1, 10), a=st.floats(0.5, 10))
def test_dipole_dipole_factor(nn, a):
    # B A ... M N with dipole length a and separation n·a: k = π n (n+1)(n+2) a
    pos = line_positions(30, a)
    k = geometric_factor(pos, 2, 1, 2 + nn, 3 + nn)
    assert k == pytest.approx(math.pi * nn * (nn + 1) * (nn + 2) * a, rel=1e-12)


def test_sign_follows_abmn_order():
    pos = line_positions(10)
    k = geometric_factor(pos, 1, 4, 2, 3)
    assert geometric_factor(pos, 4, 1, 2, 3) == pytest.approx(-k)
    assert geometric_factor(pos, 1, 4, 3, 2) == pytest.approx(-k)
    assert geometric_factor(pos, 4, 1, 3, 2) == pytest.approx(k)
    # reciprocity: swapping the dipoles keeps k
    assert geometric_factor(pos, 2, 3, 1, 4) == pytest.approx(k)


def test_pole_pole_and_pole_dipole():
    pos = line_positions(10, 2.0)
    assert geometric_factor(pos, 1, 0, 3, 0) == pytest.approx(2 * math.pi * 4.0)
    # pole-dipole: 1/AM - 1/AN
    assert geometric_factor(pos, 1, 0, 2, 3) == pytest.approx(2 * math.pi / (1 / 2 - 1 / 4))


def test_three_dimensional_positions_use_true_distance():
    pos = positions_from_xyz([(0, 0, 0), (3, 4, 0), (0, 0, 12)])
    # pole-pole between 1 and 2: distance 5
    assert geometric_factor(pos, 1, 0, 2, 0) == pytest.approx(2 * math.pi * 5)
    assert geometric_factor(pos, 1, 0, 3, 0) == pytest.approx(2 * math.pi * 12)


def test_vectorised_matches_scalar():
    pos = line_positions(16, 1.5)
    quads = np.array([[1, 4, 2, 3], [2, 1, 3, 4], [1, 6, 3, 4], [5, 0, 7, 0]])
    ks = geometric_factors(pos, quads)
    assert ks.shape == (4,)
    for row, k in zip(quads, ks):
        assert k == pytest.approx(geometric_factor(pos, *row))


def test_infinite_factor_is_a_clear_error():
    # M and N on the perpendicular bisector of AB: same potential
    pos = positions_from_xyz([(-1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 3, 0)])
    with pytest.raises(ValueError, match="infinite geometric factor"):
        geometric_factor(pos, 1, 2, 3, 4)


@pytest.mark.parametrize(
    "quad, what",
    [((0, 2, 3, 4), "A=0"), ((1, 2, 11, 4), "M=11"), ((1, -1, 3, 4), "B=-1"), ((1, 2, 0, 4), "M=0")],
)
def test_electrode_numbers_checked(quad, what):
    with pytest.raises(ValueError, match=what):
        geometric_factor(line_positions(10), *quad)


def test_coincident_current_and_potential_electrode_rejected():
    with pytest.raises(ValueError, match="coincide"):
        geometric_factor(line_positions(10), 1, 2, 1, 3)
