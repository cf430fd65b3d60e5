"""Inverted resistivity sections: a 2-D ERT inversion of stored surveys with pyGIMLi.

Optional: a field Pi can leave pyGIMLi out (`pip install -e '.[inversion]'` adds it). One
module per job: `dataset` (stored records → the data an inversion takes: per-datum errors,
flagged data left out and counted, profile coordinates with topography; numpy only), `solve`
(the pyGIMLi inversion and the time-lapse one against a baseline), `section` (a stored result as
a model CSV or a VTK file; numpy only) and `mesh_earth` (2-D earth models for the simulated
instrument, by pyGIMLi's forward modelling).
"""

from __future__ import annotations


class InversionRefused(ValueError):
    """Data an inversion cannot use (too few quadrupoles, all flagged, …); names the field."""

    def __init__(self, message: str, field: str = "survey_id"):
        super().__init__(message)
        self.field = field


def installed() -> str | None:
    """None when pyGIMLi is installed, else why not — without importing it (a second of CPU and
    ~100 MB that the inverter's own process never needs: its inversions run in a child)."""
    from importlib.util import find_spec

    def absent_one(name: str) -> bool:
        try:
            return find_spec(name) is None
        except (ImportError, ValueError):  # a package set to None in sys.modules, a broken parent
            return True

    absent = [name for name in ("pygimli", "pgcore") if absent_one(name)]
    if absent:
        return f"{' and '.join(absent)} not installed; install them: pip install -e '.[inversion]'"
    return None


def missing() -> str | None:
    """None when pyGIMLi imports, else why not (with the install recipe)."""
    try:
        import pygimli  # noqa: F401
        from pygimli.physics import ert  # noqa: F401
    except Exception as exc:  # ImportError, or a broken binary wheel
        return f"pyGIMLi is not usable ({type(exc).__name__}: {exc}); install it: pip install -e '.[inversion]'"
    return None
