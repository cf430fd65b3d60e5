"""Data quality over the real system: a repeated survey with reciprocals, its quality summary, its
reciprocal error model (HTTP and `ohmpi errmodel`), exports with the model's errors, time-lapse
passes that line up (`ohmpi export --all-passes`) and the matrix."""

import csv
import io
import json

import pytest

from client.cli import main as cli
from ohmpi import errmodel, formats
from tests.support.procs import wait_until
from tests.support.web import authed_client

from .test_api import ok, wait_idle


@pytest.fixture(scope="module")
def reciprocal_survey(web_system, app):
    """Two passes of Wenner on 8 electrodes with reciprocals: 14 quadrupoles, 7 pairs per pass."""
    client = authed_client(app, web_system.tokens["operator"])
    wait_idle(client)
    ok(client.post("/api/sequence/generate", json={"array": "wenner", "electrodes": 8}))
    started = ok(
        client.post("/api/survey/start", json={"name": "quality", "repeat": 2, "stacks": 1, "reciprocals": True})
    )
    survey_id = started["survey_id"]
    wait_until(
        lambda: client.get("/api/survey").get_json().get("state") == "finished", timeout=180, what="survey finished"
    )
    wait_until(
        lambda: ok(client.get(f"/api/surveys/{survey_id}")).get("measurements") == 28,
        timeout=60,
        what="28 measurements stored",
    )
    return survey_id


def test_quality_summary_and_error_model(client_as, reciprocal_survey):
    viewer = client_as("viewer")
    q = ok(viewer.get(f"/api/surveys/{reciprocal_survey}/quality"))
    assert q["measurements"] == 28 and 0 <= q["flagged_pct"] <= 100
    assert sum(q["r_std_pct"]["counts"]) == 28
    assert q["reciprocal"]["pairs"] == 14 and sum(q["reciprocal"]["counts"]) == 14
    assert q["error_model"]["pairs"] == 14
    assert set(q["dominant_error"]) <= {"noise", "sp", "quantization", "current", "excess"}
    model = ok(viewer.get(f"/api/surveys/{reciprocal_survey}/errmodel"))
    assert model["pairs"] == 14 and model["a"] > 0 and len(model["bins"]) >= 3
    one = ok(viewer.get(f"/api/surveys/{reciprocal_survey}/quality?pass=1"))
    assert one["measurements"] == 14 and one["reciprocal"]["pairs"] == 7


def test_no_reciprocals_no_model(client_as, web_system, app):
    client = client_as("operator")
    wait_idle(client)
    ok(client.post("/api/sequence/generate", json={"array": "wenner", "electrodes": 8}))
    survey_id = ok(client.post("/api/survey/start", json={"name": "plain", "stacks": 1}))["survey_id"]
    wait_until(
        lambda: client.get("/api/survey").get_json().get("state") == "finished", timeout=120, what="survey finished"
    )
    resp = client.get(f"/api/surveys/{survey_id}/errmodel")
    assert resp.status_code == 400 and "reciprocal" in resp.get_json()["error"]["message"]
    q = ok(client.get(f"/api/surveys/{survey_id}/quality"))
    assert q["error_model"] is None and "reciprocal" in q["error_model_note"]


def test_export_with_the_error_model(client_as, reciprocal_survey):
    viewer = client_as("viewer")
    model = ok(viewer.get(f"/api/surveys/{reciprocal_survey}/errmodel"))
    resp = viewer.get(f"/api/surveys/{reciprocal_survey}/export?format=ohm&pass=0&error_model=true")
    assert resp.status_code == 200
    records, _ = formats.read("ohm", io.StringIO(resp.get_data(as_text=True)))
    for record in records:
        assert record["r_std_pct"] == pytest.approx(errmodel.relative_error_pct(model, record["r_ohm"]), rel=1e-9)
    assert any(k.startswith("X-Export-Note") and "error model" in v for k, v in resp.headers.items())


def test_time_lapse_matrix_and_common_passes(client_as, reciprocal_survey):
    viewer = client_as("viewer")
    text = viewer.get(f"/api/surveys/{reciprocal_survey}/export?format=matrix").get_data(as_text=True)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:4] == ["a", "b", "m", "n"] and len(table[0]) == 6 and len(table) == 1 + 14
    passes = [
        formats.read(
            "protocol",
            io.StringIO(
                viewer.get(f"/api/surveys/{reciprocal_survey}/export?format=protocol&pass={p}&common=true").get_data(
                    as_text=True
                )
            ),
        )[0]
        for p in (0, 1)
    ]
    assert [[r[k] for k in "abmn"] for r in passes[0]] == [[r[k] for k in "abmn"] for r in passes[1]]


def test_cli_errmodel_and_all_passes(web_system, reciprocal_survey, tmp_path, capsys):
    bus = ["--bus", web_system.address]
    assert cli(["errmodel", reciprocal_survey, "--json", *bus]) == 0
    model = json.loads(capsys.readouterr().out)
    assert model["pairs"] == 14
    assert cli(["errmodel", reciprocal_survey, *bus]) == 0
    assert "|Rn - Rr| =" in capsys.readouterr().out
    out = tmp_path / "tl"
    assert cli(["export", reciprocal_survey, "--all-passes", "--format", "ohm", "-o", str(out), *bus]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{reciprocal_survey}_pass000.ohm", f"{reciprocal_survey}_pass001.ohm"]
    quads = [[tuple(r[k] for k in "abmn") for r in formats.read("ohm", f)[0]] for f in files]
    assert quads[0] == quads[1] and len(quads[0]) == 14
    assert cli(["export", reciprocal_survey, "--all-passes", "--format", "matrix", "-o", str(out), *bus]) == 2
