"""The result record: names in order, defaults, unknown names refused."""

import pytest

from ohmpi.record import DESCRIPTIONS, FIELDS, UNITS, field_table_markdown, make_record

EXPECTED = (
    "a b m n channel time vab_V iab_mA iab_std_pct vmn_mV vmn_std_pct sp_mV r_ohm r_std_pct r_stack_std_pct "
    "r_budget_pct k_m rhoa_ohmm rab_kohm ip_mvv ip_std_mvv ip_windows_mvv ip_delay_ms ip_windows_ms "
    "n_stacks injection_ms duty_cycle sampling_hz n_samples strategy flags"
).split()


def test_fields_in_agreed_order():
    assert FIELDS == tuple(EXPECTED)


def test_every_field_documented():
    assert set(UNITS) == set(FIELDS) == set(DESCRIPTIONS)
    table = field_table_markdown()
    for name in FIELDS:
        assert f"`{name}`" in table
    assert UNITS["rhoa_ohmm"] == "ohm.m" and UNITS["iab_mA"] == "mA"


def test_missing_fields_are_none_and_flags_a_list():
    rec = make_record(a=1, b=2, m=3, n=4, r_ohm=1.5)
    assert list(rec) == list(FIELDS)
    assert rec["r_ohm"] == 1.5 and rec["vmn_mV"] is None
    assert rec["flags"] == []


def test_flags_copied_not_shared():
    flags = ["saturated"]
    rec = make_record(flags=flags)
    flags.append("high_std")
    assert rec["flags"] == ["saturated"]


def test_unknown_fields_named():
    with pytest.raises(ValueError, match="rho, vmn"):
        make_record(a=1, vmn=3, rho=4)
