"""The envelope: the one msgpack map every message carries, and the Session that makes them.

Like jupyter_client's Session, one object owns serialization for a process: it stamps
source, per-topic sequence numbers, ids and timestamps, and it is the only place that
packs or unpacks frames, so validation happens in exactly one spot.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass

import msgpack

PROTOCOL_VERSION = 1
TYPES = ("event", "request", "reply", "register", "bye")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class FrameError(ValueError):
    """A frame is not a valid message; the text says what is wrong, `reason` names it for counters."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class Message:
    """One decoded message. `replayed` marks a cached copy served to a late joiner."""

    topic: str
    v: int
    id: str
    src: str
    seq: int
    ts: float
    type: str
    body: object
    replayed: bool = False

    @property
    def instance(self) -> str:
        """The publisher instance that sent it (the id's part before the last '-')."""
        return self.id.rpartition("-")[0] or self.id


def check_name(name: str, what: str = "process name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} must match {NAME_RE.pattern} (lowercase, digits, '_' or '-')")
    return name


_FIELD_TYPES = {"v": int, "id": str, "src": str, "seq": int, "ts": float, "type": str}


_GOOD_SOURCES: set[str] = set()  # source names already matched against NAME_RE (bounded)


def _good_source(src: str) -> bool:
    """NAME_RE.match(src), remembered for the first 1024 names: a receiver sees few sources."""
    if not NAME_RE.match(src):
        return False
    if len(_GOOD_SOURCES) < 1024:
        _GOOD_SOURCES.add(src)
    return True


def unpack_envelope(data: bytes, max_bytes: int) -> dict:
    """Decode and validate one envelope frame; raise FrameError saying what is wrong."""
    if len(data) > max_bytes:
        raise FrameError(f"envelope of {len(data)} bytes exceeds the limit of {max_bytes}", "oversized")
    try:
        env = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated classes
        raise FrameError(f"envelope is not valid msgpack ({type(exc).__name__})", "msgpack") from None
    if type(env) is dict:
        # Fast path for a well-formed envelope: the same checks as below, in one expression on
        # exact types (msgpack yields exact dict/int/float/str/bool, and `type(x) is int` also
        # rules out bool). Anything else - an int `ts`, a missing or mistyped field - takes the
        # full path, which converts or names the problem exactly as before.
        try:
            v, seq, src, type_ = env["v"], env["seq"], env["src"], env["type"]
            if (
                v == PROTOCOL_VERSION
                and type(v) is int
                and type(seq) is int
                and seq >= 1
                and type(env["ts"]) is float
                and type(env["id"]) is str
                and type(type_) is str
                and type_ in TYPES
                and type(src) is str
                and "body" in env
                and (src in _GOOD_SOURCES or _good_source(src))
            ):
                return env
        except KeyError:
            pass
    if not isinstance(env, dict):
        raise FrameError(f"envelope must be a msgpack map, got {type(env).__name__}", "not_map")
    for key, expected in _FIELD_TYPES.items():
        if key not in env:
            raise FrameError(f"envelope field {key!r} is missing", "missing_field")
        value = env[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = env[key] = float(value)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise FrameError(
                f"envelope field {key!r} must be {expected.__name__}, got {type(value).__name__}", "mistyped_field"
            )
    if "body" not in env:
        raise FrameError("envelope field 'body' is missing", "missing_field")
    if env["v"] != PROTOCOL_VERSION:
        raise FrameError(
            f"protocol version {env['v']} is not supported (this end speaks {PROTOCOL_VERSION})", "version"
        )
    if env["seq"] < 1:
        raise FrameError(f"envelope field 'seq' must be >= 1, got {env['seq']}", "mistyped_field")
    if env["type"] not in TYPES:
        raise FrameError(f"envelope type {env['type']!r} is not one of {', '.join(TYPES)}", "type")
    if not NAME_RE.match(env["src"]):
        raise FrameError(f"envelope source {env['src']!r} is not a valid process name", "source")
    return env


def decode_topic(frame: bytes) -> str:
    try:
        return frame.decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("topic frame is not ASCII", "topic") from None


def decode(frames: list[bytes], max_bytes: int) -> Message:
    """Turn `[topic, envelope]` frames into a Message, or raise FrameError."""
    if len(frames) != 2:
        raise FrameError(f"expected 2 frames [topic, envelope], got {len(frames)}", "frames")
    topic = decode_topic(frames[0])
    return message(topic, unpack_envelope(frames[1], max_bytes))


def message(topic: str, env: dict) -> Message:
    """The Message of a checked envelope (from unpack_envelope) received on `topic`."""
    return Message(topic, env["v"], env["id"], env["src"], env["seq"], env["ts"], env["type"], env["body"])


def plain(obj):
    """msgpack fallback for array-likes and numpy scalars (duck-typed: the bus knows no numpy)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot encode {type(obj).__name__}")


class Session:
    """Stamps and packs envelopes for one process (one instance id, per-topic counters)."""

    def __init__(self, source: str):
        self.source = check_name(source)
        self.instance = f"{secrets.token_hex(4)}{os.getpid() & 0xFFFF:04x}"
        self._counter = 0
        self._seq: dict[str, int] = {}
        self._packer = msgpack.Packer(use_bin_type=True, default=plain)

    def next_id(self) -> str:
        self._counter += 1
        return f"{self.instance}-{self._counter}"

    def pack(self, type_: str, body: object, topic: str = "") -> bytes:
        """Pack one envelope; `seq` counts messages of this source on this topic."""
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        self._counter += 1
        return self._packer.pack(
            {
                "v": PROTOCOL_VERSION,
                "id": f"{self.instance}-{self._counter}",
                "src": self.source,
                "seq": seq,
                "ts": time.time(),
                "type": type_,
                "body": body,
            }
        )
