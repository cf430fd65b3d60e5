"""A service for the lane tests (`python -m tests.bus.lane_service`): pipelined lane commands.

`work` waits in the `hw` lane (queue of 1) until released, then defers its reply
(`Later`): its `finish` waits for its own gate before answering, so a test can hold a
commit while the next call already runs. `log` tells what started and finished, in order.
"""

from __future__ import annotations

import sys
import threading

from bus.commands import Later, current_cancel
from bus.errors import Aborted, BadRequest
from bus.node import Node


def build(name: str = "lanes") -> Node:
    node = Node(name)
    events: list[str] = []
    lock = threading.Lock()
    released: dict[str, threading.Event] = {}
    committed: dict[str, threading.Event] = {}

    def gate(table: dict, tag: str) -> threading.Event:
        with lock:
            return table.setdefault(tag, threading.Event())

    def note(what: str) -> None:
        with lock:
            events.append(what)

    def work(tag: str, fail: str = "", hold: bool = True) -> object:
        """Run in the hw lane until `release(tag)`; answer once `commit(tag)` (a deferred reply)."""
        note(f"start {tag}")
        cancel = current_cancel.get()
        if hold:
            while not gate(released, tag).wait(0.01):
                if cancel.is_set():
                    note(f"cancelled {tag}")
                    raise Aborted(f"{tag} cancelled")
        note(f"hardware done {tag}")

        def finish() -> str:
            gate(committed, tag).wait(30)
            note(f"finish {tag}")
            if fail == "bus":
                raise BadRequest(f"{tag}: refused at commit", arg="tag")
            if fail == "crash":
                raise RuntimeError(f"{tag}: crashed at commit")
            return f"done {tag}"

        return Later(finish)

    node.command(work, role="operator", background=True, lane="hw", queue=1)

    def other() -> str:
        """Another command of the hw lane, without a queue."""
        note("other")
        return "ok"

    node.command(other, role="operator", background=True, lane="hw")

    def release(tag: str) -> bool:
        """Let `work(tag)` end its hardware part."""
        gate(released, tag).set()
        return True

    node.command(release, role="operator")

    def commit(tag: str) -> bool:
        """Let `work(tag)`'s finish answer."""
        gate(committed, tag).set()
        return True

    node.command(commit, role="operator")

    def drop() -> dict:
        """Refuse the calls waiting for hw, flag the running one (what an abort does)."""
        dropped = node.drop_waiting("hw", Aborted("dropped before it started"))
        return {"dropped": [d["tag"] for d in dropped], "running": node.cancel_running("hw")}

    node.command(drop, role="operator")

    def log() -> list:
        """What started and finished, in order."""
        with lock:
            return list(events)

    node.command(log, role="viewer")
    return node


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "lanes").run()
