"""The recorder as a real process on a real hub: acknowledged delivery across kill -9, logs and SOH,
chunked exports, argument errors."""

from __future__ import annotations

import hashlib
import io
import json
import math
import signal
import sqlite3
import subprocess
import time

import pytest

from bus.errors import BadRequest
from bus.events import Subscriber
from bus.node import Node
from bus.outbox import Outbox
from ohmpi import formats
from tests.store.factories import meas, record, survey_item
from tests.support.bus import Bus
from tests.support.procs import stop, wait_until


class Rec:
    """A hub and a recorder process; the recorder can be killed and restarted."""

    def __init__(self, extra_config: str = ""):
        self.bus = Bus("ipc")
        cfg = self.bus.dir / "ohmpi.toml"
        cfg.write_text(cfg.read_text() + extra_config)
        self.db = self.bus.dir / "ohmpi.db"
        self.bus.start_hub()
        self.proc = None

    def start(self):
        self.proc = self.bus.spawn(["-m", "workers.recorder"], "recorder")
        with self.bus.client() as c:
            wait_until(
                lambda: c.wait_for("recorder", timeout=30) and self._answers(c),
                timeout=30,
                what="the recorder to register",
            )
        return self.proc

    @staticmethod
    def _answers(client):
        try:
            return client.call("recorder", "help", timeout=2.0, retries=0)
        except Exception:
            return None

    def call(self, cmd, **args):
        with self.bus.client(timeout=10.0) as c:
            return c.call("recorder", cmd, **args)

    def sql(self, query, *args):
        with sqlite3.connect(self.db, timeout=30) as con:
            return con.execute(query, args).fetchall()

    def close(self):
        self.bus.close()


@pytest.fixture
def rec():
    r = Rec()
    r.start()
    yield r
    r.close()


def test_outbox_items_survive_recorder_kill9_exactly_once(rec):
    box = Outbox(
        rec.bus.dir / "producer.db",
        "recorder",
        "ingest",
        batch_bytes=16 * 1024,
        client_factory=lambda: rec.bus.client(timeout=2.0),
        call_timeout=2.0,
    )
    n = 2000
    box.put("survey:S1:1", "survey", survey_item("S1", 1, total=n)["body"])
    for i in range(n):
        item = meas(i, "S1", 0, waveform=(i % 10 == 0))
        assert box.put(item["key"], item["kind"], item["body"])
    box.put(
        "c1",
        "rs_check",
        {
            "id": "c1",
            "time": "2026-03-01T10:00:00Z",
            "survey_id": "S1",
            "instrument": "sim",
            "result": {"rab_kohm": [0.5] * 32},
        },
    )
    box.start()
    counts_at_kill = []
    for threshold in (200, 900):  # two kill -9 while the outbox drains
        wait_until(
            lambda: rec.sql("SELECT COUNT(*) FROM measurements")[0][0] >= threshold,
            timeout=60,
            interval=0.005,
            what=f"{threshold} measurements stored",
        )
        stop(rec.proc, signal.SIGKILL)
        counts_at_kill.append(rec.sql("SELECT COUNT(*) FROM measurements")[0][0])
        time.sleep(0.3)  # the producer retries against a dead recorder meanwhile
        rec.start()
    wait_until(lambda: box.pending() == 0, timeout=90, what="the outbox to drain")
    box.close()
    assert all(c < n for c in counts_at_kill), f"the kills should land mid-stream: {counts_at_kill}"
    total, distinct, slots = rec.sql(
        "SELECT COUNT(*), COUNT(DISTINCT measurement_id), "
        "COUNT(DISTINCT seq_index) FROM measurements WHERE survey_id = 'S1'"
    )[0]
    assert (total, distinct, slots) == (n, n, n)
    assert rec.sql("SELECT COUNT(*) FROM waveforms")[0][0] == n // 10
    assert rec.sql("SELECT COUNT(*) FROM rs_checks")[0][0] == 1
    assert rec.sql("SELECT state FROM surveys")[0][0] == "running"
    assert rec.call("has", measurement_ids=["S1:0:0", "S1:0:1999", "S1:0:2000"]) == ["S1:0:0", "S1:0:1999"]
    assert rec.call("indices", survey_id="S1", pass_index=0) == list(range(n))
    (listed,) = rec.call("surveys")
    assert listed["measurements"] == n and listed["total"] == n
    wf = rec.call("waveform", measurement_id="S1:0:10")
    assert wf == meas(10)["body"]["waveform"]


