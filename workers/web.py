"""The web gateway process: `python -m workers.web` (run by supervisord as `web`).

Serves `web.app` with waitress (pure Python, threads: fit for a Raspberry Pi). Host and port
come from the `[web]` table of the config file (default 127.0.0.1:8080). The process is also
on the bus as `web`: it answers ping/status and sends heartbeats on `soh.web`, so it shows
as live/dead like every other process.

    [web]
    host = "127.0.0.1"    # "0.0.0.0" serves the instrument's Wi-Fi: there is no login yet
    port = 8080
    threads = 8           # waitress worker threads; each live event stream holds one
    max_sse_clients = 5   # live event streams at once (default threads - 3, at least 1)
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading

from bus.config import ConfigError, check_table, load_file
from bus.node import Node

DEFAULTS = {"host": "127.0.0.1", "port": 8080, "threads": 8, "max_sse_clients": None}
TYPES = {"host": str, "port": int, "threads": int, "max_sse_clients": int}


def web_config(table: dict | None = None) -> dict:
    """The `[web]` table, checked; errors name the key."""
    table = dict(load_file().get("web", {}) if table is None else table)
    out = {**DEFAULTS, **check_table("web", table, TYPES)}
    if not out["host"].strip():
        raise ConfigError("[web].host must not be empty")
    if not 1 <= out["port"] <= 65535:
        raise ConfigError(f"[web].port must be in 1..65535, got {out['port']}")
    if not 2 <= out["threads"] <= 64:
        raise ConfigError(f"[web].threads must be in 2..64, got {out['threads']}")
    if out["max_sse_clients"] is None:
        out["max_sse_clients"] = max(1, out["threads"] - 3)
    elif not 1 <= out["max_sse_clients"] < out["threads"]:
        raise ConfigError(f"[web].max_sse_clients must be in 1..threads-1, got {out['max_sse_clients']}")
    return out


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main() -> int:
    from waitress import create_server

    from web.app import create_app

    try:
        opts = web_config()
    except ConfigError as exc:
        print(f"web: configuration error: {exc}", file=sys.stderr, flush=True)
        return 2
    node = Node("web")
    app = create_app({"SELF_PROGRAM": os.environ.get("SUPERVISOR_PROCESS_NAME", "web"),
                      "MAX_SSE_CLIENTS": opts["max_sse_clients"]}, bus_address=node.address)
    gateway = app.extensions["ohmpi"]
    node.status_providers.append(lambda: {"http": f"{opts['host']}:{opts['port']}", "sse": gateway.events.status()})
    node.soh_providers.append(lambda: {"sse_clients": gateway.events.status()["clients"]})
    server = create_server(app, host=opts["host"], port=opts["port"], threads=opts["threads"],
                           ident="ohmpi", channel_timeout=120, outbuf_high_watermark=4 << 20,
                           connection_limit=100, clear_untrusted_proxy_headers=True)
    loop = threading.Thread(target=node.run, name="bus-node", daemon=True)
    loop.start()
    if not is_loopback(opts["host"]):
        node.log("warning", f"serving http://{opts['host']}:{opts['port']} beyond this machine with NO LOGIN: "
                            "anyone on the network can start surveys and restart processes")
    node.log("info", f"serving http://{opts['host']}:{opts['port']} ({opts['threads']} threads)")

    def stop(*_):
        # waitress's run() catches SystemExit and closes at once, waiting for its task threads:
        # end the live event streams first so none is left holding a thread.
        gateway.events.close()
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        node.stop()
        loop.join(timeout=3)
        try:
            server.close()
        except Exception:
            pass
        gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
