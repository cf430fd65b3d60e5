"""A survey item is the `Survey` as its own dataclass describes it: its fields are derived from
the dataclass (never listed again), each checked by its declared type or its meaning."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.items import (
    SURVEY_FIELDS,
    ItemError,
    check_body,
    survey_body,
    survey_item_fields,
)
from ohmpi.survey import PROGRESS_FIELDS, Survey

UPDATED = "2026-03-01T10:00:00Z"


@st.composite
def surveys(draw) -> Survey:
    n = draw(st.integers(4, 64))
    quad = st.lists(st.integers(1, n), min_size=4, max_size=4)
    finite = st.floats(-1e6, 1e6, allow_nan=False)
    return Survey(
        survey_id=draw(st.text(min_size=1, max_size=200)),
        name=draw(st.text(max_size=1000)),
        sequence=draw(st.lists(quad, min_size=1, max_size=20)),
        settings=draw(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3)),
        positions=[draw(st.lists(finite, min_size=3, max_size=3)) for _ in range(n)],
        n_electrodes=n,
        array=draw(st.none() | st.text(max_size=20)),
        repeat=draw(st.integers(1, 1000)),
        every_s=draw(st.floats(0, 1e7) | st.integers(0, 10**6)),
    )


@settings(max_examples=100, deadline=None)
@given(survey=surveys())
def test_every_survey_the_sequencer_can_make_is_an_item_the_store_accepts(survey):
    body = survey_body(survey, UPDATED)
    assert check_body("survey", body) == {**body, "every_s": float(survey.every_s)}
    assert body["total"] == len(survey.sequence) and body["updated"] == UPDATED


def test_the_item_is_the_fixed_part_of_the_dataclass_with_state_update_and_total():
    fixed = {f.name for f in dataclasses.fields(Survey)} - set(PROGRESS_FIELDS)
    assert set(SURVEY_FIELDS) == fixed | {"state", "updated", "total"}
    assert not set(SURVEY_FIELDS) & (set(PROGRESS_FIELDS) - {"state", "updated"})  # no progress in the item


def test_a_field_added_to_the_survey_is_in_its_item_checked_by_its_type():
    @dataclasses.dataclass
    class Tagged(Survey):
        operator: str = ""
        antenna: float = 0.0

    fields = survey_item_fields(Tagged)
    assert {"operator", "antenna"} <= set(fields)
    with pytest.raises(ItemError, match="operator must be a string"):
        fields["operator"](5, "operator")
    with pytest.raises(ItemError, match="antenna must be a finite number >= 0"):
        fields["antenna"](float("nan"), "antenna")


def test_a_field_of_a_type_the_items_cannot_check_fails_loudly():
    @dataclasses.dataclass
    class Odd(Survey):
        blob: bytes = b""

    with pytest.raises(KeyError):
        survey_item_fields(Odd)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("survey_id", "", "survey_id must be a string of 1..200"),
        ("created", "yesterday", "created is not an ISO 8601 time"),
        ("state", "exploded", "state must be one of"),
        ("n_electrodes", 0, "n_electrodes must be an integer in 1.."),
        ("repeat", 0, "repeat must be an integer in 1.."),
        ("array", 3, "array must be a string"),
        ("name", None, "name must be a string"),
        ("total", -1, "total must be an integer in 0.."),
    ],
)
def test_meaning_refines_the_type(field, value, words):
    s = Survey(
        survey_id="S1",
        name="line",
        sequence=[[1, 2, 3, 4]],
        settings={},
        positions=[[float(i), 0.0, 0.0] for i in range(4)],
        n_electrodes=4,
    )
    body = {**survey_body(s, UPDATED), field: value}
    with pytest.raises(ItemError) as info:
        check_body("survey", body)
    assert info.value.field == field and words in str(info.value)
