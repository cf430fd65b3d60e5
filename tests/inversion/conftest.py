"""Inversion tests need pyGIMLi (the [inversion] extra, installed by `make venv` and CI)."""

import pytest

pytest.importorskip("pygimli", reason="pyGIMLi missing: .venv/bin/pip install -e '.[inversion]'")
