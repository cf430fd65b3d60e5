"""A real hub process on ipc or tcp, and real service processes (`Bus`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq

from bus.config import BusConfig
from bus.keys import client_credentials
from bus.rpc import Client
from tests.support.procs import free_tcp_base, short_tmpdir, spawn, stop, wait_until


class Bus:
    """A running hub and the environment to reach it."""

    def __init__(self, kind: str, heartbeat_s: float = 0.3):
        self.dir = Path(short_tmpdir())
        self.address = f"ipc://{self.dir}/bus" if kind == "ipc" else f"tcp://127.0.0.1:{free_tcp_base()}"
        config = self.dir / "ohmpi.toml"
        config.write_text(f"[bus]\nheartbeat_s = {heartbeat_s}\n")
        self.cfg = BusConfig(heartbeat_s=heartbeat_s)
        self.env = {"OHMPI_VAR": str(self.dir), "OHMPI_BUS": self.address, "OHMPI_CONFIG": str(config)}
        # On tcp the bus speaks CurveZMQ: clients of this test use the system's own key of this bus.
        self.key = self.dir / "keys" / "local.key_secret" if kind == "tcp" else None
        if self.key is not None:
            self.env["OHMPI_KEY"] = str(self.key)
        self.procs = []
        self.hub = None

    def log(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def start_hub(self):
        self.hub = self.spawn(["-m", "workers.hub"], "hub")
        if self.key is not None:  # the hub makes the keys at its first start
            wait_until(
                lambda: (self.dir / "keys" / "server.key").exists() and self.key.exists(),
                timeout=30,
                what="the hub's keys",
            )
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

    def raw(self, kind: int) -> zmq.Socket:
        """A bare pyzmq socket for this bus (CURVE client with this bus's own key on tcp)."""
        sock = zmq.Context.instance().socket(kind)
        if self.key is not None:
            client_credentials(self.key).apply(sock)
        return sock

    def client(self, **kw) -> Client:
        kw.setdefault("timeout", 5.0)
        return Client(self.address, cfg=self.cfg, **kw)

    def close(self):
        for proc in reversed(self.procs):
            stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)
