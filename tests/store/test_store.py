"""The SQLite store on a real file: idempotent ingest, dead letters, rollback, survey ordering, exports,
retention, the size quota and the caps on log rows."""

from __future__ import annotations

import io
import json
import math
import random
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohmpi import formats
from ohmpi.record import FIELDS, make_record
from ohmpi.store import SCHEMA_VERSION, Store, decode_waveform, encode_waveform
from tests.store.factories import meas, record, survey_item


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "ohmpi.db")
    yield s
    s.close()


def raw_count(path, table="measurements") -> int:
    with sqlite3.connect(path) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_file_is_wal_synchronous_full_with_schema_version(store):
    con = store._db
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version == SCHEMA_VERSION
    cols = {r[1] for r in con.execute("PRAGMA table_info(measurements)")}
    assert set(FIELDS) <= cols and {"measurement_id", "survey_id", "pass_index", "seq_index", "instrument"} <= cols


def test_reopening_keeps_data_and_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.db"
    with Store(path) as s:
        s.ingest([meas(0)])
    with Store(path) as s:
        assert s.counts["measurements"] == 1 and s.schema_version == SCHEMA_VERSION
        s._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this software"):
        Store(path)


def acked(items) -> dict:
    return {"acked": [it["key"] for it in items], "refused": []}


def test_ingest_is_idempotent(store):
    items = [meas(i) for i in range(20)] + [survey_item()]
    assert store.ingest(items) == acked(items)
    assert store.ingest(items) == acked(items)  # a replay: acked again ...
    assert store.ingest(items[:5] + items[:5]) == acked(items[:5] + items[:5])
    assert raw_count(store.path) == 20  # ... never stored twice
    assert raw_count(store.path, "waveforms") == 20
    assert raw_count(store.path, "surveys") == 1
    assert store.counts["measurements"] == 20
    assert store.measurement_ids("S1") == [f"S1:0:{i}" for i in range(20)]


BAD_CASES = [
    ({"key": "x", "kind": "telemetry", "body": {}}, "kind must be one of"),
    (
        {"key": "x", "kind": "measurement", "body": {**meas(9)["body"], "measurement_id": "x", "record": {"a": 1}}},
        "body.record.b",
    ),
    (
        {
            "key": "x",
            "kind": "measurement",
            "body": {**meas(9)["body"], "measurement_id": "x", "record": {**record(1), "zz": 1}},
        },
        "unknown field",
    ),
    (
        {
            "key": "x",
            "kind": "measurement",
            "body": {**meas(9)["body"], "measurement_id": "x", "record": {**record(1), "r_ohm": "big"}},
        },
        "body.record.r_ohm",
    ),
    (
        {
            "key": "x",
            "kind": "measurement",
            "body": {**meas(9)["body"], "measurement_id": "x", "waveform": {"t_s": [1.0, "a"]}},
        },
        "body.waveform.t_s",
    ),
    ({"key": "x", "kind": "measurement", "body": {**meas(9)["body"]}}, "must equal the item key"),
    (
        {"key": "x", "kind": "measurement", "body": {**meas(9)["body"], "measurement_id": "x", "survey_id": ""}},
        "body.survey_id",
    ),
    (
        {
            "key": "x",
            "kind": "rs_check",
            "body": {"id": "x", "time": "not a time", "survey_id": None, "instrument": "sim", "result": {}},
        },
        "body.time",
    ),
    (
        {
            "key": "x",
            "kind": "rs_check",
            "body": {"id": "x", "time": "2026-03-01T10:00:00Z", "survey_id": "", "instrument": "sim", "result": {}},
        },
        "body.survey_id",
    ),
    ({"key": "x", "kind": "survey", "body": {**survey_item()["body"], "sequence": [[1, 2, 3]]}}, "sequence"),
    ({"key": "x", "kind": "survey", "body": {**survey_item()["body"], "total": 3}}, "body.total"),
    (
        {"key": "x", "kind": "survey", "body": {**survey_item()["body"], "sequence": [[1, 2, 3, 40]] * 10}},
        "beyond n_electrodes",
    ),
    ({"key": "", "kind": "survey", "body": {}}, "key must be"),
]


