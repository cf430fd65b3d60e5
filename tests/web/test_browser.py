"""The control page in a real headless browser (Debian's chromium driven by Playwright) against
the whole running system: generate a sequence and start a survey from the page, watch the
pseudo-section fill in, stop it, download the `.ohm` from the page's link and read it back; no
request ever leaves this machine; with the controller stopped the page still renders and says so.

Screenshots (desktop 1366×900 and phone 390×844) go to `test-artifacts/`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.procs import ROOT

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "test-artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watch:
    """Every request the pages make, and every uncaught script error."""

    def __init__(self):
        self.urls: list[str] = []
        self.errors: list[str] = []

    def attach(self, context):
        context.on("request", lambda req: self.urls.append(req.url))
        context.on("page", self.page)

    def page(self, page):
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def foreign(self) -> list[str]:
        return [u for u in self.urls
                if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname not in LOCAL_HOSTS]


def read_ohm(path: Path) -> tuple[int, list[list[float]], list[str], list[list[str]]]:
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    it = iter(lines)

    def next_data():
        for ln in it:
            if not ln.startswith("#"):
                return ln
            last_comment[0] = ln
        raise AssertionError("the .ohm file ends early")

    last_comment = [""]
    n_el = int(next_data().split("#")[0])
    positions = [list(map(float, next_data().split()[:3])) for _ in range(n_el)]
    n_data = int(next_data().split("#")[0])
    # the data header is the comment line just before the first data row
    rows = []
    for _ in range(n_data):
        rows.append(next_data().split())
    columns = last_comment[0].lstrip("#").split()
    return n_el, positions, columns, rows


def test_page_survey_download_offline_and_dead_controller(web_system, browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    url = web_system.web_url
    watch = Watch()
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    watch.attach(ctx)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#chips .chip-alive:has-text('controller')")
    assert page.locator("#state-label").inner_text().lower() == "idle"

    # generate a Wenner sequence on 32 electrodes from the page
    page.select_option("#gen-array", "wenner")
    page.fill("#gen-n", "32")
    page.click("#gen-go")
    page.wait_for_selector("#loaded:has-text('155 quadrupoles')")

    # start a survey from the page, watch the pseudo-section fill in
    page.fill("#survey-form input[name=name]", "browser-test")
    page.click("#sv-start")
    page.wait_for_function("window.ohmpi.state.survey && window.ohmpi.state.survey.state === 'running'")
    page.wait_for_function("window.ohmpi.pseudosection.count() >= 3")
    first = page.evaluate("window.ohmpi.pseudosection.count()")
    page.wait_for_function(f"window.ohmpi.pseudosection.count() >= {first + 5}")
    assert page.locator("#state-label").inner_text().lower() == "survey running"
    assert page.locator("#live tbody tr").count() >= 5
    survey_id = page.evaluate("window.ohmpi.state.ps.surveyId")
    assert survey_id and survey_id.startswith("S")
    # the progress bar shows done/total
    assert "/155" in page.locator("#progress-text").inner_text()
    # hovering a plotted point shows its quadrupole and values (taken from the record)
    pt = page.evaluate("""(() => {
        const r = document.getElementById('ps').getBoundingClientRect();
        const p = window.ohmpi.pseudosection.points()[0];
        return {x: r.left + p.x, y: r.top + p.y, key: p.key, rhoa: p.rhoa};
    })()""")
    page.mouse.move(pt["x"], pt["y"])
    tip = page.locator("#ps-tip")
    tip.wait_for(state="visible")
    a, b, m, n = pt["key"].split(",")
    assert f"A {a} · B {b} · M {m} · N {n}" in tip.inner_text()
    assert "Ω·m" in tip.inner_text()
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")  # fixed, not for the full-page shot
    page.screenshot(path=str(ARTIFACTS / "desktop.png"), full_page=True)

    phone = ctx.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(url + "/")
    phone.wait_for_selector("body[data-ready='1']")
    phone.wait_for_function("window.ohmpi.pseudosection.count() > 0")
    # nothing is wider than the phone's screen (tables scroll inside their own box)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "phone.png"))
    phone.evaluate("window.scrollTo(0, document.getElementById('card-pseudo').offsetTop - 140)")
    phone.wait_for_timeout(200)
    phone.screenshot(path=str(ARTIFACTS / "phone-data.png"))
    phone.close()

    # stop it from the page
    page.click("#sv-stop")
    page.wait_for_function("window.ohmpi.state.survey && window.ohmpi.state.survey.state === 'stopped'")
    shown = page.evaluate("window.ohmpi.pseudosection.count()")
    assert shown >= first + 5

    # download the .ohm from the page's own link and read it back
    link = page.locator(f"#surveys li[data-survey='{survey_id}'] a[data-format='ohm']")
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    target = tmp_path / "survey.ohm"
    info.value.save_as(target)
    n_el, positions, columns, rows = read_ohm(target)
    assert n_el == 32 and len(positions) == 32
    assert columns[:4] == ["a", "b", "m", "n"] and "rhoa" in columns and "k" in columns
    assert len(rows) >= shown
    for row in rows:
        assert len(row) == len(columns)
        a, b, m, n = map(int, row[:4])
        assert 1 <= min(a, b, m, n) and max(a, b, m, n) <= 32
        assert float(row[columns.index("rhoa")]) > 0
    # every quadrupole plotted is in the file, with the same ρa (the page never recomputes it)
    page_rhoa = page.evaluate("""(() => {
        const out = {};
        for (const r of window.ohmpi.state.live) if (r.survey_id) out[[r.a, r.b, r.m, r.n].join(' ')] = r.rhoa_ohmm;
        return out;
    })()""")
    file_rhoa = {" ".join(r[:4]): float(r[columns.index("rhoa")]) for r in rows}
    assert page_rhoa
    for quad, value in page_rhoa.items():
        assert file_rhoa[quad] == pytest.approx(value, rel=1e-9)

    # the controller stopped: the page still renders and says which service is down
    web_system.ctl("stop", "controller")
    try:
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#chips .chip-dead:has-text('controller')", timeout=20_000)
        page.wait_for_function("document.getElementById('state-label').textContent === 'fault'")
        assert "controller" in page.locator("#state-detail").inner_text()
        assert page.locator("#procs tr.row-dead th").inner_text() == "controller"
        # the rest of the page still works: the survey list and its downloads are there
        page.locator(f"#surveys li[data-survey='{survey_id}'] a[data-format='csv']").wait_for()
        # a button that needs the controller says so in a toast
        page.click("#measure-go")
        toast = page.locator(".toast").first
        toast.wait_for()
        assert "controller" in toast.inner_text().lower()
        page.screenshot(path=str(ARTIFACTS / "controller-dead.png"))
    finally:
        web_system.ctl("start", "controller")

    assert not watch.errors, watch.errors
    assert watch.urls and not watch.foreign(), watch.foreign()
    ctx.close()


def copy_screenshots_to_docs():  # pragma: no cover - run by hand: python -m tests.web.test_browser
    docs = ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    for name in ("desktop.png", "phone.png", "phone-data.png"):
        shutil.copy(ARTIFACTS / name, docs / name)


if __name__ == "__main__":  # pragma: no cover
    copy_screenshots_to_docs()
