"""The page shows data quality (headless chromium against the whole system, over a chargeable
simulated earth): the quality card of a survey with reciprocals (flagged share, histograms, error
model, contacts), the pseudo-section switched to chargeability, and a picked quadrupole's IP decay
and uncertainty budget. No script error, no CSP violation, nothing fetched from elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.browser import ARGS, ARTIFACTS, CHROMIUM, Account, Watch, http, log_in, new_page
from tests.support.procs import wait_until
from tests.support.web import start_web_system

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

CHARGEABLE = '\n[instrument.sim]\nmodel = "homogeneous:rho=100;m=60;tau=0.2;c=0.5"\n'


@pytest.fixture(scope="module")
def system():
    s = start_web_system(web_extra=CHARGEABLE, electrodes=16, time_scale=20.0)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_quality_card_chargeability_section_and_budget(system, browser):
    url, token = system.web_url, system.tokens["operator"]
    assert http(url + "/api/sequence/generate", token, "POST", {"array": "wenner", "electrodes": 8})[0] == 200
    status, started = http(
        url + "/api/survey/start", token, "POST", {"name": "quality page", "stacks": 1, "reciprocals": True}
    )
    assert status == 200, started
    sid = started["survey_id"]
    wait_until(
        lambda: http(url + "/api/survey", token)[1].get("state") == "finished", timeout=180, what="survey finished"
    )
    watch = Watch()
    watch.system = system
    ctx, page = new_page(browser, watch)
    try:
        log_in(page, url, Account(*system.passwords["viewer"]), watch)
        item = page.locator(f"#surveys li[data-survey='{sid}']")
        item.wait_for()
        item.get_by_role("button", name="quality").click()
        wait_until(
            lambda: "14 measurements" in (page.text_content("#q-summary") or ""),
            timeout=30,
            what="quality summary shown",
        )
        assert "|Rn - Rr|" in page.text_content("#q-model")
        # the pseudo-section switched to chargeability: every point has a value on a chargeable earth
        item.get_by_role("button", name="view").click()
        wait_until(
            lambda: page.evaluate("window.ohmpi.pseudosection.count()") == 14, timeout=30, what="pseudo-section filled"
        )
        page.select_option("#ps-quantity", "ip")
        ip = page.evaluate("[...window.ohmpi.state.live].map((r) => r.ip_mvv)")
        assert ip and all(v is not None and v > 1 for v in ip), ip
        # a picked row: its waveform, its IP decay and its uncertainty budget
        page.locator("#live tbody tr").first.click()
        wait_until(
            lambda: page.locator("#budget li[data-source]").count() == 5, timeout=30, what="uncertainty budget shown"
        )
        assert page.locator("#budget li.dominant").count() == 1
        assert page.text_content("#budget-total").startswith("±")
        assert page.locator("#live thead th", has_text="M mV/V").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#card-quality").screenshot(path=str(ARTIFACTS / "quality.png"))
        page.locator("#card-wave").screenshot(path=str(ARTIFACTS / "decay-budget.png"))
        page.locator("#card-pseudo").screenshot(path=str(ARTIFACTS / "pseudo-chargeability.png"))
        watch.check()
    finally:
        ctx.close()


def test_what_a_survey_cost_in_the_cli_the_detail_and_the_page(system, browser):
    """Each measurement's cost summed per survey and pass by the recorder: `ohmpi surveys --json`,
    the survey's detail (per pass) and the page's survey list show the same figures."""
    url, token = system.web_url, system.tokens["operator"]
    assert http(url + "/api/sequence/generate", token, "POST", {"array": "wenner", "electrodes": 8})[0] == 200
    status, started = http(url + "/api/survey/start", token, "POST", {"name": "cost", "stacks": 1})
    assert status == 200, started
    sid = started["survey_id"]
    wait_until(
        lambda: http(url + "/api/survey", token)[1].get("state") == "finished", timeout=180, what="survey finished"
    )
    s = next(s for s in json.loads(system.ohmpi("surveys", "--json").stdout) if s["survey_id"] == sid)
    assert s["quadrupoles"] == s["metered"] == s["measurements"] == 7
    assert 0 < s["injection_s"] < s["sim_duration_s"] and s["energy_j"] > 0
    assert 4 <= s["relay_operations"] < 7 * 8  # relays held between quadrupoles: fewer than 8 each
    status, detail = http(url + f"/api/surveys/{sid}", token)
    assert status == 200 and len(detail["pass_figures"]) == 1
    assert {k: detail["pass_figures"][0][k] for k in ("relay_operations", "energy_j", "sim_duration_s")} == {
        k: s[k] for k in ("relay_operations", "energy_j", "sim_duration_s")
    }
    assert "RELAY OPS" in system.ohmpi("surveys").stdout
    watch = Watch()
    watch.system = system
    ctx, page = new_page(browser, watch)
    try:
        log_in(page, url, Account(*system.passwords["viewer"]), watch)
        cost = page.locator(f"#surveys li[data-survey='{sid}'] .sv-cost")
        cost.wait_for()
        assert f"{s['relay_operations']} relay operations" in cost.inner_text()
        assert "injecting" in cost.inner_text() and " J" in cost.inner_text()
        watch.check()
    finally:
        ctx.close()
