"""Who may import whom (MISSION.md): checked on every module's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "bus": {"ohmpi", "workers", "web", "client"},
    "ohmpi": {"zmq", "bus", "workers", "web", "client"},
    "web": {"ohmpi", "workers", "client"},
    "workers": {"client"},  # workers/web.py runs the gateway, so workers may import web
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer):
    modules = sorted((ROOT / layer).rglob("*.py"))
    assert modules, f"{layer}/ has no modules"
    offences = {str(p.relative_to(ROOT)): sorted(imports_of(p) & FORBIDDEN[layer]) for p in modules}
    assert {k: v for k, v in offences.items() if v} == {}


def test_the_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom zmq import Context\nfrom . import sibling\nimport bus.rpc as r\n")
    assert imports_of(sample) == {"os", "zmq", "bus"}


def test_the_web_gateway_loads_without_numpy():
    """numpy is 20 MB of resident memory; the gateway (workers.web + web/) needs none of it."""
    import subprocess
    import sys

    code = "import sys, workers.web, web.app, web.server; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
