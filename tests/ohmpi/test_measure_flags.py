"""Quality flags, settings validation, the adaptive strategy under its limits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi import earth
from ohmpi.measure import SETTINGS_SPEC, Settings, measure, validate_settings
from ohmpi.sim.world import electrode_positions, simulated_board


def test_open_current_electrode_is_flagged():
    board, hw, cfg = simulated_board({"n_electrodes": 16, "sim": {"bad_electrodes": {"4": "open"}}})
    record, _ = measure(board, electrode_positions(cfg), (1, 4, 2, 3))
    assert {"open_electrode", "low_current"} <= set(record["flags"])
    assert record["r_ohm"] is None and record["iab_mA"] == 0.0


def test_low_current_and_high_std_flags():
    board, hw, cfg = simulated_board({"n_electrodes": 16, "sim": {"contact_ohm": 500000.0, "noise": 0.3}})
    record, _ = measure(board, electrode_positions(cfg), (1, 4, 2, 3), {"min_current_mA": 0.1, "max_std_pct": 1.0})
    assert record["iab_mA"] < 0.1
    assert "low_current" in record["flags"] and "high_std" in record["flags"]


def test_saturation_is_flagged_when_the_signal_outgrows_the_chosen_gain():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    record, _ = measure(board, electrode_positions(cfg), (1, 4, 2, 3))
    assert "saturated" not in record["flags"]
    calls = {"n": 0}

    def interference_burst():
        # after the probe chose a small full scale, strong hum appears
        calls["n"] += 1
        if calls["n"] == 20:
            hw.physics.hum_V = 1.0
        return False

    record, _ = measure(board, electrode_positions(cfg), (1, 4, 2, 3), abort=interference_burst)
    assert "saturated" in record["flags"]


def test_adaptive_reaches_the_target_within_limits():
    board, hw, cfg = simulated_board(
        {
            "n_electrodes": 16,
            "injection": {"supply": "dps5005"},
            "limits": {"max_voltage_V": 40.0, "max_current_mA": 30.0, "max_power_W": 0.5},
        }
    )
    positions = electrode_positions(cfg)
    record, _ = measure(board, positions, (1, 4, 2, 3), {"strategy": "adaptive", "vmn_target_mV": 50})
    assert record["vmn_mV"] == pytest.approx(50, rel=0.05)
    assert record["strategy"] == "adaptive"
    # a weak quadrupole: the voltage rises until a limit holds it
    record, _ = measure(board, positions, (1, 2, 14, 15), {"strategy": "adaptive"})
    power = record["vab_V"] * record["iab_mA"] / 1000
    assert record["vab_V"] <= 40.0 and record["iab_mA"] <= 30.0 and power <= 0.5 * 1.02
    assert max(record["vab_V"] / 40, record["iab_mA"] / 30, power / 0.5) > 0.8
    truth = earth.HomogeneousEarth(100).transfer_resistance(positions, 1, 2, 14, 15)
    assert record["r_ohm"] == pytest.approx(truth, rel=0.02)


def test_adaptive_needs_the_programmable_supply():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    with pytest.raises(ValueError, match="dps5005"):
        measure(board, electrode_positions(cfg), (1, 4, 2, 3), {"strategy": "adaptive"})


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("nb_stack", 0, "nb_stack: 0 is not an integer in 1..100"),
        ("nb_stack", 2.5, "nb_stack"),
        ("duty_cycle", 1.5, "duty_cycle: 1.5 is not a number in 0.1..1.0"),
        ("sampling_hz", 1000, "sampling_hz"),
        ("strategy", "boost", "strategy: 'boost' not allowed; allowed: fixed, adaptive"),
        ("mains_hz", 55, "allowed: 50, 60"),
        ("auto_gain", "yes", "auto_gain"),
        ("colour", 1, "colour: unknown setting"),
        ("injection_ms", 25, "injection_ms: 25 must be at least"),
    ],
)
def test_settings_validation_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_settings({field: value})


@given(
    st.fixed_dictionaries(
        {},
        optional={
            name: (
                st.integers(-5, 200)
                if spec[0] == "int"
                else st.sampled_from(list(spec[1]))
                if spec[0] == "choice"
                else st.booleans()
                if spec[0] == "bool"
                else st.floats(-10, 40000, allow_nan=False)
            )
            for name, spec in SETTINGS_SPEC.items()
        },
    )
)
def test_validated_settings_are_always_in_range(values):
    try:
        s = validate_settings(values)
    except ValueError as exc:
        assert str(exc).split(":")[0] in SETTINGS_SPEC
        return
    for name, (kind, low, high, _) in SETTINGS_SPEC.items():
        value = getattr(s, name)
        if kind in ("int", "float") or (kind == "float?" and value is not None):
            assert low <= value <= high
    assert s.injection_ms >= s.settling_ms + 1000 / s.mains_hz
    assert isinstance(s, Settings)
