"""The web gateway process: `python -m workers.web` (run by supervisord as `web`).

Serves `web.app` with cheroot (`web.server`: pure Python threads, TLS, capped connections)
on the `[web]` table of the config file. Login is always required; with no user yet, a
one-time setup link is printed (`web.setup_link`). The process is also on the bus as `web`:
it answers ping/status, sends heartbeats on `soh.web`, publishes its audit records on
`audit.web`, and takes the admin commands of `ohmpi users|tokens|web setup-link`.

    [web]
    host = "127.0.0.1"            # "0.0.0.0": the instrument's Wi-Fi (then use HTTPS)
    port = 8080
    certfile = "web.crt"          # both set: HTTPS (relative to $OHMPI_VAR); `ohmpi web selfsigned`
    keyfile = "web.key"
    allowed_hosts = ["ohmpi.example"]  # Host names served (default: this machine's names and addresses)
    threads = 48                  # worker threads; each live event stream holds one
    max_sse_clients = 16          # live event streams at once (default threads / 3)
    max_sse_per_client = 4        # ... from one client address
    max_connections = 256         # open connections at once
    max_connections_per_client = 16
    idle_timeout_s = 15           # silent connections are closed after this (1..20)
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
from pathlib import Path

from bus.config import ConfigError, check_table, load_file, var_dir
from bus.node import Node

from .common import worker_main

DEFAULTS = {
    "host": "127.0.0.1",
    "port": 8080,
    "threads": 48,
    "max_sse_clients": None,
    "max_sse_per_client": 4,
    "max_connections": 256,
    "max_connections_per_client": 16,
    "idle_timeout_s": 15.0,
    "allowed_hosts": None,
    "certfile": None,
    "keyfile": None,
}
TYPES = {
    "host": str,
    "port": int,
    "threads": int,
    "max_sse_clients": int,
    "max_sse_per_client": int,
    "max_connections": int,
    "max_connections_per_client": int,
    "idle_timeout_s": float,
    "allowed_hosts": list,
    "certfile": str,
    "keyfile": str,
}


def _in_range(opts: dict, key: str, low, high) -> None:
    if not low <= opts[key] <= high:
        raise ConfigError(f"[web].{key} must be in {low}..{high}, got {opts[key]}")


def web_config(table: dict | None = None) -> dict:
    """The `[web]` table, checked; errors name the key."""
    table = dict(load_file().get("web", {}) if table is None else table)
    out = {**DEFAULTS, **check_table("web", table, TYPES)}
    if not out["host"].strip():
        raise ConfigError("[web].host must not be empty")
    _in_range(out, "port", 1, 65535)
    _in_range(out, "threads", 4, 256)
    if out["max_sse_clients"] is None:
        out["max_sse_clients"] = max(1, out["threads"] // 3)
    _in_range(out, "max_sse_clients", 1, out["threads"] - 2)
    _in_range(out, "max_sse_per_client", 1, out["max_sse_clients"])
    _in_range(out, "max_connections", 8, 10_000)
    _in_range(out, "max_connections_per_client", 2, out["max_connections"])
    _in_range(out, "idle_timeout_s", 1.0, 20.0)
    if out["allowed_hosts"] is not None and not all(isinstance(h, str) and h.strip() for h in out["allowed_hosts"]):
        raise ConfigError("[web].allowed_hosts must be a list of host names or addresses")
    if (out["certfile"] is None) != (out["keyfile"] is None):
        raise ConfigError("[web].certfile and [web].keyfile go together: set both for HTTPS, or neither")
    for key in ("certfile", "keyfile"):
        if out[key] is not None:
            path = Path(out[key]).expanduser()
            path = path if path.is_absolute() else var_dir() / path
            if not path.is_file():
                raise ConfigError(f"[web].{key}: no such file {path} (make a pair with `ohmpi web selfsigned`)")
            out[key] = str(path)
    return out


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main() -> int:
    return worker_main("web", run)


def run() -> int:
    from web import admin_commands
    from web.app import create_app
    from web.server import Server
    from web.setup_link import SetupLink, base_url

    opts = web_config()  # a bad table: one line and exit status 2 (worker_main)
    https = opts["certfile"] is not None
    node = Node("web")
    audit_lock = threading.Lock()

    def audit(action: str, ok: bool = True, **fields) -> None:
        with audit_lock:  # called from the request threads; the node's refusal budget is not thread-safe
            node.audit(action, ok=ok, **fields)

    setup: list[SetupLink] = []
    app = create_app(
        {
            "SELF_PROGRAM": os.environ.get("SUPERVISOR_PROCESS_NAME", "web"),
            "MAX_SSE_CLIENTS": opts["max_sse_clients"],
            "MAX_SSE_PER_CLIENT": opts["max_sse_per_client"],
            "ALLOWED_HOSTS": opts["allowed_hosts"],
            "BOUND_HOST": opts["host"],
            "HTTPS": https,
        },
        bus_address=node.address,
        audit=audit,
        on_setup_done=lambda: setup and setup[0].done(),
    )
    gateway, accounts = app.extensions["ohmpi"], app.extensions["ohmpi_auth"]
    url = base_url(opts["host"], opts["port"], https)
    setup.append(SetupLink(accounts, var_dir() / "setup-url", url, node.log))
    admin_commands.register(node, accounts, setup[0])
    server = Server(
        app,
        opts["host"],
        opts["port"],
        threads=opts["threads"],
        idle_timeout_s=opts["idle_timeout_s"],
        max_connections=opts["max_connections"],
        max_per_client=opts["max_connections_per_client"],
        certfile=opts["certfile"],
        keyfile=opts["keyfile"],
    )
    try:
        server.prepare()
    except (OSError, ValueError) as exc:
        print(f"web: cannot serve {url}: {exc}", file=sys.stderr, flush=True)
        app.extensions["ohmpi_close"]()
        node.stop()
        return 2
    node.status_providers.append(lambda: {"http": url, "server": server.status(), "sse": gateway.events.status()})
    node.soh_providers.append(
        lambda: {"sse_clients": gateway.events.status()["clients"], "connections": server.status()["connections"]}
    )
    loop = threading.Thread(target=node.run, name="bus-node", daemon=True)
    loop.start()
    if not is_loopback(opts["host"]) and not https:
        node.log(
            "warning",
            f"serving {url} beyond this machine without HTTPS: passwords and tokens cross the "
            "network in clear; set [web] certfile and keyfile (`ohmpi web selfsigned`)",
        )
    node.log("info", f"serving {url} ({opts['threads']} threads, {opts['max_sse_clients']} live streams)")
    setup[0].start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve, name="http", daemon=True)
    serving.start()
    while not stop.wait(0.5) and serving.is_alive():
        pass
    # End the live event streams first, so no worker thread is left holding one; then the server.
    gateway.events.close()
    server.stop()
    node.stop()
    loop.join(timeout=3)
    app.extensions["ohmpi_close"]()
    return 0 if stop.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
