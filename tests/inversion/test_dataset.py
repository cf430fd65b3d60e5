"""Stored records → inversion data (numpy only), the stored results, and 2-D earth model parsing."""

import math
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi import earth
from ohmpi.geometry import line_positions
from ohmpi.inversion import InversionRefused, dataset, section
from ohmpi.sequences import generate, with_reciprocals
from ohmpi.store import Store
from ohmpi.store.inversions import InversionResults

POS = line_positions(12, 1.0)
QUADS = generate("wenner", 12)  # 18 quadrupoles


def rows(flags=None, r=None, std=1.0, quads=QUADS, pass_index=0):
    truth = earth.HomogeneousEarth(50).transfer_resistances(POS, quads)
    out = []
    for i, q in enumerate(quads):
        out.append(
            dict(
                a=int(q[0]),
                b=int(q[1]),
                m=int(q[2]),
                n=int(q[3]),
                pass_index=pass_index,
                r_ohm=float(truth[i] if r is None else r[i]),
                r_std_pct=std,
                flags=list((flags or {}).get(i, [])),
            )
        )
    return out


def test_flagged_and_unusable_data_are_left_out_and_counted():
    data = rows(flags={0: ["saturated"], 3: ["high_std"]})
    data[5]["r_ohm"] = math.nan
    data[6]["r_ohm"] = -abs(data[6]["r_ohm"])  # negative apparent resistivity
    data[7]["r_std_pct"] = 500.0  # carries no information
    ds = dataset.from_records(data, POS.tolist())
    c = ds.counts
    got = (c["total"], c["flagged"], c["not_finite"], c["negative_rhoa"], c["uncertain"], c["used"])
    assert got == (18, 2, 1, 1, 1, 13)
    assert len(ds.abmn) == len(ds.r_ohm) == len(ds.error) == 13
    assert ds.rhoa == pytest.approx(np.full(13, 50.0))
    assert ds.error == pytest.approx(np.full(13, math.hypot(1.0, dataset.DEFAULT_FLOOR_PCT) / 100))


def test_all_flagged_is_refused():
    with pytest.raises(InversionRefused, match="all 18 measurements in pass 0 are flagged"):
        dataset.from_records(rows(flags={i: ["saturated"] for i in range(18)}), POS.tolist(), pass_index=0)


def test_too_few_quadrupoles_is_refused_saying_why():
    with pytest.raises(InversionRefused, match=r"only 6 usable quadrupole\(s\) of 18 \(12 flagged\).*at least 10"):
        dataset.from_records(rows(flags={i: ["low_current"] for i in range(12)}), POS.tolist())
    with pytest.raises(InversionRefused, match="no measurements in pass 3"):
        dataset.from_records(rows(), POS.tolist(), pass_index=3)


@pytest.mark.parametrize(
    "positions, message",
    [
        ([[0, 0, 0]] * 12, "share a horizontal position"),
        ([[0, 0, "x"]] * 12, "electrode positions"),
        ([[0, 0, math.inf]] * 12, "finite"),
        ([], "no electrode positions"),
    ],
)
def test_bad_positions_are_refused(positions, message):
    with pytest.raises(InversionRefused, match=message) as info:
        dataset.from_records(rows(), positions)
    assert info.value.field == "positions"


def test_electrodes_beyond_the_description_are_left_out():
    data = rows() + [dict(a=1, b=40, m=2, n=3, r_ohm=1.0, r_std_pct=1.0, flags=[], pass_index=0)]
    assert dataset.from_records(data, POS.tolist()).counts["outside"] == 1


def test_reciprocal_error_model_replaces_per_datum_errors_when_there_are_pairs():
    quads = with_reciprocals(QUADS)
    rng = np.random.default_rng(0)
    data = rows(quads=quads)
    for row in data:
        row["r_ohm"] *= 1 + 0.03 * rng.standard_normal()
    ds = dataset.from_survey(data, {"positions": POS.tolist()}, pass_index=0)
    assert ds.error_source == "reciprocal error model"
    assert not np.allclose(ds.error, ds.error[0])  # a·|R|^b varies with R
    plain = dataset.from_survey(rows(), {"positions": POS.tolist()})
    assert plain.error_source == "calibrated"


