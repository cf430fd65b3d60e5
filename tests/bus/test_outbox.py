"""The outbox: durable, acknowledged, idempotent delivery through a real hub, across kills; an item the
receiver refuses is set aside, never blocking the items behind it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import msgpack
import pytest

from bus.errors import BadRequest, BusError
from bus.outbox import Outbox
from tests.support.procs import ROOT, stop, wait_until

# A receiver as an older recorder was: a batch with one bad item ("poison") is refused whole
# (bad_request); one it sets aside itself ("aside") is acknowledged and named in `refused`.
RECEIVER = textwrap.dedent("""
    import sqlite3, sys
    from bus.errors import BadRequest
    from bus.node import Node
    node = Node("sink")
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS items(key TEXT PRIMARY KEY, kind TEXT, value INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS calls(n INTEGER)")

    def ingest(items: list[dict]) -> dict:
        db.execute("INSERT INTO calls VALUES (?)", (len(items),))
        poison = [it["key"] for it in items if it["body"].get("poison")]
        if poison:
            raise BadRequest(f"item {poison[0]!r} is malformed", arg="items")
        db.execute("BEGIN")
        for it in items:
            if not it["body"].get("aside"):
                db.execute("INSERT OR IGNORE INTO items VALUES (?,?,?)", (it["key"], it["kind"], it["body"]["v"]))
        db.execute("COMMIT")
        return {"acked": [it["key"] for it in items],
                "refused": [{"key": it["key"], "reason": "set aside"} for it in items if it["body"].get("aside")]}
    node.command(ingest, role="service")

    node.run()
""")


@pytest.fixture
def sink(ipc_bus):
    script = ipc_bus.dir / "sink.py"
    script.write_text(RECEIVER)
    db = ipc_bus.dir / "sink.db"

    def start():
        proc = ipc_bus.spawn([str(script), str(db)], "sink")
        with ipc_bus.client() as c:
            c.wait_for("sink", timeout=30)
        return proc

    ipc_bus.start_sink = start
    ipc_bus.sink_db = db
    return ipc_bus


def _stored(db):
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("SELECT value FROM items ORDER BY value")]


def _outbox(bus, path):
    return Outbox(path, "sink", "ingest", client_factory=lambda: bus.client(timeout=2.0), call_timeout=2.0)


def test_items_put_while_the_receiver_is_down_arrive_once_it_is_up(sink):
    box = _outbox(sink, sink.dir / "out.db")
    box.start()
    for v in range(50):
        assert box.put(f"k{v}", "n", {"v": v}) is True
    assert box.put("k3", "n", {"v": 999}) is False  # same key: ignored, first body kept
    assert box.get("k3") == {"v": 3}
    assert box.pending() == 50
    assert box.undelivered("n") == [(f"k{v}", {"v": v}) for v in range(50)] and box.undelivered("other") == []
    proc = sink.start_sink()
    wait_until(lambda: box.pending() == 0, what="delivery")
    assert box.undelivered() == []  # what the receiver acknowledged is no longer "not yet delivered"
    assert _stored(sink.sink_db) == list(range(50))
    stop(proc, signal.SIGKILL)  # receiver killed: later items wait in the outbox
    for v in range(50, 80):
        box.put(f"k{v}", "n", {"v": v})
    sink.start_sink()
    wait_until(lambda: box.pending() == 0, what="delivery after the receiver restarts")
    assert _stored(sink.sink_db) == list(range(80))
    box.close()


def test_a_killed_producer_replays_what_was_not_acknowledged(sink):
    path = sink.dir / "producer.db"
    producer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        from bus.outbox import Outbox
        box = Outbox({str(path)!r}, "sink", "ingest", client_factory=lambda: None)
        for v in range(200):
            box.put(f"p{{v}}", "n", {{"v": v}})
        print("stored", flush=True)
        import time; time.sleep(60)
    """),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**__import__("os").environ, **sink.env},
    )
    assert producer.stdout.readline().strip() == b"stored"
    producer.kill()  # before it ever delivered anything
    producer.wait()
    sink.start_sink()
    box = _outbox(sink, path)  # the restarted producer
    assert box.pending() == 200
    box.start()
    wait_until(lambda: box.pending() == 0, what="replay")
    assert _stored(sink.sink_db) == list(range(200))
    box.close()


