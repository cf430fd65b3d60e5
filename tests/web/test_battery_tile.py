"""The battery beside the supply voltage, end to end (real supervisord, headless chromium): two
small surveys run, the controller's SOH says how many more the battery allows from its voltage,
capacity and the last survey's energy; the page's Battery tile shows it with its basis; the
estimate survives a controller restart (var/battery-<instrument>.json). No script error, no CSP
violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, Account, Watch, log_in, new_page
from tests.support.procs import wait_until
from tests.support.web import start_web_system

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def system():
    s = start_web_system(electrodes=8, time_scale=0.0)
    yield s
    s.close()


def run_survey(system) -> str:
    system.client.call("sequencer", "generate", array="wenner")
    started = system.client.call("sequencer", "start")
    wait_until(lambda: system.survey()["state"] == "finished", timeout=120, what="the survey finished")
    return started["survey_id"]


@pytest.mark.timeout(300)
def test_surveys_left_in_soh_and_on_the_page_and_after_a_restart(system, browser):
    first = run_survey(system)
    status = system.client.call("controller", "status")
    assert status["battery_soc_pct"] == 43.3  # 12.0 V lead-acid
    # before any pass finished: the running pass's energy per quadrupole x its length (sent by the sequencer)
    assert status["surveys_left"] > 0 and f"running survey {first}#0" in status["surveys_left_basis"]
    run_survey(system)
    status = system.client.call("controller", "status")
    assert f"last survey {first}#0" in status["surveys_left_basis"]  # each pass is a survey for the battery
    left = status["surveys_left"]
    assert left > 0 and left == pytest.approx(status["battery_wh_left"] / status["survey_wh"], rel=0.01)  # rounded

    watch = Watch()
    watch.system = system
    ctx, page = new_page(browser, watch)
    try:
        log_in(page, system.web_url, Account(*system.passwords["viewer"]), watch)
        shown = wait_until(
            lambda: re.fullmatch(r"\d+ surveys? · 43 %", t := page.inner_text("#t-battery b")) and t,
            timeout=30,
            what="the battery tile",
        )
        assert shown.startswith(f"{left} ")
        title = page.get_attribute("#t-battery", "title")
        assert "43 % charged at 12.00 V" in title and f"Based on: last survey {first}#0" in title, title
        assert "tile-ok" in page.get_attribute("#t-battery", "class")
        watch.check()
    finally:
        ctx.close()

    system.kill9("controller")
    after = system.client.call("controller", "status")
    assert after["surveys_left_basis"] == status["surveys_left_basis"] and after["survey_wh"] == status["survey_wh"]
