"""The waveform codec: each column in the narrowest dtype that holds it, read back as given
(floats as the float32 they were stored as, time in float64), bad columns named."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.store import decode_waveform, encode_waveform

ints = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False, width=32)
columns = st.one_of(
    st.lists(st.booleans(), min_size=1, max_size=50),
    st.lists(ints, min_size=1, max_size=50),
    st.lists(floats, max_size=50),
)


@settings(max_examples=200, deadline=None)
@given(
    wf=st.dictionaries(st.sampled_from(["t_s", "current_mA", "voltage_mV", "polarity", "counted"]), columns, max_size=5)
)
def test_round_trip(wf):
    back = decode_waveform(encode_waveform(wf))
    assert set(back) == set(wf)
    for name, values in wf.items():
        if name == "t_s" or not values or not all(isinstance(v, float) for v in values):
            assert back[name] == values  # exact: bools, integers, time
        else:
            # the same float32, written as the shortest decimal that rounds to it (3.3, not 3.2999999523)
            assert [np.float32(v) for v in back[name]] == [np.float32(v) for v in values]
            assert all(len(repr(b)) <= len(repr(float(np.float32(v)))) for b, v in zip(back[name], values))


@pytest.mark.parametrize(
    "values, dtype",
    [
        ([0, 127, -128], "|i1"),
        ([128], "<i2"),
        ([-(2**31)], "<i4"),
        ([2**40], "<i8"),
        ([True, False], "|b1"),
        ([0.5], "<f4"),
    ],
)
def test_the_narrowest_dtype_holds_each_column(values, dtype):
    cols = msgpack.unpackb(encode_waveform({"c": values}), raw=False)["cols"]
    assert cols["c"][0] == dtype


def test_time_keeps_double_precision():
    t = [1_796_032_814.123456]
    assert decode_waveform(encode_waveform({"t_s": t}))["t_s"] == t
    assert decode_waveform(encode_waveform({"x": t}))["x"] != t


@pytest.mark.parametrize(
    "wf, words",
    [
        ({"c": [1, "a"]}, "waveform['c'] holds a non-number 'a'"),
        ({"c": [2**64]}, "out of 64-bit range"),
        ({"c": 5}, "must be a list"),
    ],
)
def test_bad_columns_are_named(wf, words):
    with pytest.raises(ValueError) as info:
        encode_waveform(wf)
    assert words in str(info.value)
