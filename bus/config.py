"""Where things live: the runtime directory, the config file and the bus endpoints.

One config file (TOML, `ohmpi.toml` at the project root or `$OHMPI_CONFIG`) with sane
defaults; every key is optional. `OHMPI_VAR` moves every runtime file (sockets, database,
logs, supervisor socket), so two systems can run side by side. `OHMPI_BUS` points a client
at another bus address.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .files import private_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_IPC_PATH = 100  # unix socket paths are limited to 107 bytes; keep a margin


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what is allowed."""


def var_dir() -> Path:
    """The runtime directory: `$OHMPI_VAR`, else `var/` in the project checkout (kept 0700:
    whoever can enter it can reach the keyless ipc bus, read the keys and the database)."""
    return private_dir(os.environ.get("OHMPI_VAR") or PROJECT_ROOT / "var")


def config_path() -> Path | None:
    explicit = os.environ.get("OHMPI_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"OHMPI_CONFIG={explicit}: no such file")
        return path
    default = PROJECT_ROOT / "ohmpi.toml"
    return default if default.is_file() else None


def load_file() -> dict:
    """The whole config file as a dict ({} when there is none)."""
    path = config_path()
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None


def config_table(section: str) -> dict:
    """One table of the config file (a copy; {} when absent); ConfigError if it is not a table."""
    table = load_file().get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table of keys, got {table!r}")
    return dict(table)


@dataclass(frozen=True)
class Endpoints:
    """The hub's three sockets, all derived from one bus address."""

    cmd: str  # ROUTER: commands in, replies out
    pub: str  # XSUB: publishers connect here
    sub: str  # XPUB: subscribers connect here


def endpoints(address: str) -> Endpoints:
    """Derive the hub endpoints from a bus address.

    tcp://HOST:PORT -> ports PORT (commands), PORT+1 (publish), PORT+2 (subscribe);
    ipc://PATH and inproc://NAME -> PATH.cmd, PATH.pub, PATH.sub.
    """
    scheme, sep, rest = address.partition("://")
    if not sep or not rest:
        raise ConfigError(f"bus address {address!r}: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME")
    if scheme == "tcp":
        host, colon, port = rest.rpartition(":")
        if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65533:
            raise ConfigError(f"bus address {address!r}: expected tcp://HOST:PORT with PORT in 1..65533")
        p = int(port)
        return Endpoints(f"tcp://{host}:{p}", f"tcp://{host}:{p + 1}", f"tcp://{host}:{p + 2}")
    if scheme in ("ipc", "inproc"):
        if scheme == "ipc" and len(rest) + 4 > MAX_IPC_PATH:
            raise ConfigError(
                f"bus address {address!r}: ipc path longer than {MAX_IPC_PATH - 4} characters "
                "(unix socket paths are limited); set OHMPI_VAR to a shorter directory"
            )
        return Endpoints(f"{scheme}://{rest}.cmd", f"{scheme}://{rest}.pub", f"{scheme}://{rest}.sub")
    raise ConfigError(f"bus address {address!r}: scheme must be tcp, ipc or inproc")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bindable(address: str, curve: bool = True) -> str | None:
    """Refuse a tcp bus beyond loopback without CURVE; return a warning for plain loopback tcp."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp" or curve:
        return None
    if not is_loopback(rest.rpartition(":")[0]):
        raise ConfigError(
            f"refusing to bind {address} with [bus] curve = false: without CurveZMQ anyone who reaches "
            "the port controls the instrument; remove `curve = false` (or bind 127.0.0.1 / ipc)"
        )
    return (
        f"bus {address} without CurveZMQ ([bus] curve = false): every local program that reaches "
        "the port has full rights, as on ipc"
    )


def uses_curve(address: str, cfg: "BusConfig") -> bool:
    """Does this bus address speak CurveZMQ? (tcp does, unless `[bus] curve = false`.)"""
    return address.startswith("tcp://") and cfg.curve


def check_table(section: str, table: dict, types: dict[str, type]) -> dict:
    """Check a config table's keys and value types; errors name the key and what is allowed.

    Unknown keys are refused; a float key accepts an integer (returned as float); a bool is
    never taken for a number. Returns the table's own keys with checked values: callers add
    their defaults and range checks.
    """
    unknown = sorted(set(table) - set(types))
    if unknown:
        raise ConfigError(f"[{section}]: unknown key(s) {', '.join(unknown)}; known: {', '.join(types)}")
    out = {}
    for key, value in table.items():
        expected = types[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ConfigError(f"[{section}].{key} must be {expected.__name__}, got {value!r}")
        out[key] = value
    return out


@dataclass(frozen=True)
class BusConfig:
    """The `[bus]` table of the config file. Sizes in bytes, times in seconds."""

    address: str = "ipc"  # "ipc" means ipc://$OHMPI_VAR/bus
    max_message_bytes: int = 1 << 20  # larger frames are refused on receive
    heartbeat_s: float = 2.0  # soh.<process> period; a process is dead after 3 missed beats
    event_hwm: int = 10_000  # messages queued per PUB/SUB peer before the newest are dropped
    command_hwm: int = 1_000  # messages queued per command peer
    linger_ms: int = 250  # how long close() may wait to flush on shutdown
    curve: bool = True  # tcp buses use CurveZMQ (false is accepted on loopback only)
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, table: dict) -> "BusConfig":
        types = {f.name: type(f.default) for f in fields(cls) if f.name != "extra"}
        values = check_table("bus", table, types)
        for key, value in values.items():
            if types[key] in (int, float) and value <= 0:
                raise ConfigError(f"[bus].{key} must be > 0, got {value!r}")
        return cls(**values)

    def resolved_address(self) -> str:
        """The bus address with `OHMPI_BUS` and the "ipc" shorthand applied."""
        address = os.environ.get("OHMPI_BUS") or self.address
        if address == "ipc":
            address = f"ipc://{var_dir()}/bus"
        endpoints(address)  # validate early
        return address


def load_bus_config() -> BusConfig:
    return BusConfig.from_dict(config_table("bus"))
