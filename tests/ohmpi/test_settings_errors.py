"""Refused settings are typed: `SettingError(field, allowed)`, still a ValueError for old callers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.measure.settings import SETTINGS_SPEC, SettingError, validate_settings

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.one_of(st.floats(-10, 40000), st.integers()), max_size=25),
)


@given(st.dictionaries(st.sampled_from([*SETTINGS_SPEC, "colour", "nb-stack"]), ANY_VALUE, max_size=4))
@settings(deadline=None)  # a loaded 2-core machine may pause any example
def test_a_refusal_names_a_field_and_what_it_may_be(values):
    try:
        validate_settings(values)
    except SettingError as exc:
        assert isinstance(exc, ValueError)
        assert exc.field in values or exc.field in SETTINGS_SPEC  # a cross-field rule names one of them
        assert str(exc).startswith(f"{exc.field}: ")
        if exc.field in SETTINGS_SPEC:
            spec = SETTINGS_SPEC[exc.field]
            if spec.kind == "choice":
                assert exc.allowed == list(spec.low)
            elif spec.kind != "bool":
                low, high = exc.allowed
                assert spec.low <= low <= high <= spec.high
        else:
            assert exc.allowed == sorted(SETTINGS_SPEC)


@pytest.mark.parametrize(
    "values,field,allowed",
    [
        ({"mains_hz": 55}, "mains_hz", [50, 60]),
        ({"strategy": "boost"}, "strategy", ["fixed", "adaptive"]),
        ({"nb_stack": 0}, "nb_stack", [1, 100]),
        ({"auto_gain": "yes"}, "auto_gain", [False, True]),
        ({"injection_ms": 25}, "injection_ms", [40.0, 30000.0]),  # settling 20 ms + one 50 Hz period
    ],
)
def test_allowed_is_what_the_user_may_enter(values, field, allowed):
    with pytest.raises(SettingError) as info:
        validate_settings(values)
    assert (info.value.field, info.value.allowed) == (field, allowed)


def test_specs_are_named():
    spec = SETTINGS_SPEC["duty_cycle"]
    assert (spec.kind, spec.low, spec.high) == ("float", 0.1, 1.0) and spec.help
    assert SETTINGS_SPEC["mains_hz"].allowed == [50, 60]


def test_an_integer_beyond_a_float_is_refused_by_name():
    for values in ({"nb_stack": 10**400}, {"injection_ms": 10**400}, {"ip_windows_ms": [10**400]}):
        with pytest.raises(SettingError) as info:
            validate_settings(values)
        assert info.value.field == next(iter(values))
