"""Stored surveys: the error-model export, time-lapse passes that line up, the matrix, the
quality summary, and a schema-4 database migrated with its data."""

import csv
import io
import sqlite3

import numpy as np
import pytest

from ohmpi import errmodel, formats, sequences
from ohmpi.simulate import simulate
from ohmpi.store import MIGRATIONS, Store, _statements


def items(records, survey="S1", pass_index=0, skip=()):
    out = []
    for i, record in enumerate(records):
        if i in skip:
            continue
        key = f"{survey}-{pass_index}-{i}"
        out.append(
            {
                "key": key,
                "kind": "measurement",
                "body": {
                    "measurement_id": key,
                    "survey_id": survey,
                    "pass_index": pass_index,
                    "seq_index": i,
                    "instrument": "sim",
                    "record": record,
                    "waveform": None,
                },
            }
        )
    return out


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Two passes of a dipole-dipole survey with reciprocals (pass 1 lacks two quadrupoles)."""
    folder = tmp_path_factory.mktemp("survey")
    seq = sequences.with_reciprocals(sequences.generate("dipole-dipole", 16))
    path = folder / "seq.txt"
    np.savetxt(path, seq, fmt="%d")
    first, _ = simulate(
        electrodes=16,
        array=str(path),
        noise=0.02,
        stacks=1,
        seed=1,
        optimize=False,
        model="homogeneous:rho=100;m=30;tau=0.5",
    )
    second, _ = simulate(
        electrodes=16,
        array=str(path),
        noise=0.02,
        stacks=1,
        seed=2,
        optimize=False,
        model="homogeneous:rho=100;m=30;tau=0.5",
    )  # records in `seq` order
    store = Store(folder / "ohmpi.db")
    assert not store.ingest(items(first))["refused"]
    assert not store.ingest(items(second, pass_index=1, skip=(3, 7)))["refused"]
    yield store, first, seq
    store.close()


def test_new_fields_are_stored_and_read_back(survey):
    store, first, _ = survey
    row = store.data("S1", limit=1)["rows"][0]
    for name in ("r_stack_std_pct", "ip_mvv", "ip_std_mvv", "ip_delay_ms"):
        assert row[name] == pytest.approx(first[0][name])
    assert row["r_budget_pct"] == pytest.approx(first[0]["r_budget_pct"])
    assert row["ip_windows_mvv"] == pytest.approx(first[0]["ip_windows_mvv"])


def test_error_model_export_writes_the_models_errors(survey):
    store, _, _ = survey
    model = store.errmodel("S1")
    assert model["pairs"] >= 2 * 40 and 0.5 < model["b"] < 1.5
    own, _ = formats.read("protocol", io.StringIO(store.export("S1", "protocol", 0)))
    modelled, _ = formats.read("protocol", io.StringIO(store.export("S1", "protocol", 0, error_model=True)))
    assert [r["r_ohm"] for r in own] == [r["r_ohm"] for r in modelled]
    for record in modelled:
        assert record["r_std_pct"] == pytest.approx(errmodel.relative_error_pct(model, record["r_ohm"]), rel=1e-6)
    info = store.export_info("S1", "ohm", 0, error_model=True)
    assert any("error model" in note for note in info["notes"])


def test_time_lapse_passes_line_up(survey):
    store, first, seq = survey
    files = [store.export("S1", "ohm", p, common=True) for p in (0, 1)]
    quads = [[tuple(r[k] for k in "abmn") for r in formats.read("ohm", io.StringIO(text))[0]] for text in files]
    assert quads[0] == quads[1] and len(quads[0]) == len(seq) - 2
    assert quads[0] == [tuple(q) for i, q in enumerate(seq.tolist()) if i not in (3, 7)]
    rows = list(csv.reader(io.StringIO(store.export("S1", "matrix"))))
    assert rows[0][:4] == ["a", "b", "m", "n"] and rows[0][4].startswith("r_[Ohm]@pass0@")
    assert len(rows) - 1 == len(seq) - 2 and all(len(r) == 6 for r in rows)
    assert float(rows[1][4]) == pytest.approx(first[0]["r_ohm"])


def test_quality_summary(survey):
    store, first, _ = survey
    q = store.quality("S1", 0)
    assert q["measurements"] == len(first)
    assert q["flagged"] == sum(1 for r in first if r["flags"])
    assert sum(q["r_std_pct"]["counts"]) == len(first)
    assert q["reciprocal"]["pairs"] == q["error_model"]["pairs"] > 0
    assert set(q["dominant_error"]) <= {"noise", "sp", "quantization", "current", "excess"}
    assert q["ip_mvv"]["median"] > 2  # a chargeable earth, whatever the sign of R
    assert q["contact"] is None


def test_schema_4_database_migrates_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        for statement in _statements(script):
            con.execute(statement)
    con.execute("PRAGMA user_version = 4")
    con.execute(
        "INSERT INTO measurements(measurement_id, received, a, b, m, n, r_ohm, flags) "
        "VALUES ('old', '2024-01-01T00:00:00Z', 1, 2, 3, 4, 1.5, '[]')"
    )
    con.commit()
    con.close()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS) == 8
        row = store._select_rows("measurement_id = ?", ("old",))[0]
        assert row["r_ohm"] == 1.5 and row["ip_mvv"] is None and row["r_budget_pct"] is None
        assert row["flags"] == []
