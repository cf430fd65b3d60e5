"""The first start: with no user yet, a one-time link that creates the first admin.

Like Jupyter's token URL: `http://HOST:PORT/setup?token=…`, valid 24 h, printed on stderr
(the gateway's log under supervisord) and written to `$OHMPI_VAR/setup-url` (0600), which is
removed once the admin exists. The bus log only says where to look: the token itself is never
published. `ohmpi web setup-link` asks for the current link (a fresh one if it expired).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from bus.files import atomic_write

from .auth_store import SETUP_S, AuthStore


def base_url(host: str, port: int, https: bool) -> str:
    """The URL a person on the network would type to reach a gateway bound to `host`."""
    if host in ("0.0.0.0", "::", ""):
        host = _an_address()
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"{'https' if https else 'http'}://{host}:{port}"


def _an_address() -> str:
    """A non-loopback address of this machine (the Wi-Fi's, typically), else loopback."""
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family == socket.AF_INET and not a.address.startswith("127."):
                    return a.address
    except Exception:
        pass
    return "127.0.0.1"


class SetupLink:
    def __init__(self, accounts: AuthStore, path: Path, url: str, log: Callable[[str, str], None]):
        self.accounts = accounts
        self.path = Path(path)
        self.url = url
        self.log = log
        self.link: str | None = None
        self.expires = 0.0
        self.lock = threading.Lock()

    def start(self) -> None:
        """At the gateway's start: a new link if there is no user yet."""
        if self.accounts.has_users():
            self.done()
            return
        with self.lock:
            self._new()
        self.log(
            "warning",
            f"no user yet: open the one-time setup link (valid 24 h) to create the first admin; "
            f"it is in {self.path} and in the web log (`ohmpi web setup-link` prints it)",
        )

    def current(self) -> dict:
        """The link now: None once a user exists; a fresh one if the last was used or expired."""
        if self.accounts.has_users():
            return {
                "link": None,
                "expires": None,
                "reason": "the gateway has users: log in, or add users with `ohmpi users add`",
            }
        with self.lock:
            if self.link is None or self.expires < time.time() or not self.accounts.setup_pending():
                self._new()
            return {"link": self.link, "expires": self.expires}

    def done(self) -> None:
        """The first user exists: the link stops working and its file goes."""
        with self.lock:
            self.link = None
            self.accounts.clear_setup()
            self._remove_file()

    def _new(self) -> None:
        token = self.accounts.new_setup_token()
        self.link = f"{self.url}/setup?token={token}"
        self.expires = time.time() + SETUP_S
        atomic_write(self.path, self.link + "\n", mode=0o600)
        print(f"web: no user yet. Create the first admin within 24 h at:\n    {self.link}", file=sys.stderr, flush=True)

    def _remove_file(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
