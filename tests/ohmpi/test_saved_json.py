"""ohmpi.durable.SavedJson: the small state files of relay wear and survey energy — read once,
a bad file set aside, written at most every flush_s, a card that cannot be written never stops
the owner and the state is written at a later turn."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ohmpi.durable import SavedJson


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_written_at_most_every_flush_s_and_now_when_asked(tmp_path):
    clock, path = Clock(), tmp_path / "state.json"
    saved = SavedJson(path, flush_s=60, clock=clock)
    saved.dirty = True
    saved.flush_if_due({"a": 1})
    assert not path.exists()  # not due yet
    saved.flush_if_due({"a": 1}, now=True)
    assert json.loads(path.read_text()) == {"a": 1} and not saved.dirty
    saved.dirty, clock.t = True, 59.0
    saved.flush_if_due({"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    clock.t = 60.0
    saved.flush_if_due({"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert SavedJson(path, flush_s=60).load(lambda d: isinstance(d, dict)) == {"a": 2}


def test_a_card_that_cannot_be_written_keeps_the_state_dirty_and_tries_later(tmp_path):
    clock = Clock()
    saved = SavedJson(tmp_path / "missing-dir" / "state.json", flush_s=10, clock=clock)
    saved.dirty = True
    clock.t = 10.0
    saved.flush_if_due([1, 2, 3])  # no exception: the owner goes on
    assert saved.dirty  # written at a later turn
    (tmp_path / "missing-dir").mkdir()
    saved.flush_if_due([1, 2, 3])
    assert saved.dirty  # postponed by flush_s after the failure, not retried at every call
    clock.t = 20.0
    saved.flush_if_due([1, 2, 3])
    assert not saved.dirty and json.loads((tmp_path / "missing-dir" / "state.json").read_text()) == [1, 2, 3]


@given(st.binary(max_size=64) | st.just(b'{"a": -1}') | st.just(b"[]"))
def test_a_file_that_is_not_what_the_owner_expects_is_set_aside(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("s") / "state.json"
    path.write_bytes(content)
    saved = SavedJson(path, flush_s=60)

    def valid(data):
        return isinstance(data, dict) and all(isinstance(v, int) and v >= 0 for v in data.values())

    data = saved.load(valid)
    if data is None:
        assert saved.set_aside and not path.exists()
        assert list(path.parent.glob("state.json.corrupt-*"))  # kept for a person, never deleted
    else:
        assert valid(data) and saved.set_aside is None and path.exists()
