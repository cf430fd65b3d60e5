"""The control page in a real headless browser (Debian's chromium driven by Playwright) against
the whole running system, from a fresh start:

- the one-time setup link the gateway wrote to `$OHMPI_VAR/setup-url` creates the first
  administrator through the page; the page then works as before: a survey started from the page,
  the pseudo-section filling in, stop, the `.ohm` downloaded and read back, no request leaving
  this machine, the controller stopped and the page saying so;
- the admin panel makes an API token (used from urllib, then revoked from the panel) and users;
  a viewer sees no control, an operator the survey controls but no admin panel;
- logout returns to the login screen, a wrong password is shown as such, the rate limit's wait;
- hostile text (a survey name, a log line) is shown as text, and the Content-Security-Policy the
  gateway sends is never violated.

Screenshots go to `test-artifacts/`; `python -m tests.web.test_browser` copies them to
docs/screenshots/.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import zmq

from bus.envelope import Session
from bus.events import Publisher
from tests.support.browser import ARTIFACTS, CHROMIUM, PHONE, Account, Watch, http, log_in, new_page
from tests.support.procs import ROOT, wait_until
from tests.support.web import start_web_system

sync_api = pytest.importorskip("playwright.sync_api")

HOSTILE = '<img src=x onerror="window.__pwned=1">'
# Controls by the role they need (as declared by the gateway's routes); the page must hide them.
OPERATOR_CONTROLS = ["#abort", "#card-survey", "#sv-start", "#card-seq", "#rs-go", "#card-measure", "#card-settings"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def web_system():
    """A fresh system of its own: no user yet, so the gateway offers its setup link."""
    system = start_web_system(electrodes=32, time_scale=20.0, accounts=False)
    yield system
    system.close()


@pytest.fixture(scope="module")
def watch(web_system):
    w = Watch()
    w.system = web_system
    return w


def visible(page, selector: str) -> bool:
    loc = page.locator(selector)
    return loc.count() > 0 and loc.first.is_visible()


@pytest.fixture(scope="module")
def admin(web_system, browser, watch) -> Account:
    """The first administrator, created through the page from the one-time setup link."""
    setup_file = web_system.var / "setup-url"
    link = wait_until(
        lambda: setup_file.is_file() and setup_file.read_text().strip(),
        timeout=30,
        what="the gateway wrote its setup link",
    )
    parts = urlsplit(link)
    assert parts.path == "/setup" and "token=" in parts.query
    account = Account("chief", "field-" + secrets.token_urlsafe(12))
    ctx, page = new_page(browser, watch)
    page.goto(web_system.web_url + f"/setup?{parts.query}")
    page.wait_for_selector("#setup-form:visible")
    assert not visible(page, "#login-form")
    form = "#setup-form"
    page.fill(f"{form} input[name=username]", account.username)
    page.fill(f"{form} input[name=password]", account.password)
    page.fill(f"{form} input[name=password2]", account.password + "x")
    page.click("#setup-go")
    page.wait_for_selector("#setup-error:visible")
    assert "differ" in page.locator("#setup-error").inner_text()
    page.fill(f"{form} input[name=password2]", account.password)
    page.click("#setup-go")
    page.wait_for_selector("body[data-ready='1'][data-auth='in']")
    assert urlsplit(page.url).path == "/" and "token" not in page.url  # the spent token left the address bar
    assert page.locator("#user-name").inner_text() == "chief"
    assert page.locator("#user-role").inner_text() == "admin"
    ctx.close()
    # the link is spent: a second use is refused, on the page
    ctx, page = new_page(browser, watch)
    page.goto(web_system.web_url + f"/setup?{parts.query}")
    page.fill(f"{form} input[name=username]", "intruder")
    page.fill(f"{form} input[name=password]", account.password)
    page.fill(f"{form} input[name=password2]", account.password)
    page.click("#setup-go")
    page.wait_for_selector("#setup-error:visible")
    assert page.evaluate("document.body.dataset.auth") == "out"
    ctx.close()
    return account


@pytest.fixture(scope="module")
def team(web_system, browser, watch, admin) -> dict[str, Account]:
    """A viewer and an operator, added by the admin through the admin panel."""
    ctx, page = new_page(browser, watch)
    log_in(page, web_system.web_url, admin)
    page.click("#user-menu summary")
    page.click("#open-admin")
    page.wait_for_selector("#admin:visible")
    out = {}
    for name, role in (("vera", "viewer"), ("otto", "operator")):
        account = Account(name, "pw-" + secrets.token_urlsafe(10))
        page.fill("#user-form input[name=username]", name)
        page.select_option("#user-form select[name=role]", role)
        page.fill("#user-form input[name=password]", account.password)
        page.fill("#user-form input[name=password2]", account.password)
        page.click("#user-go")
        row = page.locator(f"#users tr[data-user='{name}']")
        row.wait_for()
        assert row.locator("td").first.inner_text() == role
        out[role] = account
    ctx.close()
    return out


# ---- tests -------------------------------------------------------------------------------------
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


def test_csp_is_sent_and_violations_are_seen(web_system, browser, watch):
    """The policy is in force on the page, and the watch really sees a violation (then forgets it)."""
    ctx, page = new_page(browser, watch)
    resp = page.goto(web_system.web_url + "/")
    csp = resp.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp, csp
    page.wait_for_selector("#login-form:visible")
    page.evaluate("document.body.setAttribute('style', 'outline: 1px solid red')")  # an inline style: refused
    # (Playwright delivers events during its own calls: wait inside one)
    wait_until(lambda: page.wait_for_timeout(100) or watch.csp, timeout=10, what="the CSP violation reported")
    assert any("style-src" in v for v in watch.csp), watch.csp
    watch.csp.clear()
    ctx.close()


def test_page_survey_download_offline_and_dead_controller(web_system, browser, watch, admin, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    url = web_system.web_url
    ctx, page = new_page(browser, watch, accept_downloads=True)
    with page.expect_response("**/api/login") as login_resp:
        log_in(page, url, admin)
    access_token = login_resp.value.json()["access_token"]
    page.wait_for_selector("#chips .chip-alive:has-text('controller')")
    assert page.locator("#state-label").inner_text().lower() == "idle"
    # the access token lives in memory only
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert access_token not in stored
    # an admin sees every control, the restart buttons and the way to the admin panel
    for sel in OPERATOR_CONTROLS:
        assert visible(page, sel), sel
    page.wait_for_selector("#procs button:has-text('restart')")
    page.click("#user-menu summary")
    assert visible(page, "#open-admin")
    page.click("#user-menu summary")

    # generate a Wenner sequence on 32 electrodes from the page
    page.select_option("#gen-array", "wenner")
    page.fill("#gen-n", "32")
    page.click("#gen-go")
    page.wait_for_selector("#loaded:has-text('155 quadrupoles')")

    # start a survey from the page (its name is hostile markup), watch the pseudo-section fill in
    name = f"browser-test {HOSTILE}"
    page.fill("#survey-form input[name=name]", name)
    page.click("#sv-start")
    # (functions, not expression strings: Playwright evaluates strings with eval, which the CSP refuses)
    page.wait_for_function("() => window.ohmpi.state.survey && window.ohmpi.state.survey.state === 'running'")
    page.wait_for_function("() => window.ohmpi.pseudosection.count() >= 3")
    first = page.evaluate("window.ohmpi.pseudosection.count()")
    page.wait_for_function(f"() => window.ohmpi.pseudosection.count() >= {first + 5}")
    assert page.locator("#state-label").inner_text().lower() == "survey running"
    assert page.locator("#live tbody tr").count() >= 5
    survey_id = page.evaluate("window.ohmpi.state.ps.surveyId")
    assert survey_id and survey_id.startswith("S")
    # the progress bar shows done/total
    assert "/155" in page.locator("#progress-text").inner_text()
    # the hostile name is shown as text, wherever it appears
    page.wait_for_selector(f"#surveys li[data-survey='{survey_id}']")
    assert HOSTILE in page.locator(f"#surveys li[data-survey='{survey_id}'] b").inner_text()
    assert HOSTILE in page.locator("#ps-title").inner_text()
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("window.__pwned") is None
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

    # a second tab gets in through the refresh cookie, without the login form
    phone = ctx.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(url + "/")
    phone.wait_for_selector("body[data-ready='1'][data-auth='in']")
    phone.wait_for_function("() => window.ohmpi.pseudosection.count() > 0")
    # nothing is wider than the phone's screen (tables scroll inside their own box)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(ARTIFACTS / "phone.png"))
    phone.evaluate("window.scrollTo(0, document.getElementById('card-pseudo').offsetTop - 140)")
    phone.wait_for_timeout(200)
    phone.screenshot(path=str(ARTIFACTS / "phone-data.png"))
    phone.close()

    # stop it from the page
    page.click("#sv-stop")
    page.wait_for_function("() => window.ohmpi.state.survey && window.ohmpi.state.survey.state === 'stopped'")
    shown = page.evaluate("window.ohmpi.pseudosection.count()")
    assert shown >= first + 5

    # download the .ohm with the page's own button (fetched with the token, saved from a Blob)
    button = page.locator(f"#surveys li[data-survey='{survey_id}'] button[data-format='ohm']")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    assert info.value.suggested_filename.endswith(".ohm")
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
    # no URL the page used carries a token
    assert not [u for u in watch.urls if access_token in u]

    # the controller stopped: the page still renders and says which service is down
    web_system.ctl("stop", "controller")
    try:
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#chips .chip-dead:has-text('controller')", timeout=20_000)
        page.wait_for_function("() => document.getElementById('state-label').textContent === 'fault'")
        assert "controller" in page.locator("#state-detail").inner_text()
        assert page.locator("#procs tr.row-dead th").inner_text() == "controller"
        # the MQTT bridge without [mqtt] exited 0 at once: off, not dead, and no fault of its own
        assert "off" in page.locator("#chips .chip-off:has-text('mqtt')").inner_text()
        # the rest of the page still works: the survey list and its downloads are there
        page.locator(f"#surveys li[data-survey='{survey_id}'] button[data-format='csv']").wait_for()
        # a button that needs the controller says so in a toast
        page.click("#measure-go")
        toast = page.locator(".toast").first
        toast.wait_for()
        assert "controller" in toast.inner_text().lower()
        page.screenshot(path=str(ARTIFACTS / "controller-dead.png"))
    finally:
        web_system.ctl("start", "controller")
    ctx.close()
    watch.check()


def test_admin_panel_api_token_users_and_audit(web_system, browser, watch, admin, team):
    url = web_system.web_url
    ctx, page = new_page(browser, watch)
    log_in(page, url, admin)
    page.goto(url + "/#admin")
    page.wait_for_selector("#admin:visible")
    assert not visible(page, "#control")
    # the two users added through this panel are listed with their roles
    page.locator("#users tr[data-user='vera']").wait_for()
    assert page.locator("#users tr[data-user='otto'] td").first.inner_text() == "operator"

    # an API token for a script: shown once, works as a bearer token
    page.fill("#token-form input[name=name]", "logger-pi")
    page.select_option("#token-form select[name=role]", "viewer")
    page.click("#token-go")
    page.wait_for_selector("#token-new:visible")
    token = page.input_value("#token-value")
    assert len(token) >= 20
    status, me = http(url + "/api/me", token)
    assert status == 200 and me["role"] == "viewer", me
    status, surveys = http(url + "/api/surveys", token)
    assert status == 200 and isinstance(surveys, list)
    status, _ = http(url + "/api/survey/stop", token, "POST", {})  # a viewer token may not change anything
    assert status == 403
    page.click("#token-done")
    assert not visible(page, "#token-new") and page.input_value("#token-value") == ""
    page.click("#tokens-reload")
    row = page.locator("#tokens tr[data-token='logger-pi']")
    page.wait_for_selector("#tokens-reload:not([aria-busy])")
    assert token not in page.content()  # listed by name only
    cells = row.locator("td").all_inner_texts()
    # the row says what the gateway knows (last used is recorded at most once a while)
    status, session = http(
        url + "/api/login", body={"username": admin.username, "password": admin.password}, method="POST"
    )
    assert status == 200
    status, listed = http(url + "/api/tokens", session["access_token"])
    known = next(t for t in listed if t["name"] == "logger-pi")
    assert cells[0] == "viewer" and (cells[2] == "never") == (known["last_used"] is None), (cells, known)
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)
    phone = ctx.new_page()  # the same panel on a phone: nothing wider than the screen
    phone.set_viewport_size(PHONE)
    phone.goto(url + "/#admin")
    phone.locator("#tokens tr[data-token='logger-pi']").wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(ARTIFACTS / "admin-phone.png"), full_page=True)
    phone.close()

    # revoked from the panel: the next request with it is refused
    row.locator("button:has-text('revoke')").click()
    page.locator("#tokens tr[data-token='logger-pi']").wait_for(state="detached")
    status, body = http(url + "/api/me", token)
    assert status == 401, body

    # the audit log, newest first: the token's creation and revocation are there, by chief
    page.fill("#audit-form input[name=user]", "chief")

    def audited():  # records reach the recorder over the bus: ask again until they are stored
        page.click("#audit-go")
        page.wait_for_selector("#audit-go:not([aria-busy])")
        rows = page.locator("#audit tbody tr").all_inner_texts()
        return [r for r in rows if "logger-pi" in r] if sum("logger-pi" in r for r in rows) >= 2 else None

    token_rows = wait_until(audited, timeout=30, what="the token's creation and revocation in the audit log")
    assert "token_revoke" in token_rows[0] and "token_create" in token_rows[1], token_rows
    stamps = [float(t) for t in page.locator("#audit tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.ts)")]
    assert stamps == sorted(stamps, reverse=True)
    ctx.close()
    watch.check()


def test_viewer_sees_data_but_no_control(web_system, browser, watch, team):
    url = web_system.web_url
    viewer = team["viewer"]
    ctx, page = new_page(browser, watch, accept_downloads=True)
    log_in(page, url, viewer)
    assert page.locator("#user-role").inner_text() == "viewer"
    # data, charts, downloads, logs, health
    for sel in (
        "#card-pseudo",
        "#card-live",
        "#card-wave",
        "#card-ts",
        "#card-rs",
        "#card-soh",
        "#card-dl",
        "#card-logs",
    ):
        assert visible(page, sel), sel
    page.wait_for_selector("#surveys button[data-format='ohm']")
    with page.expect_download() as info:
        page.locator("#surveys button[data-format='csv']").first.click()
    assert info.value.suggested_filename.endswith(".csv")
    page.wait_for_selector("#procs tbody tr")
    # no control at all: hidden, not just disabled
    for sel in OPERATOR_CONTROLS + ["#procs button", "#open-admin"]:
        assert not visible(page, sel), sel
    assert page.locator("#abort").evaluate("(el) => getComputedStyle(el).display") == "none"
    # the admin view is not reachable by its address either
    page.goto(url + "/#admin")
    page.wait_for_selector("body[data-ready='1']")
    assert not visible(page, "#admin") and visible(page, "#control")

    # change my own password, then only the new one works
    new_password = viewer.password + "-2"
    page.click("#user-menu summary")
    page.click("#open-passwd")
    page.wait_for_selector("#passwd:visible")
    page.fill("#passwd-form input[name=current]", viewer.password)
    page.fill("#passwd-form input[name=password]", new_password)
    page.fill("#passwd-form input[name=password2]", new_password)
    page.click("#passwd-go")
    page.wait_for_selector("#passwd", state="hidden")
    page.click("#user-menu summary")
    page.click("#logout")
    page.wait_for_selector("#login-form:visible")
    page.fill("#login-form input[name=username]", viewer.username)
    page.fill("#login-form input[name=password]", viewer.password)
    page.click("#login-go")
    page.wait_for_selector("#login-error:visible")
    viewer.password = new_password
    log_in(page, url, viewer)
    ctx.close()
    watch.check()


def test_operator_sees_survey_controls_but_no_admin(web_system, browser, watch, admin, team):
    url = web_system.web_url
    operator = team["operator"]
    ctx, page = new_page(browser, watch, viewport=PHONE)
    log_in(page, url, operator)
    assert page.locator("#user-role").inner_text() == "operator"
    for sel in OPERATOR_CONTROLS:
        assert visible(page, sel), sel
    page.wait_for_selector("#procs tbody tr")
    assert not visible(page, "#procs button")  # restarting processes is the admin's
    page.click("#user-menu summary")
    assert visible(page, "#open-passwd") and visible(page, "#logout")
    assert not visible(page, "#open-admin")
    page.click("#user-menu summary")

    # the admin sets the operator's password from the panel: the operator's session ends, and
    # their page says so at its next request, then takes the new password
    admin_ctx, admin_page = new_page(browser, watch)
    log_in(admin_page, url, admin, watch)
    admin_page.goto(url + "/#admin")
    admin_page.locator(f"#users tr[data-user='{operator.username}'] button:has-text('password')").click()
    admin_page.wait_for_selector("#passwd:visible")
    assert not visible(admin_page, "#passwd-current")  # an admin needs no current password of others
    operator.password += "-new"
    admin_page.fill("#passwd-form input[name=password]", operator.password)
    admin_page.fill("#passwd-form input[name=password2]", operator.password)
    admin_page.click("#passwd-go")
    admin_page.wait_for_selector("#passwd", state="hidden")
    admin_ctx.close()
    page.evaluate("document.getElementById('dl-reload').click()")  # any request (works even if already out)
    page.wait_for_selector("#login-form:visible")
    assert "ended" in page.locator("#login-note").inner_text()
    page.fill("#login-form input[name=username]", operator.username)
    page.fill("#login-form input[name=password]", operator.password)
    page.click("#login-go")
    page.wait_for_selector("body[data-auth='in']")
    page.wait_for_selector("#conn.conn-live")
    assert visible(page, "#sv-start")
    ctx.close()
    watch.check()


def test_hostile_log_line_is_text(web_system, browser, watch, admin):
    url = web_system.web_url
    ctx, page = new_page(browser, watch)
    log_in(page, url, admin)
    page.wait_for_selector("#conn.conn-live")
    pub = Publisher(Session("probe"), web_system.address, web_system.cfg, zmq.Context.instance())
    message = f"probe says {HOSTILE}"
    try:

        def shown():
            pub.publish("log.probe.warning", {"message": message})  # repeated: a new PUB socket joins late
            return page.locator("#logs .lmsg", has_text="probe says").count() > 0

        wait_until(shown, timeout=30, what="the hostile log line on the page")
    finally:
        pub.close()
    assert page.locator("#logs .lmsg", has_text="probe says").first.inner_text() == message
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("window.__pwned") is None
    ctx.close()
    watch.check()


def test_logout_and_wrong_password(web_system, browser, watch, admin):
    url = web_system.web_url
    ctx, page = new_page(browser, watch)
    log_in(page, url, admin)
    page.click("#user-menu summary")
    page.click("#logout")
    page.wait_for_selector("#login-form:visible")
    assert page.evaluate("document.body.dataset.auth") == "out"
    assert not visible(page, "#control")
    # after a logout a reload does not get back in: the refresh cookie is gone
    page.reload()
    page.wait_for_selector("#login-form:visible")
    page.screenshot(path=str(ARTIFACTS / "login.png"))
    page.fill("#login-form input[name=username]", admin.username)
    page.fill("#login-form input[name=password]", "not-" + admin.password)
    page.click("#login-go")
    page.wait_for_selector("#login-error:visible")
    assert page.locator("#login-error").inner_text().strip()
    assert page.input_value("#login-form input[name=password]") == ""
    assert page.evaluate("document.body.dataset.auth") == "out"
    log_in(page, url, admin)
    ctx.close()
    watch.check()


def test_rate_limit_shows_the_wait(web_system, browser, watch):
    """Last in this module: it locks this address out of logging in for a minute."""
    ctx, page = new_page(browser, watch, viewport=PHONE)
    page.goto(web_system.web_url + "/")
    page.wait_for_selector("#login-form:visible")
    for _ in range(8):
        page.fill("#login-form input[name=username]", "mallory")
        page.fill("#login-form input[name=password]", "guess-" + secrets.token_hex(4))
        page.click("#login-go")
        page.wait_for_selector("#login-error:visible")
        if "Try again in" in page.locator("#login-error").inner_text():
            break
        page.wait_for_function("() => !document.getElementById('login-go').disabled")
    text = page.locator("#login-error").inner_text()
    assert "Too many failed attempts" in text and "Try again in" in text, text
    assert page.locator("#login-go").is_disabled()
    ctx.close()
    watch.check()


def copy_screenshots_to_docs():  # pragma: no cover - run by hand: python -m tests.web.test_browser
    docs = ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    for name in ("desktop.png", "phone.png", "phone-data.png", "login.png", "admin.png"):
        shutil.copy(ARTIFACTS / name, docs / name)


if __name__ == "__main__":  # pragma: no cover
    copy_screenshots_to_docs()
