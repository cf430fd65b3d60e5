"""Several receiver channels: the configuration, the safety rules per channel on the emulated
registers, the 4-channel emulation measuring each dipole right, stacking per group, the
grouping of a sequence, and the channel number kept by the store."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ohmpi import config, earth, sequence_groups, sequence_order, sequences
from ohmpi.instrument import Instrument
from ohmpi.items import ItemError, check_record
from ohmpi.measure.settings import validate_settings
from ohmpi.measure.stacking import enough
from ohmpi.record import make_record
from ohmpi.safety import SafetyError, check_relay_state, group_state, receiver_roles, roles_for
from ohmpi.sim.world import simulated_board
from ohmpi.store import Store
from tests.store.factories import meas

RHO = 40.0


def receivers(k):
    return {"adc": {"receivers": config.receivers_for(k)}}


# -- configuration -----------------------------------------------------------------------------
def test_default_config_has_one_channel_and_the_four_boards_of_before():
    cfg = config.load()
    assert config.channels(cfg) == 1 and cfg["adc"]["receivers"] == []
    assert cfg["boards"] == config.one_role_boards(64)


def test_four_channels_of_64_electrodes_fit_ten_boards_two_per_switch_channel():
    cfg = config.load(receivers(4))
    assert config.channels(cfg) == 4
    places = [(b["role"], b["tca_channel"], b["chips"][0]["address"]) for b in cfg["boards"]]
    assert [p[0] for p in places] == list(roles_for(4))
    assert len({(ch, addr) for _, ch, addr in places}) == 10 and max(ch for _, ch, _ in places) == 4
    assert len(config.cabling(cfg)) == 64 * 10


@pytest.mark.parametrize(
    "receivers_,message",
    [
        ([{"address": 0x49, "mux": "AIN0-AIN1"}], r"adc.receivers\[0\]: AIN0-AIN1 at 0x49 uses AIN0"),
        ([{"address": 0x4A, "mux": "AIN2-AIN3"}] * 2, r"adc.receivers\[1\]: .*channel 2"),
        ([{"address": 0x49, "mux": "AIN1-AIN3"}], r"adc.receivers\[0\]: .*AIN1"),
        ([{"address": 0x48, "mux": "AIN2-AIN3"}], r"adc.receivers\[0\].address: 0x48 is the current ADC"),
        ([{"address": 0x4A, "mux": "AIN2"}], r"adc.receivers\[0\].mux: .*single-ended"),
        ([{"address": 0x4A, "mux": "AIN5-AIN1"}], r"adc.receivers\[0\].mux"),
        ([{"address": 0x4C, "mux": "AIN0-AIN1"}], r"adc.receivers\[0\].address"),
        ([{"address": 0x4A, "mux": "AIN0-AIN1", "gain": 2}], r"adc.receivers\[0\]: expected .*address, mux"),
        ("0x4A", r"adc.receivers: expected a list"),
        ([{"address": 0x4A, "mux": "AIN0-AIN1"}] * 6, r"adc.receivers: expected a list of at most 5"),
    ],
)
def test_bad_receivers_are_refused_by_name(receivers_, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load({"adc": {"receivers": receivers_}})


def test_boards_that_do_not_fit_the_switch_are_a_clear_error():
    with pytest.raises(config.ConfigError, match="boards: 4 receiver channels need 10 one-role boards"):
        config.load({"n_electrodes": 128, **receivers(4)})
    with pytest.raises(config.ConfigError, match="channels: 7"):
        config.receivers_for(7)
    with pytest.raises(config.ConfigError, match=r"boards: electrode 1 has no relay for role M2"):
        config.load({"n_electrodes": 32, "boards": config.four_role_boards(32), **receivers(2)})


# -- safety per channel ------------------------------------------------------------------------
def test_rules_per_channel_and_shared_electrodes_between_channels():
    n = 16
    # N of channel 1 = M of channel 2: two high-impedance inputs on one electrode, allowed
    ok = check_relay_state({"A": [1], "B": [2], "M": [3], "N": [4], "M2": [4], "N2": [5]}, n)
    assert ok["N"] == ok["M2"] == {4}
    for state, reason in [
        ({"A": [1], "B": [2], "M2": [2], "N2": [5]}, "on M2 while injecting"),
        ({"A": [1], "B": [2], "M": [3], "N": [4], "M3": [6], "N3": [6]}, "both M3 and N3"),
        ({"A": [1], "B": [2], "M7": [3]}, "unknown role"),
        ({"A": [1], "B": [2], "N2": [17]}, "N2 17 outside"),
    ]:
        with pytest.raises(SafetyError, match=reason):
            check_relay_state(state, n)
    with pytest.raises(SafetyError, match="3 M–N dipoles for 2 receiver channel"):
        group_state(1, 2, [(3, 4), (5, 6), (7, 8)], n, 2)
    with pytest.raises(SafetyError, match="M2 1 would|on M2 while injecting"):
        group_state(1, 2, [(3, 4), (1, 6)], n, 2)


def test_a_group_refused_or_a_role_not_cabled_writes_nothing():
    board, hw, cfg = simulated_board({"n_electrodes": 16, **receivers(2)})
    board.relays.connect_group(1, 2, [(3, 4), (4, 5)])
    assert hw.relay_state() == {"A": {1}, "B": {2}, "M": {3}, "N": {4}, "M2": {4}, "N2": {5}}
    before, transfers = [c.latch() for c in hw.expanders], hw.bus.transfers
    for bad in ([(3, 4), (5, 6), (7, 8)], [(3, 4), (6, 6)], [(3, 4), (2, 6)]):
        with pytest.raises(SafetyError):
            board.relays.connect_group(1, 2, bad)
    with pytest.raises(SafetyError, match="no relay for role M3"):
        board.relays.connect({"A": [1], "B": [2], "M3": [5], "N3": [6]})
    assert [c.latch() for c in hw.expanders] == before and hw.bus.transfers == transfers


N_SMALL = 8
ROLES3 = roles_for(3)
electrode = st.integers(0, N_SMALL + 1)


class GroupCommands(RuleBasedStateMachine):
    """Random group commands on a 3-channel board, valid or not: after every single register
    write (the two-pass switching) the wire shows a safe state."""

    def __init__(self):
        super().__init__()
        self.board, self.hw, _ = simulated_board({"n_electrodes": N_SMALL, **receivers(3)})
        self.unsafe = []
        for chip in self.board.expanders:
            original = chip.write_latch

            def spy(value, original=original):
                original(value)
                self._check(self.hw.relay_state())

            chip.write_latch = spy

    def _check(self, state):
        inject = state["A"] | state["B"]
        bad = bool(state["A"] & state["B"])
        for channel in (1, 2, 3):
            m, n = receiver_roles(channel)
            bad |= bool((state[m] | state[n]) & inject) or bool(state[m] & state[n])
        if bad:
            self.unsafe.append(dict(state))

    @rule(a=electrode, b=electrode, dipoles=st.lists(st.tuples(electrode, electrode), min_size=0, max_size=4))
    def group(self, a, b, dipoles):
        before = self.hw.relay_state()
        try:
            self.board.relays.connect_group(a, b, dipoles)
        except SafetyError:
            assert self.hw.relay_state() == before
        else:
            want = {"A": {a}, "B": {b}} | {
                role: {e} for ch, d in enumerate(dipoles, 1) for role, e in zip(receiver_roles(ch), d)
            }
            assert {r: set(v) for r, v in self.hw.relay_state().items() if v} == want

    @rule(state=st.fixed_dictionaries({r: st.frozensets(electrode, max_size=2) for r in ROLES3}))
    def raw(self, state):
        try:
            self.board.relays.connect(state)
        except SafetyError:
            pass

    @rule()
    def release(self):
        self.board.safe_state()

    @invariant()
    def never_unsafe_on_the_wire(self):
        assert not self.unsafe
        self._check(self.hw.relay_state())
        assert not self.unsafe


TestGroupCommands = GroupCommands.TestCase
TestGroupCommands.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)


# -- the 4-channel emulation -------------------------------------------------------------------
@pytest.fixture(scope="module")
def four():
    cfg = {
        "n_electrodes": 16,
        **receivers(4),
        "injection": {"supply": "dps5005"},
        "sim": {"model": f"homogeneous:rho={RHO}", "noise": 0.002},
    }
    with Instrument.from_config(cfg, time_scale=0) as inst:
        inst.settings = {"strategy": "adaptive", "nb_stack": 2}
        yield inst


def truth(inst, records):
    quads = np.array([[r[k] for k in "abmn"] for r in records])
    return earth.HomogeneousEarth(RHO).transfer_resistances(inst.positions, quads)


def test_four_channels_measure_each_dipole_from_its_own_relays(four):
    assert four.channels == 4
    dipoles = [(3, 4), (4, 5), (6, 5), (8, 10)]  # a shared electrode, a reversed dipole, a wider one
    results = four.measure_group(1, 2, dipoles, hold_relays=True)
    records = [r for r, _ in results]
    assert [r["channel"] for r in records] == [1, 2, 3, 4]
    assert [(r["a"], r["b"], r["m"], r["n"]) for r in records] == [(1, 2, m, n) for m, n in dipoles]
    for record, expected in zip(records, truth(four, records)):
        assert record["flags"] == []
        assert abs(record["r_ohm"] / expected - 1) < max(0.01, 5 * record["r_std_pct"] / 100)
    assert len({r["iab_mA"] for r in records}) <= 4 and all(r["n_stacks"] == 2 for r in records)
    assert all(len(w["voltage_mV"]) == records[0]["n_samples"] for _, w in results)
    # held: the next group on the same A–B, the dipoles moved along, reversed on the wire if it saves relays
    again = [r for r, _ in four.measure_group(2, 1, [(5, 6), (7, 8)], hold_relays=True)]
    for record, expected in zip(again, truth(four, again)):
        assert abs(record["r_ohm"] / expected - 1) < max(0.01, 5 * record["r_std_pct"] / 100)
    assert [r["channel"] for r in again] == [1, 2]
    four.safe_state()
    assert not any(four.board.relays.state.values())


def test_one_dipole_on_a_four_channel_instrument_is_the_plain_measure(four):
    record, _ = four.measure(1, 4, 2, 3)
    assert record["channel"] == 1 and abs(record["r_ohm"] / truth(four, [record])[0] - 1) < 0.01
    with pytest.raises(SafetyError, match="5 M–N dipoles for 4"):
        four.measure_group(1, 2, [(3, 4)] * 5)


# -- stacking until every channel may stop ------------------------------------------------------
TARGET = validate_settings({"target_std_pct": 2.0, "min_stacks": 1, "max_stacks": 8, "nb_stack": 2})


@given(st.integers(0, 9), st.lists(st.floats(0.01, 100.0) | st.just(float("nan")), min_size=1, max_size=4))
def test_a_group_stops_when_every_channel_may_stop(done, values):
    assert enough(TARGET, done, lambda: values) == all(enough(TARGET, done, lambda v=v: v) for v in values)


def test_a_hopeless_far_dipole_does_not_force_max_stacks_on_its_group():
    hopeless = 2.0 * 10  # (10x the target: 100x the stacks) even 8 stacks would not reach 2 %
    assert enough(TARGET, 2, lambda: [0.5, 1.9, hopeless])
    assert not enough(TARGET, 2, lambda: [0.5, 2.5, hopeless])  # 2.5 % reaches 2 % with 4 stacks
    assert enough(TARGET, 1, lambda: [0.5, hopeless])  # a hopeless one stops at min_stacks
    assert not enough(TARGET, 1, lambda: [0.5, 2.5, hopeless])


# -- grouping a sequence -----------------------------------------------------------------------
quads_st = st.integers(6, 14).flatmap(
    lambda n: st.lists(st.permutations(range(1, n + 1)).map(lambda p: tuple(p[:4])), min_size=1, max_size=40).map(
        lambda qs: (n, np.array(qs))
    )
)


@settings(max_examples=60, deadline=None)
@given(quads_st, st.integers(1, 5), st.booleans())
def test_groups_keep_the_quadrupoles_share_ab_fit_the_channels_and_are_safe(case, k, reciprocals):
    n, quads = case
    if reciprocals:
        quads = sequences.with_reciprocals(quads)
    ordered = sequence_groups.order(quads, k)
    assert Counter(map(tuple, ordered.tolist())) == Counter(map(tuple, quads.tolist()))
    ranges = sequence_groups.group_ranges(ordered, k)
    assert [i for g in ranges for i in g] == list(range(len(ordered)))
    for g in ranges:
        assert 1 <= len(g) <= k
        group = ordered[g]
        assert (group[:, :2] == group[0, :2]).all()
        group_state(int(group[0, 0]), int(group[0, 1]), group[:, 2:].tolist(), n, k)
    assert [sequence_groups.group_at(ordered, g.start, k) for g in ranges] == ranges
    # reciprocal pairing: every reciprocal still comes after its normal
    assert len(sequences.reciprocal_pairs(ordered)) == len(sequences.reciprocal_pairs(quads))
    if k == 1:
        assert (ordered == sequence_order.optimize(quads)).all()


def test_dipole_dipole_groups_by_four_and_similar_strength():
    quads = sequences.generate("dipole-dipole", 32)
    ordered = sequence_groups.order(quads, 4)
    ranges = sequence_groups.group_ranges(ordered, 4)
    assert len(ranges) < 0.3 * len(quads)
    from ohmpi import geometry

    k = np.abs(geometry.geometric_factors(geometry.line_positions(32), ordered))
    spread = [k[g].max() / k[g].min() for g in ranges]
    assert np.median(spread) < 3  # dipoles of a group expect signals within a factor of ~3
    assert sequence_groups.relay_operations(ordered, 4) / len(quads) < 4


def test_bad_channel_counts_are_refused():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="channels"):
            sequence_groups.group_ranges([[1, 2, 3, 4]], bad)


# -- the record and the store ------------------------------------------------------------------
def test_the_store_keeps_the_channel_and_refuses_a_bad_one(tmp_path):
    with Store(tmp_path / "s.db") as store:
        items = [meas(i) for i in range(3)]
        for i, item in enumerate(items):
            item["body"]["record"]["channel"] = i + 1 if i else None
        assert len(store.ingest(items)["acked"]) == 3
        rows = store._select_rows("survey_id = ?", ("S1",))
        assert [r["channel"] for r in rows] == [None, 2, 3]
        assert len(store.export("S1", "csv").strip().splitlines()) > 3  # the exports still work
    for bad in (0, 7, "2", 1.5):
        with pytest.raises(ItemError, match="record.channel"):
            check_record(make_record(a=1, b=2, m=3, n=4, channel=bad))