@pytest.mark.parametrize("bad, words", BAD_CASES)
def test_a_malformed_item_is_dead_lettered_and_the_rest_stored(store, bad, words):
    good = [meas(i) for i in range(5)]
    batch = good[:2] + [bad] + good[2:] + [survey_item()]
    result = store.ingest(batch, producer="tester")
    assert result["acked"] == [it["key"] for it in batch]  # all of them: nothing waits behind the bad one
    (refusal,) = result["refused"]
    assert refusal["key"] == bad["key"] and words in refusal["reason"], refusal
    if bad["key"]:
        assert f"item {bad['key']!r}" in refusal["reason"]  # the message names the culprit item
    assert raw_count(store.path) == 5 and raw_count(store.path, "surveys") == 1
    (letter,) = store.dead_letters()
    assert letter["key"] == bad["key"] and letter["kind"] == bad["kind"] and letter["producer"] == "tester"
    assert letter["reason"] == refusal["reason"] and json.loads(letter["body"]) == bad["body"]
    assert store.ingest([bad])["refused"][0]["key"] == bad["key"]  # delivered again: kept once
    assert raw_count(store.path, "dead_letters") == 1
    assert store.stats()["counts"]["dead_letters"] == 1 == store.counts["dead_letters"]


def test_an_item_without_a_key_cannot_be_acknowledged_but_is_kept(store):
    result = store.ingest(["not a map", {"key": 5, "kind": "survey", "body": {}}, meas(0)])
    assert result["acked"] == ["S1:0:0"]
    assert [r["key"] for r in result["refused"]] == [None, None]
    assert "item 0: item must be a map" in result["refused"][0]["reason"]
    assert "item 1: key must be" in result["refused"][1]["reason"]
    assert [d["body"] for d in store.dead_letters()] == ["{}", '"not a map"']


def test_migrating_a_version_2_database_keeps_its_data(tmp_path):
    from ohmpi.store import MIGRATIONS, _statements

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:  # a database as the previous version left it
        for script in MIGRATIONS[:2]:
            for statement in _statements(script):
                con.execute(statement)
        con.execute("PRAGMA user_version = 2")
        con.execute("INSERT INTO logs(ts, process, level, level_no, message) VALUES (1, 'p', 'info', 20, 'old')")
    with Store(path) as s:
        assert s.counts["logs"] == 1
        assert s.schema_version == SCHEMA_VERSION == 8
        s.ingest([meas(0), {"key": "bad", "kind": "nope", "body": {}}])
        assert s.counts["measurements"] == 1 and s.counts["dead_letters"] == 1 and s.counts["audit"] == 0


