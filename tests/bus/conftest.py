"""Fixtures: a real hub process on ipc or tcp, and real service processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bus.config import BusConfig
from bus.rpc import Client
from tests.procs import free_tcp_base, short_tmpdir, spawn, stop, wait_until


class Bus:
    """A running hub and the environment to reach it."""

    def __init__(self, kind: str, heartbeat_s: float = 0.3):
        self.dir = Path(short_tmpdir())
        self.address = (f"ipc://{self.dir}/bus" if kind == "ipc"
                        else f"tcp://127.0.0.1:{free_tcp_base()}")
        config = self.dir / "ohmpi.toml"
        config.write_text(f'[bus]\nheartbeat_s = {heartbeat_s}\n')
        self.cfg = BusConfig(heartbeat_s=heartbeat_s)
        self.env = {"OHMPI_VAR": str(self.dir), "OHMPI_BUS": self.address, "OHMPI_CONFIG": str(config)}
        self.procs = []
        self.hub = None

    def log(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def start_hub(self):
        self.hub = self.spawn(["-m", "workers.hub"], "hub")
        with self.client() as c:
            c.wait_for("hub", timeout=30)
        return self.hub

    def spawn(self, args, name):
        proc = spawn(args, self.env, self.log(name))
        self.procs.append(proc)
        return proc

    def start_service(self, name: str = "demo"):
        proc = self.spawn(["-m", "tests.bus.demo_service", name], name)
        with self.client() as c:
            c.wait_for(name, timeout=30)
        return proc

    def client(self, **kw) -> Client:
        kw.setdefault("timeout", 5.0)
        return Client(self.address, cfg=self.cfg, **kw)

    def close(self):
        for proc in reversed(self.procs):
            stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["ipc", "tcp"])
def bus(request):
    b = Bus(request.param)
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


__all__ = ["Bus", "wait_until"]
