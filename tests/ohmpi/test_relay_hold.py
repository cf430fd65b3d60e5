"""Relays that stay where they are: between quadrupoles only the electrodes that change move,
wired the way round that moves fewest — proven on the emulated registers — and R is the same
as with every relay released in between. Any error, abort or idle time releases everything."""

import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi import earth, sequences
from ohmpi.instrument import Aborted, Instrument
from ohmpi.measure import measure
from ohmpi.relay_plan import coil_changes, orient
from ohmpi.safety import SafetyTrip
from ohmpi.sequence_order import optimize, relay_operations
from ohmpi.sim.world import electrode_positions, simulated_board

from .test_safety_relays import N, all_released, assert_safe, make

quads = st.lists(st.integers(1, N), min_size=4, max_size=4, unique=True)


@given(st.lists(quads, min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_only_changed_relays_move_and_every_register_write_is_safe(sequence):
    board, hw, cfg = make()
    seen = []
    for chip in board.expanders:
        original = chip.write_latch

        def spy(value, original=original):
            original(value)
            seen.append(dict(hw.relay_state()))

        chip.write_latch = spy
    for quad in sequence:
        before, ops = hw.relay_state(), hw.relay_operations()
        wiring, ab_sign, mn_sign = orient(quad, board.relays.state)
        assert {wiring[0], wiring[1]} == set(quad[:2]) and {wiring[2], wiring[3]} == set(quad[2:])
        board.relays.connect_quadrupole(*wiring)
        assert hw.relay_operations() - ops == coil_changes(before, wiring)
        assert coil_changes(before, wiring) == min(
            coil_changes(before, w)
            for w in (
                quad,
                (quad[1], quad[0], quad[2], quad[3]),
                (quad[0], quad[1], quad[3], quad[2]),
                (quad[1], quad[0], quad[3], quad[2]),
            )
        )
        assert hw.relay_state() == {r: {e} for r, e in zip("ABMN", wiring)}
    for state in seen:
        assert_safe(state)
    board.safe_state()
    assert all_released(hw)


@pytest.mark.parametrize(
    "first,second,coils",
    [
        ((1, 2, 3, 4), (1, 2, 4, 5), 2),  # M and N wired the other way round
        ((2, 3, 5, 6), (1, 2, 5, 6), 2),  # A and B wired the other way round
        ((2, 3, 5, 6), (1, 2, 6, 7), 4),  # both
    ],
)
def test_swapped_wiring_gives_the_quadrupole_asked_for(first, second, coils):
    board, hw, cfg = simulated_board({"n_electrodes": 16, "sim": {"model": "homogeneous:rho=50", "noise": 0.0}})
    positions = electrode_positions(cfg)
    measure(board, positions, first, hold_relays=True)
    assert not all_released(hw) and not board.injector.is_on
    ops = hw.relay_operations()
    held, _ = measure(board, positions, second, hold_relays=True)
    assert hw.relay_operations() - ops == coils
    truth = earth.HomogeneousEarth(50).transfer_resistance(positions, *second)
    assert held["r_ohm"] == pytest.approx(truth, rel=0.01)
    assert (held["a"], held["b"], held["m"], held["n"]) == second
    board.safe_state()
    fresh, _ = measure(board, positions, second)
    assert held["r_ohm"] == pytest.approx(fresh["r_ohm"], rel=0.01)
    assert np.sign(held["vmn_mV"]) == np.sign(fresh["vmn_mV"])


def test_a_fault_with_held_relays_releases_everything():
    board, hw, cfg = simulated_board({"n_electrodes": 16, "limits": {"max_current_mA": 2.0}})
    positions = electrode_positions(cfg)
    board.relays.connect_quadrupole(1, 4, 2, 3)  # held from a previous quadrupole
    with pytest.raises(SafetyTrip):
        measure(board, positions, (1, 4, 2, 5), hold_relays=True)
    assert all_released(hw) and not board.injector.is_on


def test_instrument_releases_held_relays_on_abort_refusal_and_idle():
    with Instrument.from_config({"n_electrodes": 16}, time_scale=0) as inst:
        hw = inst.sim
        inst.measure(1, 4, 2, 3, hold_relays=True, nb_stack=1)
        assert not all_released(hw)
        event = threading.Event()
        event.set()
        with pytest.raises(Aborted):
            inst.measure(1, 4, 2, 5, hold_relays=True, abort=event)
        assert all_released(hw)
        inst.measure(1, 4, 2, 3, hold_relays=True, nb_stack=1)
        with pytest.raises(ValueError):
            inst.measure(1, 1, 2, 3, hold_relays=True)
        assert all_released(hw)
        inst._hold.hold_s = 0.05
        inst.measure(1, 4, 2, 3, hold_relays=True, nb_stack=1)
        deadline = time.monotonic() + 30
        while not all_released(hw) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all_released(hw)  # nobody came back for them
        inst.measure(1, 4, 2, 3, hold_relays=True, nb_stack=1)
        inst.safe_state()
        assert all_released(hw)


@given(array=st.sampled_from(sorted(sequences.GENERATORS)), n=st.integers(10, 36), reciprocals=st.booleans())
@settings(max_examples=15, deadline=None)
def test_optimized_order_keeps_quadrupoles_and_reciprocal_pairing(array, n, reciprocals):
    seq = sequences.generate(array, n)
    if reciprocals:
        seq = sequences.with_reciprocals(seq)
    out = optimize(seq)
    assert sorted(map(tuple, out.tolist())) == sorted(map(tuple, seq.tolist()))

    def pairs(s):
        return {(tuple(s[i]), tuple(s[j])) for i, j in sequences.reciprocal_pairs(s).tolist()}

    assert pairs(out) == pairs(seq)
    assert relay_operations(out) <= relay_operations(seq)


@pytest.mark.parametrize("array,target", [("dipole-dipole", 3), ("gradient", 3), ("wenner", 5)])
def test_relay_operations_per_quadrupole(array, target):
    seq = sequences.generate(array, 64)
    assert relay_operations(optimize(seq)) / len(seq) <= target
