"""Password hashing: scrypt (hashlib, no extra dependency) with a per-password random salt.

Stored as `scrypt$N$r$p$salt$hash` (base64), so the cost can be raised later without
invalidating old hashes. Checks compare in constant time, and an unknown user is checked
against a dummy hash so that "no such user" and "wrong password" take the same time. At most
`CONCURRENT` checks run at once: each needs 32 MiB, and a login flood must not exhaust a Pi.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading

N, R, P = 2**15, 8, 1  # 32 MiB, ~0.1 s on a PC, a few tenths on a Raspberry Pi 4
MIN_LENGTH = 8
MAX_LENGTH = 1024
CONCURRENT = 2
_slots = threading.BoundedSemaphore(CONCURRENT)


def check_rules(password: object, field: str = "password") -> str:
    """`password` if acceptable; ValueError naming the field and the rule otherwise."""
    if not isinstance(password, str):
        raise ValueError(f"{field}: must be a string")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"{field}: must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"{field}: must be at most {MAX_LENGTH} characters long")
    return password


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _slots:
        return hashlib.scrypt(
            password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=32
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_scrypt(password, salt, N, R, P))}"


def verify_password(password: str, stored: str | None) -> bool:
    """Does `password` match `stored`? With `stored` None (unknown user) a dummy check runs."""
    if stored is None:
        _scrypt(password, b"\0" * 16, N, R, P)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)
