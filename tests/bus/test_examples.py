"""The plain-pyzmq examples of docs/protocol.md work against a live bus (no project imports)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from tests.support.procs import ROOT


def _run(bus, name, *args, timeout=60):
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **bus.env},
    )


def test_examples_import_only_pyzmq_and_msgpack():
    for name in ("plain_pyzmq_call.py", "plain_pyzmq_watch.py"):
        tree = ast.parse((ROOT / "examples" / name).read_text())
        imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= {"sys", "os", "time", "uuid", "zmq", "msgpack"}, imported


def test_plain_call_and_watch(bus):
    bus.start_service("demo")
    out = _run(bus, "plain_pyzmq_call.py", bus.address, "demo", "echo", "value=hello")
    assert out.returncode == 0 and out.stdout.strip() == "hello"
    err = _run(bus, "plain_pyzmq_call.py", bus.address, "demo", "add", "x=1")
    assert err.returncode == 1 and "bad_request" in err.stderr and "'x' must be int" in err.stderr
    watched = _run(bus, "plain_pyzmq_watch.py", bus.address, "soh.demo", "1")
    topic, src, seq, body = watched.stdout.split(" ", 3)
    assert (topic, src) == ("soh.demo", "demo") and int(seq) >= 1
    assert ast.literal_eval(body)["pid"] == bus.procs[-1].pid