def test_migrating_a_version_5_database_drops_the_per_process_soh_index_and_keeps_its_samples(tmp_path):
    from ohmpi.store import MIGRATIONS, _statements

    path = tmp_path / "v5.db"
    with sqlite3.connect(path) as con:
        for script in MIGRATIONS[:5]:
            for statement in _statements(script):
                con.execute(statement)
        con.execute("PRAGMA user_version = 5")
        con.executemany(
            "INSERT INTO soh(ts, process, data) VALUES (?, ?, '{}')",
            [(float(t), p) for t in range(50) for p in ("hub", "web")],
        )
    with Store(path) as s:
        indexes = {r[0] for r in s._db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'soh'")}
        assert "soh_process" not in indexes and "soh_ts" in indexes
        web = s.soh(process="web", limit=10)
        assert [r["ts"] for r in web] == [float(t) for t in range(49, 39, -1)] and {r["process"] for r in web} == {
            "web"
        }
        plan = " ".join(
            str(r)
            for r in s._db.execute(
                "EXPLAIN QUERY PLAN SELECT ts FROM soh WHERE process = 'web' ORDER BY ts DESC, id DESC LIMIT 10"
            )
        )
        assert "soh_ts" in plan and "TEMP B-TREE" not in plan  # newest first along the time index, no sort


def test_a_failed_write_stores_nothing(store):
    store._db.execute("CREATE TRIGGER boom BEFORE INSERT ON rs_checks BEGIN SELECT RAISE(ABORT, 'disk'); END")
    check = {
        "key": "c1",
        "kind": "rs_check",
        "body": {
            "id": "c1",
            "time": "2026-03-01T10:00:00Z",
            "survey_id": None,
            "instrument": "sim",
            "result": {"rab_kohm": [1.0, 2.0]},
        },
    }
    with pytest.raises(sqlite3.Error):
        store.ingest([meas(0), check])
    assert raw_count(store.path) == 0 and store.counts["measurements"] == 0
    store._db.execute("DROP TRIGGER boom")
    assert store.ingest([meas(0), check])["acked"] == ["S1:0:0", "c1"]
    assert store.rs_checks()[0]["result"] == {"rab_kohm": [1.0, 2.0]}


def test_a_full_disk_refuses_the_batch_and_stores_nothing(store):
    store.ingest([meas(0)])
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the database cannot grow: as if the disk were full
    with pytest.raises(sqlite3.OperationalError, match="full"):
        store.ingest([meas(i) for i in range(1, 400)])
    assert raw_count(store.path) == 1 and store.counts["measurements"] == 1
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.ingest([meas(i) for i in range(1, 400)])
    assert raw_count(store.path) == 400


def test_survey_updates_newest_wins_whatever_the_arrival_order(store):
    first = survey_item(n=1, state="running")
    second = survey_item(n=2, state="paused")
    third = survey_item(n=3, state="finished")
    store.ingest([first, third])
    store.ingest([second])  # older than what is stored: ignored
    store.ingest([first])  # a replay of the oldest
    (s,) = store.surveys()
    assert s["state"] == "finished" and s["updated"] == third["body"]["updated"]
    assert store.survey("S1")["state"] == "finished"
    store.ingest([survey_item(n=4, state="running", updated="2026-03-01T11:00:00+01:00")])  # = 10:00:00Z
    assert store.surveys()[0]["state"] == "finished"  # older in UTC, despite the larger string
    assert raw_count(store.path, "surveys") == 1


def test_surveys_listing_counts(store):
    store.ingest([survey_item("A"), survey_item("B", updated="2026-03-02T00:00:00Z")])
    store.surveys()
    store.ingest(
        [meas(i, "A", 0) for i in range(4)] + [meas(i, "A", 1, flags=["high_std"] if i else ()) for i in range(3)]
    )
    store.ingest([meas(0, "orphan")])  # measurements before their survey record: still listed
    by_id = {s["survey_id"]: s for s in store.surveys()}
    assert by_id["A"]["measurements"] == 7 and by_id["A"]["passes"] == 2 and by_id["A"]["flagged"] == 2
    assert by_id["B"]["measurements"] == 0 and by_id["orphan"]["measurements"] == 1
    assert store.survey_exists("orphan") and not store.survey_exists("nope")


def test_data_paging_in_pass_then_index_order(store):
    items = [meas(i, pass_index=p) for p in (1, 0) for i in range(30)]
    random.Random(1).shuffle(items)
    store.ingest(items)
    seen = []
    offset = 0
    while True:
        page = store.data("S1", offset=offset, limit=7)
        assert page["total"] == 60
        if not page["rows"]:
            break
        seen += [(r["pass_index"], r["seq_index"]) for r in page["rows"]]
        offset += len(page["rows"])
    assert seen == [(p, i) for p in (0, 1) for i in range(30)]
    one = store.data("S1", pass_index=1, limit=500)
    assert one["total"] == 30 and [r["seq_index"] for r in one["rows"]] == list(range(30))
    row = one["rows"][3]
    assert {k: row[k] for k in FIELDS} == record(3)
    assert row["measurement_id"] == "S1:1:3"


def test_a_second_id_for_a_taken_slot_is_acknowledged_not_stored(store):
    store.ingest([meas(0)])
    other = meas(0)
    other["key"] = other["body"]["measurement_id"] = "retry-of-0"
    assert store.ingest([other]) == {"acked": ["retry-of-0"], "refused": []}
    assert store.measurement_ids("S1") == ["S1:0:0"] and store.last_conflicts == ["retry-of-0"]
    single = meas(5)
    single["body"].update(survey_id=None, pass_index=None, seq_index=None)
    twin = meas(6)
    twin["body"].update(survey_id=None, pass_index=None, seq_index=None)
    store.ingest([single, twin])  # single measurements have no slot: both kept
    assert len(store.measurement_ids(None)) == 2


def test_waveforms_round_trip(store):
    store.ingest([meas(0)])
    assert store.waveform("S1:0:0") == meas(0)["body"]["waveform"]
    assert store.waveform("nope") is None
    wf = {
        "t_s": [i / 860 for i in range(5000)],
        "voltage_mV": [math.sin(i) * 300 for i in range(5000)],
        "counted": [i % 3 == 0 for i in range(5000)],
        "polarity": [(-1) ** i for i in range(5000)],
    }
    blob = encode_waveform(wf)
    back = decode_waveform(blob)
    assert back["t_s"] == wf["t_s"] and back["counted"] == wf["counted"] and back["polarity"] == wf["polarity"]
    assert back["voltage_mV"] == pytest.approx(wf["voltage_mV"], rel=1e-6, abs=1e-4)
    assert len(blob) < len(json.dumps(wf)) / 3


@pytest.mark.parametrize("fmt", ["ohm", "protocol", "csv"])
def test_export_round_trips_every_measurement_once(store, fmt):
    items = [meas(i, pass_index=p) for p in (0, 1) for i in range(25)]
    random.Random(2).shuffle(items)
    store.ingest(items + items[:10] + [survey_item(n_el=32)])
    text = store.export("S1", fmt)
    records, positions = formats.read(fmt, io.StringIO(text))
    want = [record(i) for _ in (0, 1) for i in range(25)]
    assert [(r["a"], r["b"], r["m"], r["n"]) for r in records] == [(r["a"], r["b"], r["m"], r["n"]) for r in want]
    assert [r["r_ohm"] for r in records] == pytest.approx([r["r_ohm"] for r in want])
    if fmt == "csv":
        assert records == want  # every field survives the OhmPi CSV
    if fmt == "ohm":
        assert positions.tolist() == [[i * 0.5, 0.0, 0.0] for i in range(32)]
    one = formats.read(fmt, io.StringIO(store.export("S1", fmt, pass_index=1)))[0]
    assert len(one) == 25


def test_export_without_positions_uses_a_1m_line_and_says_so(store):
    store.ingest([meas(i) for i in range(5)] + [meas(9, r=None)])  # survey never described; one without R
    info = store.export_info("S1", "ohm")
    assert any("1 m apart" in n for n in info["notes"]) and any("without a finite R" in n for n in info["notes"])
    records, positions = formats.read("ohm", io.StringIO(info["text"]))
    assert len(records) == 5 and positions[:, 0].tolist() == list(range(len(positions)))
    assert len(positions) >= max(max(r["a"], r["b"], r["m"], r["n"]) for r in records)
    assert len(formats.read("csv", io.StringIO(store.export("S1", "csv")))[0]) == 6  # csv keeps all
    assert info["filename"] == "S1.ohm"
    with pytest.raises(ValueError, match="unknown format"):
        store.export("S1", "xlsx")


def test_logs_soh_and_retention(store):
    now = 1_800_000_000.0
    store.add_logs(
        [
            {"ts": now - d * 86400, "process": "controller", "level": lvl, "message": f"{d} days", "extra": {"d": d}}
            for d, lvl in ((0, "info"), (2, "error"), (10, "warning"), (40, "debug"))
        ]
    )
    store.add_soh([{"ts": now - d * 86400, "process": p, "data": {"v": d}} for d in (0, 5, 20) for p in "ab"])
    assert [r["message"] for r in store.logs(level="warning")] == ["2 days", "10 days"]
    assert store.logs(process="controller", since=now - 3 * 86400)[0]["extra"] == {"d": 0}
    assert [r["data"]["v"] for r in store.soh(process="a")] == [0, 5, 20]
    store.add_audit(
        [
            {
                "ts": now - d * 86400,
                "process": "web",
                "action": "login",
                "ok": True,
                "user": "ann",
                "role": "admin",
                "details": {"d": d},
            }
            for d in (1, 400)
        ]
    )
    assert store.prune(logs_days=7, soh_days=10, now=now) == {"logs": 2, "soh": 2, "audit": 0}
    assert [r["message"] for r in store.logs()] == ["0 days", "2 days"]
    assert len(store.soh()) == 4 and store.counts["soh"] == 4 and store.counts["logs"] == 2
    assert store.prune(logs_days=7, soh_days=10, now=now, audit_days=365)["audit"] == 1
    assert [r["details"] for r in store.audit()] == [{"d": 1}] and store.counts["audit"] == 1


def test_audit_records_newest_first_with_filters(store):
    store.add_audit(
        [
            {
                "ts": 1000.0 + i,
                "process": "controller" if i % 2 else "web",
                "action": a,
                "ok": i != 3,
                "user": u,
                "role": "operator",
                "details": {"i": i},
            }
            for i, (a, u) in enumerate(
                [
                    ("login", "ann"),
                    ("settings_change", "bob"),
                    ("login", "bob"),
                    ("login", "eve"),
                    ("survey_start", "ann"),
                ]
            )
        ]
    )
    assert [r["details"]["i"] for r in store.audit()] == [4, 3, 2, 1, 0]
    assert [r["details"]["i"] for r in store.audit(user="bob")] == [2, 1]
    assert [r["details"]["i"] for r in store.audit(action="login", since=1001.5)] == [3, 2]
    assert [r["ok"] for r in store.audit(action="login")] == [False, True, True]
    assert store.audit(limit=1)[0] == {
        "ts": 1004.0,
        "process": "web",
        "action": "survey_start",
        "ok": True,
        "user": "ann",
        "role": "operator",
        "details": {"i": 4},
    }
    store.add_audit([{"ts": 2000.0, "action": "x" * 5000, "details": {"blob": "y" * 40_000}}])
    big = store.audit(limit=1)[0]
    assert len(big["action"]) < 300 and "cut" in big["details"] and big["details"]["keys"] == ["blob"]


def test_log_messages_and_extras_are_capped_saying_what_was_cut(store):
    store.add_logs(
        [
            {
                "ts": 1.0,
                "process": "p",
                "level": "info",
                "message": "m" * 100_000,
                "extra": {"trace": "t" * 100_000, "n": 1},
            },
            {"ts": 2.0, "process": "p", "level": "info", "message": "fine", "extra": {"b": b"\x00\x01"}},
        ]
    )
    odd, big = store.logs()
    assert odd["message"] == "fine" and isinstance(odd["extra"], str)  # not JSON: kept as its repr
    assert len(big["message"]) < 8300 and big["message"].endswith("[91808 characters cut]")
    assert big["extra"]["keys"] == ["n", "trace"] and "16384-byte cap" in big["extra"]["cut"]
    assert len(json.dumps(big)) < 9000


def test_quota_prunes_oldest_logs_and_soh_never_measurements(store):
    store.ingest([meas(i) for i in range(300)])
    store.add_audit([{"ts": 1.0, "action": "login", "ok": True}])
    base = store.used_bytes()
    filler = "x" * 900
    for start in range(0, 6000, 1000):
        store.add_logs(
            [
                {"ts": 1000.0 + i, "process": "p", "level": "info", "message": f"{i} {filler}"}
                for i in range(start, start + 1000)
            ]
        )
        store.add_soh(
            [{"ts": 1000.5 + i, "process": "p", "data": {"i": i, "f": filler}} for i in range(start, start + 1000)]
        )
    assert store.used_bytes() > base + 10_000_000
    quota = base + 6_000_000
    result = store.enforce_quota(quota)
    assert result["over"] is False and result["used_bytes"] <= quota
    assert 0 < result["logs"] < 6000 and 0 < result["soh"] < 6000
    assert store.counts["logs"] == 6000 - result["logs"] and store.counts["soh"] == 6000 - result["soh"]
    # the oldest went first, whichever table they were in
    assert min(r["ts"] for r in store.logs(limit=5000)) == 1000.0 + result["logs"]
    assert min(r["ts"] for r in store.soh(limit=5000)) == 1000.5 + result["soh"]
    assert raw_count(store.path) == 300 and raw_count(store.path, "audit") == 1
    assert store.enforce_quota(quota) == {"logs": 0, "soh": 0, "used_bytes": result["used_bytes"], "over": False}
    tiny = store.enforce_quota(1000)  # below what the measurements need: logs and SOH go, data stays
    assert tiny["over"] is True and store.counts["logs"] == 0 and store.counts["soh"] == 0
    assert raw_count(store.path) == 300 and raw_count(store.path, "waveforms") == 300
    assert raw_count(store.path, "audit") == 1
    assert store.stats()["db_used_bytes"] == store.used_bytes() > 0


def test_stats(store):
    store.ingest([meas(i) for i in range(3)])
    s = store.stats()
    assert s["counts"]["measurements"] == 3 and s["counts"]["waveforms"] == 3
    assert s["db_bytes"] > 0 and s["free_disk_bytes"] > 0
    assert s["oldest_measurement"] == record(0)["time"] and s["newest_measurement"] == record(2)["time"]
    assert store.has(["S1:0:2", "zz", "S1:0:0"]) == ["S1:0:2", "S1:0:0"]


# ---- property: any order, any duplicates, any batching -> exactly the set of items ----------------
finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12)
opt_finite = st.none() | finite


