"""The test house mirrors the code house: what tests and benchmarks share lives in tests/support/
as plain modules. A conftest holds fixtures only and a test module holds tests only, so neither is
ever imported as a library (pytest would load such a file twice, under two names)."""

from __future__ import annotations

import ast

from tests.support.procs import ROOT


def _imports(path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_conftest_or_test_module_is_imported_as_a_library():
    wrong = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py")]):
        for name in _imports(path):
            last = name.rsplit(".", 1)[-1]
            if name.startswith("tests.") and (last == "conftest" or last.startswith("test_")):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "move what is shared to tests/support/:\n" + "\n".join(wrong)
