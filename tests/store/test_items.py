"""One validator per record type (ohmpi.items): the producers and the store accept exactly the same
bodies, so nothing a producer lets into its outbox can be refused by the store, and the reverse."""

from __future__ import annotations

import copy

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bus.outbox import Outbox
from ohmpi.items import (
    ItemError,
    check_body,
    check_entry,
    check_fields,
    check_item,
    survey_body,
)
from ohmpi.store import Store
from ohmpi.survey import Survey
from tests.store.factories import meas, survey_item


def rs_check_item(key="C1", **changes) -> dict:
    body = {
        "id": key,
        "time": "2026-03-01T10:00:00.000Z",
        "survey_id": None,
        "instrument": "sim",
        "result": {"pairs": [{"a": 1, "b": 2, "rab_kohm": 1.5}], "bad_electrodes": []},
    }
    return {"key": key, "kind": "rs_check", "body": {**body, **changes}}


VALID = [meas(3), meas(4, waveform=False), survey_item(), rs_check_item(), rs_check_item("C2", survey_id="S1")]

# values a body field may be set to: what msgpack carries, some right, most wrong somewhere
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.integers(-3, 40)
    | st.floats(allow_nan=True)
    | st.text(max_size=5)
    | st.sampled_from(["", "S1", "x" * 201, "2026-03-01T10:00:00Z", "running", "nope"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated(draw):
    """A valid item with one to three random changes somewhere in its body (or its key/kind)."""
    item = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        target = item["body"]
        path = []
        while isinstance(target, dict) and target and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(target)))
            if not isinstance(target[name], dict):
                break
            path.append(name)
            target = target[name]
        action = draw(st.sampled_from(["set", "set", "set", "drop", "add", "list"]))
        names = sorted(target)
        if action == "add" or not names:
            target[draw(st.sampled_from(["zz", "extra", "r_ohm", "a"]))] = draw(values)
        elif action == "drop":
            del target[draw(st.sampled_from(names))]
        elif action == "list":  # one element of a list (waveform samples, sequence, positions...)
            lists = [n for n in names if isinstance(target[n], list) and target[n]]
            if lists:
                chosen = target[draw(st.sampled_from(lists))]
                chosen[draw(st.integers(0, len(chosen) - 1))] = draw(values)
        else:
            target[draw(st.sampled_from(names))] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        item["kind"] = draw(st.sampled_from(["measurement", "rs_check", "survey", "bogus"]))
    return item


def _producer_accepts(box: Outbox, item: dict) -> bool:
    try:
        box.put(item["key"], item["kind"], item["body"])
        return True
    except ValueError:
        return False


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(items=st.lists(mutated(), min_size=1, max_size=6))
def test_the_producer_and_the_store_accept_exactly_the_same_bodies(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("same")
    box = Outbox(
        path / "out.db", "recorder", "ingest", client_factory=lambda: None, check=check_entry
    )  # as the controller's and the sequencer's
    try:
        with Store(path / "db.sqlite") as store:
            for n, item in enumerate(items):
                item = {**item, "key": f"{item['key']}#{n}"}
                for id_field in ("measurement_id", "id"):  # keep the key rule apart from the mutations
                    if isinstance(item["body"].get(id_field), str):
                        item["body"][id_field] = item["key"]
                wire = msgpack.unpackb(msgpack.packb(item, use_bin_type=True), raw=False)
                produced = _producer_accepts(box, item)
                result = store.ingest([wire])
                assert result["acked"] == [item["key"]]  # stored or kept aside: never blocking
                refused = [r["reason"] for r in result["refused"]]
                assert produced == (not refused), (item, refused)
                event(f"{item['kind']} {'stored' if produced else 'refused'}")
                if produced and item["kind"] == "measurement":  # stored, or its slot was already taken
                    assert store.has([item["key"]]) == [item["key"]] or store.last_conflicts == [item["key"]]
    finally:
        box.close()


@settings(max_examples=200, deadline=None)
@given(value=values, name=st.sampled_from(["survey_id", "pass_index", "seq_index", "measurement_id"]))
def test_the_checks_before_the_hardware_runs_agree_with_the_whole_body(value, name):
    """The controller checks the fields a request supplies before measuring (check_fields): the
    same verdict as checking the whole body the measurement will be stored with."""
    body = copy.deepcopy(meas(1)["body"])
    body[name] = value
    try:
        check_fields("measurement", {name: value})
        early = True
    except ItemError:
        early = False
    try:
        check_body("measurement", body)
        whole = True
    except ItemError:
        whole = False
    assert early == whole


@pytest.mark.parametrize(
    "item, field",
    [
        (rs_check_item(survey_id=""), "survey_id"),
        (rs_check_item(survey_id="x" * 201), "survey_id"),
        (rs_check_item(result={b"k": 1}), "result"),
        (rs_check_item(time="yesterday"), "time"),
        ({**meas(1), "body": {**meas(1)["body"], "pass_index": -1}}, "pass_index"),
        ({**meas(1), "body": {**meas(1)["body"], "seq_index": 2**63}}, "seq_index"),
        ({**meas(1), "body": {**meas(1)["body"], "record": {**meas(1)["body"]["record"], "a": 10**6}}}, "record.a"),
        (
            {**meas(1), "body": {**meas(1)["body"], "record": {**meas(1)["body"]["record"], "r_ohm": 10**400}}},
            "record.r_ohm",
        ),
        ({**meas(1), "body": {**meas(1)["body"], "waveform": {"t_s": [0.0, 1.0], "counted": [True]}}}, "waveform"),
        ({**meas(1), "body": {**meas(1)["body"], "waveform": {"t_s": [0, 2**64]}}}, "waveform.t_s"),
        ({**meas(1), "body": {**meas(1)["body"], "colour": "red"}}, "colour"),
        ({**survey_item(), "body": {**survey_item()["body"], "state": "exploded"}}, "state"),
        ({**survey_item(), "body": {**survey_item()["body"], "positions": [[0, 0, 0]]}}, "positions"),
        ({**survey_item(), "body": {**survey_item()["body"], "every_s": float("inf")}}, "every_s"),
        ({**survey_item(), "body": {**survey_item()["body"], "repeat": 0}}, "repeat"),
    ],
)
def test_refusals_name_the_field(item, field):
    with pytest.raises(ItemError) as info:
        check_item(item)
    assert info.value.field == field and str(info.value).startswith(field)


def test_a_sequencer_survey_is_described_by_what_the_store_accepts():
    s = Survey(
        survey_id="S1",
        name="line",
        sequence=[[1, 4, 2, 3], [2, 5, 3, 4]],
        settings={"nb_stack": 2},
        positions=[[float(i), 0.0, 0.0] for i in range(8)],
        n_electrodes=8,
        array="wenner",
        repeat=3,
    )
    body = survey_body(s, "2026-03-01T10:00:00Z")
    assert check_body("survey", body) == {**body, "every_s": 0.0}
    assert body["total"] == 2 and body["state"] == "running" and body["created"] == s.created
    s.n_electrodes = 4  # a sequence beyond its own electrodes
    with pytest.raises(ItemError, match="sequence\\[1\\] names electrode 5 beyond n_electrodes = 4"):
        check_body("survey", survey_body(s, "2026-03-01T10:00:00Z"))
