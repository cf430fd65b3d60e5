"""The 2-D ERT inversion with pyGIMLi, and the time-lapse one against a baseline.

A smoothness-constrained Gauss–Newton inversion of log ρa on pyGIMLi's triangular parameter
mesh under the electrodes (topography from their elevations). The result is plain data: each
cell's polygon, centre (distance along the line, depth below the surface), resistivity and
coverage (log10 of the summed sensitivity: the page fades cells below the depth of
investigation), the fit (χ², relative RMS, iterations) and each datum's misfit.

Time-lapse: the monitor pass is inverted on the baseline's mesh, starting from and
regularised towards the baseline model, so only what the data ask for changes; the change
is 100 (ρ_t/ρ_0 − 1) % per cell.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

from .dataset import Dataset, common

DEFAULT_LAMBDA = 20.0
MAX_ITERATIONS = 20
Progress = Callable[[str, float], None]


def _pg():
    import pygimli as pg
    from pygimli.physics import ert

    log = logging.getLogger("pyGIMLi")
    if _quiet not in log.filters:  # its managers reset the level to INFO at every call
        log.addFilter(_quiet)
    return pg, ert


def _quiet(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def set_threads(n: int) -> None:
    """Threads pyGIMLi may use (1 on an instrument: measuring comes first)."""
    _pg()[0].setThreadCount(max(1, int(n)))


def container(ds: Dataset):
    """A pyGIMLi DataContainerERT of the dataset (sensors on the profile, errors relative)."""
    pg, ert = _pg()
    data = pg.DataContainerERT()
    for x, z in ds.profile:
        data.createSensor([float(x), float(z)])
    for i, (a, b, m, n) in enumerate(ds.abmn):
        data.createFourPointData(i, int(a) - 1, int(b) - 1, int(m) - 1, int(n) - 1)  # 0 → -1: at infinity
    data["r"] = ds.r_ohm
    data["k"] = np.asarray(ds.rhoa / ds.r_ohm)
    data["rhoa"] = ds.rhoa
    data["err"] = ds.error
    data["valid"] = np.ones(len(ds.r_ohm))
    return data


def spacing(ds: Dataset) -> float:
    steps = np.diff(ds.profile[:, 0])
    return float(np.median(steps)) if len(steps) else 1.0


def make_mesh(ds: Dataset, *, quality: float = 33.0, cell_factor: float = 3.0):
    """The parameter mesh (plus its boundary) for the dataset's electrodes."""
    pg, ert = _pg()
    mgr = ert.ERTManager(container(ds), verbose=False)
    dx = spacing(ds)
    return mgr.createMesh(container(ds), paraDX=0.5, paraMaxCellSize=cell_factor * dx * dx, quality=quality)


def _section(mgr, ds: Dataset, model: np.ndarray) -> dict:
    """Cells as plain lists: polygon, centre x, elevation, depth below the surface, ρ, coverage."""
    para = mgr.paraDomain
    polygons, xs, zs = [], [], []
    for cell in para.cells():
        polygons.append([round(float(v), 3) for node in cell.nodes() for v in (node.pos().x(), node.pos().y())])
        xs.append(cell.center().x())
        zs.append(cell.center().y())
    xs, zs = np.array(xs), np.array(zs)
    surface = np.interp(xs, ds.profile[:, 0], ds.profile[:, 1])
    coverage = np.asarray(mgr.coverage(), dtype=float)
    return {
        "x": np.round(xs, 3).tolist(),
        "z": np.round(zs, 3).tolist(),
        "depth": np.round(surface - zs, 3).tolist(),
        "rho": [float(v) for v in model],
        "coverage": np.round(np.where(np.isfinite(coverage), coverage, -99.0), 4).tolist(),
        "polygons": polygons,
    }


def _fit(mgr, ds: Dataset, started: float, lam: float) -> dict:
    response = np.asarray(mgr.inv.response, dtype=float)
    observed = ds.rhoa
    misfit = 100.0 * (response / observed - 1.0)
    return {
        "chi2": float(mgr.inv.chi2()),
        "rms_pct": float(mgr.inv.relrms()),
        "iterations": int(mgr.inv.inv.iter()),
        "n_data": int(len(observed)),
        "lambda": float(lam),
        "elapsed_s": round(time.monotonic() - started, 3),
        "counts": dict(ds.counts),
        "error_source": ds.error_source,
        "pass_index": ds.pass_index,
        "electrodes": np.round(ds.profile, 3).tolist(),
        "data": {
            "abmn": ds.abmn.tolist(),
            "rhoa": observed.tolist(),
            "response": response.tolist(),
            "error_pct": (100 * ds.error).tolist(),
            "misfit_pct": np.round(misfit, 4).tolist(),
        },
    }


def invert(
    ds: Dataset,
    *,
    lam: float = DEFAULT_LAMBDA,
    mesh=None,
    baseline: np.ndarray | None = None,
    max_iter: int = MAX_ITERATIONS,
    progress: Progress | None = None,
) -> dict:
    """Invert one dataset; with `baseline` (a model on `mesh`), start from it and keep to it."""
    pg, ert = _pg()
    started = time.monotonic()
    report = progress or (lambda phase, fraction: None)
    report("meshing", 0.05)
    data = container(ds)
    mesh = mesh if mesh is not None else make_mesh(ds)
    mgr = ert.ERTManager(data, verbose=False)
    report("inverting", 0.1)
    kwargs = dict(mesh=mesh, lam=float(lam), maxIter=int(max_iter), verbose=False)
    if baseline is not None:
        kwargs.update(startModel=np.asarray(baseline, dtype=float), isReference=True)
    model = np.asarray(mgr.invert(**kwargs), dtype=float)
    report("collecting", 0.95)
    result = _fit(mgr, ds, started, lam)
    result["cells"] = _section(mgr, ds, model)
    result["n_cells"] = len(model)
    result["pygimli"] = pg.__version__
    return result


def invert_timelapse(
    base: Dataset, monitor: Dataset, *, lam: float = DEFAULT_LAMBDA, progress: Progress | None = None
) -> tuple[dict, dict]:
    """(baseline result, monitor result with `change_pct` per cell) on one mesh, on the data both share."""
    report = progress or (lambda phase, fraction: None)
    base, monitor = common(base, monitor)
    mesh = make_mesh(base)
    first = invert(base, lam=lam, mesh=mesh, progress=lambda p, f: report(f"baseline {p}", f / 2))
    second = invert(
        monitor,
        lam=lam,
        mesh=mesh,
        baseline=np.array(first["cells"]["rho"]),
        progress=lambda p, f: report(f"monitor {p}", 0.5 + f / 2),
    )
    change = 100.0 * (np.array(second["cells"]["rho"]) / np.array(first["cells"]["rho"]) - 1.0)
    second["cells"]["change_pct"] = np.round(change, 4).tolist()
    second["baseline_pass"] = base.pass_index
    return first, second


def run(datasets: list[Dataset], *, lam: float = DEFAULT_LAMBDA, progress: Progress | None = None) -> list[dict]:
    """One dataset: [its result]; two (baseline, monitor): both results of the time-lapse inversion."""
    if len(datasets) == 1:
        return [invert(datasets[0], lam=lam, progress=progress)]
    base, monitor = datasets
    return list(invert_timelapse(base, monitor, lam=lam, progress=progress))
