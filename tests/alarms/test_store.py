"""The alarm history in the real SQLite store: latest state per alarm, history, bad rows skipped."""

from ohmpi.store import Store
from ohmpi.store.alarms import MAX_ROWS, AlarmLog


def event(ts, name, state, **kw):
    return {"ts": ts, "name": name, "state": state, "severity": "warning", "value": 11.0, **kw}


def test_history_and_current(tmp_path):
    with Store(tmp_path / "x.db") as store:
        log = AlarmLog(store)
        assert log.current() == []
        stored = log.add(
            [
                event(1, "low_battery", "active"),
                event(2, "low_battery", "acknowledged", user="ann", comment="on my way"),
                event(3, "hot", "active", value="inf"),
                {"ts": 4, "name": "Bad Name", "state": "active"},
                {"ts": "x", "name": "a", "state": "ok"},
                {"ts": 5, "name": "a", "state": "exploded"},
                "garbage",
            ]
        )
        assert stored == 3
    with Store(tmp_path / "x.db") as store:  # the table is kept across opens
        log = AlarmLog(store)
        current = {r["name"]: r for r in log.current()}
        assert current["low_battery"]["state"] == "acknowledged" and current["low_battery"]["user"] == "ann"
        assert current["hot"]["value"] == "inf"
        assert [r["state"] for r in log.history("low_battery")] == ["acknowledged", "active"]
        newest = log.history(limit=1)[0]
        assert newest["name"] == "hot" and log.history(before=newest["id"], limit=5)[0]["name"] == "low_battery"


def test_history_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr("ohmpi.store.alarms.MAX_ROWS", 10)
    with Store(tmp_path / "x.db") as store:
        log = AlarmLog(store)
        log.add([event(i, "a", "active" if i % 2 else "cleared") for i in range(25)])
        rows = log.history(limit=100)
        assert len(rows) == 10 and rows[-1]["ts"] == 15.0
    assert MAX_ROWS == 100_000
