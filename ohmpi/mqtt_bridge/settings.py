"""The `[mqtt]` table: where the broker is, who we are there, what is published and allowed.

Off unless the table is present (and not `enabled = false`). Every error names the key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")
COMMAND_ROLES = ("viewer", "operator")  # never admin: a broker is a wider door than the bus
PROTOCOLS = ("auto", "5", "3.1.1")
TYPES = {
    "enabled": bool,
    "host": str,
    "port": int,
    "username": str,
    "password_file": str,
    "ca_file": str,
    "tls": bool,
    "client_id": str,
    "prefix": str,
    "instrument": str,
    "keepalive_s": int,
    "protocol": str,
    "discovery": bool,
    "discovery_prefix": str,
    "quadrupole": list,
    "soh_every_s": float,
    "commands": bool,
    "role": str,
    "queue_max": int,
}


class SettingsError(ValueError):
    """A wrong `[mqtt]` value; the message starts with `[mqtt].<key>`."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    username: str | None
    password: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    tls: bool = False
    client_id: str = "ohmpi"
    prefix: str = "ohmpi"
    instrument: str = "sim"
    keepalive_s: int = 30
    protocol: str = "auto"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    quadrupole: tuple[int, int, int, int] | None = None
    soh_every_s: float = 10.0
    commands: bool = False
    role: str = "viewer"
    queue_max: int = 20_000

    @property
    def base(self) -> str:
        """Every topic of this instrument starts here: `<prefix>/<instrument>`."""
        return f"{self.prefix}/{self.instrument}"

    @property
    def authenticated(self) -> bool:
        return bool(self.username and self.password)


def _fail(key: str, text: str) -> SettingsError:
    return SettingsError(f"[mqtt].{key} {text}")


def _check_types(table: dict) -> dict:
    unknown = sorted(set(table) - set(TYPES))
    if unknown:
        raise SettingsError(f"[mqtt]: unknown key(s) {', '.join(unknown)}; known: {', '.join(TYPES)}")
    out = {}
    for key, value in table.items():
        expected = TYPES[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise _fail(key, f"must be {expected.__name__}, got {value!r}")
        out[key] = value
    return out


def _resolve(path: str, var: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else var / p


def read_password(path: Path) -> str:
    """The first line of the password file (it must not be readable by others: a warning is the
    worker's job; here only that it exists and is not empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail("password_file", f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise _fail("password_file", f"{path}: is empty")
    return password


def load(table: dict, *, var: Path, instrument: str = "sim") -> Settings | None:
    """The checked settings, or None when the bridge is off (no table, or `enabled = false`)."""
    if not table:
        return None
    t = _check_types(table)
    if t.pop("enabled", True) is False:
        return None
    host = t.get("host", "localhost")
    if not host or len(host) > 253 or any(c.isspace() for c in host):
        raise _fail("host", f"must be a host name or address, got {host!r}")
    ca_file = t.get("ca_file")
    if ca_file is not None:
        ca = _resolve(ca_file, var)
        if not ca.is_file():
            raise _fail("ca_file", f"{ca}: no such file")
        ca_file = str(ca)
    tls = bool(t.get("tls", False) or ca_file)
    port = t.get("port", 8883 if tls else 1883)
    if not 1 <= port <= 65535:
        raise _fail("port", f"must be in 1..65535, got {port}")
    username = t.get("username")
    if username is not None and not 1 <= len(username) <= 256:
        raise _fail("username", "must be 1..256 characters")
    password = password_file = None
    if "password_file" in t:
        if username is None:
            raise _fail("password_file", "needs [mqtt].username")
        password_file = str(_resolve(t["password_file"], var))
        password = read_password(Path(password_file))
    name = t.get("instrument", instrument)
    if not SEGMENT_RE.match(name):
        raise _fail("instrument", f"must be 1..64 letters, digits, '_' or '-', got {name!r}")
    for key, default in (("prefix", "ohmpi"), ("discovery_prefix", "homeassistant")):
        value = t.get(key, default)
        if not PREFIX_RE.match(value):
            raise _fail(key, f"must be 1..4 '/'-separated names of letters, digits, '_' or '-', got {value!r}")
    client_id = t.get("client_id", f"ohmpi-{name}")
    if not SEGMENT_RE.match(client_id):
        raise _fail("client_id", f"must be 1..64 letters, digits, '_' or '-', got {client_id!r}")
    keepalive = t.get("keepalive_s", 30)
    if not 5 <= keepalive <= 3600:
        raise _fail("keepalive_s", f"must be in 5..3600, got {keepalive}")
    protocol = t.get("protocol", "auto")
    if protocol not in PROTOCOLS:
        raise _fail("protocol", f"must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    quad = t.get("quadrupole")
    if quad is not None:
        if len(quad) != 4 or not all(isinstance(e, int) and not isinstance(e, bool) and 0 <= e <= 10_000 for e in quad):
            raise _fail("quadrupole", f"must be four electrode numbers [A, B, M, N], got {quad!r}")
        quad = tuple(quad)
    soh_every = t.get("soh_every_s", 10.0)
    if not 0 <= soh_every <= 3600:
        raise _fail("soh_every_s", f"must be in 0..3600, got {soh_every}")
    role = t.get("role", "viewer")
    if role not in COMMAND_ROLES:
        raise _fail("role", f"must be one of {', '.join(COMMAND_ROLES)} (never admin), got {role!r}")
    commands = t.get("commands", False)
    if commands and password is None:
        raise _fail("commands", "= true needs an authenticated broker connection: set username and password_file")
    queue_max = t.get("queue_max", 20_000)
    if not 100 <= queue_max <= 10_000_000:
        raise _fail("queue_max", f"must be in 100..10000000, got {queue_max}")
    return Settings(
        host=host,
        port=port,
        username=username,
        password=password,
        password_file=password_file,
        ca_file=ca_file,
        tls=tls,
        client_id=client_id,
        prefix=t.get("prefix", "ohmpi"),
        instrument=name,
        keepalive_s=keepalive,
        protocol=protocol,
        discovery=t.get("discovery", True),
        discovery_prefix=t.get("discovery_prefix", "homeassistant"),
        quadrupole=quad,
        soh_every_s=soh_every,
        commands=commands,
        role=role,
        queue_max=queue_max,
    )


def warnings(s: Settings) -> list[str]:
    """What is allowed but unwise: a password others can read, or sent in clear beyond this machine."""
    out = []
    if s.password_file is not None:
        try:
            mode = Path(s.password_file).stat().st_mode
        except OSError:
            mode = 0
        if mode & 0o077:
            out.append(f"[mqtt].password_file {s.password_file} is readable by others (chmod 600 it)")
    loopback = s.host in ("localhost", "::1") or s.host.startswith("127.")
    if s.password is not None and not s.tls and not loopback:
        out.append(f"[mqtt]: the broker password goes in clear to {s.host}:{s.port}; set ca_file (TLS)")
    if s.commands and not s.tls and not loopback:
        out.append(f"[mqtt].commands over a plain connection to {s.host}: anyone on the path could inject them")
    return out
