"""Files a card tore or corrupted: the two-slot survey progress, the survey plan, the database.
Whatever the damage, loading never fails: it yields a state that was really saved (never a
mix), or sets the file aside (never deleting it) and starts afresh, saying so."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohmpi.durable import set_aside_files
from ohmpi.store import Store, check_file
from ohmpi.survey import Survey, SurveyState
from tests.support.system import wreck_pages

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _survey_state(path, saves: int) -> tuple[SurveyState, list[bytes]]:
    """A state with a survey started and advanced `saves` times; the progress file after each save."""
    state = SurveyState(path)
    state.loaded = {"name": "w", "sequence": [[1, 4, 2, 3]] * 50, "array": None}
    state.survey = Survey(
        survey_id="S1",
        name="w",
        sequence=[[1, 4, 2, 3]] * 50,
        settings={},
        positions=[[float(i), 0.0, 0.0] for i in range(4)],
        n_electrodes=4,
    )
    state.save()
    images = [state.progress_path.read_bytes()]
    for _ in range(saves):
        state.survey.advance()
        state.save()
        images.append(state.progress_path.read_bytes())
    state.close()
    return state, images


def _reload(path) -> SurveyState:
    state = SurveyState(path)
    state.close()
    return state


@SETTINGS
@given(saves=st.integers(2, 12), cut=st.floats(0, 1))
def test_a_save_torn_at_any_byte_leaves_the_previous_state_or_the_new_one(tmp_path_factory, saves, cut):
    path = tmp_path_factory.mktemp("torn") / "sequencer.json"
    _, images = _survey_state(path, saves)
    before, after = images[-2], images[-1]
    changed = [i for i in range(len(after)) if before[i] != after[i]]
    start, end = changed[0], changed[-1] + 1  # the one slot the last save rewrote
    torn_at = start + int(cut * (end - start))
    path.with_name("sequencer.progress").write_bytes(before[:start] + after[start:torn_at] + before[torn_at:])
    state = _reload(path)
    assert state.survey.next_index in (saves - 1, saves)  # the last durable state, or the new one whole
    assert state.survey.next_index == saves or torn_at < end
    assert not state.notes


@SETTINGS
@given(
    saves=st.integers(1, 12),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), min_size=1, max_size=20),
)
def test_corrupt_bytes_anywhere_in_the_progress_give_a_state_that_was_saved(tmp_path_factory, saves, flips):
    path = tmp_path_factory.mktemp("flip") / "sequencer.json"
    _survey_state(path, saves)
    progress = path.with_name("sequencer.progress")
    data = bytearray(progress.read_bytes())
    for where, xor in flips:
        data[where % len(data)] ^= xor
    progress.write_bytes(bytes(data))
    state = _reload(path)
    assert 0 <= state.survey.next_index <= saves  # never garbage, never ahead of what was saved
    assert state.survey.survey_id == "S1" and state.survey.state == "running"


@SETTINGS
@given(saves=st.integers(1, 12), keep=st.integers(0, 20000))
def test_a_truncated_or_missing_progress_falls_back_to_what_was_saved(tmp_path_factory, saves, keep):
    path = tmp_path_factory.mktemp("trunc") / "sequencer.json"
    _survey_state(path, saves)
    progress = path.with_name("sequencer.progress")
    progress.write_bytes(progress.read_bytes()[:keep])
    state = _reload(path)
    assert 0 <= state.survey.next_index <= saves
    assert state.survey.next_index in (0, saves - 1, saves)  # the plan's copy, or an intact slot


def test_both_slots_destroyed_resume_from_the_plan_and_say_so(tmp_path):
    path = tmp_path / "sequencer.json"
    _survey_state(path, 5)
    progress = path.with_name("sequencer.progress")
    progress.write_bytes(b"\xff" * len(progress.read_bytes()))
    state = _reload(path)
    assert state.survey.next_index == 0 and state.survey.survey_id == "S1"
    assert any("no intact slot" in note for note in state.notes)


@SETTINGS
@given(
    garbage=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.sampled_from(
            [
                b"{}",
                b"[]",
                b"null",
                b'{"loaded": 3}',
                b'{"loaded": null, "survey": 7}',
                b'{"loaded": null, "survey": {"survey_id": "S1"}}',
            ]
        ),
    )
)
def test_an_unreadable_plan_is_set_aside_and_the_sequencer_starts_idle(tmp_path_factory, garbage):
    path = tmp_path_factory.mktemp("plan") / "sequencer.json"
    path.write_bytes(garbage)
    state = _reload(path)
    if state.notes:  # set aside, kept, and a fresh start that saves normally
        assert state.survey is None and state.loaded is None
        assert len(list(path.parent.glob("sequencer.json.corrupt-*"))) == 1 and not path.exists()
        state.loaded = {"name": "x", "sequence": [[1, 2, 3, 4]], "array": None}
        state.save()
        assert _reload(path).loaded["name"] == "x"
    else:  # a plan that is valid after all: an empty one
        assert state.survey is None


def test_a_truncated_plan_is_set_aside(tmp_path):
    path = tmp_path / "sequencer.json"
    _survey_state(path, 3)
    path.write_bytes(path.read_bytes()[:100])
    state = _reload(path)
    assert state.survey is None and "set aside" in state.notes[0]


# ---- the database ----------------------------------------------------------------------------
def _store_with_data(path) -> None:
    with Store(path) as store:
        store.add_logs([{"ts": float(i), "process": "p", "level": "info", "message": "x" * 200} for i in range(3000)])


@pytest.mark.parametrize("damage", ["header", "pages", "truncated"])
def test_a_damaged_database_is_set_aside_and_a_new_one_started(tmp_path, damage):
    path = tmp_path / "ohmpi.db"
    _store_with_data(path)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if damage == "header":
        path.write_bytes(b"not a database at all".ljust(4096, b"\0") + path.read_bytes()[4096:])
    elif damage == "pages":
        wreck_pages(path)
    else:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    assert check_file(path) is not None
    original = path.stat().st_size
    store, aside = Store.open_checked(path)
    with store:
        assert aside is not None and aside["reason"]
        assert store.counts["logs"] == 0 and check_file(path) is None
        kept = set_aside_files(path)
        assert [str(p) for p in kept] == [aside["path"]] and kept[0].stat().st_size == original  # never deleted
        old_id = store.db_id
    store, again = Store.open_checked(path)  # a sound database: opened as it is
    with store:
        assert again is None and store.db_id == old_id


def test_a_sound_or_absent_database_passes(tmp_path):
    assert check_file(tmp_path / "none.db") is None
    _store_with_data(tmp_path / "ok.db")
    assert check_file(tmp_path / "ok.db") is None
