"""Sequence files, array generators (pyGIMLi counts), reciprocals."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi.geometry import geometric_factors, line_positions
from ohmpi.sequences import (
    SequenceError,
    dipole_dipole,
    format_sequence,
    generate,
    gradient,
    load_sequence,
    parse_sequence,
    reciprocal_error,
    reciprocal_pairs,
    schlumberger,
    wenner,
    with_reciprocals,
)

# --- parsing ---------------------------------------------------------------------------


def test_parse_comments_blank_lines_and_separators():
    text = "# my survey\n\n1 4 2 3\n  2,5,3,4  # comma separated\n3\t6 4  5\n1, 0004 ,2 ,3\n"
    quads = parse_sequence(text, 8)
    assert quads.dtype.kind == "i"
    assert quads.tolist() == [[1, 4, 2, 3], [2, 5, 3, 4], [3, 6, 4, 5], [1, 4, 2, 3]]


def test_every_bad_line_is_reported_with_its_reason():
    text = "\n".join(
        [
            "1 4 2 3",  # 1 ok
            "1 4 2",  # 2 wrong number of fields
            "1 x 2 3",  # 3 not an integer
            "2 2 3 4",  # 4 A = B
            "1 2 3 3",  # 5 M = N
            "1 2 2 3",  # 6 repeated
            "1 2 3 65",  # 7 beyond
            "0 2 3 4",  # 8 below 1
            "1.5 2 3 4",  # 9 not an integer
            "# 9 9 9 9",  # 10 comment
            "5 6 7 8 9",  # 11 too many
        ]
    )
    with pytest.raises(SequenceError) as info:
        parse_sequence(text, 64)
    errors = dict(info.value.errors)
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert "wrong number of fields" in errors[2] and "got 3" in errors[2]
    assert "not an integer" in errors[3] and "'x'" in errors[3]
    assert "A = B" in errors[4]
    assert "M = N" in errors[5]
    assert "repeated electrode 2" in errors[6]
    assert "65" in errors[7] and "64 electrodes" in errors[7]
    assert "< 1" in errors[8]
    assert "not an integer" in errors[9]
    message = str(info.value)
    assert "line 7" in message and "9 bad line(s)" in message
    assert isinstance(info.value, ValueError)


def test_several_problems_on_one_line_are_all_named():
    with pytest.raises(SequenceError) as info:
        parse_sequence("3 3 99 99\n", 32)
    [(line, reason)] = info.value.errors
    assert line == 1
    assert "A = B" in reason and "M = N" in reason and "99" in reason


def test_empty_sequence_refused():
    with pytest.raises(SequenceError, match="no quadrupoles"):
        parse_sequence("# nothing\n\n", 16)


def test_load_sequence_names_the_file(tmp_path):
    path = tmp_path / "seq.txt"
    path.write_text("1 2 3 4\n1 2 3 40\n")
    with pytest.raises(SequenceError, match="seq.txt"):
        load_sequence(path, 32)
    path.write_text("1 2 3 4\n")
    assert load_sequence(path, 32).tolist() == [[1, 2, 3, 4]]


@st.composite
def quadrupoles(draw, n=64):
    rows = draw(st.lists(st.permutations(range(1, n + 1)).map(lambda p: p[:4]), min_size=1, max_size=30))
    return np.array(rows, dtype=int)


@given(quads=quadrupoles())
def test_format_then_parse_round_trip(quads):
    assert np.array_equal(parse_sequence(format_sequence(quads), 64), quads)


@given(st.text(alphabet="0123456789 ,#-x.\n\t", max_size=200))
def test_arbitrary_text_gives_quadrupoles_or_sequence_error(text):
    try:
        quads = parse_sequence(text, 32)
    except SequenceError as err:
        assert err.errors
        for line, reason in err.errors:
            assert isinstance(line, int) and reason
    else:
        assert quads.shape[1] == 4
        assert ((quads >= 1) & (quads <= 32)).all()
        assert all(len(set(q)) == 4 for q in quads.tolist())


# --- generators ------------------------------------------------------------------------

# counts from each array's definition (see the docstrings), checked against pyGIMLi for 24
EXPECTED_COUNTS = {
    16: (35, 49, 91, 49),
    24: (84, 121, 231, 105),
    32: (155, 225, 435, 196),
    48: (360, 529, 1035, 441),
    64: (651, 961, 1891, 784),
}


def closed_form_counts(n):
    wa = sum(max(0, n - 3 * s) for s in range(1, n))
    slm = ((n - 2) // 2) * ((n - 1) // 2)
    dd = (n - 2) * (n - 3) // 2
    gr = 7 * sum(n - 9 * j for j in range(1, -(-n // 9), 2))
    return wa, slm, dd, gr


@pytest.mark.parametrize("n", sorted(EXPECTED_COUNTS))
def test_counts(n):
    counts = tuple(len(f(n)) for f in (wenner, schlumberger, dipole_dipole, gradient))
    assert counts == EXPECTED_COUNTS[n] == closed_form_counts(n)


def test_pygimli_reference_counts_for_24():
    assert len(generate("wa", 24)) == 84
    assert len(generate("slm", 24)) == 121
    assert len(generate("dd", 24)) == 231


def all_quadrupoles(n):
    grid = np.indices((n, n, n, n)).reshape(4, -1).T + 1
    return grid


def as_set(quads):
    return {tuple(q) for q in np.asarray(quads).tolist()}


@pytest.mark.parametrize("n", [10, 16, 23])
def test_generators_equal_their_definition_by_brute_force(n):
    q = all_quadrupoles(n)
    a, b, m, nn = q.T
    wa = (m - a > 0) & (nn - m == m - a) & (b - nn == m - a)
    s = m - a
    slm = (s > 0) & (nn == m + 1) & (b == nn + s)
    dd = (b == a + 1) & (m > b) & (nn == m + 1)
    j = nn - m
    gr = (j > 0) & (j % 2 == 1) & (j < -(-n // 9)) & (b - a == 9 * j)
    gr &= ((m - a) % np.maximum(j, 1) == 0) & ((m - a) // np.maximum(j, 1) >= 1) & ((m - a) // np.maximum(j, 1) <= 7)
    assert as_set(wenner(n)) == as_set(q[wa])
    assert as_set(schlumberger(n)) == as_set(q[slm])
    assert as_set(dipole_dipole(n)) == as_set(q[dd])
    assert as_set(gradient(n)) == as_set(q[gr])


@given(n=st.integers(4, 80), name=st.sampled_from(["wenner", "schlumberger", "dipole-dipole", "gradient"]))
def test_generated_quadrupoles_are_valid_and_distinct(n, name):
    try:
        quads = generate(name, n)
    except ValueError:
        assert name == "gradient" and n < 10
        return
    assert quads.shape[1] == 4 and quads.dtype.kind == "i"
    assert ((quads >= 1) & (quads <= n)).all()
    assert all(len(set(q)) == 4 for q in quads.tolist())
    assert len(as_set(quads)) == len(quads)
    # every generated quadrupole has a finite geometric factor on a line
    assert np.isfinite(geometric_factors(line_positions(n), quads)).all()
    # and parses back from its own text
    assert np.array_equal(parse_sequence(format_sequence(quads), n), quads)


def test_first_quadrupoles_follow_pygimli_order():
    assert wenner(8)[:3].tolist() == [[1, 4, 2, 3], [2, 5, 3, 4], [3, 6, 4, 5]]
    assert schlumberger(8)[:2].tolist() == [[1, 4, 2, 3], [2, 5, 3, 4]]
    assert dipole_dipole(8)[:2].tolist() == [[1, 2, 3, 4], [2, 3, 4, 5]]
    assert gradient(10)[:2].tolist() == [[1, 10, 2, 3], [1, 10, 3, 4]]


@pytest.mark.parametrize(
    "alias, name",
    [
        ("wa", "wenner"),
        ("slm", "schlumberger"),
        ("dd", "dipole-dipole"),
        ("gr", "gradient"),
        ("Dipole-Dipole", "dipole-dipole"),
    ],
)
def test_aliases(alias, name):
    assert np.array_equal(generate(alias, 32), generate(name, 32))


def test_unknown_array_and_too_few_electrodes():
    with pytest.raises(ValueError, match="unknown array 'pole-pole'"):
        generate("pole-pole", 24)
    with pytest.raises(ValueError):
        generate("wenner", 3)
    with pytest.raises(ValueError, match="no quadrupole"):
        generate("gradient", 9)


# --- reciprocals -----------------------------------------------------------------------


def test_with_reciprocals_appends_mnab_without_duplicates():
    seq = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 3, 4, 5], [2, 3, 4, 5]])
    out = with_reciprocals(seq)
    assert out[:4].tolist() == seq.tolist()
    assert out[4:].tolist() == [[4, 5, 2, 3]]


@given(n=st.integers(10, 40), name=st.sampled_from(["wa", "slm", "dd", "gr"]))
def test_reciprocals_pair_every_generated_quadrupole(n, name):
    seq = generate(name, n)
    full = with_reciprocals(seq)
    assert len(full) == 2 * len(seq)
    pairs = reciprocal_pairs(full)
    assert len(pairs) == len(seq)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert np.array_equal(full[pairs[:, 1]], full[pairs[:, 0]][:, [2, 3, 0, 1]])
    # reciprocity: a half-space gives equal geometric factors for each pair
    k = geometric_factors(line_positions(n), full)
    assert np.allclose(k[pairs[:, 0]], k[pairs[:, 1]])


def test_reciprocal_pairs_accept_the_flipped_form_and_use_each_row_once():
    seq = [[1, 2, 5, 6], [6, 5, 2, 1], [5, 6, 1, 2], [9, 10, 11, 12]]
    assert reciprocal_pairs(seq).tolist() == [[0, 1]]
    assert reciprocal_pairs([[1, 2, 3, 4]]).shape == (0, 2)


def test_reciprocal_error():
    assert reciprocal_error(10.0, 9.0) == pytest.approx(1 / 9.5 * 100)
    assert reciprocal_error(-10.0, -10.0) == 0.0
    out = reciprocal_error([1.0, 2.0, 0.0], [1.0, 1.0, 0.0])
    assert out[:2] == pytest.approx([0.0, 1 / 1.5 * 100])
    assert np.isnan(out[2])


@given(st.floats(-1e6, 1e6, allow_subnormal=False), st.floats(-1e6, 1e6, allow_subnormal=False))
def test_reciprocal_error_symmetric_and_bounded(rn, rr):
    e = reciprocal_error(rn, rr)
    if rn == 0 and rr == 0:
        assert np.isnan(e)
    else:
        assert e == pytest.approx(reciprocal_error(rr, rn))
        assert 0 <= e <= 200 + 1e-9
