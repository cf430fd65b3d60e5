"""Relay contacts follow their coils late (operate, bounce, release on the simulated clock), so the
relay matrix waits relay_settle_ms after any relay moved: nothing samples or injects through a
contact still moving, and held relays cost no wait at all."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi import config, relay_settle
from ohmpi.instrument import Instrument
from ohmpi.safety import ROLES
from ohmpi.sim.mcp230xx import RelayTiming
from ohmpi.sim.world import simulated_board

N = 16
TIMING = RelayTiming(0.005, 0.002, 0.001)  # the defaults of [instrument.sim]


def settled(hw) -> bool:
    now = hw.clock.monotonic()
    return all(now >= chip.settled_at for chip in hw.expanders)


@given(
    coil=st.booleans(),
    before=st.booleans(),
    since=st.floats(0, 0.02),
    later=st.floats(0, 0.02),
)
def test_a_contact_reaches_its_coil_after_the_settle_time_and_stays(coil, before, since, later):
    end = TIMING.settles_after(coil)
    assert TIMING.contact(coil, before, end + later) == coil
    if coil != before and since < min(TIMING.operate_s, TIMING.release_s):
        assert TIMING.contact(coil, before, since) == before  # nothing moves before the armature does


def test_without_the_wait_the_first_samples_see_open_and_bouncing_contacts():
    board, hw, _ = simulated_board({"n_electrodes": N, "relay_settle_ms": 0})
    board.relays.connect_quadrupole(1, 4, 2, 3)
    wanted = hw.relay_state()
    seen = []  # per instant: is each role's contact closed?
    while not settled(hw):
        state = hw.contact_state()
        seen.append([bool(state[role] & wanted[role]) for role in ROLES])
        hw.clock.advance(0.0001)
    assert seen[0] == [False] * 4 and seen[-1] == [True] * 4  # open first, closed at the end
    for track in zip(*seen):
        touched = track.index(True)
        assert False in track[touched:]  # each bounced open again once it had touched
    # an M-N reading right after switching reads a floating input, far from the pair at rest
    board.relays.release_all()
    hw.clock.sleep(0.01)
    board.relays.connect({"M": [2], "N": [3]})
    early = board.voltage_adc.read(board.voltage_mux, 0.512, 860)
    hw.clock.sleep(0.02)
    rest = [board.voltage_adc.read(board.voltage_mux, 0.512, 860) for _ in range(3)]
    assert abs(early - rest[0]) > 5 * (max(rest) - min(rest) + 1e-4)


def test_with_the_wait_connect_returns_with_every_contact_at_rest_and_held_relays_cost_nothing():
    board, hw, cfg = simulated_board({"n_electrodes": N})
    assert cfg["relay_settle_ms"] == 8.0
    t0 = hw.clock.monotonic()
    board.relays.connect_quadrupole(1, 4, 2, 3)
    assert settled(hw) and hw.contact_state() == hw.relay_state()
    assert hw.clock.monotonic() - t0 >= 0.008
    t1 = hw.clock.monotonic()
    board.relays.connect_quadrupole(1, 4, 2, 3)  # nothing moves: no wait, no bus traffic
    assert hw.clock.monotonic() == t1
    board.relays.connect_quadrupole(1, 4, 2, 5)  # one moves: the wait again
    assert hw.clock.monotonic() - t1 >= 0.008 and settled(hw)


@pytest.mark.parametrize("settle_ms,clean", [(8.0, True), (0.0, False)])
def test_no_injection_starts_before_the_moved_relays_settled(settle_ms, clean):
    """Watched on the emulated chips' timeline: at every instant the injection relay is closed,
    every relay contact must be at rest (a survey's held and moved relays alike)."""
    inst = Instrument.from_config({"n_electrodes": N, "relay_settle_ms": settle_ms}, time_scale=0)
    hw, on_pin = inst.sim, inst.cfg["injection"]["gpio_on"]
    moving_while_injecting = []
    hw.clock.listeners.append(
        lambda now: hw.pin_state(on_pin) and not settled(hw) and moving_while_injecting.append(now)
    )
    with inst:
        inst.settings = {"injection_ms": 100, "max_stacks": 1, "min_stacks": 1}
        for quad in ((1, 4, 2, 3), (1, 4, 3, 2), (1, 4, 5, 6), (2, 5, 3, 4)):
            inst.measure(*quad, hold_relays=True)
    assert (not moving_while_injecting) == clean


def test_measured_settle_time_matches_the_emulated_relays_and_leaves_everything_open():
    board, hw, cfg = simulated_board({"n_electrodes": N})
    found = relay_settle.measure(board, step_ms=0.25)
    # the last relay written closes operate + bounce = 6 ms after its coil; the reading starts a
    # fraction of a millisecond after the delay (the ADC's configuration write)
    assert 5.0 <= found["settle_ms"] <= 6.0 < found["configured_ms"] == 8.0
    assert all(fraction < 1 for delay, fraction in found["rows"] if delay < 5.0)
    assert board.relays.settle_s == 0.008 and not any(chip.outputs() for chip in hw.expanders)
    ideal, _, _ = simulated_board(
        {"n_electrodes": N, "sim": {"relay_operate_ms": 0, "relay_release_ms": 0, "relay_bounce_ms": 0}}
    )
    assert relay_settle.measure(ideal)["settle_ms"] == 0.0


def test_self_test_reports_the_settle_time_and_fails_when_the_setting_is_too_short():
    with Instrument.from_config({"n_electrodes": N}, time_scale=0) as inst:
        result = inst.self_test()
        check = next(c for c in result["checks"] if c["name"] == "relay_settle")
        assert result["ok"] and check["ok"] and 5.0 <= result["relay_settle"]["settle_ms"] <= 6.0
    with Instrument.from_config({"n_electrodes": N, "relay_settle_ms": 3}, time_scale=0) as inst:
        result = inst.self_test()
        check = next(c for c in result["checks"] if c["name"] == "relay_settle")
        assert not result["ok"] and not check["ok"] and "relay_settle_ms = 3" in check["detail"]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.permutations(range(1, 7)).map(lambda p: p[:4]), min_size=2, max_size=5))
def test_contacts_never_join_two_roles_on_one_electrode_while_moving(quads):
    """Break before make holds on the contacts, not only on the registers: an opened contact
    lifts (release 2 ms) before a closed one touches (operate 5 ms)."""
    board, hw, _ = simulated_board({"n_electrodes": 8, "relay_settle_ms": 0})
    for quad in quads:
        board.relays.connect_quadrupole(*quad)
        while not settled(hw):
            state = hw.contact_state()
            for i, role in enumerate(ROLES):
                for other in ROLES[i + 1 :]:
                    assert not state[role] & state[other], (quad, state)
            hw.clock.advance(0.0002)


@pytest.mark.parametrize(
    "override,key",
    [
        ({"relay_settle_ms": -1}, "relay_settle_ms"),
        ({"relay_settle_ms": "8"}, "relay_settle_ms"),
        ({"sim": {"relay_operate_ms": float("nan")}}, "sim.relay_operate_ms"),
        ({"sim": {"relay_bounce_ms": True}}, "sim.relay_bounce_ms"),
        ({"sim": {"relay_release_ms": 1e9}}, "sim.relay_release_ms"),
    ],
)
def test_bad_timing_settings_are_refused_by_name(override, key):
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.load(override)
