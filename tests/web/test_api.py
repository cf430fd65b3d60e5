"""The JSON API against the whole running system (hub, controller, sequencer, recorder, web under
supervisord), through Flask's test client: every endpoint's success path and error mapping."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.support.procs import wait_until
from tests.support.web import authed_client, make_app

QUAD = {"a": 1, "b": 4, "m": 2, "n": 3}


def ok(resp, status=200):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:1000])
    return resp.get_json()


def err(resp, status, code=None, arg=None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:1000])
    assert resp.mimetype == "application/json"
    body = resp.get_json()["error"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    if arg is not None:
        assert body.get("arg") == arg, body
    return body


def wait_idle(client, timeout=60):
    return wait_until(
        lambda: (s := client.get("/api/survey").get_json()).get("state") not in ("running", "paused", "waiting") and s,
        timeout=timeout,
        what="survey over",
    )


@pytest.fixture(scope="module")
def finished_survey(web_system, app):
    """A finished two-pass Wenner survey on 8 electrodes (7 quadrupoles per pass)."""
    client = authed_client(app, web_system.tokens["admin"])
    wait_idle(client)
    gen = ok(client.post("/api/sequence/generate", json={"array": "wenner", "electrodes": 8}))
    assert gen["count"] == 7
    started = ok(client.post("/api/survey/start", json={"name": "web-test", "repeat": 2, "stacks": 1}))
    survey_id = started["survey_id"]
    wait_until(
        lambda: client.get("/api/survey").get_json().get("state") == "finished", timeout=120, what="survey finished"
    )
    wait_until(
        lambda: ok(client.get(f"/api/surveys/{survey_id}")).get("measurements") == 14,
        timeout=60,
        what="14 measurements stored",
    )
    return survey_id


# ---- reading ----------------------------------------------------------------------------------
def test_health_and_status(client):
    assert ok(client.get("/api/health")) == {"ok": True}
    status = ok(client.get("/api/status"))
    assert status["errors"] == {}
    assert status["survey"]["name"] == "sequencer" and "state" in status["survey"]
    assert status["controller"]["n_electrodes"] == 32
    assert "measurements" in status["recorder"]["counts"]
    names = {p["name"] for p in status["processes"]}
    assert {"hub", "controller", "sequencer", "recorder", "web"} <= names


def test_processes_merge_heartbeats_and_supervisord(client):
    procs = {p["name"]: p for p in ok(client.get("/api/processes"))}
    for name in ("hub", "controller", "sequencer", "recorder", "web"):
        p = procs[name]
        assert set(p) >= {"name", "alive", "age_s", "pid", "uptime_s", "rss_mb", "cpu_pct", "supervisor"}
        assert p["alive"] is True and p["rss_mb"] > 0
        assert p["supervisor"]["state"] in ("RUNNING", "STARTING") and p["supervisor"]["pid"] == p["pid"]


def test_geometry_settings_roundtrip(client):
    geo = ok(client.get("/api/geometry"))
    assert geo["n_electrodes"] == 32 and len(geo["positions"]) == 32
    got = ok(client.get("/api/settings"))
    assert "nb_stack" in got["settings"] and "nb_stack" in got["spec"]
    before = got["settings"]["nb_stack"]
    changed = ok(client.put("/api/settings", json={"settings": {"nb_stack": 3}}))
    assert changed["nb_stack"] == 3
    assert ok(client.get("/api/settings"))["settings"]["nb_stack"] == 3
    ok(client.put("/api/settings", json={"settings": {"nb_stack": before}}))


def test_bad_setting_names_the_setting_and_changes_nothing(client):
    before = ok(client.get("/api/settings"))["settings"]
    body = err(client.put("/api/settings", json={"settings": {"nb_stack": 0}}), 400, "bad_request", "nb_stack")
    assert body["reason"]
    err(client.put("/api/settings", json={"settings": "fast"}), 400, "bad_request", "settings")
    err(client.put("/api/settings", json={}), 400, "bad_request", "settings")
    assert ok(client.get("/api/settings"))["settings"] == before


def test_measure_abort_and_refusal(client):
    wait_idle(client)
    result = ok(client.post("/api/measure", json={**QUAD, "settings": {"nb_stack": 1}}))
    assert result["measurement_id"] and result["repeated"] is False
    assert result["record"]["r_ohm"] > 0 and result["record"]["a"] == 1
    # same electrode as A and B: refused by the controller, changes nothing
    body = err(client.post("/api/measure", json={"a": 1, "b": 1, "m": 2, "n": 3}), 400, "bad_request")
    assert body.get("arg") == "quadrupole"
    err(client.post("/api/measure", json={"a": 1, "b": 99, "m": 2, "n": 3}), 400, "bad_request")
    assert "aborted" in ok(client.post("/api/abort"))


def test_field_errors_are_400_naming_the_field(client):
    err(client.post("/api/measure", json={"a": "1", "b": 4, "m": 2, "n": 3}), 400, "bad_request", "a")
    err(client.post("/api/measure", json={"a": 1, "b": 4.5, "m": 2, "n": 3}), 400, "bad_request", "b")
    err(client.post("/api/measure", json={"a": 1, "b": 4, "m": True, "n": 3}), 400, "bad_request", "m")
    err(client.post("/api/measure", json={"a": 1, "b": 4, "m": 2}), 400, "bad_request", "n")
    err(client.post("/api/measure", json={**QUAD, "x": 1}), 400, "bad_request", "x")
    err(client.post("/api/measure", json={**QUAD, "settings": [1]}), 400, "bad_request", "settings")
    err(client.post("/api/measure", json={**QUAD, "a": 10**30}), 400, "bad_request", "a")
    err(client.post("/api/measure", data="{not json", content_type="application/json"), 400, "bad_request", "body")
    err(client.post("/api/measure", data="[1, 2]", content_type="application/json"), 400, "bad_request", "body")
    err(client.post("/api/measure", data='{"a": NaN}', content_type="application/json"), 400, "bad_request", "body")
    err(client.post("/api/measure"), 400, "bad_request", "body")
    err(client.post("/api/survey/start", json={"repeat": "many"}), 400, "bad_request", "repeat")
    err(client.post("/api/survey/start", json={"every_s": "x"}), 400, "bad_request", "every_s")
    err(client.post("/api/sequence/generate", json={"array": "spiral"}), 400, "bad_request", "array")
    err(
        client.post("/api/sequence/generate", json={"array": "wenner", "electrodes": 500}),
        400,
        "bad_request",
        "electrodes",
    )
    err(client.get("/api/logs?limit=abc"), 400, "bad_request", "limit")
    err(client.get("/api/logs?limit=0"), 400, "bad_request", "limit")
    err(client.get("/api/logs?level=loud"), 400, "bad_request", "level")
    err(client.get("/api/timeseries?a=1&b=2&m=3"), 400, "bad_request", "n")
    err(client.get("/api/surveys/nope/export?format=xls"), 400, "bad_request", "format")
    err(client.get("/api/surveys/nope"), 400, "bad_request", "survey_id")


def test_sequence_errors_name_the_lines(client):
    text = "# my sequence\n1 4 2 3\n1 2 3\n5 5 6 7\nfoo 2 3 4\n"
    body = err(client.post("/api/sequence/validate", json={"text": text, "name": "bad"}), 400, "bad_request", "text")
    lines = [line for line, _ in body["errors"]]
    assert lines == [3, 4, 5], body["errors"]
    assert all(isinstance(reason, str) and reason for _, reason in body["errors"])
    err(client.post("/api/sequence", json={"text": text}), 400, "bad_request", "text")
    good = "1 4 2 3\n2 5 3 4\n"
    assert ok(client.post("/api/sequence/validate", json={"text": good}))["count"] == 2
    loaded = ok(client.post("/api/sequence", json={"text": good, "name": "two"}))
    assert loaded["count"] == 2 and loaded["name"] == "two"
    assert ok(client.get("/api/sequence"))["sequence"] == [[1, 4, 2, 3], [2, 5, 3, 4]]


def test_rs_check(client):
    wait_idle(client)
    result = ok(client.post("/api/rs-check"))
    assert result["id"]
    checks = ok(client.get("/api/rs-checks?limit=5"))
    assert checks and checks[0]["id"] == result["id"]


def test_survey_controls_and_busy(client, web_system):
    wait_idle(client)
    ok(client.post("/api/sequence/generate", json={"array": "dipole-dipole", "electrodes": 16}))
    started = ok(client.post("/api/survey/start", json={"name": "ctl", "settings": {"nb_stack": 1}}))
    assert started["total"] > 10
    body = err(client.post("/api/survey/start", json={}), 409, "busy")
    assert body["running"] == started["survey_id"]
    assert ok(client.post("/api/survey/pause"))["state"] == "paused"
    err(client.post("/api/survey/pause"), 400, "bad_request", "state")
    assert ok(client.post("/api/survey/resume"))["state"] in ("running", "waiting", "finished")
    assert ok(client.post("/api/survey/stop"))["state"] == "stopped"
    assert ok(client.get("/api/survey"))["survey_id"] == started["survey_id"]
    surveys = ok(client.get("/api/surveys"))
    assert any(s["survey_id"] == started["survey_id"] for s in surveys)


def test_survey_data_waveform_timeseries(client, finished_survey):
    sid = finished_survey
    info = ok(client.get(f"/api/surveys/{sid}"))
    assert info["measurements"] == 14 and info["passes"] == 2 and info["total"] == 7
    page = ok(client.get(f"/api/surveys/{sid}/data?limit=5"))
    assert page["total"] == 14 and len(page["rows"]) == 5 and page["next_offset"] == 5
    only = ok(client.get(f"/api/surveys/{sid}/data?pass=1&limit=100"))
    assert only["total"] == 7 and {r["pass_index"] for r in only["rows"]} == {1}
    row = page["rows"][0]
    wf = ok(client.get(f"/api/measurements/{row['measurement_id']}/waveform"))
    assert len(wf["t_s"]) == len(wf["voltage_mV"]) > 10
    err(client.get("/api/measurements/M-nope/waveform"), 400, "bad_request", "measurement_id")
    series = ok(client.get(f"/api/timeseries?a={row['a']}&b={row['b']}&m={row['m']}&n={row['n']}"))
    mine = [p for p in series if p["survey_id"] == sid]
    assert [p["pass_index"] for p in mine] == [0, 1]
    assert all(
        set(p) == {"time", "r_ohm", "rhoa_ohmm", "r_std_pct", "survey_id", "pass_index", "flags"} for p in series
    )
    assert [p["time"] for p in series] == sorted(p["time"] for p in series)
    assert len(ok(client.get(f"/api/timeseries?a={row['a']}&b={row['b']}&m={row['m']}&n={row['n']}&limit=1"))) == 1


def test_exports_download_and_parse(client, finished_survey):
    sid = finished_survey
    resp = client.get(f"/api/surveys/{sid}/export?format=ohm")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.rstrip('"').endswith(".ohm")
    lines = resp.get_data(as_text=True).splitlines()
    assert int(lines[0]) == 32 and lines[1].startswith("# x")
    data_at = 2 + 32
    assert int(lines[data_at]) == 14 and lines[data_at + 1].startswith("# a b m n")
    rows = [line.split() for line in lines[data_at + 2 : data_at + 2 + 14]]
    assert all(len(r) >= 5 for r in rows)

    one_pass = client.get(f"/api/surveys/{sid}/export?format=ohm&pass=0").get_data(as_text=True).splitlines()
    assert int(one_pass[data_at]) == 7

    proto = client.get(f"/api/surveys/{sid}/export?format=protocol&pass=1")
    assert proto.status_code == 200 and "attachment" in proto.headers["Content-Disposition"]
    plines = [line for line in proto.get_data(as_text=True).splitlines() if line.strip()]
    assert int(plines[0]) == 7 and len(plines) == 8

    csv_resp = client.get(f"/api/surveys/{sid}/export?format=csv")
    assert csv_resp.headers["Content-Disposition"].rstrip('"').endswith(".csv")
    table = list(csv.reader(io.StringIO(csv_resp.get_data(as_text=True))))
    assert len(table) == 1 + 14 and all(len(row) == len(table[0]) for row in table)
    assert table[0][1:5] == ["a", "b", "m", "n"]  # current OhmPi names (docs/formats.md)


def test_logs_and_soh(client):
    logs = ok(client.get("/api/logs?limit=50"))
    assert logs and {"ts", "process", "level", "message"} <= set(logs[0])
    warnings = ok(client.get("/api/logs?level=warning&limit=50"))
    assert all(line["level"] in ("warning", "error", "critical") for line in warnings)
    assert all(line["process"] == "controller" for line in ok(client.get("/api/logs?process=controller")))
    samples = ok(client.get("/api/soh?limit=20"))
    assert samples and "process" in samples[0]


def test_not_found_method_too_large_cross_origin(client):
    err(client.get("/api/nothing-here"), 404, "not_found")
    err(client.get("/nothing"), 404, "not_found")
    err(client.delete("/api/survey"), 405, "method_not_allowed")
    err(client.post("/api/processes/nosuch/restart"), 404, "not_found")
    err(client.post("/api/processes/..%2f..%2fetc/restart"), 404)
    big = json.dumps({"text": "1 2 3 4\n" * (2 * 1024 * 1024 // 8 + 10)})
    err(client.post("/api/sequence", data=big, content_type="application/json"), 413, "too_large")
    bus_big = json.dumps({"text": "#" * 950_000})
    err(client.post("/api/sequence", data=bus_big, content_type="application/json"), 400, "bad_request", "text")
    err(client.post("/api/abort", headers={"Origin": "http://evil.example"}), 403, "forbidden")
    ok(client.post("/api/abort", headers={"Origin": "http://localhost"}))


def test_page_and_static(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "no-cache"
    err(client.get("/static/../app.py"), 404)
    err(client.get("/static/no-such-file.js"), 404)


def test_openapi_matches_the_routes(app, client):
    doc = ok(client.get("/api/openapi.json"))
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    import re

    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "200" in op["responses"], (path, method)
            for param in op.get("parameters", []):
                assert param["in"] in ("path", "query") and "schema" in param
            if "{" in path:
                assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == set(re.findall(r"{(\w+)}", path))
            for code, resp in op["responses"].items():
                if code != "200":
                    assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert doc["paths"]["/api/measure"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "a",
        "b",
        "m",
        "n",
    ]


def test_dead_service_is_503_naming_it_and_back(client, web_system):
    wait_idle(client)
    web_system.ctl("stop", "controller")
    try:
        body = wait_until(
            lambda: (r := client.get("/api/settings")).status_code == 503 and r.get_json()["error"],
            timeout=30,
            what="503 from a stopped controller",
        )
        assert body["code"] == "unavailable" and body["service"] == "controller"
        assert body["message"].startswith("controller is not running")
        status = ok(client.get("/api/status"))
        assert status["controller"] is None and "controller" in status["errors"]
        assert status["survey"] is not None and status["recorder"] is not None
        err(client.post("/api/measure", json=QUAD), 503, "unavailable")
        procs = {p["name"]: p for p in ok(client.get("/api/processes"))}
        assert procs["controller"]["supervisor"]["state"] == "STOPPED"
    finally:
        web_system.ctl("start", "controller")
    wait_until(lambda: client.get("/api/settings").status_code == 200, timeout=60, what="controller back")


def test_restart_through_supervisord(client, web_system):
    before = web_system.pid("sequencer")
    result = ok(client.post("/api/processes/sequencer/restart"))
    assert result["name"] == "sequencer" and result["state"] == "RUNNING"
    assert result["pid"] != before
    wait_until(lambda: client.get("/api/survey").status_code == 200, timeout=30, what="sequencer answers")
    assert web_system.pid("sequencer") == result["pid"]


def test_supervisord_unreachable_is_503(web_system):
    app = make_app(web_system, SUPERVISOR_SOCKET=str(web_system.var / "no-such.sock"))
    try:
        c = authed_client(app, web_system.tokens["admin"])
        body = err(c.post("/api/processes/sequencer/restart"), 503, "unavailable")
        assert body["service"] == "supervisord"
        procs = ok(c.get("/api/processes"))  # heartbeats alone still answer
        assert procs and all(p["supervisor"] is None for p in procs)
    finally:
        app.extensions["ohmpi_close"]()
