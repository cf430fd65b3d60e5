"""Which names this gateway answers to (the `Host` header): the defence against DNS rebinding.

A page on an attacker's site can make its own name resolve to the instrument's address; the
browser then sends `Host: attacker.example`. Only names this machine really has are served:
the bound address, the loopback names, the machine's host names and its interface addresses
(read again, at most every few seconds, when an unknown name shows up: Wi-Fi comes and goes),
or exactly `[web] allowed_hosts` when configured (loopback names are always allowed: a page
that reaches them is on this machine).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from urllib.parse import urlsplit

LOOPBACK = {"localhost", "127.0.0.1", "::1"}
RESCAN_S = 10.0


def host_name(value: str) -> str | None:
    """The host part of a `Host` header or an origin's netloc, lowercased; None if malformed."""
    value = value.strip().lower()
    if not value or len(value) > 300:
        return None
    try:
        parsed = urlsplit("//" + value)
        host, _ = parsed.hostname, parsed.port  # .port raises on a bad port
    except ValueError:
        return None
    if not host or parsed.username is not None or parsed.path or parsed.query:
        return None
    return host.rstrip(".")


def machine_names() -> set[str]:
    names = set(LOOPBACK)
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
            names.add(name.lower().split(".")[0] + ".local")
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):
                    names.add(a.address.split("%")[0].lower())
    except Exception:
        pass
    return names


class AllowedHosts:
    def __init__(self, bound: str | None = None, configured: list[str] | None = None):
        self.fixed = configured is not None
        base = set(LOOPBACK)
        if bound and bound not in ("0.0.0.0", "::", ""):
            base.add(bound.strip("[]").lower())
        self.base = base | {host_name(h) or h.strip().lower() for h in configured or ()}
        self._names = self.base if self.fixed else self.base | machine_names()
        self._scanned = time.monotonic()
        self._lock = threading.Lock()

    def allows(self, host: str | None) -> bool:
        if host is None:
            return False
        if host in self._names:
            return True
        if self.fixed or not _looks_local(host):
            return False
        with self._lock:  # maybe an address that appeared since (a Wi-Fi link came up)
            if time.monotonic() - self._scanned > RESCAN_S:
                self._names = self.base | machine_names()
                self._scanned = time.monotonic()
            return host in self._names

    def names(self) -> list[str]:
        return sorted(self._names)


def _looks_local(host: str) -> bool:
    """Worth a rescan: an IP literal or a plain host name (never an arbitrary domain)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return "." not in host or host.endswith(".local")
