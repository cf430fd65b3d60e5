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


def change(name="low_battery", state="active", **kw):
    body = {"name": name, "state": state, "previous": "ok", "severity": "warning", "value": 11.0, "since": 100.0}
    return {"key": f"alarm:{name}:{kw.pop('seq', 1)}", "kind": "alarm", "body": {**body, **kw}}


def dead_letters(store) -> dict:
    return {r["key"]: r["reason"] for r in store.dead_letters(100, 0)}


def test_put_stores_each_change_once_and_refuses_by_field_name(tmp_path):
    hostile = [
        change(seq=2, comment="x" * 501),
        change(seq=3, colour="red"),
        change(seq=4, value=[1, 2]),
        change(seq=5, since="yesterday"),
        change(seq=6, state="exploded"),
        {**change(seq=7), "kind": "measurement"},
        {**change(seq=8), "key": "alarm:other_name:8"},
        {"key": "alarm:x:9", "kind": "alarm", "body": "not a map"},
        "garbage",
    ]
    with Store(tmp_path / "x.db") as store:
        log = AlarmLog(store)
        first = log.put([change(seq=1), *hostile, change(state="cleared", seq=10)], producer="alarms")
        again = log.put([change(seq=1), change(state="cleared", seq=10)])  # acknowledgements were lost
        assert [r["state"] for r in log.history("low_battery")] == ["cleared", "active"]
        assert again == {"acked": ["alarm:low_battery:1", "alarm:low_battery:10"], "refused": []}
        keys = [item["key"] for item in [change(seq=1), *hostile[:-1], change(seq=10)]]
        assert first["acked"] == keys  # dead letters are acknowledged too: nothing waits behind them
        reasons = {r["key"]: r["reason"] for r in first["refused"]}
        assert "body.comment must be a text of 1..500" in reasons["alarm:low_battery:2"]
        assert "body.colour is not a field" in reasons["alarm:low_battery:3"]
        assert "body.value" in reasons["alarm:low_battery:4"]
        assert "body.since" in reasons["alarm:low_battery:5"]
        assert "body.state" in reasons["alarm:low_battery:6"]
        assert "kind must be 'alarm'" in reasons["alarm:low_battery:7"]
        assert "body.name must be the name in the key" in reasons["alarm:other_name:8"]
        assert "body must be a map" in reasons["alarm:x:9"]
        assert reasons[None].startswith("item 9: key")
        assert set(dead_letters(store)) == set(reasons)  # kept, the keyless one too


def test_older_table_gains_the_key_column(tmp_path):
    with Store(tmp_path / "x.db") as store:
        with store._lock:
            store._db.execute(
                "CREATE TABLE alarm_history (id INTEGER PRIMARY KEY, ts REAL NOT NULL, name TEXT NOT NULL, "
                "state TEXT NOT NULL, previous TEXT, severity TEXT, value TEXT, user TEXT, comment TEXT, body TEXT)"
            )
        log = AlarmLog(store)
        log.put([change(seq=1), change(seq=1)])
        assert len(log.history()) == 1
