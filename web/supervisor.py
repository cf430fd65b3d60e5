"""supervisord's XML-RPC interface over its unix socket (`$OHMPI_VAR/supervisor.sock`).

Used for the process view (state, pid, uptime as supervisord sees them) and restarts. A
fresh transport per call: xmlrpc proxies are not thread-safe and the socket is local.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection

from .bus_access import ApiError

# supervisor.xmlrpc.Faults
BAD_NAME = 10
NOT_RUNNING = 70
ALREADY_STARTED = 60


class SupervisorUnavailable(ApiError):
    def __init__(self, message: str):
        super().__init__(503, "unavailable", message, service="supervisord")


class _TimedUnixConnection(UnixStreamHTTPConnection):
    """supervisor's unix-socket HTTP connection, with a bound on connect and every read."""

    limit_s = 5.0

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.limit_s)
        self.sock.connect(self.socketfile)


class Supervisor:
    def __init__(self, socket_path: str | os.PathLike, *, self_program: str | None = None, timeout: float = 5.0):
        self.socket_path = Path(socket_path)
        self.self_program = self_program  # our own program name under supervisord (we cannot stop+start ourselves)
        self.timeout = timeout

    def _proxy(self):
        transport = SupervisorTransport(None, None, f"unix://{self.socket_path}")
        socket_path, timeout = str(self.socket_path), self.timeout

        def timed_connection():  # a hung supervisord must not hang the request that asked it
            conn = _TimedUnixConnection("localhost")
            conn.socketfile, conn.limit_s = socket_path, timeout
            return conn

        transport._get_connection = timed_connection
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def _call(self, method: str, *args):
        if not self.socket_path.exists():
            raise SupervisorUnavailable(f"supervisord is not running (no socket at {self.socket_path})")
        proxy = self._proxy()
        try:
            return getattr(proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault:
            raise
        except (OSError, xmlrpc.client.ProtocolError, EOFError) as exc:
            raise SupervisorUnavailable(
                f"supervisord is unreachable at {self.socket_path}: {type(exc).__name__}: {exc}"
            ) from None
        except Exception as exc:  # http.client errors on a half-dead socket, etc.
            raise SupervisorUnavailable(f"supervisord did not answer properly: {type(exc).__name__}: {exc}") from None

    def processes(self) -> dict[str, dict]:
        """{program name: {"state", "pid", "uptime_s", "description"}}."""
        out = {}
        for info in self._call("getAllProcessInfo"):
            running = info.get("statename") == "RUNNING"
            out[info["name"]] = {
                "state": info.get("statename"),
                "pid": info.get("pid") or None,
                "uptime_s": max(0, info.get("now", 0) - info.get("start", 0)) if running else 0,
                "description": info.get("description"),
                "exitstatus": info.get("exitstatus"),
                "spawnerr": info.get("spawnerr") or None,
            }
        return out

    def restart(self, name: str) -> dict:
        """Stop (if running) then start the program `name`; 404 for an unknown program."""
        try:
            self._call("getProcessInfo", name)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == BAD_NAME:
                raise ApiError(
                    404, "not_found", f"no program {name!r} under supervisord", arg="name", reason="unknown program"
                ) from None
            raise ApiError(502, "fault", f"supervisord: {exc.faultString}") from None
        if name == self.self_program:
            # Stopping ourselves would kill the request asking for it: answer first, then exit; supervisord
            # (autorestart=true) starts the gateway again.
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
            return {"name": name, "restarting": True, "self": True}
        started = time.monotonic()
        try:
            self._call("stopProcess", name, True)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode != NOT_RUNNING:
                raise ApiError(502, "fault", f"supervisord could not stop {name}: {exc.faultString}") from None
        try:
            self._call("startProcess", name, True)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode != ALREADY_STARTED:
                raise ApiError(502, "fault", f"supervisord could not start {name}: {exc.faultString}") from None
        info = self.processes().get(name, {})
        return {
            "name": name,
            "restarting": False,
            "state": info.get("state"),
            "pid": info.get("pid"),
            "took_s": round(time.monotonic() - started, 3),
        }
