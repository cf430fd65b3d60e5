"""A small service for the bus tests: `python -m tests.bus.demo_service NAME`.

It counts how many times each command really ran (so tests can prove at-most-once
execution) and publishes state/data events on request.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections import Counter

from bus.errors import BadRequest, Timeout
from bus.node import Node


def build(name: str) -> Node:
    node = Node(name)
    runs: Counter = Counter()
    release = threading.Event()

    def echo(value: object = None) -> object:
        """Return `value` unchanged."""
        runs["echo"] += 1
        return value

    node.command(echo, role="viewer")

    def add(x: int, y: float = 1.0) -> float:
        """Add two numbers."""
        runs["add"] += 1
        return x + y

    node.command(add, role="viewer")

    def positive(value: int) -> int:
        """Accept only a positive value (handler-level validation)."""
        if value <= 0:
            raise BadRequest(f"positive: value must be > 0, got {value}", arg="value", reason="must be > 0")
        return value

    node.command(positive, role="viewer")

    def crash(message: str = "boom") -> None:
        """Fail with an unexpected exception."""
        runs["crash"] += 1
        raise RuntimeError(message)

    node.command(crash, role="operator")

    def wait_inner() -> None:
        """Report a timeout of something the service waited for."""
        raise Timeout("the instrument did not answer within 1 s")

    node.command(wait_inner, role="viewer")

    def slow(seconds: float = 1.0) -> str:
        """Occupy the hardware lane for `seconds` (or until `release`)."""
        runs["slow"] += 1
        release.wait(seconds)
        release.clear()
        return "done"

    node.command(slow, background=True, lane="hardware", role="operator")

    def other_hw() -> str:
        """Another command on the hardware lane."""
        return "ok"

    node.command(other_hw, background=True, lane="hardware", role="operator")

    def unblock() -> bool:
        """Let `slow` finish now."""
        release.set()
        return True

    node.command(unblock, role="operator")

    def hang(seconds: float = 30.0) -> None:
        """Block the service loop (a stuck service, for client timeouts)."""
        time.sleep(seconds)

    node.command(hang, role="admin")

    def counts() -> dict:
        """How many times each command ran."""
        return dict(runs)

    node.command(counts, role="viewer")

    def emit(topic: str, count: int = 1, body: dict = {}) -> int:  # noqa: B006 (the command's spec)
        """Publish `count` events on `topic`."""
        for i in range(count):
            node.publish(topic, {**body, "i": i})
        return count

    node.command(emit, role="admin")

    def unserializable() -> object:
        """Return something msgpack cannot encode."""
        return {1, 2}

    node.command(unserializable, role="viewer")

    def chunked(chunk: int = 0, changing: bool = False, malformed: bool = False) -> dict:
        """A text in 3 chunks with its sha256; `changing`: a new text at every call."""
        runs["chunked"] += 1
        if malformed:
            return {"text": None, "chunks": "three"}
        version = runs["chunked"] if changing else 0
        parts = [f"v{version}-part{k};" * 1000 for k in range(3)]
        digest = hashlib.sha256("".join(parts).encode()).hexdigest()
        return {"text": parts[chunk], "chunks": len(parts), "sha256": digest, "filename": "demo.txt"}

    node.command(chunked, role="viewer")

    return node


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "demo").run()
