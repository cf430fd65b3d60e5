"""Stack until good enough: stop when the calibrated uncertainty reaches target_std_pct, never
below min_stacks nor beyond max_stacks — and the error bars stay calibrated."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ohmpi import earth
from ohmpi.measure import measure, validate_settings
from ohmpi.measure.settings import SettingError
from ohmpi.measure.stacking import enough
from ohmpi.sim.world import electrode_positions, simulated_board
from ohmpi.simulate import simulate_survey

RHO = 37.0


@given(low=st.integers(1, 100), high=st.integers(1, 100))
@hsettings(max_examples=30, deadline=None)
def test_min_above_max_is_refused_by_name(low, high):
    values = {"target_std_pct": 1.0, "min_stacks": low, "max_stacks": high}
    if low > high:
        with pytest.raises(SettingError) as info:
            validate_settings(values)
        assert info.value.field == "min_stacks"
    else:
        assert validate_settings(values).max_stacks == high


@pytest.mark.parametrize(
    "values,field",
    [
        ({"target_std_pct": 0}, "target_std_pct"),
        ({"target_std_pct": "1"}, "target_std_pct"),
        ({"target_std_pct": float("nan")}, "target_std_pct"),
        ({"min_stacks": 0}, "min_stacks"),
        ({"max_stacks": 101}, "max_stacks"),
        ({"max_stacks": True}, "max_stacks"),
    ],
)
def test_bad_values_name_the_field(values, field):
    with pytest.raises(SettingError, match=field):
        validate_settings(values)


@given(
    done=st.integers(0, 12),
    value=st.floats(0.001, 100),
    target=st.floats(0.01, 10),
    low=st.integers(1, 4),
    high=st.integers(4, 10),
    nb=st.integers(1, 10),
)
@hsettings(max_examples=200, deadline=None)
def test_stopping_rule(done, value, target, low, high, nb):
    s = validate_settings({"target_std_pct": target, "min_stacks": low, "max_stacks": high, "nb_stack": nb})
    stop = enough(s, done, lambda: value)
    if done >= high:
        assert stop  # never beyond max_stacks
    elif done < low:
        assert not stop  # always min_stacks
    elif value <= target:
        assert stop  # good enough
    elif done * (value / target) ** 2 <= high:
        assert not stop  # reachable: keep stacking
    else:
        assert stop  # hopeless: no stack beyond min_stacks
    assert enough(validate_settings({"nb_stack": nb}), done, lambda: 0.0) == (done >= nb)


def test_quiet_quadrupole_stops_early_noisy_one_stacks_more():
    board, hw, cfg = simulated_board(
        {
            "n_electrodes": 24,
            "injection": {"supply": "dps5005"},
            "sim": {"model": f"homogeneous:rho={RHO}", "noise": 0.01},
        }
    )
    positions = electrode_positions(cfg)
    s = {"strategy": "adaptive", "target_std_pct": 0.5, "min_stacks": 1, "max_stacks": 6}
    near, _ = measure(board, positions, (1, 2, 3, 4), s)
    far, _ = measure(board, positions, (1, 2, 14, 15), s)  # reaches 0.5 % in a few stacks
    assert near["n_stacks"] == 1 and near["r_std_pct"] <= 0.5
    assert far["n_stacks"] > near["n_stacks"]
    assert far["r_std_pct"] <= 0.5
    hopeless, _ = measure(board, positions, (1, 2, 22, 23), s)  # 0.5 % out of reach even in 6 stacks
    assert hopeless["n_stacks"] == 1 and hopeless["r_std_pct"] > 0.5 * 6**0.5
    fixed, _ = measure(board, positions, (1, 2, 3, 4), {"strategy": "adaptive", "nb_stack": 3})
    assert fixed["n_stacks"] == 3


def test_error_bars_stay_calibrated_when_stacking_stops_on_them():
    records, positions, figures = simulate_survey(
        electrodes=24,
        array="dipole-dipole",
        model=f"homogeneous:rho={RHO}",
        noise=0.01,
        seed=3,
        settings={"target_std_pct": 1.0, "max_stacks": 6},
    )
    quads = np.array([[r[k] for k in "abmn"] for r in records])
    truth = earth.HomogeneousEarth(RHO).transfer_resistances(positions, quads)
    r = np.array([rec["r_ohm"] for rec in records])
    std = np.array([rec["r_std_pct"] for rec in records])
    z = (r - truth) / (np.abs(r) * std / 100)
    assert 0.8 <= np.std(z) <= 1.25 and np.mean(np.abs(z) > 3) <= 0.01
    stacks = np.array([rec["n_stacks"] for rec in records])
    assert np.all((std <= 1.0) | (stacks == 6) | (stacks == 2)) and stacks.min() == 1 and stacks.max() > 1
