"""Our exports loaded by the real tools: pyGIMLi (`ert.load`) and ResIPy's own parsers (the .ohm
reader, the OhmPi CSV parser, protocol.dat). `make venv` installs both ([inversion], [interop]); another
Python that has them can be given in $OHMPI_INTEROP_PYTHON:

    python3 -m venv /tmp/interop && /tmp/interop/bin/pip install pygimli resipy
    OHMPI_INTEROP_PYTHON=/tmp/interop/bin/python .venv/bin/python -m pytest -m interop tests/ohmpi
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ohmpi import formats
from ohmpi.simulate import simulate

HERE = Path(__file__).resolve().parent
CHECK = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('pygimli') and u.find_spec('resipy') else 1)"


def interop_python() -> str | None:
    for candidate in (os.environ.get("OHMPI_INTEROP_PYTHON"), sys.executable):
        if candidate and Path(candidate).exists() and subprocess.run([candidate, "-c", CHECK]).returncode == 0:
            return candidate
    return None


PYTHON = interop_python()
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        PYTHON is None,
        reason="pyGIMLi and ResIPy are not installed: pip install pygimli resipy into a venv and set "
        "OHMPI_INTEROP_PYTHON to its python (docs/formats.md)",
    ),
]


@pytest.mark.timeout(600)
def test_pygimli_and_resipy_read_what_we_wrote(tmp_path):
    records, positions = simulate(
        electrodes=16, array="dipole-dipole", noise=0.01, stacks=1, seed=4, model="homogeneous:rho=100;m=40;tau=0.5"
    )
    records[0]["r_ohm"] = 1e-05  # a value ResIPy's .ohm reader once stopped at (written 1.0e-05)
    stem = tmp_path / "survey"
    for fmt, ext in (("ohm", ".ohm"), ("protocol", ".dat"), ("csv", ".csv")):
        formats.write(fmt, records, positions, f"{stem}{ext}")
    done = subprocess.run(
        [PYTHON, str(HERE / "interop_load.py"), str(stem)], capture_output=True, text=True, timeout=500
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    n = len(records)
    r = [rec["r_ohm"] for rec in records]
    rel = [rec["r_std_pct"] / 100 for rec in records]
    ip = [rec["ip_mvv"] for rec in records]
    g = seen["pygimli"]
    assert g["size"] == n and g["sensors"] == 16 and g["a"][:2] == [records[0]["a"] - 1, records[1]["a"] - 1]
    assert g["r"] == pytest.approx(r, rel=1e-9) and g["err"] == pytest.approx(rel, rel=1e-9)
    assert g["ip"] == pytest.approx(ip, rel=1e-9)
    o = seen["resipy_ohm"]
    assert o["rows"] == n and o["electrodes"] == 16  # every line read: no silent stop at 1.0e-05
    assert o["resist"] == pytest.approx(r, rel=1e-9) and o["magErr"] == pytest.approx(rel, rel=1e-9)
    assert o["ip"] == pytest.approx(ip, rel=1e-9)
    c = seen["resipy_ohmpi"]
    assert c["rows"] == n and c["resist"] == pytest.approx(r) and c["dev"] == pytest.approx([x * 100 for x in rel])
    assert c["abmn"][0] == [records[0][k] for k in "abmn"]
    p = seen["resipy_protocol"]
    assert p["rows"] == n and p["resist"] == pytest.approx(r, rel=1e-9)
    assert p["magErr"] == pytest.approx([abs(a) * b for a, b in zip(r, rel)], rel=1e-9)