def test_chunked_export_over_the_bus_reassembles(rec):
    n, half = 5000, 2500
    items = [meas(i, "BIG", i // half, seq_index=i % half) for i in range(n)] + [survey_item("BIG", n_el=32)]
    for start in range(0, len(items), 400):
        batch = items[start : start + 400]
        reply = rec.call("ingest", items=batch)
        assert reply["acked"] == [it["key"] for it in batch] and reply["refused"] == [] and reply["epoch"]
    assert rec.call("ingest", items=items[:100])["acked"] == [it["key"] for it in items[:100]]  # replay
    for fmt in ("csv", "ohm", "protocol"):
        first = rec.call("export", survey_id="BIG", format=fmt)
        parts = [first["text"]]
        for k in range(1, first["chunks"]):
            part = rec.call("export", survey_id="BIG", format=fmt, chunk=k)
            assert part["sha256"] == first["sha256"] and part["chunk"] == k
            parts.append(part["text"])
        text = "".join(parts)
        assert all(len(p.encode()) <= 512 * 1024 for p in parts)
        assert hashlib.sha256(text.encode()).hexdigest() == first["sha256"]
        assert first["filename"] == "BIG" + {"csv": ".csv", "ohm": ".ohm", "protocol": ".dat"}[fmt]
        records, _ = formats.read(fmt, io.StringIO(text))
        assert len(records) == n
        want = [record(i) for i in range(n)]
        assert [(r["a"], r["m"], r["r_ohm"]) for r in records] == [(r["a"], r["m"], r["r_ohm"]) for r in want]
        if fmt == "csv":
            assert first["chunks"] >= 2  # the text is larger than one reply may carry
    one_pass = rec.call("export", survey_id="BIG", format="ohm", pass_index=1)
    assert one_pass["chunks"] == 1 and one_pass["filename"] == "BIG_pass1.ohm"
    assert len(formats.read("ohm", io.StringIO(one_pass["text"]))[0]) == half
    page = rec.call("data", survey_id="BIG", offset=half - 10, limit=20)
    assert page["total"] == n and [(r["pass_index"], r["seq_index"]) for r in page["rows"]] == [
        (0, i) for i in range(half - 10, half)
    ] + [(1, i) for i in range(10)]
    big = rec.call("data", survey_id="BIG", limit=5000)  # cut to fit one reply, with where to go on
    assert 0 < len(big["rows"]) <= n and big["next_offset"] == (len(big["rows"]) if len(big["rows"]) < n else None)
    stats = rec.call("stats")
    assert stats["counts"]["measurements"] == n and stats["db_bytes"] > 0 and stats["free_disk_bytes"] > 0


def test_bad_arguments_are_refused_naming_them(rec):
    rec.call("ingest", items=[meas(0, "S")])
    cases = [
        (dict(cmd="data", survey_id="nope"), "survey_id"),
        (dict(cmd="data", survey_id=5), "survey_id"),
        (dict(cmd="data", survey_id="S", limit=0), "limit"),
        (dict(cmd="data", survey_id="S", limit=5001), "limit"),
        (dict(cmd="data", survey_id="S", offset=-1), "offset"),
        (dict(cmd="data", survey_id="S", pass_index=-2), "pass_index"),
        (dict(cmd="data", survey_id="S", colour="red"), "colour"),
        (dict(cmd="export", survey_id="S", format="xlsx"), "format"),
        (dict(cmd="export", survey_id="S", format="csv", chunk=7), "chunk"),
        (dict(cmd="export", survey_id="nope", format="csv"), "survey_id"),
        (dict(cmd="export", survey_id="S"), "format"),
        (dict(cmd="logs", level="loud"), "level"),
        (dict(cmd="soh", limit=0), "limit"),
        (dict(cmd="has", measurement_ids="S:0:0"), "measurement_ids"),
        (dict(cmd="waveform", measurement_id="zz"), "measurement_id"),
        (dict(cmd="ingest", items={"key": "k9"}), "items"),
        (dict(cmd="ingest", items=[1, 2]), "items"),
        (dict(cmd="dead_letters", limit=0), "limit"),
        (dict(cmd="audit", limit=99999), "limit"),
        (dict(cmd="audit", user=3), "user"),
    ]
    for args, culprit in cases:
        cmd = args.pop("cmd")
        with pytest.raises(BadRequest) as info:
            rec.call(cmd, **args)
        assert info.value.details.get("arg") == culprit, (cmd, args, info.value)
    assert rec.sql("SELECT measurement_id FROM measurements") == [("S:0:0",)]  # nothing of bad requests
    assert rec.call("ping")["pong"] is True


def test_bad_items_become_dead_letters_and_the_rest_is_stored(rec):
    poison = {
        "key": "C-poison",
        "kind": "rs_check",
        "body": {"id": "C-poison", "time": "2026-03-01T10:00:00Z", "survey_id": "", "instrument": "sim", "result": {}},
    }
    items = [meas(0, "S"), poison, {"key": "k9", "kind": "bogus", "body": {"x": 1}}, meas(1, "S")]
    result = rec.call("ingest", items=items)
    assert result["acked"] == [it["key"] for it in items]
    assert [(r["key"], "body.survey_id" in r["reason"]) for r in result["refused"]] == [
        ("C-poison", True),
        ("k9", False),
    ]
    assert "kind must be one of" in result["refused"][1]["reason"]
    assert rec.sql("SELECT measurement_id FROM measurements ORDER BY 1") == [("S:0:0",), ("S:0:1",)]
    page = rec.call("dead_letters")
    assert [d["key"] for d in page["items"]] == ["k9", "C-poison"] and page["next_offset"] is None
    assert page["items"][1]["producer"] and json.loads(page["items"][1]["body"])["survey_id"] == ""
    assert rec.call("stats")["dead_letters"] == 2
    rows = wait_until(
        lambda: [
            r for r in rec.call("logs", process="recorder", level="warning") if r["message"].startswith("dead letter")
        ],
        timeout=30,
        what="dead letter warnings",
    )
    assert any("C-poison" in r["message"] and "survey_id" in r["message"] for r in rows)
    huge = {"key": "big", "kind": "survey", "body": {"blob": "z" * 700_000}}
    rec.call("ingest", items=[huge])
    first = rec.call("dead_letters", limit=1)["items"][0]  # a huge body is shown cut, kept whole
    assert first["key"] == "big" and first["body_chars"] > 700_000 and len(first["body"]) < 5000
    assert len(rec.sql("SELECT body FROM dead_letters WHERE key = 'big'")[0][0]) > 700_000
    assert len(rec.call("dead_letters", limit=1, offset=1)["items"]) == 1


def test_audit_events_are_stored_and_listed_for_admins(rec):
    node = Node("auditor", address=rec.bus.address, cfg=rec.bus.cfg, serve=False)
    try:

        def stored():
            node.audit("settings_change", changes={"nb_stack": {"from": 1, "to": 3}})
            node.audit("login", ok=False, user="eve", role="viewer", address="10.0.0.9")
            return [r for r in rec.call("audit", limit=50) if r["process"] == "auditor"]

        rows = wait_until(lambda: len(stored()) >= 4 and stored(), timeout=30, what="audit records stored")
    finally:
        node.close()
    change = next(r for r in rows if r["action"] == "settings_change")
    assert (
        change["ok"] is True
        and change["user"] == "auditor"
        and change["details"] == {"changes": {"nb_stack": {"from": 1, "to": 3}}}
    )
    login = rec.call("audit", user="eve", limit=1)[0]
    assert login == {**login, "action": "login", "ok": False, "role": "viewer", "details": {"address": "10.0.0.9"}}
    assert {r["action"] for r in rec.call("audit", action="login")} == {"login"}
    newest = rec.call("audit", limit=50)
    assert [r["ts"] for r in newest] == sorted((r["ts"] for r in newest), reverse=True)
    assert rec.call("audit", since=newest[0]["ts"] + 1) == []
    assert {c["name"]: c["role"] for c in rec.call("help")}.items() >= {
        "audit": "admin",
        "dead_letters": "admin",
        "ingest": "service",
    }.items()


def test_logs_soh_state_and_heartbeat_are_recorded(rec):
    sub = Subscriber(["state.recorder", "soh.recorder"], address=rec.bus.address, cfg=rec.bus.cfg, snapshot=False)
    node = Node("tester", address=rec.bus.address, cfg=rec.bus.cfg, serve=False)
    try:
        sent = []

        def logged():
            sent.append(f"hello {len(sent)}")
            node.log("warning", sent[-1], detail=len(sent))
            rows = rec.call("logs", process="tester", level="warning")
            return [r for r in rows if r["message"] in sent]

        rows = wait_until(logged, timeout=30, interval=0.2, what="a log line stored")
        assert rows[0]["level"] == "warning" and rows[0]["extra"]["detail"] >= 1
        assert rec.call("logs", process="tester", level="error") == []
        first = time.monotonic()  # the recorder's slots are on the same (system-wide) monotonic clock
        wait_until(
            lambda: {"hub", "recorder"} <= {r["process"] for r in rec.call("soh")},
            timeout=30,
            what="SOH samples of the hub and the recorder",
        )
        time.sleep(1.5)  # several heartbeats (0.3 s): down-sampled to one per 60 s slot per process
        hub_rows = rec.call("soh", process="hub")
        slots = math.floor(time.monotonic() / 60) - math.floor(first / 60) + 1  # 2 when a slot boundary fell in
        assert 1 <= len(hub_rows) <= slots and "uptime_s" in hub_rows[0]["data"], (len(hub_rows), slots)
        rec.call("ingest", items=[meas(i, "T") for i in range(3)])
        seen = {}

        def state_and_beat():
            msg = sub.recv(timeout=0.5)
            if msg is not None:
                seen[msg.topic] = msg.body
            return seen.get("state.recorder", {}).get("measurements") == 3 and "soh.recorder" in seen

        wait_until(state_and_beat, timeout=30, what="state.recorder and soh.recorder")
        assert seen["state.recorder"]["surveys"] == 0 and seen["state.recorder"]["db_bytes"] > 0
        assert seen["soh.recorder"]["db_bytes"] > 0 and "measurements" in seen["soh.recorder"]
    finally:
        node.close()
        sub.close()
    assert stop(rec.proc) == 0  # SIGTERM: clean exit, buffers flushed, database closed
    assert rec.sql("SELECT COUNT(*) FROM logs WHERE process = 'tester'")[0][0] >= 1
    assert rec.sql("PRAGMA integrity_check") == [("ok",)]


def test_retention_prunes_at_start_and_config_errors_name_the_key():
    r = Rec('\n[recorder]\nlog_retention_days = 1\nsoh_retention_days = 2\nsoh_every_s = 0\ndb = "data/rec.db"\n')
    try:
        from ohmpi.store import Store

        r.db = r.bus.dir / "data" / "rec.db"
        with Store(r.db) as s:
            now = time.time()
            s.add_logs(
                [
                    {"ts": now - 3 * 86400, "process": "old", "level": "info", "message": "old"},
                    {"ts": now - 600, "process": "new", "level": "info", "message": "new"},
                ]
            )
            s.add_soh([{"ts": now - 3 * 86400, "process": "old", "data": {}}])
        r.start()
        wait_until(
            lambda: r.sql("SELECT COUNT(*) FROM logs WHERE process = 'old'")[0][0] == 0,
            timeout=30,
            what="retention at start",
        )
        assert r.sql("SELECT COUNT(*) FROM soh WHERE process = 'old'") == [(0,)]
        assert r.sql("SELECT COUNT(*) FROM logs WHERE process = 'new'") == [(1,)]
        wait_until(
            lambda: len(r.call("soh", process="hub")) >= 2,
            timeout=30,
            what="every SOH sample kept with soh_every_s = 0",
        )
    finally:
        r.close()
    for table, words in (
        ("log_retention_days = -1", "log_retention_days"),
        ("colour = 1", "colour"),
        ("db = 3", "db"),
        ("soh_every_s = 'x'", "soh_every_s"),
        ("max_db_mb = 0", "max_db_mb"),
        ("audit_retention_days = 'x'", "audit_retention_days"),
    ):
        bad = Rec(f"\n[recorder]\n{table}\n")
        try:
            proc = bad.bus.spawn(["-m", "workers.recorder"], "recorder")
            assert proc.wait(timeout=30) == 2
            assert words in bad.bus.log("recorder").read_text()
        except subprocess.TimeoutExpired:
            pytest.fail(f"the recorder should refuse [recorder] {table}")
        finally:
            bad.close()


def test_over_its_quota_the_recorder_prunes_the_oldest_logs_and_soh_never_data():
    r = Rec("\n[recorder]\nmax_db_mb = 1.5\n")
    try:
        from ohmpi.store import Store

        with Store(r.db) as s:
            s.ingest([meas(i, "Q") for i in range(200)])
            now = time.time()
            s.add_logs(
                [{"ts": now - 5000 + i, "process": "old", "level": "info", "message": "x" * 1000} for i in range(3000)]
            )
            s.add_soh([{"ts": now - 5000 + i, "process": "old", "data": {"f": "y" * 1000}} for i in range(1000)])
            assert s.used_bytes() > 3 * 2**20
        r.start()
        stats = wait_until(
            lambda: (st := r.call("stats"))["db_used_bytes"] <= 1.5 * 2**20 and st,
            timeout=60,
            what="the database pruned to its quota",
        )
        assert stats["db_quota_bytes"] == int(1.5 * 2**20) and stats["over_quota"] is False
        assert stats["counts"]["measurements"] == 200 and stats["counts"]["waveforms"] == 200
        kept = r.sql("SELECT MIN(ts) FROM logs WHERE process = 'old'")[0][0]
        assert kept is None or kept > time.time() - 5000 + 1000  # the oldest went first
        (line,) = wait_until(
            lambda: [
                x for x in r.call("logs", process="recorder", level="warning") if "over its quota" in x["message"]
            ],
            timeout=30,
            what="the pruning logged",
        )
        assert "log rows" in line["message"] and "SOH samples" in line["message"]
        soh = wait_until(
            lambda: [x for x in r.call("soh", process="recorder") if "db_quota_bytes" in x["data"]],
            timeout=30,
            what="quota in the recorder's SOH",
        )
        assert soh[0]["data"]["db_quota_bytes"] == int(1.5 * 2**20) and soh[0]["data"]["db_used_bytes"] > 0
    finally:
        r.close()


@pytest.mark.parametrize(
    "value, words",
    [(0, "must be > 0"), (-1.0, "must be > 0"), (601, "at most 600"), (float("nan"), "finite"), ("5", "flush_s")],
)
def test_flush_s_is_checked_naming_the_key(value, words):
    from bus.config import ConfigError
    from workers.recorder import load_settings

    assert load_settings({})["flush_s"] == 5.0
    assert load_settings({"flush_s": 0.5})["flush_s"] == 0.5
    with pytest.raises(ConfigError, match="flush_s") as info:
        load_settings({"flush_s": value})
    assert words in str(info.value)


def test_logs_wait_for_their_batch_measurements_do_not_and_sigterm_writes_the_batch():
    """SD-card wear: logs and SOH are committed once per flush_s (here never, but for the stop), while
    each ingested measurement is durable when acknowledged; a clean stop writes what waits."""
    r = Rec("\n[recorder]\nflush_s = 600\n")
    node = None
    try:
        r.start()
        node = Node("tester", address=r.bus.address, cfg=r.bus.cfg, serve=False)
        # until the recorder hears the tester (lines sent before its subscription reach nobody);
        # the `logs` command writes what waits, so the count starts from what is stored
        wait_until(
            lambda: node.log("info", "hello") or r.call("logs", process="tester"), timeout=30, what="the tester heard"
        )
        before = r.sql("SELECT COUNT(*) FROM logs WHERE process = 'tester'")[0][0]
        for i in range(5):
            node.log("info", f"batched {i}")
        wait_until(lambda: r.call("stats")["pending_logs"] >= 5, timeout=30, what="the lines buffered")
        assert r.call("ingest", items=[meas(i, "W") for i in range(3)])["acked"] == [f"W:0:{i}" for i in range(3)]
        assert r.sql("SELECT COUNT(*) FROM measurements WHERE survey_id = 'W'") == [(3,)]  # durable at once
        assert r.sql("SELECT COUNT(*) FROM logs WHERE process = 'tester'") == [(before,)]  # waiting for their batch
    finally:
        if node is not None:
            node.close()
    try:
        assert stop(r.proc) == 0
        assert r.sql("SELECT COUNT(*) FROM logs WHERE process = 'tester' AND message LIKE 'batched %'") == [(5,)]
    finally:
        r.close()
