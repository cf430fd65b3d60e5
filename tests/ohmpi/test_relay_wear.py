"""The lifetime counter per relay: counts what the coils really did (the emulated expanders
agree), survives restarts, warns at the rated life, and never stands in the way of safety."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.instrument import Instrument
from ohmpi.relay_wear import RelayWear

quads = st.lists(st.integers(1, 16), min_size=4, max_size=4, unique=True)


@given(st.lists(quads, min_size=1, max_size=10), st.booleans())
@settings(max_examples=30, deadline=None)
def test_counts_agree_with_the_coils_on_the_registers(sequence, release_between):
    with Instrument.from_config({"n_electrodes": 16}, time_scale=0) as inst:
        relays, hw = inst.board.relays, inst.sim
        for quad in sequence:
            relays.connect_quadrupole(*quad)
            if release_between:
                inst.safe_state()
        inst.safe_state()
        assert inst.soh()["relay_ops_total"] == hw.relay_operations()


def test_counts_persist_and_warn_at_the_rated_life(tmp_path):
    path = tmp_path / "wear.json"
    cfg = {"n_electrodes": 16, "relay_rated_ops": 4}
    with Instrument.from_config(cfg, time_scale=0, wear_path=path) as inst:
        for _ in range(2):
            inst.board.relays.connect_quadrupole(1, 4, 2, 3)
            inst.safe_state()
        assert sorted(inst.soh()["relays_worn"]) == ["1A", "2M", "3N", "4B"]
    assert json.loads(path.read_text())["1A"] == 4
    with Instrument.from_config(cfg, time_scale=0, wear_path=path) as inst:
        inst.board.relays.connect_quadrupole(1, 5, 2, 3)
        soh = inst.soh()
        assert soh["relay_ops_max"] == 5 and soh["relay_ops_total"] == 20 and "5B" not in soh["relays_worn"]


def test_an_unreadable_counter_file_is_set_aside_not_fatal(tmp_path):
    path = tmp_path / "wear.json"
    path.write_text('{"1A": "lots"}')
    with Instrument.from_config({"n_electrodes": 16}, time_scale=0, wear_path=path) as inst:
        assert inst.wear.set_aside and inst.soh()["relay_ops_total"] == 0
    assert list(tmp_path.glob("wear.json.corrupt-*"))


def test_a_failing_counter_never_blocks_the_release(tmp_path):
    wear = RelayWear({}, tmp_path / "missing-dir" / "wear.json", flush_s=0)
    with Instrument.from_config({"n_electrodes": 16}, time_scale=0) as inst:
        inst.board.relays.on_switch = wear.switched  # every switch tries to write and fails
        inst.board.relays.connect_quadrupole(1, 4, 2, 3)
        inst.safe_state()
        assert all(chip.outputs() == 0 for chip in inst.sim.expanders)
        assert sum(wear.counts.values()) == 8
