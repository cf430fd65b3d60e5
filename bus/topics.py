"""Topic names and MQTT-style patterns over ZeroMQ's prefix subscriptions.

ZeroMQ filters by byte prefix only. A Pattern turns `data.+.measurement` or `log.#` into
the longest literal prefix (subscribed on the socket, filtered by libzmq) plus an exact
matcher applied to what arrives, so `soh.ctrl` never receives `soh.ctrl2`.
"""

from __future__ import annotations

import re
from functools import lru_cache

ROOTS = ("alarm", "audit", "control", "data", "log", "soh", "state")
SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TOPIC_BYTES = 255


def check_topic(topic: str) -> str:
    """Validate a concrete topic (no wildcards); raise ValueError saying what is wrong."""
    if not isinstance(topic, str) or not topic:
        raise ValueError("topic must be a non-empty string")
    if len(topic) > MAX_TOPIC_BYTES or not topic.isascii():
        raise ValueError(f"topic {topic[:40]!r} must be ASCII and at most {MAX_TOPIC_BYTES} bytes")
    segments = topic.split(".")
    if segments[0] not in ROOTS:
        raise ValueError(f"topic {topic!r} must start with one of {', '.join(ROOTS)}")
    for seg in segments:
        if not SEGMENT_RE.match(seg):
            raise ValueError(f"topic {topic!r}: segment {seg!r} must be letters, digits, '_' or '-'")
    return topic


class Pattern:
    """An MQTT-style topic pattern: `+` is one segment, a final `#` is any rest (or none)."""

    __slots__ = ("text", "prefix", "_regex")

    def __init__(self, text: str):
        if not isinstance(text, str) or not text or not text.isascii():
            raise ValueError("pattern must be a non-empty ASCII string")
        segments = text.split(".")
        literal: list[str] = []
        regex = []
        wildcard_seen = False  # literal segments after a wildcard are not part of the prefix
        for i, seg in enumerate(segments):
            if seg == "#":
                if i != len(segments) - 1:
                    raise ValueError(f"pattern {text!r}: '#' may only be the last segment")
                regex.append(None)
                wildcard_seen = True
            elif seg == "+":
                regex.append("[^.]+")
                wildcard_seen = True
            elif SEGMENT_RE.match(seg):
                regex.append(re.escape(seg))
                if not wildcard_seen:
                    literal.append(seg)
            else:
                raise ValueError(f"pattern {text!r}: segment {seg!r} must be a name, '+' or '#'")
        self.text = text
        body = r"\.".join(r for r in regex if r is not None)
        if regex[-1] is None:  # trailing '#': the parent itself or anything below it
            body = rf"{body}(\..+)?" if body else ".+"
        self._regex = re.compile(rf"^{body}$")
        n = len(literal)
        if n == len(segments) or segments[n] == "#":
            self.prefix = ".".join(literal)  # exact, or 'log.#' which also matches 'log' itself
        else:
            self.prefix = ".".join(literal) + "." if literal else ""

    def matches(self, topic: str) -> bool:
        return bool(self._regex.match(topic))

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


@lru_cache(maxsize=1024)
def pattern(text: str) -> Pattern:
    return Pattern(text)


def matches_any(patterns: list[Pattern], topic: str) -> bool:
    return any(p.matches(topic) for p in patterns)
