"""The outbox: durable, acknowledged, idempotent delivery through a real hub, across kills."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from bus.errors import BusError
from bus.outbox import Outbox
from tests.procs import ROOT, stop, wait_until

RECEIVER = textwrap.dedent("""
    import sqlite3, sys
    from bus.node import Node
    node = Node("sink")
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS items(key TEXT PRIMARY KEY, kind TEXT, value INTEGER)")

    @node.command(role="service")
    def ingest(items: list[dict]) -> dict:
        db.execute("BEGIN")
        for it in items:
            db.execute("INSERT OR IGNORE INTO items VALUES (?,?,?)", (it["key"], it["kind"], it["body"]["v"]))
        db.execute("COMMIT")
        return {"acked": [it["key"] for it in items]}

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
    proc = sink.start_sink()
    wait_until(lambda: box.pending() == 0, what="delivery")
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
    producer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from bus.outbox import Outbox
        box = Outbox({str(path)!r}, "sink", "ingest", client_factory=lambda: None)
        for v in range(200):
            box.put(f"p{{v}}", "n", {{"v": v}})
        print("stored", flush=True)
        import time; time.sleep(60)
    """)], cwd=ROOT, stdout=subprocess.PIPE, env={**__import__("os").environ, **sink.env})
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
