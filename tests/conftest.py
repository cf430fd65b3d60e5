"""Suite-wide settings.

Under CI (CI=true) hypothesis searches a fixed, reproducible set of examples, so a landing
never depends on the luck of a random search; developers' runs keep exploring new examples
(and their failures are saved in .hypothesis/ and replayed first next time).

The bus fixtures live here because bus, worker, client and security tests all use them:
`bus` (a hub on ipc, then on tcp with CurveZMQ), `ipc_bus`, `service` (the demo service on `bus`).
"""

import os

import pytest
from hypothesis import settings

from tests.support.bus import Bus

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(params=["ipc", "tcp"])
def bus(request, monkeypatch):
    b = Bus(request.param)
    if b.key is not None:
        monkeypatch.setenv("OHMPI_KEY", str(b.key))
    b.start_hub()
    yield b
    b.close()


@pytest.fixture
def ipc_bus():
    b = Bus("ipc")
    b.start_hub()
    yield b
    b.close()


@pytest.fixture
def service(bus):
    bus.start_service("demo")
    return bus

