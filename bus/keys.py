"""CurveZMQ keys: the hub's keypair, the system's own service key, and the table of client keys.

Everything lives in `$OHMPI_VAR/keys/` (0700, files 0600):

* `server.key` / `server.key_secret` — the hub's keypair, made at first start. A client
  needs `server.key` (public) to know it talks to the right hub.
* `local.key` / `local.key_secret` — the key of the system's own processes (role
  `service`), made at first need. Whoever can read it is the system.
* `keys.json` — the client keys the hub accepts: name, public key, role, created, revoked.
  Only the hub writes it (`ohmpi keys …` goes through the hub's commands).

Certificates use the format of `zmq.auth` (`zmq.auth.load_certificate` reads ours), so a
plain pyzmq script can load a key made by `ohmpi keys create`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import zmq
import zmq.auth
import zmq.utils.z85

from .config import ConfigError, var_dir
from .envelope import check_name
from .files import atomic_write, private_dir
from .roles import ROLES, check_role

SERVER = "server"
LOCAL = "local"
RESERVED = (SERVER, LOCAL)


def keys_dir(base: Path | None = None) -> Path:
    return private_dir((base or var_dir()) / "keys")


def _banner(kind: str) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if kind == "secret":
        return (
            f"#   ****  Generated on {stamp} by ohmpi  ****\n#   ZeroMQ CURVE **Secret** Certificate\n"
            "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
        )
    return (
        f"#   ****  Generated on {stamp} by ohmpi  ****\n#   ZeroMQ CURVE Public Certificate\n"
        "#   Exchange securely, or use a secure mechanism to verify the contents\n"
        "#   of this file after exchange. Store public certificates in your home\n"
        "#   directory, in the .curve subdirectory.\n\n"
    )


def certificate_text(public: bytes, secret: bytes | None = None, metadata: dict | None = None) -> str:
    """A certificate in zmq.auth's format (public only when `secret` is None)."""
    lines = [_banner("secret" if secret else "public"), "metadata\n"]
    for key, value in (metadata or {}).items():
        lines.append(f'    {key} = "{value}"\n')
    lines.append("curve\n")
    lines.append(f'    public-key = "{public.decode("ascii")}"\n')
    if secret:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"\n')
    return "".join(lines)


def write_keypair(directory: Path, name: str, public: bytes, secret: bytes, metadata: dict | None = None) -> Path:
    """Write `NAME.key` (public) and `NAME.key_secret` (both keys) into `directory`, 0600."""
    atomic_write(directory / f"{name}.key", certificate_text(public, None, metadata))
    path = directory / f"{name}.key_secret"
    atomic_write(path, certificate_text(public, secret, metadata))
    return path


def load_certificate(path: Path) -> tuple[bytes, bytes | None]:
    """(public, secret) of a certificate file; ConfigError naming the file when unusable."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"key file {path}: {exc}") from None
    if len(public) != 40 or (secret is not None and len(secret) != 40):
        raise ConfigError(f"key file {path}: keys must be 40-character Z85 text")
    return public, secret


def ensure_keypair(name: str, base: Path | None = None) -> tuple[bytes, bytes]:
    """The keypair `name` of this system, made once (processes starting together agree on it)."""
    directory = keys_dir(base)
    secret_file = directory / f"{name}.key_secret"
    if not secret_file.exists():
        with open(directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not secret_file.exists():
                public, secret = zmq.curve_keypair()
                write_keypair(directory, name, public, secret, {"name": name})
    public, secret = load_certificate(secret_file)
    if secret is None:
        raise ConfigError(f"key file {secret_file} holds no secret key")
    return public, secret


@dataclass(frozen=True)
class Credentials:
    """What a CURVE client needs: its own keypair and the hub's public key."""

    public: bytes
    secret: bytes
    server: bytes
    name: str = ""

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_serverkey = self.server


_cache: dict[tuple, Credentials] = {}
_cache_lock = threading.Lock()


