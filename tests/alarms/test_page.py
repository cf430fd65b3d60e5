"""Alarms over HTTP and on the page, in real chromium against the whole running system: the banner
and the list, live (a rule added by an admin appears on a viewer's open page), acknowledgement
with a comment by an operator (a viewer gets no form), the rules edited by an admin (a bad one
is refused naming its field), roles enforced by the routes, hostile input, and a page that
never violates its Content-Security-Policy."""

from __future__ import annotations

import pytest

from tests.support.procs import wait_until
from tests.support.web import fetch, start_web_system

sync_api = pytest.importorskip("playwright.sync_api")
from tests.support.browser import ARGS, CHROMIUM, Account, Watch, log_in, new_page  # noqa: E402

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"
)

RULES = """
[instrument.injection]
battery_V = 11.0

[[alarms]]
name = "low_battery"
when = "soh.controller.supply_V < 11.5"
severity = "critical"
actions = ["mqtt"]
"""


@pytest.fixture(scope="module")
def system():
    s = start_web_system(web_extra=RULES, electrodes=8, time_scale=0.0)
    s.client.wait_for("alarms", timeout=60)
    wait_until(lambda: s.client.call("alarms", "alarms")[0]["state"] == "active", timeout=30, what="low_battery raised")
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def account(system, role) -> Account:
    return Account(*system.passwords[role])


def test_routes_enforce_roles_and_refuse_hostile_input(system):
    url, tokens = system.web_url, system.tokens
    status, _, listed = fetch(url, "GET", "/api/alarms", token=tokens["viewer"])
    assert status == 200 and listed[0]["name"] == "low_battery" and listed[0]["state"] == "active"
    assert fetch(url, "GET", "/api/alarms")[0] == 401
    assert fetch(url, "GET", "/api/alarms/rules", token=tokens["operator"])[0] == 403
    assert fetch(url, "PUT", "/api/alarms/rules", {"rules": []}, token=tokens["operator"])[0] == 403
    assert fetch(url, "POST", "/api/alarms/low_battery/ack", {"comment": "x"}, token=tokens["viewer"])[0] == 403
    status, _, err = fetch(url, "POST", "/api/alarms/low_battery/ack", {"comment": "x" * 501}, token=tokens["operator"])
    assert status == 400 and err["error"]["arg"] == "comment"
    status, _, err = fetch(url, "POST", "/api/alarms/%3Cscript%3E/ack", {}, token=tokens["operator"])
    assert status == 400 and err["error"]["arg"] == "name"
    status, _, err = fetch(
        url, "PUT", "/api/alarms/rules", {"rules": [{"name": "x", "when": "rm -rf /"}]}, token=tokens["admin"]
    )
    assert status == 400 and err["error"]["arg"] == "alarms['x'].when"
    status, _, err = fetch(url, "PUT", "/api/alarms/rules", {"rules": "nope"}, token=tokens["admin"])
    assert status == 400
    status, _, metrics = fetch(url, "GET", "/api/alarms/metrics", token=tokens["viewer"])
    assert status == 200 and metrics["values"]["soh.controller.supply_V"] == 11.0
    assert fetch(url, "GET", "/api/alarms", token=tokens["viewer"])[2][0]["state"] == "active"  # nothing changed


def test_banner_list_acknowledge_and_rules_on_the_page(system, browser):
    watch = Watch()
    watch.system = system
    vctx, viewer = new_page(browser, watch)
    log_in(viewer, system.web_url, account(system, "viewer"), watch)
    viewer.wait_for_selector("#alarm-banner.alarm-critical:visible")
    assert "low_battery" in viewer.locator("#alarm-banner").inner_text()
    viewer.wait_for_selector("#alarm-list li[data-name='low_battery'][data-state='active']")
    assert viewer.locator("#alarm-list form.alarm-ack").count() == 0  # a viewer cannot acknowledge
    assert not viewer.locator("#alarm-rules").is_visible()

    octx, operator = new_page(browser, watch)
    log_in(operator, system.web_url, account(system, "operator"), watch)
    form = "#alarm-list form.alarm-ack[data-name='low_battery']"
    operator.fill(f"{form} input[name=comment]", "<b>driving</b> there")
    operator.click(f"{form} button")
    operator.wait_for_selector("#alarm-list li[data-name='low_battery'][data-state='acknowledged']")
    assert "“<b>driving</b> there”" in operator.locator("#alarm-list li[data-name='low_battery']").inner_text()
    operator.wait_for_selector("#alarm-banner.alarm-acked:visible")
    # the viewer's open page follows through the live stream
    viewer.wait_for_selector("#alarm-list li[data-name='low_battery'][data-state='acknowledged']")
    octx.close()

    actx, admin = new_page(browser, watch)
    log_in(admin, system.web_url, account(system, "admin"), watch)
    admin.click("#alarm-rules > summary")
    wait_until(lambda: "low_battery" in admin.input_value("#alarm-rules-text"), timeout=30, what="the rules shown")
    admin.fill("#alarm-rules-text", '[{"name": "hot", "when": "soh.controller.cpu_temp_C >> 40"}]')
    admin.click("#alarm-rules-save")
    admin.wait_for_selector("#alarm-rules-text.invalid")
    assert "alarms['hot'].when" in admin.locator("#alarm-rules-msg").inner_text()
    admin.fill(
        "#alarm-rules-text",
        '[{"name": "low_battery", "when": "soh.controller.supply_V < 11.5", '
        '"severity": "critical"}, {"name": "hot", "when": "soh.controller.cpu_temp_C > 40"}]',
    )
    admin.click("#alarm-rules-save")
    wait_until(lambda: "saved" in admin.locator("#alarm-rules-source").inner_text(), timeout=30, what="the rules saved")
    assert not admin.locator("#alarm-rules-text.invalid").count()
    actx.close()
    # the new rule is raised (the simulated CPU is at 47 °C) and the viewer's page shows it, live
    viewer.wait_for_selector("#alarm-list li[data-name='hot'][data-state='active']", timeout=30_000)
    viewer.wait_for_selector("#alarm-banner.alarm-warning:visible")
    assert viewer.locator("#alarm-list li[data-name='low_battery'][data-state='acknowledged']").count() == 1
    vctx.close()
    watch.check()