def test_topography_unrolls_the_line_and_keeps_elevations():
    pos = [[0, 0, 10.0], [3, 4, 9.0], [6, 8, 7.5], [6, 11, 7.0]]
    profile = dataset.profile_coordinates(pos)
    assert profile[:, 0] == pytest.approx([0, 5, 10, 13]) and profile[:, 1] == pytest.approx([10, 9, 7.5, 7])


@settings(max_examples=40)
@given(flagged=st.sets(st.integers(0, 17)), bad=st.sets(st.integers(0, 17)))
def test_every_measurement_is_counted_once(flagged, bad):
    data = rows(flags={i: ["high_std"] for i in flagged})
    for i in bad:
        data[i]["r_ohm"] = None
    try:
        ds = dataset.from_records(data, POS.tolist())
    except InversionRefused:
        assert 18 - len(flagged | bad) < dataset.MIN_QUADRUPOLES
        return
    c = ds.counts
    assert c["used"] + c["flagged"] + c["not_finite"] == c["total"] == 18
    assert c["flagged"] == len(flagged) and c["used"] == 18 - len(flagged | bad)


def test_common_keeps_the_shared_quadrupoles_in_order():
    base = dataset.from_records(rows(), POS.tolist())
    monitor = dataset.from_records(rows(flags={2: ["saturated"]}), POS.tolist())
    b, m = dataset.common(base, monitor)
    assert b.keys() == m.keys() and len(b.keys()) == 17
    with pytest.raises(InversionRefused, match="in common with the baseline"):
        dataset.common(base, dataset.from_records(rows(quads=generate("dipole-dipole", 12)), POS.tolist()))


# ---- stored results ----------------------------------------------------------------------------
def result(**over):
    cells = {
        "x": [1.0, 2.0],
        "depth": [0.5, 1.5],
        "z": [-0.5, -1.5],
        "rho": [10.0, 20.0],
        "coverage": [0.1, -1.0],
        "polygons": [[0, 0, 1, 0, 1, -1], [1, 0, 2, 0, 2, -1, 1, -1]],
    }
    return {
        "survey_id": "S1",
        "pass_index": 0,
        "chi2": 1.1,
        "rms_pct": 2.0,
        "iterations": 3,
        "n_data": 40,
        "n_cells": 2,
        "lambda": 20.0,
        "cells": cells,
        **over,
    }


@pytest.fixture
def results(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    yield InversionResults(store)
    store.close()


def test_results_are_stored_replaced_and_listed(results):
    results.put(result())
    results.put(result(pass_index=1, baseline_pass=0, chi2=0.9))
    results.put(result(chi2=1.3))  # the newest of pass 0 replaces the older one
    summaries = results.summaries("S1")
    assert [(s["pass_index"], s["chi2"], s["baseline_pass"]) for s in summaries] == [(0, 1.3, None), (1, 0.9, 0)]
    assert results.get("S1")["pass_index"] == 1 and results.get("S1", 0)["chi2"] == 1.3
    assert results.get("S1", 7) is None and results.get("nope") is None and results.summaries("nope") == []


@pytest.mark.parametrize(
    "bad, field",
    [
        (dict(survey_id="x'; DROP TABLE inversions; --"), "survey_id"),
        (dict(survey_id=None), "survey_id"),
        (dict(pass_index=-1), "pass_index"),
        (dict(pass_index=True), "pass_index"),
        (dict(chi2=math.nan), "chi2"),
        (dict(rms_pct="2"), "rms_pct"),
        (dict(iterations=2.5), "iterations"),
        (dict(cells={"x": [1.0], "depth": [], "rho": [1.0], "polygons": [[0, 0, 1, 0, 1, 1]]}), "depth"),
    ],
)
def test_bad_results_are_refused_naming_the_field(results, bad, field):
    with pytest.raises(ValueError, match=field):
        results.put(result(**bad))
    assert results.summaries("S1") == []


def test_a_database_without_the_table_reads_as_not_inverted(tmp_path):
    path = tmp_path / "old.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as con:
        assert not con.execute("SELECT name FROM sqlite_master WHERE name = 'inversions'").fetchall()
    store = Store(path)
    try:
        assert InversionResults(store).get("S1") is None
    finally:
        store.close()


def test_section_files_refuse_inconsistent_results():
    bad = result(cells={**result()["cells"], "rho": [1.0]})
    for fmt in section.FORMATS:
        with pytest.raises(ValueError, match="inconsistent"):
            section.render(bad, fmt)
    with pytest.raises(ValueError, match="unknown format"):
        section.render(result(), "xlsx")


# ---- 2-D earth models ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ("block:rho=100,10;x=20,10;z=1,2", "FROM < TO"),
        ("block:rho=100,10;x=1,2;z=-1,2", "TOP < BOTTOM"),
        ("block:rho=100;x=1,2;z=1,2", "2 value"),
        ("block:rho=100,10;x=1,2;z=1,2;r=3", "unknown key"),
        ("circle:rho=100,10;x=5;z=1;r=3", "below the surface"),
        ("circle:rho=100,0;x=5;z=5;r=3", "resistivity of the circle"),
        ("circle:rho=100,10;x=nan;z=5;r=3", "finite"),
        ("mesh:/no/such/file.bms", "not found"),
        ("mesh:", "needs a file"),
    ],
)
def test_mesh_model_errors_name_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        earth.parse_model(text)


