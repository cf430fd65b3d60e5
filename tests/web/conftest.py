"""Shared fixtures of the web tests: the whole system (with the `web` gateway) under supervisord.

`web_system` (module scope): `System(electrodes=32, time_scale=20.0)` with `[web] port` set to a
free port; `.web_url` is the gateway served by waitress under supervisord (for real HTTP
clients: SSE, browsers). `client`: a Flask test client of an app built in this process against
the same bus.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.procs import wait_until
from tests.system.conftest import System


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the web gateway did not answer {url} within {timeout} s")
        time.sleep(0.1)


def start_web_system(**kw) -> System:
    port = free_port()
    system = System(extra=f"\n[web]\nhost = \"127.0.0.1\"\nport = {port}\n", **kw)
    system.web_port = port
    system.web_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(system.web_url + "/api/health")
        # settled: the services have published their state once (the hub caches it for late joiners)
        wait_until(lambda: {"state.sequencer", "state.recorder"} <= {
            t for t, _ in system.client.call_paged("hub", "snapshot", patterns=["state.#"])}, timeout=30,
            what="sequencer and recorder state published")
    except BaseException:
        system.close()
        raise
    return system


@pytest.fixture(scope="module")
def web_system():
    system = start_web_system(electrodes=32, time_scale=20.0)
    yield system
    system.close()


@pytest.fixture(scope="module")
def app(web_system):
    from web.app import create_app
    app = create_app({"TESTING": True, "SUPERVISOR_SOCKET": str(web_system.var / "supervisor.sock")},
                     bus_address=web_system.address)
    yield app
    closer = app.extensions.get("ohmpi_close")
    if closer:
        closer()


@pytest.fixture
def client(app):
    return app.test_client()
