"""Server-Sent Events from the real gateway (cheroot under supervisord) to a real HTTP client."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from tests.support.procs import wait_until
from tests.support.sse import SSEClient
from tests.support.web import authed_client, make_app
from web.events import EventHub


def post(base_url: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = json.dumps(body or {})
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", path, body=data, headers=headers)
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


def test_snapshot_first_then_processes(web_system):
    c = SSEClient(web_system.web_url, token=web_system.tokens["viewer"])
    try:
        assert c.resp.status == 200 and c.resp.getheader("Content-Type").startswith("text/event-stream")
        events = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ev = c.next()
            events.append(ev)
            names = {e["event"] for e in events}
            procs = {e["data"]["process"] for e in events if e["event"] == "soh"}
            if {"survey", "recorder", "processes"} <= names and {"hub", "controller", "sequencer", "recorder"} <= procs:
                break
        assert c.retry == 2000
        assert events[0]["event"] == "survey" and events[0]["id"] is None  # snapshot: no id
        assert events[0]["data"]["state"] in ("idle", "finished", "stopped", "running", "paused", "waiting")
        assert any(e["event"] == "recorder" and "measurements" in e["data"] for e in events)
        procs = [e["data"] for e in events if e["event"] == "processes"]
        assert procs and {"hub", "controller", "web"} <= {p["name"] for p in procs[0]}
        soh = [e["data"] for e in events if e["event"] == "soh"]
        assert all("pid" in s and "uptime_s" in s for s in soh)
    finally:
        c.close()


def test_measurements_logs_and_progress_during_a_survey(web_system):
    c = SSEClient(web_system.web_url, token=web_system.tokens["viewer"])
    try:
        c.until(lambda e: e["event"] == "soh", timeout=10, what="snapshot")
        admin = web_system.tokens["admin"]
        status, gen = post(web_system.web_url, "/api/sequence/generate", {"array": "wenner", "electrodes": 8}, admin)
        assert status == 200, gen
        wait_until(lambda: web_system.survey()["state"] not in ("running", "paused", "waiting"), timeout=60)
        status, started = post(web_system.web_url, "/api/survey/start", {"name": "sse", "stacks": 1}, admin)
        assert status == 200, started
        sid = started["survey_id"]
        seen = c.until(
            lambda e: (
                e["event"] == "survey" and e["data"].get("survey_id") == sid and e["data"].get("state") == "finished"
            ),
            timeout=120,
            what="survey finished",
        )
        measurements = [e for e in seen if e["event"] == "measurement" and e["data"]["survey_id"] == sid]
        if len(measurements) < 7:  # the last measurement event may trail the finished state
            seen += c.until(lambda e: e["event"] == "measurement" and e["data"]["seq_index"] == 6, timeout=20)
            measurements = [e for e in seen if e["event"] == "measurement" and e["data"]["survey_id"] == sid]
        assert [e["data"]["seq_index"] for e in measurements] == list(range(7))
        m = measurements[0]["data"]
        assert {
            "measurement_id",
            "survey_id",
            "pass_index",
            "seq_index",
            "a",
            "b",
            "m",
            "n",
            "r_ohm",
            "rhoa_ohmm",
            "flags",
        } <= set(m)
        waveforms = [e["data"] for e in seen if e["event"] == "waveform"]
        assert waveforms and "t_s" in waveforms[0] and waveforms[0]["measurement_id"]
        ids = [int(e["id"]) for e in seen if e["id"] is not None]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        progress = [e["data"]["done"] for e in seen if e["event"] == "survey" and e["data"].get("survey_id") == sid]
        assert progress == sorted(progress) and progress[-1] == 7
        logs = [e["data"] for e in seen if e["event"] == "log"]
        assert any(lg["process"] == "sequencer" and "started" in lg["message"] for lg in logs)
        assert all({"process", "level", "message", "ts"} <= set(lg) for lg in logs)
    finally:
        c.close()


def test_reconnect_with_last_event_id_replays_what_was_missed(web_system):
    c = SSEClient(web_system.web_url, token=web_system.tokens["viewer"])
    seen = c.until(lambda e: e["id"] is not None, timeout=10, what="a live event")
    last = int(seen[-1]["id"])
    c.close()
    time.sleep(1.5)  # heartbeats (soh) go on meanwhile
    c2 = SSEClient(web_system.web_url, last_event_id=str(last), token=web_system.tokens["viewer"])
    try:
        first = c2.until(lambda e: e["id"] is not None, timeout=10, what="a replayed event")[-1]
        assert int(first["id"]) == last + 1
    finally:
        c2.close()


def test_rs_check_event(web_system):
    c = SSEClient(web_system.web_url, token=web_system.tokens["viewer"])
    try:
        c.until(lambda e: e["event"] == "soh", timeout=10, what="snapshot")
        wait_until(lambda: web_system.survey()["state"] not in ("running", "paused", "waiting"), timeout=60)
        result = {}
        t = threading.Thread(
            target=lambda: result.update(r=post(web_system.web_url, "/api/rs-check", token=web_system.tokens["admin"]))
        )
        t.start()
        ev = c.until(lambda e: e["event"] == "rs_check", timeout=60, what="rs_check event")[-1]
        t.join(60)
        assert result["r"][0] == 200 and ev["data"]["id"] == result["r"][1]["id"]
    finally:
        c.close()


def _test_app(web_system, **config):
    return make_app(web_system, **config)


def test_keepalive_comment_and_client_limit(web_system):
    app = _test_app(web_system, SSE_KEEPALIVE_S=0.02, MAX_SSE_CLIENTS=1)
    try:
        client = authed_client(app, web_system.tokens["viewer"])
        resp = client.get("/api/events", buffered=False)
        assert resp.status_code == 200
        chunks = iter(resp.response)
        text = ""
        deadline = time.monotonic() + 10
        while ": keep-alive" not in text and time.monotonic() < deadline:
            text += _chunk(next(chunks))
        assert text.startswith("retry: 2000\n") and ": keep-alive" in text
        second = authed_client(app, web_system.tokens["operator"]).get("/api/events")
        assert second.status_code == 503 and second.get_json()["error"]["service"] == "web"
        resp.close()
        wait_until(lambda: app.extensions["ohmpi"].events.status()["clients"] == 0, timeout=5, what="client gone")
        again = authed_client(app, web_system.tokens["viewer"]).get("/api/events", buffered=False)
        assert again.status_code == 200
        again.close()
    finally:
        app.extensions["ohmpi_close"]()


def _chunk(data) -> str:
    return data.decode() if isinstance(data, bytes) else data


def test_slow_client_loses_oldest_counted_and_never_blocks_others(web_system):
    hub = EventHub(web_system.address, web_system.cfg, max_clients=5)
    try:
        slow = hub.connect()
        fast = hub.connect()
        got = []
        stop = threading.Event()

        def drain():
            while not stop.is_set() or fast.queue:
                got.extend(fast.take(0.05))

        reader = threading.Thread(target=drain)
        reader.start()
        started = time.monotonic()
        for batch in range(6):  # bursts of 500 (half a client queue); the fast reader keeps up between them
            for i in range(batch * 500, batch * 500 + 500):
                hub.broadcast("measurement", {"i": i})
            wait_until(lambda: not fast.queue, timeout=10, what="the fast client drained")
        elapsed = time.monotonic() - started
        stop.set()
        reader.join(10)
        mine = [t for t in got if '"i":' in t]
        assert len(mine) == 3000  # the fast client lost nothing
        assert slow.dropped >= 2000 and len(slow.queue) <= 1000
        assert '"i":2999' in [t for t in slow.queue if '"i":' in t][-1]  # the newest are kept
        frames = hub.serve(slow)
        assert next(frames).startswith("retry: 2000")
        burst = next(frames)
        assert burst.startswith("event: dropped\n") and f'"dropped":{slow.dropped}' in burst
        frames.close()
        assert elapsed < 30  # no blocking on the slow reader (a generous bound, not a speed test)
    finally:
        hub.close()


def test_restart_the_gateway_itself_over_http(web_system):
    """Restarting `web` from its own page: answered first, then supervisord brings it back."""
    before = web_system.pid("web")
    c = SSEClient(web_system.web_url, token=web_system.tokens["viewer"])
    c.until(lambda e: e["event"] == "soh", timeout=10, what="snapshot")
    status, body = post(web_system.web_url, "/api/processes/web/restart", token=web_system.tokens["admin"])
    assert status == 200 and body["self"] is True and body["restarting"] is True
    deadline = time.monotonic() + 30
    while c.next() is not None and time.monotonic() < deadline:
        pass  # the stream ends when the old gateway exits
    c.close()
    wait_until(lambda: web_system._answers_with_new_pid("web", before), timeout=60, what="web restarted")
    c2 = SSEClient(web_system.web_url, token=web_system.tokens["viewer"])
    try:
        assert c2.until(lambda e: e["event"] == "soh", timeout=10, what="events from the new gateway")
    finally:
        c2.close()
