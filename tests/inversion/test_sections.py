"""Inversions of simulated earths recover what was put in: a two-layer earth, a vertical contact,
and a block that became more conductive between two passes (time-lapse). Small on purpose:
20 electrodes 2 m apart, dipole-dipole, coarse meshes, one inversion per earth (module scope)."""

import numpy as np
import pytest

from ohmpi import earth
from ohmpi.geometry import line_positions
from ohmpi.inversion import dataset, section, solve
from ohmpi.sequences import generate

pytestmark = pytest.mark.timeout(300)  # a few inversions: slow when the machine is shared
N, A = 20, 2.0  # electrodes, spacing (m)
POS = line_positions(N, A)
QUADS = generate("dipole-dipole", N)
CENTRE = (POS[-1, 0] / 4, 3 * POS[-1, 0] / 4)  # the well-covered middle of the line


def rows_for(model, noise=0.02, seed=1, pass_index=0):
    rng = np.random.default_rng(seed)
    r = model.transfer_resistances(POS, QUADS) * (1 + noise * rng.standard_normal(len(QUADS)))
    return [
        dict(
            a=int(q[0]),
            b=int(q[1]),
            m=int(q[2]),
            n=int(q[3]),
            r_ohm=float(v),
            r_std_pct=100 * noise,
            flags=[],
            pass_index=pass_index,
        )
        for q, v in zip(QUADS, r)
    ]


def band(result, depth_from, depth_to, x_from=CENTRE[0], x_to=CENTRE[1], key="rho"):
    cells = result["cells"]
    x, d, values = (np.array(cells[k]) for k in ("x", "depth", key))
    return values[(d > depth_from) & (d < depth_to) & (x > x_from) & (x < x_to)]


@pytest.fixture(scope="module")
def two_layers():
    ds = dataset.from_records(rows_for(earth.parse_model("layers:rho=100,10;h=5")), POS.tolist(), floor_pct=0.0)
    return solve.invert(ds, lam=20)


def test_two_layers_recovered_within_20_percent_where_well_covered(two_layers):
    top, bottom = band(two_layers, 0, 3), band(two_layers, 8, 11)  # away from the interface at 5 m
    assert len(top) > 10 and len(bottom) > 3
    assert np.median(top) == pytest.approx(100, rel=0.2)
    assert np.median(bottom) == pytest.approx(10, rel=0.2)


def test_the_inversion_fits_and_reports_itself(two_layers):
    r = two_layers
    assert 0.3 < r["chi2"] < 2.0 and 0 < r["rms_pct"] < 5 and r["iterations"] >= 1
    assert r["n_data"] == len(QUADS) == len(r["data"]["misfit_pct"]) and r["n_cells"] == len(r["cells"]["rho"])
    misfit = np.array(r["data"]["misfit_pct"])
    assert np.sqrt(np.mean(misfit**2)) == pytest.approx(r["rms_pct"], rel=0.05)  # misfit per datum is the RMS's
    assert all(len(p) in (6, 8) for p in r["cells"]["polygons"])
    cov = np.array(r["cells"]["coverage"])
    assert np.median(band(r, 0, 2, key="coverage")) > np.median(cov[np.array(r["cells"]["depth"]) > 12])


def test_model_csv_and_vtk_of_a_result(two_layers):
    text = section.model_csv(two_layers)
    lines = text.splitlines()
    assert lines[0] == "x_m,depth_m,rho_ohmm" and len(lines) == two_layers["n_cells"] + 1
    values = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert (values[:, 1] >= 0).all() and (values[:, 2] > 0).all()  # depth positive downwards
    vtk = section.vtk(two_layers).splitlines()
    assert vtk[0].startswith("# vtk DataFile") and "DATASET UNSTRUCTURED_GRID" in vtk
    cells_line = next(line for line in vtk if line.startswith("CELLS "))
    assert int(cells_line.split()[1]) == two_layers["n_cells"]
    assert f"CELL_DATA {two_layers['n_cells']}" in vtk and "SCALARS rho_ohmm double 1" in vtk


def test_vertical_contact_found_within_two_spacings():
    x_contact = 19.0  # between electrodes 10 and 11
    ds = dataset.from_records(
        rows_for(earth.parse_model(f"contact:rho=100,10;x={x_contact}")), POS.tolist(), floor_pct=0.0
    )
    result = solve.invert(ds, lam=20)
    cells = result["cells"]
    x, d, rho = (np.array(cells[k]) for k in ("x", "depth", "rho"))
    shallow = d < 2 * A
    edges = np.arange(2 * A, POS[-1, 0] - 2 * A + 1e-9, A / 2)
    centres, logs = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = shallow & (x >= lo) & (x < hi)
        if sel.any():
            centres.append((lo + hi) / 2)
            logs.append(np.median(np.log10(rho[sel])))
    logs = np.array(logs)
    assert logs[0] > 1.8 and logs[-1] < 1.2  # both sides seen
    crossing = centres[int(np.argmax(logs < 1.5))]  # first column below the geometric mean, 31.6 ohm.m
    assert abs(crossing - x_contact) <= 2 * A


@pytest.fixture(scope="module")
def time_lapse():
    block = dict(x=(14.0, 24.0), z=(1.5, 5.0))
    before = earth.HomogeneousEarth(100.0)
    after = earth.parse_model(f"block:rho=100,20;x={block['x'][0]},{block['x'][1]};z={block['z'][0]},{block['z'][1]}")
    base = dataset.from_records(
        rows_for(before, noise=0.01, seed=3, pass_index=0), POS.tolist(), pass_index=0, floor_pct=0.0
    )
    monitor = dataset.from_records(
        rows_for(after, noise=0.01, seed=4, pass_index=1), POS.tolist(), pass_index=1, floor_pct=0.0
    )
    first, second = solve.invert_timelapse(base, monitor, lam=20)
    return block, first, second


def test_time_lapse_shows_the_change_where_it_happened_and_nowhere_else(time_lapse):
    block, first, second = time_lapse
    cells = second["cells"]
    x, d, change = (np.array(cells[k]) for k in ("x", "depth", "change_pct"))
    inside = (x > block["x"][0] + 1) & (x < block["x"][1] - 1) & (d > block["z"][0]) & (d < block["z"][1])
    far = ((x < block["x"][0] - 2 * A) | (x > block["x"][1] + 2 * A)) & (d < 4) & (x > 2 * A) & (x < POS[-1, 0] - 2 * A)
    assert inside.sum() > 3 and far.sum() > 10
    assert np.median(change[inside]) < -30  # 100 → 20 ohm.m, smoothed
    assert np.percentile(np.abs(change[far]), 90) < 10  # elsewhere: noise (1 %) only
    assert second["baseline_pass"] == 0 and second["pass_index"] == 1 and first["pass_index"] == 0
    csv = section.model_csv(second).splitlines()
    assert csv[0] == "x_m,depth_m,rho_ohmm,change_pct" and len(csv) == second["n_cells"] + 1
