"""The page in a real headless browser: Debian's chromium driven by Playwright.

`CHROMIUM`/`ARGS` launch it (never a downloaded browser); `new_page` opens a page in a fresh
context watched by a `Watch` (every request, uncaught script error and CSP violation);
`log_in` signs in through the login form; `http` is a script's request with a bearer token.
Screenshots go to `ARTIFACTS` (test-artifacts/ of the checkout).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.support.procs import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# Every CSP violation a page sees is echoed to its console, where Watch collects it.
REPORT_CSP = """document.addEventListener('securitypolicyviolation', (e) =>
  console.error(`csp-violation: ${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));"""


@dataclass
class Account:
    username: str
    password: str


class Watch:
    """Every request the pages make, every uncaught script error, every CSP violation."""

    def __init__(self):
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.csp: list[str] = []
        self.failed: list[str] = []  # for the failure messages: what did not load

    def attach(self, context):
        context.add_init_script(script=REPORT_CSP)
        context.on("request", lambda req: self.urls.append(req.url))
        context.on("requestfailed", lambda req: self.failed.append(f"{req.method} {req.url}: {req.failure}"))
        context.on(
            "response",
            lambda resp: (
                resp.status >= 500 and self.failed.append(f"{resp.request.method} {resp.url}: HTTP {resp.status}")
            ),
        )
        context.on("page", self.page)

    def page(self, page):
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self.console)

    def console(self, msg):
        if msg.text.startswith("csp-violation") or "Refused to" in msg.text:
            self.csp.append(msg.text)

    def foreign(self) -> list[str]:
        return [
            u for u in self.urls if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname not in LOCAL_HOSTS
        ]

    def check(self):
        assert not self.errors, self.errors
        assert not self.csp, self.csp
        assert self.urls and not self.foreign(), self.foreign()


def new_page(browser, watch, viewport=DESKTOP, **kw):
    ctx = browser.new_context(viewport=viewport, **kw)
    watch.attach(ctx)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.on("dialog", lambda d: d.accept())  # confirm() before revoke/remove: yes
    return ctx, page


def log_in(page, url: str, account: Account, watch: Watch | None = None) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url + "/")
    try:
        page.wait_for_selector("#login-form:visible")
    except PlaywrightTimeout:
        server = watch.system.client.call("web", "status") if watch else "?"
        raise AssertionError(
            f"no login form; failed requests: {watch.failed if watch else '?'}; gateway: {server}"
        ) from None
    page.fill("#login-form input[name=username]", account.username)
    page.fill("#login-form input[name=password]", account.password)
    page.click("#login-go")
    page.wait_for_selector("body[data-ready='1'][data-auth='in']")


def http(url: str, token: str | None = None, method: str = "GET", body: dict | None = None) -> tuple[int, object]:
    """A script's request with a bearer token: (status, decoded JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