def client_credentials(key: str | os.PathLike | None = None) -> Credentials:
    """Credentials from a key file (`key`, else `$OHMPI_KEY`), with `server.key` beside it;
    with neither, this machine's own service key (a local user who can read `$OHMPI_VAR`)."""
    key = key or os.environ.get("OHMPI_KEY") or None
    cache_key = (str(key), str(var_dir()) if key is None else "")
    with _cache_lock:
        if cache_key in _cache:
            return _cache[cache_key]
        if key is None:
            public, secret = ensure_keypair(LOCAL)
            server, _ = ensure_keypair(SERVER)
            creds = Credentials(public, secret, server, LOCAL)
        else:
            path = Path(key).expanduser()
            public, secret = load_certificate(path)
            if secret is None:
                raise ConfigError(f"key file {path} holds no secret key (use NAME.key_secret, not NAME.key)")
            server_file = path.parent / f"{SERVER}.key"
            if not server_file.exists():
                raise ConfigError(
                    f"no {SERVER}.key beside {path}: copy the hub's public key there (`ohmpi keys create` writes it)"
                )
            server, _ = load_certificate(server_file)
            creds = Credentials(public, secret, server, path.name.removesuffix(".key_secret"))
        _cache[cache_key] = creds
        return creds


# ---- the hub's table of client keys --------------------------------------------------------
class KeyTableError(ValueError):
    """A key-table change is refused; `field` names the culprit (name, public or role)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class KeyEntry:
    name: str
    public: str  # Z85 text
    role: str
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class KeyTable:
    """The client keys the hub accepts, by name and by public key; persisted in keys.json."""

    def __init__(self, directory: Path, local_public: bytes | None = None):
        self.path = directory / "keys.json"
        self.local_public = local_public.decode("ascii") if local_public else None
        self.entries: dict[str, KeyEntry] = {}
        self._by_public: dict[str, KeyEntry] = {}
        self.load()

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {"keys": []}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path}: unreadable key table ({exc}); move it aside to start afresh") from None
        entries = {}
        for row in data.get("keys", []):
            try:
                entry = KeyEntry(**row)
                check_name(entry.name, "key name")
                check_role(entry.role)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{self.path}: bad entry {row!r}: {exc}") from None
            entries[entry.name] = entry
        self.entries = entries
        self._by_public = {e.public: e for e in entries.values()}

    def _save(self) -> None:
        rows = [asdict(e) for e in sorted(self.entries.values(), key=lambda e: e.name)]
        atomic_write(self.path, json.dumps({"keys": rows}, indent=1) + "\n")

    def lookup(self, public: str) -> KeyEntry | None:
        """The entry of a public key (Z85); the system's own key is `local` with role service."""
        if public == self.local_public:
            return KeyEntry(LOCAL, public, "service", "")
        return self._by_public.get(public)

    def add(self, name: str, public: str, role: str) -> KeyEntry:
        try:
            check_name(name, "key name")
        except ValueError as exc:
            raise KeyTableError("name", str(exc)) from None
        try:
            check_role(role, ROLES)
        except ValueError as exc:
            raise KeyTableError("role", str(exc)) from None
        if name in RESERVED:
            raise KeyTableError("name", f"key name {name!r} is reserved for the system's own keys")
        try:
            if len(public) != 40 or len(zmq.utils.z85.decode(public)) != 32:
                raise ValueError
        except Exception:
            raise KeyTableError("public", "public key must be 40 characters of Z85 (a CURVE public key)") from None
        old = self.entries.get(name)
        if old is not None and old.active:
            raise KeyTableError("name", f"key {name!r} exists; revoke it first")
        if public in self._by_public or public == self.local_public:
            raise KeyTableError("public", "that public key is already registered")
        entry = KeyEntry(name, public, role, _now())
        self.entries[name] = entry
        self._by_public[public] = entry
        self._save()
        return entry

    def revoke(self, name: str) -> KeyEntry:
        if name in RESERVED:
            raise KeyTableError("name", f"{name!r} is the system's own key: delete $OHMPI_VAR/keys to make new ones")
        entry = self.entries.get(name)
        if entry is None:
            raise KeyError(name)
        if entry.active:
            entry.revoked = _now()
            self._save()
        return entry

    def list(self) -> list[dict]:
        return [asdict(e) | {"active": e.active} for e in sorted(self.entries.values(), key=lambda e: e.name)]