@st.composite
def records(draw):
    a, b, m, n = draw(st.permutations(range(1, 17)))[:4]
    return make_record(
        a=a,
        b=draw(st.sampled_from([b, 0])),
        m=m,
        n=n,
        time=draw(st.datetimes().map(lambda d: d.isoformat() + "Z")),
        vab_V=draw(opt_finite),
        iab_mA=draw(opt_finite),
        vmn_mV=draw(opt_finite),
        r_ohm=draw(opt_finite),
        r_std_pct=draw(opt_finite),
        n_stacks=draw(st.none() | st.integers(0, 99)),
        strategy=draw(st.none() | st.text(max_size=8)),
        flags=draw(st.lists(st.sampled_from(["saturated", "low_current", "high_std"]), unique=True)),
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(recs=st.lists(records(), min_size=1, max_size=30), data=st.data())
def test_any_order_and_duplicates_store_exactly_the_set(tmp_path_factory, recs, data):
    path = tmp_path_factory.mktemp("prop") / "p.db"
    items = []
    for i, rec in enumerate(recs):
        mid = f"m{i}"
        items.append(
            {
                "key": mid,
                "kind": "measurement",
                "body": {
                    "measurement_id": mid,
                    "survey_id": "P",
                    "pass_index": i % 2,
                    "seq_index": i,
                    "instrument": "sim",
                    "record": rec,
                    "waveform": None,
                },
            }
        )
    stream = items + data.draw(st.lists(st.sampled_from(items), max_size=20))
    stream = data.draw(st.permutations(stream))
    with Store(path) as s:
        pos = 0
        while pos < len(stream):
            size = data.draw(st.integers(1, 8))
            assert s.ingest(stream[pos : pos + size]) == acked(stream[pos : pos + size])
            pos += size
        ids = s.measurement_ids("P")
        assert sorted(ids) == sorted(it["key"] for it in items) and len(ids) == len(set(ids))
        rows = s.data("P", limit=100)["rows"]
        by_id = {r["measurement_id"]: {k: r[k] for k in FIELDS} for r in rows}
        assert by_id == {it["key"]: it["body"]["record"] for it in items}