def test_mesh_models_say_they_need_pygimli_when_it_is_missing(monkeypatch):
    import sys

    import ohmpi.inversion

    monkeypatch.setitem(sys.modules, "ohmpi.inversion.mesh_earth", None)
    monkeypatch.delattr(ohmpi.inversion, "mesh_earth", raising=False)
    with pytest.raises(ValueError, match=r"need pyGIMLi \(pip install -e '.\[inversion\]'\)"):
        earth.parse_model("block:rho=100,10;x=1,2;z=1,2")


def test_a_block_as_resistive_as_its_background_is_the_half_space():
    pos = line_positions(8, 1.0)
    quads = generate("wenner", 8)
    model = earth.parse_model("block:rho=50,50;x=2,5;z=0.5,2")
    got = model.transfer_resistances(pos, quads)
    assert got == pytest.approx(earth.HomogeneousEarth(50).transfer_resistances(pos, quads), rel=0.01)
    v = model.potential(pos[0], pos[1:3])  # the simulator's path: same quadrupole from potentials
    assert np.isfinite(v).all() and model.potential(pos[0], pos[:1])[0] == math.inf


def test_results_travel_compressed_and_bombs_are_refused():
    import zlib

    from workers.recorder_inversions import pack, unpack

    assert unpack(pack(result())) == result()
    with pytest.raises(ValueError, match="not zlib"):
        unpack(b"not compressed")
    bomb = zlib.compress(b"[" + b"0," * 5_000_000 + b"0]")
    with pytest.raises(ValueError, match="over 1000 bytes"):
        unpack(bomb, limit=1000)
    with pytest.raises(ValueError, match="truncated"):
        unpack(pack(result())[:-8])


def test_a_mesh_file_with_one_resistivity_per_region(tmp_path):
    import pygimli as pg

    pos = line_positions(8, 1.0)
    world = pg.meshtools.createWorld(start=[-14, 0], end=[21, -14], worldMarker=True)
    for x in pos[:, 0]:
        world.createNode([x, 0.0])
        world.createNode([x, -0.1])
    path = tmp_path / "ground.bms"
    pg.meshtools.createMesh(world, quality=33, area=1.0).save(str(path))
    quads = generate("wenner", 8)
    got = earth.parse_model(f"mesh:{path};rho=50").transfer_resistances(pos, quads)
    assert got == pytest.approx(earth.HomogeneousEarth(50).transfer_resistances(pos, quads), rel=0.02)
    with pytest.raises(ValueError, match="give rho=R1"):
        earth.parse_model(f"mesh:{path}").transfer_resistances(pos, quads)
