"""The whole system with the `web` gateway under supervisord, and the ways tests talk to it.

`start_web_system(...)`: a `System` with `[web] port` set to a free port; `.web_url` is the
gateway served under supervisord (for real HTTP clients: SSE, browsers). Accounts are made
through the bus (`web.users_add`, as `ohmpi users add` does): one user per role,
`.passwords[role]` = (name, password), and one API token per role, `.tokens[role]`.
`fetch` makes one real HTTP request; `make_app` builds the gateway's app in this process against
the same bus and accounts database, `authed_client` a Flask test client of it with a token.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from tests.support.procs import free_port, wait_until
from tests.support.system import System

ROLES = ("viewer", "operator", "admin")


def wait_http(url: str, timeout: float = 60.0, context=None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the web gateway did not answer {url} within {timeout} s")
        time.sleep(0.1)


def add_accounts(system: System) -> None:
    """One user and one API token per role, made over the bus like `ohmpi users add`."""
    system.passwords, system.tokens = {}, {}
    for role in ROLES:
        name, password = f"test-{role}", secrets.token_urlsafe(12)
        system.client.call("web", "users_add", name=name, role=role, password=password)
        system.passwords[role] = (name, password)
        system.tokens[role] = system.client.call("web", "tokens_create", name=f"test-{role}", role=role)["token"]


def start_web_system(web_extra: str = "", accounts: bool = True, scheme: str = "http", **kw) -> System:
    port = free_port()
    system = System(extra=f'\n[web]\nhost = "127.0.0.1"\nport = {port}\n{web_extra}', **kw)
    system.web_port = port
    system.web_url = f"{scheme}://127.0.0.1:{port}"
    try:
        context = None
        if scheme == "https":
            import ssl

            context = ssl._create_unverified_context()
        wait_http(system.web_url + "/api/health", context=context)
        system.client.wait_for("web", timeout=30)
        # settled: the services have published their state once (the hub caches it for late joiners)
        wait_until(
            lambda: (
                {"state.sequencer", "state.recorder"}
                <= {t for t, _ in system.client.call_paged("hub", "snapshot", patterns=["state.#"])}
            ),
            timeout=30,
            what="sequencer and recorder state published",
        )
        if accounts:
            add_accounts(system)
    except BaseException:
        system.close()
        raise
    return system


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def fetch(
    base_url: str,
    method: str,
    path: str,
    body=None,
    token: str | None = None,
    headers: dict | None = None,
    timeout: float = 30.0,
    raw: bytes | None = None,
) -> tuple[int, dict, object]:
    """One real HTTP request: (status, headers, JSON body or text)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs.update(bearer(token))
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text.decode("utf-8", "replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def make_app(system: System, **config):
    """The gateway's app in this process, on the system's bus and accounts database."""
    from web.app import create_app

    return create_app(
        {
            "TESTING": True,
            "SUPERVISOR_SOCKET": str(system.var / "supervisor.sock"),
            "AUTH_DB": str(system.var / "auth.db"),
            **config,
        },
        bus_address=system.address,
    )


def authed_client(app, token: str | None):
    c = app.test_client()
    if token:
        c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c
