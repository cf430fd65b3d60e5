"""Accounts of the gateway: users, login sessions, API tokens, the first-start setup token.

One SQLite file, `$OHMPI_VAR/auth.db` (0600). Raw tokens are never stored: only their
SHA-256 (tokens are 256 random bits, so a fast hash is enough); passwords are scrypt hashes
(`web.passwords`). Every check reads the database, so a revocation (or a role change, or a
removed user) takes effect on the very next request, in every process sharing the file.

Token kinds, told apart by their prefix: `ohmpi_at_` access (30 min, one login session),
`ohmpi_rt_` refresh (rotating, sliding 30 days), `ohmpi_tk_` API token (named, revocable),
`ohmpi_st_` setup (first admin, 24 h, one use). A login session also has a CSRF token for
its cookie-authenticated writes. Tickets (`ohmpi_ti_`, 60 s) are signed, not stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bus.files import private_dir
from bus.roles import HUMAN_ROLES, allows

from .bus_access import ApiError
from .passwords import check_rules, hash_password, verify_password

ACCESS_S = 1800
REFRESH_S = 30 * 86400
SETUP_S = 24 * 3600
TICKET_S = 60
LAST_USED_EVERY_S = 60.0  # write an API token's last use at most this often
PRUNE_EVERY_S = 3600.0
REUSE_MEMORY_S = 7 * 86400  # rotated refresh tokens are remembered (to detect reuse) this long
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")  # also a valid bus user name once prefixed
TOKEN_USER_PREFIX = "token-"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
    created REAL NOT NULL, changed REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, username TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
    csrf TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY, session TEXT NOT NULL, used REAL);
CREATE TABLE IF NOT EXISTS access_tokens (
    hash TEXT PRIMARY KEY, session TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    last_used REAL, expires REAL, created_by TEXT);
CREATE TABLE IF NOT EXISTS setup (hash TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS refresh_by_session ON refresh_tokens(session);
CREATE INDEX IF NOT EXISTS access_by_session ON access_tokens(session);
"""


class AuthError(ApiError):
    """A refused credential or account change (an ApiError: HTTP status, code, message, details)."""


def unauthorized(message: str = "authentication required: log in or send a valid bearer token", **details) -> AuthError:
    return AuthError(401, "unauthorized", message, **details)


@dataclass(frozen=True)
class Principal:
    """Who a request is from: a logged-in user (`auth` password) or an API token (`auth` token)."""

    name: str  # the username, or the token's name
    role: str
    auth: str  # "password" | "token"
    expires: float | None  # when the credential used for this request stops working
    session: str | None = None  # the login session (password), or the start of the token's hash (token)

    @property
    def user(self) -> str:
        """The name the bus and the audit know this caller by."""
        return self.name if self.auth == "password" else TOKEN_USER_PREFIX + self.name

    def expires_in(self, now: float | None = None) -> int | None:
        return None if self.expires is None else max(0, int(self.expires - (now or time.time())))


@dataclass(frozen=True)
class Issued:
    """What a login, a refresh or the setup hands out (raw values: shown once, never stored)."""

    principal: Principal
    access_token: str
    refresh_token: str
    csrf_token: str


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(kind: str) -> str:
    return f"ohmpi_{kind}_{secrets.token_urlsafe(32)}"


def check_name(name: object, field: str = "username") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise AuthError(
            400,
            "bad_request",
            f"{field}: must be 1-48 lowercase letters, digits, '_' or '-' (starting with a letter or digit)",
            arg=field,
            reason="invalid name",
        )
    if field == "username" and name.startswith(TOKEN_USER_PREFIX):
        raise AuthError(
            400,
            "bad_request",
            f"username: must not start with {TOKEN_USER_PREFIX!r} (reserved for API tokens)",
            arg=field,
            reason="reserved",
        )
    return name


def check_role(role: object, field: str = "role") -> str:
    if role not in HUMAN_ROLES:
        raise AuthError(
            400,
            "bad_request",
            f"{field}: must be one of {', '.join(HUMAN_ROLES)}",
            arg=field,
            reason="unknown role",
            allowed=list(HUMAN_ROLES),
        )
    return role


def check_password(password: object, field: str = "password") -> str:
    try:
        return check_rules(password, field)
    except ValueError as exc:
        raise AuthError(400, "bad_request", str(exc), arg=field, reason=str(exc).split(": ", 1)[-1]) from None


