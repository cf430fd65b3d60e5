"""Logs, SOH and audit on their way to the store: parsed from their topics, SOH down-sampled on the
monotonic clock, held while the disk is low, bounded, written with the bad rows left out and the
rest kept through a storage error."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.store import Store
from ohmpi.store.event_buffer import BATCH_ROWS, EventBuffer


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


def test_events_become_rows_by_their_topic(store):
    buf = EventBuffer(soh_every_s=60)
    assert buf.add_event("log.controller.warning", 1.0, {"message": "hot", "temp_C": 71})
    assert buf.add_event("log.web.info", 2.0, "not a map")
    assert buf.add_event("audit.web", 3.0, {"action": "login", "ok": False, "user": "eve", "ip": "10.0.0.9"})
    assert buf.add_event("soh.recorder", 4.0, {"rss_mb": 40})
    assert not buf.add_event("log.short", 5.0, {"message": "no level"})
    assert not buf.add_event("state.recorder", 6.0, {})
    assert len(buf) == 4 and buf.write(store) == 4 and len(buf) == 0
    logs = store.logs()
    assert [(r["process"], r["level"], r["message"], r["extra"]) for r in logs] == [
        ("web", "info", "not a map", None), ("controller", "warning", "hot", {"temp_C": 71})]
    (audit,) = store.audit()
    assert (audit["action"], audit["ok"], audit["user"], audit["details"]) == ("login", False, "eve", {"ip": "10.0.0.9"})
    assert store.soh()[0]["data"] == {"rss_mb": 40}


def test_soh_is_down_sampled_per_process_on_the_monotonic_clock():
    clock = Clock()
    buf = EventBuffer(soh_every_s=60, clock=clock)
    assert buf.add_event("soh.a", 1.0, {})
    assert buf.add_event("soh.b", 1.0, {})
    clock.now += 59.9
    assert not buf.add_event("soh.a", -1e9, {})  # the sender's wall clock jumped back: no matter
    clock.now += 0.1
    assert buf.add_event("soh.a", 2.0, {})
    assert len(buf.soh) == 3


def test_while_the_disk_is_low_soh_is_not_kept_but_logs_are():
    buf = EventBuffer(soh_every_s=0)
    buf.hold_soh = True
    assert not buf.add_event("soh.a", 1.0, {}) and buf.soh_not_stored == 1
    assert buf.add_event("log.a.error", 1.0, {"message": "disk low"})
    buf.hold_soh = False
    assert buf.add_event("soh.a", 2.0, {})


def test_the_buffer_is_bounded_dropping_the_oldest():
    buf = EventBuffer(soh_every_s=0, max_rows=5)
    for i in range(8):
        buf.add_event("log.a.info", float(i), {"message": str(i)})
    assert len(buf) == 5 and buf.dropped == 3
    assert [r["message"] for r in buf.logs] == ["3", "4", "5", "6", "7"]


def test_full_at_a_batch():
    buf = EventBuffer(soh_every_s=0)
    for i in range(BATCH_ROWS - 1):
        buf.add_event("log.a.info", float(i), {"message": "x"})
    assert not buf.full()
    buf.add_event("audit.a", 0.0, {"action": "x"})
    assert buf.full()


def test_a_storage_error_keeps_the_rows_for_the_next_try(store):
    buf = EventBuffer(soh_every_s=0)
    buf.add_event("log.a.info", 1.0, {"message": "kept"})
    store._db.execute("CREATE TRIGGER boom BEFORE INSERT ON logs BEGIN SELECT RAISE(ABORT, 'disk'); END")
    with pytest.raises(sqlite3.Error):
        buf.write(store)
    assert len(buf) == 1 and store.logs() == []
    store._db.execute("DROP TRIGGER boom")
    assert buf.write(store) == 1 and [r["message"] for r in store.logs()] == ["kept"]


@settings(max_examples=50, deadline=None)
@given(ts=st.lists(st.one_of(st.floats(-1e9, 1e9), st.text(max_size=3), st.none()), min_size=1, max_size=10))
def test_bad_rows_are_left_out_and_the_others_written(tmp_path_factory, ts):
    with Store(tmp_path_factory.mktemp("bad") / "db.sqlite") as store:
        buf = EventBuffer(soh_every_s=0)
        for t in ts:
            buf.add_event("log.a.info", t, {"message": "m"})
        good = sum(isinstance(t, float) or (isinstance(t, str) and _is_float(t)) for t in ts)
        assert buf.write(store) == len(ts) and len(buf) == 0
        assert len(store.logs(limit=100)) == good and buf.bad_rows == len(ts) - good


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
