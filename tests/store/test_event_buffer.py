"""Logs, SOH and audit on their way to the store: parsed from their topics, SOH down-sampled on the
monotonic clock, held while the disk is low, bounded, written with the bad rows left out and the
rest kept through a storage error."""

from __future__ import annotations

import math
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
        ("web", "info", "not a map", None),
        ("controller", "warning", "hot", {"temp_C": 71}),
    ]
    (audit,) = store.audit()
    assert (audit["action"], audit["ok"], audit["user"], audit["details"]) == (
        "login",
        False,
        "eve",
        {"ip": "10.0.0.9"},
    )
    assert store.soh()[0]["data"] == {"rss_mb": 40}


def test_soh_is_one_sample_per_process_per_common_slot_of_the_monotonic_clock():
    clock = Clock()  # 1000.0: in the slot [960, 1020) of 60 s
    buf = EventBuffer(soh_every_s=60, clock=clock)
    assert buf.add_event("soh.a", 1.0, {})
    assert not buf.add_event("soh.a", 1.0, {})  # the same slot
    clock.now = 1019.9
    assert not buf.add_event("soh.a", -1e9, {})  # the sender's wall clock jumped back: no matter
    assert buf.add_event("soh.b", 1.0, {})
    clock.now = 1020.0  # a new slot for every process at once: their samples share a commit
    assert buf.add_event("soh.a", 2.0, {}) and buf.add_event("soh.b", 2.0, {})
    assert len(buf.soh) == 4


@settings(max_examples=100, deadline=None)
@given(beats=st.lists(st.floats(0, 5), min_size=1, max_size=200), every=st.sampled_from([1.0, 7.5, 60.0]))
def test_never_more_than_one_sample_per_process_per_slot(beats, every):
    clock = Clock()
    buf = EventBuffer(soh_every_s=every, clock=clock)
    kept, seen = [], set()
    for step in beats:
        clock.now += step
        seen.add(int(clock.now // every))
        if buf.add_event("soh.p", clock.now, {}):
            kept.append(int(clock.now // every))
    assert kept == sorted(seen)  # exactly one sample in every slot a sample arrived in


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
    assert [r[4] for r in buf.logs] == ["3", "4", "5", "6", "7"]  # (ts, process, level, level_no, message, …)


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


@settings(max_examples=100, deadline=None)
@given(
    ts=st.lists(
        st.one_of(st.floats(), st.text(max_size=4), st.none(), st.integers(-(2**70), 2**70)), min_size=1, max_size=10
    )
)
def test_a_row_that_cannot_be_stored_is_refused_on_arrival_never_blocking_the_batch(tmp_path_factory, ts):
    with Store(tmp_path_factory.mktemp("bad") / "db.sqlite") as store:
        buf = EventBuffer(soh_every_s=0)
        kept = [buf.add_event("log.a.info", t, {"message": "m"}) for t in ts]
        good = sum(_finite(t) for t in ts)
        assert sum(kept) == good == len(buf) and buf.bad_rows == len(ts) - good
        assert buf.write(store) == good and len(buf) == 0  # NaN would be NULL: the whole batch refused
        assert len(store.logs(limit=100)) == good


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (ValueError, TypeError, OverflowError):
        return False


def test_due_when_the_oldest_row_has_waited_flush_s_or_at_once_for_audit_or_a_full_batch(store):
    clock = Clock()
    buf = EventBuffer(soh_every_s=60, flush_s=5, clock=clock)
    assert not buf.due()
    buf.add_event("soh.a", 1.0, {})
    clock.now += 3
    buf.add_event("log.a.info", 2.0, {"message": "m"})
    clock.now += 1.9
    assert not buf.due()
    clock.now += 0.1  # 5 s after the first row, whatever came since
    assert buf.due() and buf.write(store) == 2 and not buf.due()
    buf.add_event("audit.web", 3.0, {"action": "login"})
    assert buf.due()  # who did what is not held back


def test_one_flush_is_one_transaction(store):
    """Logs, SOH and audit of a flush are committed together: all or none."""
    buf = EventBuffer(soh_every_s=0)
    buf.add_event("log.a.info", 1.0, {"message": "m"})
    buf.add_event("soh.a", 1.0, {"x": 1})
    buf.add_event("audit.a", 1.0, {"action": "x"})
    store._db.execute("CREATE TRIGGER boom BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk'); END")
    with pytest.raises(sqlite3.Error):
        buf.write(store)
    assert store.logs() == [] and store.soh() == [] and len(buf) == 3  # the log and SOH rows not committed either
    store._db.execute("DROP TRIGGER boom")
    changes = store._db.total_changes
    assert buf.write(store) == 3 and store._db.total_changes - changes == 3
    assert store.counts["logs"] == store.counts["soh"] == store.counts["audit"] == 1