def test_prune_keeps_pending_and_the_newest_delivered(sink, tmp_path):
    box = Outbox(tmp_path / "o.db", "sink", "ingest", client_factory=lambda: None, keep_delivered=5)

    class Acker:
        def call(self, service, cmd, items, **kw):
            return {"acked": [i["key"] for i in items[:10]]}

    for v in range(30):
        box.put(f"k{v}", "n", {"v": v})
    with pytest.raises(BusError, match="acknowledged 10 of 30"):
        box.deliver_once(Acker())  # a partial acknowledgement marks exactly the acknowledged ones
    box.prune()
    assert box.pending() == 20
    assert box.get("k9") == {"v": 9} and box.get("k4") is None  # newest 5 delivered kept
    box.close()


def test_an_item_refused_on_its_own_is_set_aside_and_the_rest_flows(sink):
    box = _outbox(sink, sink.dir / "out.db")
    for v in range(40):
        body = {"v": v, "poison": True} if v in (0, 17) else {"v": v, "aside": True} if v == 25 else {"v": v}
        box.put(f"k{v}", "n", body)  # a poison item at the head of the queue, another in the middle
    sink.start_sink()
    box.start()
    assert box.wait_delivered("k39", timeout=60) is True
    assert box.wait_delivered("k0", timeout=1) is False and box.wait_delivered("k25", timeout=1) is False
    assert box.pending() == 0
    assert _stored(sink.sink_db) == [v for v in range(40) if v not in (0, 17, 25)]
    assert {k: box.state(k) for k in ("k0", "k1", "k17", "k25", "nope")} == {
        "k0": "refused",
        "k1": "delivered",
        "k17": "refused",
        "k25": "refused",
        "nope": None,
    }
    refusals = {r["key"]: r["reason"] for r in box.refusals()}
    assert refusals["k25"] == "set aside" and "'k17' is malformed" in refusals["k17"]
    assert refusals["k0"].startswith("sink.ingest refused it:")
    assert box.refused_count() == 3 and box.stats["outbox_refused"] == 3
    assert box.get("k17") == {"v": 17, "poison": True}  # kept here: it may be the only copy
    for v in range(40, 60):
        box.put(f"k{v}", "n", {"v": v})
    assert box.wait_delivered("k59", timeout=60) is True  # batches again once past the culprits
    with sqlite3.connect(sink.sink_db) as con:
        sizes = [r[0] for r in con.execute("SELECT n FROM calls")]
    assert sizes.count(1) <= 45 and max(sizes) > 1
    box.keep_delivered = 1
    box.prune()
    assert box.refused_count() == 3 and box.get("k17") is not None and box.get("k1") is None
    box.close()


def test_wait_delivered_is_bounded_and_transient_errors_are_retried(sink):
    box = _outbox(sink, sink.dir / "out.db")
    box.start()
    box.put("w1", "n", {"v": 1})
    started = time.monotonic()
    assert box.wait_delivered("w1", timeout=1.0) is False  # nobody is receiving: bounded wait
    assert 0.9 <= time.monotonic() - started < 5
    assert box.state("w1") == "pending" and box.refused_count() == 0
    wait_until(lambda: box.stats["outbox_failures"] >= 1, what="a failed delivery attempt")
    sink.start_sink()
    assert box.wait_delivered("w1", timeout=60) is True
    assert box.wait_delivered("w1", timeout=0) is True and box.wait_delivered("unknown", timeout=5) is False
    box.close()


def test_a_check_keeps_bad_bodies_out_and_old_files_are_migrated(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:  # an outbox file written before items could be refused
        con.executescript("""
            CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL, body BLOB NOT NULL, created REAL NOT NULL, delivered REAL);
            CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered IS NULL;
        """)
        con.execute(
            "INSERT INTO outbox(key, kind, body, created) VALUES ('old', 'n', ?, 1.0)", (msgpack.packb({"v": 1}),)
        )

    def check(key, kind, body):
        if not isinstance(body.get("v"), int):
            raise ValueError("v must be an integer")

    box = Outbox(path, "sink", "ingest", client_factory=lambda: None, check=check)
    assert box.pending() == 1 and box.state("old") == "pending" and box.refused_count() == 0
    with pytest.raises(ValueError, match="v must be"):
        box.put("bad", "n", {"v": "one"})
    assert box.state("bad") is None and box.pending() == 1

    class Refuser:
        def call(self, service, cmd, items, **kw):
            raise BadRequest("no", arg="items")

    assert box.deliver_once(Refuser()) == 1  # a batch of one refused: set aside at once
    assert box.state("old") == "refused" and box.pending() == 0
    box.close()
    reopened = Outbox(path, "sink", "ingest", client_factory=lambda: None)
    assert reopened.refusals() == [{"key": "old", "kind": "n", "reason": "sink.ingest refused it: no", "created": 1.0}]
    reopened.close()
