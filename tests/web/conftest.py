"""Fixtures of the web tests (the harness is tests/support/web.py).

`web_system` (module scope): the whole system with the gateway, `electrodes=32, time_scale=20.0`,
accounts and tokens per role. `app`: the gateway's app built in this process on the same bus and
accounts database; `client`: its Flask test client sending the admin's token; `client_as(role)`
for the others. `browser` (module scope): Debian's headless chromium through Playwright.
"""

import pytest

from tests.support.web import authed_client, make_app, start_web_system


@pytest.fixture(scope="module")
def web_system():
    system = start_web_system(electrodes=32, time_scale=20.0)
    yield system
    system.close()


@pytest.fixture(scope="module")
def app(web_system):
    app = make_app(web_system)
    yield app
    app.extensions["ohmpi_close"]()


@pytest.fixture
def client(app, web_system):
    return authed_client(app, web_system.tokens["admin"])


@pytest.fixture
def client_as(app, web_system):
    return lambda role: authed_client(app, web_system.tokens[role] if role else None)


@pytest.fixture(scope="module")
def browser():
    from tests.support.browser import ARGS, CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