class AuthStore:
    """The accounts database; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | os.PathLike, *, refresh_grace_s: float = 5.0):
        self.path = Path(path)
        private_dir(self.path.parent)
        self.refresh_grace_s = refresh_grace_s  # a rotated refresh token seen again this soon: a race, not theft
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        for extra in ("-wal", "-shm"):
            try:
                os.chmod(f"{self.path}{extra}", 0o600)
            except OSError:
                pass
        self._last_used: dict[str, float] = {}
        self._pruned = 0.0
        self.secret = self._secret()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _tx(self):
        """`with self._tx() as db:` one immediate transaction under the lock."""
        store = self

        class _Tx:
            def __enter__(self):
                store.lock.acquire()
                try:
                    store.db.execute("BEGIN IMMEDIATE")
                except BaseException:
                    store.lock.release()
                    raise
                return store.db

            def __exit__(self, kind, exc, tb):
                try:
                    store.db.execute("COMMIT" if kind is None else "ROLLBACK")
                finally:
                    store.lock.release()

        return _Tx()

    def _secret(self) -> bytes:
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'ticket_key'").fetchone()
            if row:
                return bytes(row[0])
            key = os.urandom(32)
            db.execute("INSERT INTO meta (key, value) VALUES ('ticket_key', ?)", (key,))
            return key

    # ---- users ------------------------------------------------------------------------------
    def has_users(self) -> bool:
        with self.lock:
            return self.db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def users(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT username, role, created, changed FROM users ORDER BY username").fetchall()
            sessions = dict(
                self.db.execute(
                    "SELECT username, COUNT(*) FROM sessions WHERE revoked = 0 AND expires > ? GROUP BY username",
                    (time.time(),),
                ).fetchall()
            )
        return [
            {"username": u, "role": r, "created": c, "password_changed": ch, "sessions": sessions.get(u, 0)}
            for u, r, c, ch in rows
        ]

    def add_user(self, username: str, role: str, password: str) -> dict:
        check_name(username)
        check_role(role)
        check_password(password)
        hashed = hash_password(password)  # slow: outside the lock
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise AuthError(409, "conflict", f"user {username!r} already exists", arg="username", reason="exists")
            db.execute(
                "INSERT INTO users (username, role, password, created, changed) VALUES (?, ?, ?, ?, ?)",
                (username, role, hashed, now, now),
            )
        return {"username": username, "role": role, "created": now}

    def remove_user(self, username: str) -> dict:
        with self._tx() as db:
            row = db.execute("SELECT role FROM users WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise AuthError(404, "not_found", f"no user {username[:64]!r}", arg="username", reason="unknown user")
            if row[0] == "admin" and db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetchone()[0] == 1:
                raise AuthError(
                    409,
                    "conflict",
                    f"{username!r} is the last admin: add another admin first",
                    arg="username",
                    reason="last admin",
                )
            db.execute("DELETE FROM users WHERE username = ?", (username,))
            revoked = self._revoke_sessions(db, "username = ?", (username,))
        return {"username": username, "removed": True, "sessions_revoked": revoked}

    def set_password(self, username: str, password: str, *, keep_session: str | None = None) -> dict:
        """New password; every login session of the user ends (but `keep_session`)."""
        check_password(password)
        hashed = hash_password(password)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone() is None:
                raise AuthError(404, "not_found", f"no user {username[:64]!r}", arg="username", reason="unknown user")
            db.execute("UPDATE users SET password = ?, changed = ? WHERE username = ?", (hashed, time.time(), username))
            revoked = self._revoke_sessions(db, "username = ? AND id != ?", (username, keep_session or ""))
        return {"username": username, "changed": True, "sessions_revoked": revoked}

    def check_password(self, username: object, password: object) -> str | None:
        """The user's role if `password` is theirs, else None (same cost for unknown users)."""
        stored = role = None
        if isinstance(username, str) and NAME_RE.match(username):
            with self.lock:
                row = self.db.execute("SELECT role, password FROM users WHERE username = ?", (username,)).fetchone()
            if row:
                role, stored = row
        ok = verify_password(password if isinstance(password, str) else "", stored)
        return role if ok else None

    # ---- login sessions ---------------------------------------------------------------------
    def login(self, username: str, role: str) -> Issued:
        """A new session for a user whose password was just checked."""
        now = time.time()
        session, csrf = secrets.token_hex(16), secrets.token_urlsafe(32)
        with self._tx() as db:
            self._prune(db, now)
            db.execute(
                "INSERT INTO sessions (id, username, created, expires, csrf) VALUES (?, ?, ?, ?, ?)",
                (session, username, now, now + REFRESH_S, digest(csrf)),
            )
            access, refresh = self._issue(db, session, now)
        return Issued(Principal(username, role, "password", now + ACCESS_S, session), access, refresh, csrf)

    def _prune(self, db, now: float) -> None:
        """Forget what can no longer be used (at most hourly): expired access tokens, sessions over
        for 30 days, and rotated refresh tokens older than a week (presented later they are
        merely unknown, no longer a sign of theft)."""
        if now - self._pruned < PRUNE_EVERY_S:
            return
        self._pruned = now
        db.execute("DELETE FROM access_tokens WHERE expires < ?", (now,))
        db.execute("DELETE FROM refresh_tokens WHERE used IS NOT NULL AND used < ?", (now - REUSE_MEMORY_S,))
        for (sid,) in db.execute("SELECT id FROM sessions WHERE expires < ?", (now - REFRESH_S,)).fetchall():
            db.execute("DELETE FROM refresh_tokens WHERE session = ?", (sid,))
            db.execute("DELETE FROM access_tokens WHERE session = ?", (sid,))
            db.execute("DELETE FROM sessions WHERE id = ?", (sid,))

    def _issue(self, db, session: str, now: float) -> tuple[str, str]:
        access, refresh = new_token("at"), new_token("rt")
        db.execute(
            "INSERT INTO access_tokens (hash, session, expires) VALUES (?, ?, ?)",
            (digest(access), session, now + ACCESS_S),
        )
        db.execute("INSERT INTO refresh_tokens (hash, session) VALUES (?, ?)", (digest(refresh), session))
        return access, refresh

    def refresh(self, refresh_token: object, csrf: object) -> Issued:
        """Rotate a refresh token; a rotated one presented again ends the whole session."""
        if not isinstance(refresh_token, str) or not refresh_token.startswith("ohmpi_rt_"):
            raise unauthorized("no valid refresh token: log in again")
        now = time.time()
        reused = False
        with self._tx() as db:
            row = db.execute(
                "SELECT r.session, r.used, s.username, s.expires, s.revoked, s.csrf, u.role FROM refresh_tokens r "
                "JOIN sessions s ON s.id = r.session LEFT JOIN users u ON u.username = s.username "
                "WHERE r.hash = ?",
                (digest(refresh_token),),
            ).fetchone()
            if row is None:
                raise unauthorized("unknown refresh token: log in again")
            session, used, username, expires, revoked, csrf_hash, role = row
            if revoked or expires < now or role is None:
                raise unauthorized("this session has ended: log in again")
            if used is not None:
                if now - used < self.refresh_grace_s:
                    raise unauthorized(
                        "this refresh token was just rotated by a concurrent refresh: retry", reason="rotated"
                    )
                self._revoke_sessions(db, "id = ?", (session,))
                reused = True
            elif not isinstance(csrf, str) or not hmac.compare_digest(digest(csrf), csrf_hash):
                raise AuthError(
                    403, "forbidden", "missing or wrong X-CSRF-Token header", arg="X-CSRF-Token", reason="csrf"
                )
            else:
                self._prune(db, now)
                db.execute("UPDATE refresh_tokens SET used = ? WHERE hash = ?", (now, digest(refresh_token)))
                db.execute("UPDATE sessions SET expires = ? WHERE id = ?", (now + REFRESH_S, session))
                access, refresh = self._issue(db, session, now)
        if reused:
            raise unauthorized(
                "refresh token reused: the session was revoked, log in again", reason="reused", user=username
            )
        return Issued(Principal(username, role, "password", now + ACCESS_S, session), access, refresh, csrf)

    def session_of_refresh(self, refresh_token: object, csrf: object) -> Principal:
        """The live session a refresh cookie + matching CSRF token belong to (for logout)."""
        if not isinstance(refresh_token, str):
            raise unauthorized()
        with self.lock:
            row = self.db.execute(
                "SELECT s.id, s.username, s.expires, s.revoked, s.csrf, u.role FROM refresh_tokens r "
                "JOIN sessions s ON s.id = r.session JOIN users u ON u.username = s.username WHERE r.hash = ?",
                (digest(refresh_token),),
            ).fetchone()
        if row is None or row[3] or row[2] < time.time():
            raise unauthorized("this session has ended: log in again")
        if not isinstance(csrf, str) or not hmac.compare_digest(digest(csrf), row[4]):
            raise AuthError(403, "forbidden", "missing or wrong X-CSRF-Token header", arg="X-CSRF-Token", reason="csrf")
        return Principal(row[1], row[5], "password", row[2], row[0])

    def revoke_session(self, session: str) -> bool:
        with self._tx() as db:
            return self._revoke_sessions(db, "id = ?", (session,)) > 0

    @staticmethod
    def _revoke_sessions(db, where: str, params: tuple) -> int:
        ids = [r[0] for r in db.execute(f"SELECT id FROM sessions WHERE revoked = 0 AND {where}", params)]
        for sid in ids:
            db.execute("UPDATE sessions SET revoked = 1 WHERE id = ?", (sid,))
            db.execute("DELETE FROM access_tokens WHERE session = ?", (sid,))
        return len(ids)

    # ---- API tokens -------------------------------------------------------------------------
    def create_token(
        self, name: str, role: str, expires_days: float | None = None, created_by: str | None = None
    ) -> dict:
        check_name(name, "name")
        check_role(role)
        if expires_days is not None and (
            isinstance(expires_days, bool)
            or not isinstance(expires_days, (int, float))
            or not 0 < expires_days <= 36500
        ):
            raise AuthError(
                400,
                "bad_request",
                "expires_days: must be a number of days in (0, 36500]",
                arg="expires_days",
                reason="out of range",
            )
        now = time.time()
        raw = new_token("tk")
        expires = None if expires_days is None else now + expires_days * 86400
        with self._tx() as db:
            if db.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
                raise AuthError(
                    409,
                    "conflict",
                    f"a token named {name!r} exists: revoke it first or choose another name",
                    arg="name",
                    reason="exists",
                )
            db.execute(
                "INSERT INTO api_tokens (name, role, hash, created, expires, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                (name, role, digest(raw), now, expires, created_by),
            )
        return {"name": name, "role": role, "token": raw, "expires": expires}

    def tokens(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute(
                "SELECT name, role, created, last_used, expires, created_by FROM api_tokens ORDER BY name"
            ).fetchall()
        now = time.time()
        return [
            {
                "name": n,
                "role": r,
                "created": c,
                "last_used": lu,
                "expires": e,
                "created_by": cb,
                "expired": e is not None and e < now,
            }
            for n, r, c, lu, e, cb in rows
        ]

    def revoke_token(self, name: str) -> dict:
        with self._tx() as db:
            if db.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount == 0:
                raise AuthError(404, "not_found", f"no token named {name[:64]!r}", arg="name", reason="unknown token")
        return {"name": name, "revoked": True}

    # ---- bearer credentials -----------------------------------------------------------------
    def authenticate(self, raw: str) -> Principal:
        """The principal an access token or API token stands for; AuthError 401 otherwise."""
        now = time.time()
        if raw.startswith("ohmpi_at_"):
            with self.lock:
                row = self.db.execute(
                    "SELECT a.expires, s.id, s.username, u.role FROM access_tokens a "
                    "JOIN sessions s ON s.id = a.session JOIN users u ON u.username = s.username "
                    "WHERE a.hash = ? AND s.revoked = 0",
                    (digest(raw),),
                ).fetchone()
            if row is None:
                raise unauthorized("unknown or revoked access token: log in again")
            if row[0] < now:
                raise unauthorized(
                    "access token expired: refresh it (POST /api/refresh) or log in again", reason="expired"
                )
            return Principal(row[2], row[3], "password", row[0], row[1])
        if raw.startswith("ohmpi_tk_"):
            h = digest(raw)
            with self.lock:
                row = self.db.execute("SELECT name, role, expires FROM api_tokens WHERE hash = ?", (h,)).fetchone()
            if row is None:
                raise unauthorized("unknown or revoked API token")
            if row[2] is not None and row[2] < now:
                raise unauthorized(f"API token {row[0]!r} expired", reason="expired")
            self._touch(row[0], now)
            return Principal(row[0], row[1], "token", row[2], h[:16])
        raise unauthorized("not a token of this gateway")

    def _touch(self, name: str, now: float) -> None:
        if now - self._last_used.get(name, 0.0) < LAST_USED_EVERY_S:
            return
        try:
            with self._tx() as db:
                db.execute("UPDATE api_tokens SET last_used = ? WHERE name = ?", (now, name))
        except sqlite3.OperationalError:
            return  # busy: the next use records it
        self._last_used[name] = now

    def still_valid(self, who: Principal) -> bool:
        """Is the credential behind `who` still alive (session not revoked, token not revoked)?"""
        now = time.time()
        with self.lock:
            if who.auth == "password":
                row = self.db.execute(
                    "SELECT s.expires FROM sessions s JOIN users u ON u.username = s.username "
                    "WHERE s.id = ? AND s.revoked = 0 AND u.role = ?",
                    (who.session, who.role),
                ).fetchone()
            else:  # the same token (a revoked name may have been given to a new one)
                row = self.db.execute(
                    "SELECT COALESCE(expires, 1e300) FROM api_tokens WHERE name = ? AND role = ? "
                    "AND substr(hash, 1, 16) = ?",
                    (who.name, who.role, who.session),
                ).fetchone()
        return row is not None and row[0] > now

    # ---- tickets (for EventSource and downloads, which cannot send headers) -----------------
    def ticket(self, who: Principal) -> str:
        ref = f"s:{who.session}" if who.auth == "password" else f"t:{who.name}.{who.session}"
        payload = f"{ref}:{int(time.time()) + TICKET_S}".encode("ascii")
        mac = hmac.new(self.secret, payload, hashlib.sha256).digest()
        return "ohmpi_ti_" + _b64(payload) + "." + _b64(mac)

    def redeem_ticket(self, ticket: str) -> Principal:
        try:
            payload_b64, mac_b64 = ticket.removeprefix("ohmpi_ti_").split(".")
            payload, mac = _unb64(payload_b64), _unb64(mac_b64)
        except (ValueError, TypeError):
            raise unauthorized("malformed ticket") from None
        if not hmac.compare_digest(mac, hmac.new(self.secret, payload, hashlib.sha256).digest()):
            raise unauthorized("invalid ticket")
        kind, ref, exp = payload.decode("ascii").split(":")
        if int(exp) < time.time():
            raise unauthorized("ticket expired: ask for a new one (POST /api/tickets)", reason="expired")
        with self.lock:
            if kind == "s":
                row = self.db.execute(
                    "SELECT s.username, u.role, s.expires FROM sessions s JOIN users u "
                    "ON u.username = s.username WHERE s.id = ? AND s.revoked = 0",
                    (ref,),
                ).fetchone()
                who = row and Principal(row[0], row[1], "password", row[2], ref)
            else:
                name, _, h = ref.partition(".")
                row = self.db.execute(
                    "SELECT name, role, expires FROM api_tokens WHERE name = ? AND substr(hash, 1, 16) = ?", (name, h)
                ).fetchone()
                who = row and Principal(row[0], row[1], "token", row[2], h)
        if not who or (who.expires is not None and who.expires < time.time()):
            raise unauthorized("the credential behind this ticket was revoked or expired")
        return who

    # ---- first start ------------------------------------------------------------------------
    def new_setup_token(self) -> str:
        """A fresh one-time setup token (any previous one stops working)."""
        raw = new_token("st")
        with self._tx() as db:
            db.execute("DELETE FROM setup")
            db.execute("INSERT INTO setup (hash, expires) VALUES (?, ?)", (digest(raw), time.time() + SETUP_S))
        return raw

    def clear_setup(self) -> None:
        """No setup token any more (the first user exists)."""
        with self._tx() as db:
            db.execute("DELETE FROM setup")

    def setup_pending(self) -> bool:
        with self.lock:
            return self.db.execute("SELECT 1 FROM setup WHERE expires > ?", (time.time(),)).fetchone() is not None

    def use_setup_token(self, raw: object, username: str, password: str) -> Issued:
        """Create the first admin with the setup token (which then stops working)."""
        check_name(username)
        check_password(password)
        hashed = hash_password(password)
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT expires FROM setup WHERE hash = ?", (digest(raw) if isinstance(raw, str) else "",)
            ).fetchone()
            if row is None:
                raise unauthorized("unknown or already used setup token")
            if row[0] < now:
                raise unauthorized(
                    "setup token expired: restart the gateway or run `ohmpi web setup-link`", reason="expired"
                )
            if db.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                db.execute("DELETE FROM setup")
                raise AuthError(409, "conflict", "the gateway already has users: log in instead")
            db.execute(
                "INSERT INTO users (username, role, password, created, changed) VALUES (?, ?, ?, ?, ?)",
                (username, "admin", hashed, now, now),
            )
            db.execute("DELETE FROM setup")
        return self.login(username, "admin")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


__all__ = ["AuthError", "AuthStore", "Issued", "Principal", "allows", "unauthorized"]
