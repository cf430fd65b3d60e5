"""Suite-wide settings.

Under CI (CI=true) hypothesis searches a fixed, reproducible set of examples, so a landing
never depends on the luck of a random search; developers' runs keep exploring new examples
(and their failures are saved in .hypothesis/ and replayed first next time).

Every test process (each xdist worker too) gets its own OHMPI_VAR, and forgets any OHMPI_BUS,
OHMPI_KEY or OHMPI_TIME_SCALE of the shell: whatever a test starts without its own directory
never touches the checkout's var/ (a `make run` may be using it), a live bus, or a neighbour.
A run that ends early (a failure in a fixture, Ctrl-C, SIGTERM from a CI timeout) still stops
every supervisord, hub and worker its tests started (`tests.support.procs.stop_all`).

The bus fixtures live here because bus, worker, client and security tests all use them:
`bus` (a hub on ipc, then on tcp with CurveZMQ), `ipc_bus`, `service` (the demo service on `bus`).
"""

import os
import shutil
import signal
import tempfile

import pytest
from hypothesis import settings

from tests.support.bus import Bus
from tests.support.procs import stop_all

_OWN_VAR = tempfile.mkdtemp(prefix="ot-", dir="/tmp")  # short: ipc socket paths are limited
os.environ["OHMPI_VAR"] = _OWN_VAR
for _name in ("OHMPI_BUS", "OHMPI_KEY", "OHMPI_TIME_SCALE"):
    os.environ.pop(_name, None)


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # pytest then tears down and unconfigures


try:
    signal.signal(signal.SIGTERM, _interrupted)
except ValueError:  # not the main thread: the worker's host handles signals
    pass


def pytest_unconfigure(config):
    stop_all()
    shutil.rmtree(_OWN_VAR, ignore_errors=True)


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
