"""An outbox delivers again what it keeps when its receiver announces a new store (its database
was damaged and set aside), once per new store, and never goes back to a store it left."""

from __future__ import annotations

from bus.outbox import Outbox


def _outbox(path) -> Outbox:
    return Outbox(path, "recorder", "ingest", client_factory=lambda: None)


def test_a_new_store_gets_everything_again_once_and_never_the_old_one(tmp_path):
    box = _outbox(tmp_path / "out.db")
    for i in range(5):
        box.put(f"k{i}", "measurement", {"i": i})
    box.receiver_epoch("db-A")  # the first store seen: nothing to deliver again
    box._settle([f"k{i}" for i in range(4)], {"k4": "refused: bad"})
    assert box.pending() == 0
    box.receiver_epoch("db-A")
    assert box.pending() == 0
    box.receiver_epoch("db-B")  # a new database: every delivered item again (a refused one stays aside)
    assert box.pending() == 4 and box.state("k4") == "refused" and box.stats["outbox_refilled"] == 4
    box._settle([f"k{i}" for i in range(4)], {})
    box.receiver_epoch("db-A")  # a stale announcement of the store we left: ignored
    box.receiver_epoch(None)
    assert box.pending() == 0 and box.epoch == "db-B"
    box.close()
    again = _outbox(tmp_path / "out.db")  # remembered across restarts
    again.receiver_epoch("db-B")
    again.receiver_epoch("db-A")
    assert again.pending() == 0 and again.epoch == "db-B"
    again.receiver_epoch("db-C")
    assert again.pending() == 4
    again.close()
