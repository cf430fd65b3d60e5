"""The page's health panel says what keeps the instrument from measuring or storing (headless
chromium against the whole system under supervisord): a free-space floor above the disk's free
space (`[recorder] min_free_mb` huge) holds the survey, and the panel shows the floor, the held
survey and its message, and the controller refusing to measure; a damaged database set aside at
the recorder's start appears there too, live. The survey buttons follow the actions the sequencer's
state machine allows, and the log levels come from GET /api/spec. No script error, no CSP violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.constants import LOG_LEVELS
from tests.support.browser import ARTIFACTS, CHROMIUM, Account, Watch, http, log_in, new_page
from tests.support.procs import wait_until
from tests.support.web import start_web_system

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

FLOOR_MB = 100_000_000  # MiB (105 TB): no test machine has that much free
FLOOR_SHOWN = f"{FLOOR_MB * 2**20 / 1e12:.0f} TB"  # as the page writes bytes


@pytest.fixture(scope="module")
def system():
    s = start_web_system(web_extra=f"\n[recorder]\nmin_free_mb = {FLOOR_MB}\n", electrodes=16, time_scale=20.0)
    yield s
    s.close()


def note(page, key: str) -> str:
    loc = page.locator(f"#health-notes li[data-note='{key}']")
    return loc.first.inner_text() if loc.count() and loc.first.is_visible() else ""


@pytest.mark.timeout(300)
def test_health_panel_shows_a_disk_hold_and_a_database_set_aside(system, browser):
    url, token = system.web_url, system.tokens["operator"]
    assert http(url + "/api/sequence/generate", token, "POST", {"array": "wenner", "electrodes": 8})[0] == 200
    status, started = http(url + "/api/survey/start", token, "POST", {"name": "held", "stacks": 1})
    assert status == 200, started
    survey = wait_until(
        lambda: (s := http(url + "/api/survey", token)[1]).get("hold") == "disk_full" and s,
        timeout=60,
        what="the survey held for disk space",
    )
    assert survey["state"] == "paused" and survey["done_all"] == 0
    assert survey["active"] and sorted(survey["actions"]) == ["pause", "resume", "stop"]

    watch = Watch()
    watch.system = system
    ctx, page = new_page(browser, watch)
    try:
        log_in(page, url, Account(*system.passwords["operator"]), watch)
        assert page.evaluate("import('/static/spec.js').then((m) => m.spec.log_levels)") == list(LOG_LEVELS)
        wait_until(
            lambda: (
                page.is_disabled("#sv-start")
                and page.is_enabled("#sv-stop")
                and page.is_enabled("#sv-pause")
                and page.is_enabled("#sv-resume")
            ),
            timeout=30,
            what="survey buttons as the state machine allows",
        )
        disk = wait_until(lambda: note(page, "disk"), timeout=30, what="the disk note")
        assert "free-space floor" in disk and f"floor {FLOOR_SHOWN}" in disk and "min_free_mb" in disk, disk
        assert "tile-bad" in page.get_attribute("#t-disk", "class")
        assert f"floor {FLOOR_SHOWN}" in page.get_attribute("#t-disk", "title")
        hold = wait_until(lambda: note(page, "hold"), timeout=30, what="the hold note")
        assert "held (disk_full)" in hold and "resumes by itself" in hold, hold
        controller = wait_until(lambda: note(page, "controller"), timeout=30, what="the controller's reason")
        assert "disk_full" in controller and "measuring refused" in controller, controller
        assert not note(page, "db")

        # a damaged database, found when the recorder starts: set aside, shown live
        assert "stopped" in system.ctl("stop", "recorder")
        db = system.var / "ohmpi.db"
        db.write_bytes(b"not a database at all".ljust(4096, b"\0") + db.read_bytes()[4096:])
        assert "started" in system.ctl("start", "recorder")
        aside = wait_until(lambda: note(page, "db"), timeout=60, what="the set-aside database note")
        assert f"{db}.corrupt-" in aside and "kept, not deleted" in aside, aside
        assert note(page, "disk")  # the new database is on the same (too full) disk
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#card-soh").screenshot(path=str(ARTIFACTS / "health-disk-hold.png"))
        watch.check()
    finally:
        ctx.close()
