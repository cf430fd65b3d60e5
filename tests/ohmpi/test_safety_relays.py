"""Safety below every caller: the relay matrix and the injector refuse unsafe states,
and the registers of the emulated chips prove it (OLAT, GPIO, mock pins)."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ohmpi import config
from ohmpi.hardware.board import Board
from ohmpi.safety import ROLES, Limits, SafetyError, check_quadrupole, check_relay_state
from ohmpi.sim import SimClock
from ohmpi.sim.world import build

N = 16


def make(n=N, **overrides):
    cfg = config.load({"n_electrodes": n, **overrides})
    clock = SimClock(0)
    hw = build(cfg, clock)
    board = Board(cfg, hw.bus, pin_factory=hw.pin_factory, clock=clock, supply_transport=hw.supply)
    board.setup()
    return board, hw, cfg


def wire_state(hw):
    """Relay state decoded from the chips' registers, not from any driver cache."""
    return hw.relay_state()


def all_released(hw):
    return all(chip.outputs() == 0 and chip.latch() == 0 for chip in hw.expanders)


def injecting(hw, cfg):
    return hw.pin_state(cfg["injection"]["gpio_on"])


def assert_safe(state):
    assert not state["A"] & state["B"]
    assert not (state["M"] | state["N"]) & (state["A"] | state["B"])
    assert all(1 <= e <= N for role in ROLES for e in state[role])


@pytest.mark.parametrize(
    "quad,reason",
    [
        ((1, 1, 2, 3), "both A and B"),
        ((1, 2, 1, 3), "on M while injecting"),
        ((1, 2, 3, 2), "on N while injecting"),
        ((1, 2, 3, 3), "both M and N"),
        ((0, 2, 3, 4), "outside 1..16"),
        ((1, 2, 3, 17), "outside 1..16"),
    ],
)
def test_unsafe_quadrupoles_refused_and_nothing_written(quad, reason):
    board, hw, cfg = make()
    board.relays.connect_quadrupole(5, 8, 6, 7)
    before = [chip.latch() for chip in hw.expanders]
    transfers = hw.bus.transfers
    with pytest.raises(SafetyError, match=reason):
        board.relays.connect_quadrupole(*quad)
    assert [chip.latch() for chip in hw.expanders] == before
    assert hw.bus.transfers == transfers


def test_non_integer_electrode_refused():
    with pytest.raises(SafetyError, match="not an integer"):
        check_quadrupole(1, 2.5, 3, 4, N)
    with pytest.raises(SafetyError, match="unknown role"):
        check_relay_state({"X": [1]}, N)


def test_no_switching_while_injecting_and_no_injection_without_a_and_b():
    board, hw, cfg = make()
    with pytest.raises(SafetyError, match="no electrode connected"):
        board.injector.on()
    assert not injecting(hw, cfg)
    board.relays.connect_quadrupole(1, 4, 2, 3)
    board.injector.on()
    with pytest.raises(SafetyError, match="while the injection is on"):
        board.relays.connect_quadrupole(5, 8, 6, 7)
    with pytest.raises(SafetyError, match="polarity"):
        board.injector.set_polarity(-1)
    assert wire_state(hw)["A"] == {1}
    board.safe_state()
    assert not injecting(hw, cfg) and all_released(hw)


def test_safe_state_releases_every_chip_even_if_one_fails():
    board, hw, cfg = make()
    board.relays.connect({"A": [1, 2], "B": [16], "M": [5], "N": [9]})
    board.injector.on()
    hw.bus.fault = OSError(121, "glitch")  # the first transfer of the release fails
    with pytest.raises(OSError):
        board.safe_state()
    assert not injecting(hw, cfg)
    failed = [chip for chip in hw.expanders if chip.outputs()]
    assert len(failed) <= 1  # only the chip whose write failed may still hold a relay
    board.safe_state()
    assert all_released(hw)


def test_limits():
    limits = Limits(max_voltage_V=20, max_current_mA=50, max_power_W=1)
    with pytest.raises(SafetyError, match="voltage"):
        limits.check_voltage(25)
    with pytest.raises(SafetyError, match="current"):
        limits.check_current(60)
    with pytest.raises(SafetyError, match="power"):
        limits.check_current(45, volts=30)
    assert limits.max_safe_voltage(1000) == pytest.approx(20)
    assert limits.max_safe_voltage(100) == pytest.approx(5)  # 50 mA · 100 Ω


def test_battery_voltage_is_fixed():
    board, hw, cfg = make()
    with pytest.raises(SafetyError, match="vab_V"):
        board.injector.set_voltage(5.0)


def test_four_role_boards_with_mcp23008_route_through_the_switch():
    board, hw, cfg = make(32, boards=config.four_role_boards(32, chip="mcp23008"))
    board.relays.connect_quadrupole(1, 32, 9, 17)
    assert wire_state(hw) == {"A": {1}, "B": {32}, "M": {9}, "N": {17}}
    # electrode 32 on B: board 3 (electrodes 25..32), relay 1·8 + 7 → chip 1 (B), pin 7
    assert hw.expanders[3 * 4 + 1].outputs() == 1 << 7
    board.safe_state()
    assert all_released(hw)


electrodes = st.integers(-1, N + 1)
role_sets = st.fixed_dictionaries({r: st.frozensets(electrodes, max_size=3) for r in ROLES})


class RelayCommands(RuleBasedStateMachine):
    """Random commands, valid or not: the wire never shows an unsafe state."""

    def __init__(self):
        super().__init__()
        self.board, self.hw, self.cfg = make()
        self.transitions = []

    def _wire(self):
        return wire_state(self.hw)

    @rule(state=role_sets)
    def connect(self, state):
        before = self._wire()
        try:
            self.board.relays.connect(state)
        except SafetyError:
            assert self._wire() == before
        else:
            assert self._wire() == {r: frozenset(state[r]) for r in ROLES}

    @rule(a=electrodes, b=electrodes, m=electrodes, n=electrodes)
    def quadrupole(self, a, b, m, n):
        try:
            self.board.relays.connect_quadrupole(a, b, m, n)
        except SafetyError:
            pass

    @rule()
    def inject_on(self):
        try:
            self.board.injector.on()
        except SafetyError:
            assert not self._wire()["A"] or not self._wire()["B"]

    @rule()
    def inject_off(self):
        self.board.injector.off()

    @rule(sign=st.sampled_from([1, -1]))
    def polarity(self, sign):
        try:
            self.board.injector.set_polarity(sign)
        except SafetyError:
            assert injecting(self.hw, self.cfg)

    @rule()
    def fault_then_safe_state(self):
        self.board.safe_state()
        assert all_released(self.hw) and not injecting(self.hw, self.cfg)

    @invariant()
    def wire_is_safe(self):
        assert_safe(self._wire())

    @invariant()
    def injecting_only_between_a_and_b(self):
        if injecting(self.hw, self.cfg):
            assert self._wire()["A"] and self._wire()["B"]


TestRelayCommands = RelayCommands.TestCase
TestRelayCommands.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)


def test_intermediate_states_on_the_wire_are_safe():
    board, hw, cfg = make()
    seen = []
    for chip in board.expanders:
        original = chip.write_latch

        def spy(value, original=original):
            original(value)
            seen.append(dict(hw.relay_state()))

        chip.write_latch = spy
    # electrode 3 moves from M to A, 2 from A to N: a naive write order would pass
    # through 3 on both A and M, or 2 on both A and N
    board.relays.connect_quadrupole(2, 9, 3, 10)
    board.relays.connect_quadrupole(3, 9, 4, 2)
    assert len(seen) >= 4
    for state in seen:
        assert_safe(state)
