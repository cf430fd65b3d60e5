"""The client examples work against the running system."""

from __future__ import annotations

import subprocess
import sys

from ohmpi import formats
from tests.support.procs import ROOT


def _run(system, *args):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=system.env, capture_output=True, text=True, timeout=300
    )


def test_examples_measure_survey_export(system, tmp_path):
    out = _run(system, "examples/measure_one.py", "1", "4", "2", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("R = ") and "rhoa" in out.stdout
    out = _run(system, "examples/run_survey.py", "wenner", "16")
    assert out.returncode == 0, out.stderr
    assert "finished: 35/35" in out.stdout
    target = tmp_path / "newest.ohm"
    out = _run(system, "examples/export_survey.py", "ohm", str(target))
    assert out.returncode == 0, out.stderr
    records, positions = formats.read("ohm", target)
    assert len(records) == 35 and len(positions) == 32
