"""Data formats: round trips, compatibility details, clear errors on malformed files."""

import csv
import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi import formats
from ohmpi.formats import FormatError, guess_format, read, write
from ohmpi.geometry import line_positions
from ohmpi.record import FIELDS, KNOWN_FLAGS, make_record

N_ELECTRODES = 16
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
positive = st.floats(1e-6, 1e6, allow_nan=False, allow_subnormal=False)
nonzero = st.tuples(positive, st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1])


@st.composite
def records(draw, poles=False):
    quad = draw(st.permutations(range(1, N_ELECTRODES + 1)))[:4]
    if poles and draw(st.booleans()):
        quad[1], quad[3] = 0, 0
    return make_record(
        a=quad[0],
        b=quad[1],
        m=quad[2],
        n=quad[3],
        time=draw(st.datetimes().map(lambda d: d.isoformat() + "Z")),
        vab_V=draw(positive),
        iab_mA=draw(nonzero),
        iab_std_pct=draw(positive),
        vmn_mV=draw(finite),
        vmn_std_pct=draw(positive),
        sp_mV=draw(finite),
        r_ohm=draw(nonzero),
        r_std_pct=draw(positive),
        k_m=draw(nonzero),
        rhoa_ohmm=draw(finite),
        rab_kohm=draw(positive),
        n_stacks=draw(st.integers(1, 100)),
        injection_ms=draw(positive),
        duty_cycle=draw(st.floats(0.01, 1)),
        sampling_hz=draw(positive),
        n_samples=draw(st.integers(0, 10**6)),
        strategy=draw(st.sampled_from(["fixed", "adaptive"])),
        flags=draw(st.lists(st.sampled_from(sorted(KNOWN_FLAGS)), unique=True)),
    )


def round_trip(fmt, recs, positions=None):
    stream = io.StringIO()
    write(fmt, recs, positions, stream)
    stream.seek(0)
    return read(fmt, stream)


# --- OhmPi CSV -------------------------------------------------------------------------


@given(st.lists(records(poles=True), max_size=8))
def test_csv_round_trip_is_exact(recs):
    back, positions = round_trip("csv", recs)
    assert positions is None
    assert back == recs


@given(st.lists(records(), min_size=1, max_size=5), st.data())
def test_csv_round_trip_with_missing_values(recs, data):
    for rec in recs:
        for name in data.draw(st.sets(st.sampled_from([f for f in FIELDS if f not in "abmn"]))):
            rec[name] = [] if name == "flags" else None
    back, _ = round_trip("csv", recs)
    assert back == recs


def test_csv_uses_current_ohmpi_column_names_that_resipy_parses(tmp_path):
    rec = make_record(
        a=1,
        b=4,
        m=2,
        n=3,
        vmn_mV=50.0,
        iab_mA=25.0,
        r_ohm=2.0,
        r_std_pct=0.5,
        sp_mV=1.2,
        n_stacks=3,
        injection_ms=500.0,
        k_m=6.2832,
        rhoa_ohmm=12.57,
        rab_kohm=2.1,
        ip_mvv=12.5,
        ip_windows_mvv=[20.0, 10.0],
        r_budget_pct={"noise": 0.4, "sp": 0.3},
    )
    path = tmp_path / "survey.csv"
    write("csv", [rec], None, path)
    with open(path, newline="") as f:
        header = f.readline().strip().split(",")
    assert header[:16] == [
        "time",
        "a",
        "b",
        "m",
        "n",
        "injection_duration_[ms]",
        "vmn_[mV]",
        "vmn_std_[%]",
        "iab_[mA]",
        "iab_std_[%]",
        "r_[Ohm]",
        "r_std_[%]",
        "rab_[kOhm]",
        "sp_[mV]",
        "nb_stack",
        "vab_[V]",
    ]
    with open(path, newline="") as f:
        row = next(csv.DictReader(f))
    # what ResIPy's OhmPi parser (3.6.6) takes: a b m n, vmn_[mV], iab_[mA], r_[Ohm], r_std_[%], rab_[kOhm]
    assert [row[c] for c in "abmn"] == ["1", "4", "2", "3"]
    assert float(row["vmn_[mV]"]) / float(row["iab_[mA]"]) == pytest.approx(float(row["r_[Ohm]"]))
    assert float(row["r_std_[%]"]) == 0.5 and float(row["rab_[kOhm]"]) / 2 == pytest.approx(1.05)
    assert row["ip_[mV/V]"] == "12.5" and row["ip_windows_[mV/V]"] == "20.0;10.0"
    assert row["r_budget_[%]"] == "noise=0.4;sp=0.3"


def test_csv_of_older_ohmpi_versions_is_read():
    text = (
        "time,A,B,M,N,inj time [ms],Vmn [mV],I [mA],R [Ohm],R_std [%],Ps [mV],nbStack\n"
        "2024-01-01T00:00:00Z,1,4,2,3,500,50.0,25.0,2.0,0.5,1.2,3\n"
    )
    records, _ = read("csv", io.StringIO(text))
    rec = records[0]
    assert (rec["a"], rec["b"], rec["m"], rec["n"]) == (1, 4, 2, 3)
    assert rec["r_ohm"] == 2.0 and rec["r_std_pct"] == 0.5 and rec["n_stacks"] == 3 and rec["injection_ms"] == 500


# the number pattern ResIPy's .ohm reader (bertParser) splits lines with (its documented source)
RESIPY_NUMBER = re.compile(r"[-+]?\d*\.\d*[eE]?[-+]?\d+|\d+")


def test_ohm_numbers_always_have_a_decimal_point_for_resipy():
    recs = [
        make_record(
            a=1,
            b=2,
            m=3,
            n=4,
            r_ohm=1e-05,
            rhoa_ohmm=2.5e-7,
            k_m=12.0,
            r_std_pct=3.0,
            iab_mA=10.0,
            vmn_mV=1e-4,
            ip_mvv=0.0,
        )
    ]
    stream = io.StringIO()
    write("ohm", recs, line_positions(4, 1.0), stream)
    lines = stream.getvalue().splitlines()
    header = lines[7].lstrip("#").split()
    data = lines[8]
    assert header == ["a", "b", "m", "n", "r", "rhoa", "k", "err", "i", "u", "ip"]
    assert len(RESIPY_NUMBER.findall(data)) == len(header), data
    assert "1.0e-05" in data and "1e-05" not in data.replace("1.0e-05", "")
    for position in lines[2:6]:
        assert len(RESIPY_NUMBER.findall(position)) == 3 and all("." in v for v in position.split())
    back, _ = read("ohm", io.StringIO(stream.getvalue()))
    assert back[0]["r_ohm"] == 1e-05 and back[0]["ip_mvv"] == 0.0


def test_csv_reads_a_file_written_by_ohmpi():
    text = (
        "time,A,B,M,N,inj time [ms],Vmn [mV],I [mA],R [ohm],R_std [%],Ps [mV],nbStack,Tx [V],"
        "CPU temp [degC],Nb samples [-],I_std [%],Vmn_std [%],R_ab [kOhm],cmd_id\n"
        "2024-03-01T10:00:00.123,1,4,2,3,1000.0,120.5,30.2,3.99,0.12,-3.4,2,12.0,45.1,80,0.1,0.2,0.39,abc\n"
    )
    [rec], positions = read("csv", io.StringIO(text))
    assert positions is None
    assert (rec["a"], rec["b"], rec["m"], rec["n"]) == (1, 4, 2, 3)
    assert rec["r_ohm"] == 3.99 and rec["sp_mV"] == -3.4 and rec["n_stacks"] == 2
    assert rec["vab_V"] == 12.0 and rec["rab_kohm"] == 0.39 and rec["n_samples"] == 80
    assert rec["k_m"] is None and rec["flags"] == []


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", None, "empty file"),
        ("A,B,M\n1,2,3\n", 1, "missing column.*N"),
        ("A,B,M,N,R [Ohm]\n1,2,3,4,1.0\n1,2,3,4,abc\n", 3, "not a number"),
        ("A,B,M,N\n1,2,3,4.5\n", 2, "not an integer"),
        ("A,B,M,N\n1,,3,4\n", 2, "B is empty"),
    ],
)
def test_csv_malformed(text, line, message):
    with pytest.raises(FormatError, match=message) as info:
        read("csv", io.StringIO(text))
    assert info.value.line == line
    if line:
        assert f"line {line}" in str(info.value)


# --- pyGIMLi / BERT .ohm ---------------------------------------------------------------

OHM_FIELDS = ("r_ohm", "rhoa_ohmm", "k_m", "r_std_pct", "iab_mA", "vmn_mV")


@settings(max_examples=50)
@given(
    st.lists(records(poles=True), min_size=1, max_size=8),
    st.lists(st.tuples(finite, finite, finite), min_size=N_ELECTRODES, max_size=N_ELECTRODES),
)
def test_ohm_round_trip(recs, xyz):
    positions = np.array(xyz)
    back, pos = round_trip("ohm", recs, positions)
    assert np.allclose(pos, positions, rtol=1e-13, atol=1e-300)
    assert len(back) == len(recs)
    for original, copy in zip(recs, back):
        assert [copy[k] for k in "abmn"] == [original[k] for k in "abmn"]
        for field in OHM_FIELDS:
            assert copy[field] == pytest.approx(original[field], rel=1e-12, abs=1e-300)
        assert copy["time"] is None and copy["flags"] == []


def test_ohm_layout_and_units():
    rec = make_record(a=1, b=0, m=2, n=3, r_ohm=2.0, rhoa_ohmm=50.0, k_m=25.0, r_std_pct=3.0, iab_mA=40.0, vmn_mV=80.0)
    stream = io.StringIO()
    write("ohm", [rec], line_positions(3, 2.0), stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "3" and lines[1] == "# x y z"
    assert lines[5] == "1" and lines[6] == "# a b m n r rhoa k err i u"
    values = lines[7].split()
    assert values[:4] == ["1", "0", "2", "3"]  # 1-based, 0 = infinity
    assert [float(v) for v in values[4:]] == pytest.approx([2.0, 50.0, 25.0, 0.03, 0.04, 0.08])
    assert lines[-1] == "0"  # no topography


def test_ohm_writes_only_columns_every_record_has():
    recs = [make_record(a=1, b=2, m=3, n=4, r_ohm=1.0, iab_mA=5.0), make_record(a=2, b=3, m=4, n=5, r_ohm=2.0)]
    stream = io.StringIO()
    write("ohm", recs, line_positions(5), stream)
    assert "# a b m n r\n" in stream.getvalue()
    assert "nan" not in stream.getvalue()


def test_ohm_reader_tolerates_variants():
    text = """# written by some other program
4
# x/mm z/mm
0 0
1000 -500
2000 0
3000 0   # trailing comment
2
# comment before the tokens
# valid M N A B rhoa/Ohmm u/mV i/mA err/% k extra
1 2 3 1 4 100 50 25 2.5 6.28 7 99
1 3 4 2 0 110 60 30 1 12.5 8
1
# x y z
0 0 0
"""
    recs, pos = read("ohm", io.StringIO(text))
    assert pos.tolist() == [[0, 0, 0], [1, 0, -0.5], [2, 0, 0], [3, 0, 0]]
    first, second = recs
    assert (first["a"], first["b"], first["m"], first["n"]) == (1, 4, 2, 3)
    assert (second["a"], second["b"], second["m"], second["n"]) == (2, 0, 3, 4)
    assert first["rhoa_ohmm"] == 100 and first["k_m"] == 6.28
    assert first["vmn_mV"] == pytest.approx(50) and first["iab_mA"] == pytest.approx(25)
    assert first["r_std_pct"] == pytest.approx(2.5)
    assert first["r_ohm"] is None


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", None, "file ends before the number of electrodes"),
        ("two\n", 1, "must be an integer"),
        ("2\n# x y z\n0 0 0\n", None, "file ends before electrode 2 of 2"),
        ("2\n# x y z\n0 0 0\n1 a 0\n1\n# a b m n\n1 2 0 0\n", 4, "not a number"),
        ("2\n0 0 0\n1 0 0\n1\n1 2 0 0\n", 5, "token line"),
        ("2\n0 0 0\n1 0 0\n1\n# a b m r\n1 2 0 1\n", 6, "lacks n"),
        ("2\n0 0 0\n1 0 0\n1\n# a b m n r\n1 2 0\n", 6, "expected 5 values, got 3"),
        ("2\n0 0 0\n1 0 0\n1\n# a b m n\n1 3 0 0\n", 6, "b=3 is not in 0..2"),
        ("2\n0 0 0\n1 0 0\n3\n# a b m n\n1 2 0 0\n", None, "datum 2 of 3"),
        ("2\n0 0 0\n1 0 0\n1 2\n", 4, "number of data"),
    ],
)
def test_ohm_malformed(text, line, message):
    with pytest.raises(FormatError, match=message) as info:
        read("ohm", io.StringIO(text))
    assert info.value.line == line


def test_ohm_writer_checks_positions():
    rec = make_record(a=1, b=2, m=3, n=9, r_ohm=1.0)
    with pytest.raises(ValueError, match="electrode 9"):
        write("ohm", [rec], line_positions(4), io.StringIO())
    with pytest.raises(ValueError, match="positions"):
        write("ohm", [rec], None, io.StringIO())


# --- ResIPy protocol.dat ---------------------------------------------------------------


@given(st.lists(records(), max_size=8))
def test_protocol_round_trip(recs):
    back, positions = round_trip("protocol", recs)
    assert positions is None
    assert len(back) == len(recs)
    for original, copy in zip(recs, back):
        assert [copy[k] for k in "abmn"] == [original[k] for k in "abmn"]
        assert copy["r_ohm"] == pytest.approx(original["r_ohm"], rel=1e-11)
        assert copy["r_std_pct"] == pytest.approx(original["r_std_pct"], rel=1e-9)


def test_protocol_layout():
    recs = [
        make_record(a=1, b=4, m=2, n=3, r_ohm=-2.0, r_std_pct=5.0),
        make_record(a=2, b=5, m=3, n=4, r_ohm=1.0, r_std_pct=1.0),
    ]
    stream = io.StringIO()
    write("protocol", recs, None, stream)
    lines = [line.split() for line in stream.getvalue().splitlines()]
    assert lines[0] == ["2"]
    assert lines[1][:5] == ["1", "1", "4", "2", "3"] and float(lines[1][5]) == -2.0
    assert float(lines[1][6]) == pytest.approx(0.1)  # absolute error in ohm
    assert lines[2][:5] == ["2", "2", "5", "3", "4"]


def test_protocol_without_errors_has_six_columns():
    recs = [make_record(a=1, b=4, m=2, n=3, r_ohm=2.0), make_record(a=2, b=5, m=3, n=4, r_ohm=1.0, r_std_pct=1.0)]
    stream = io.StringIO()
    write("protocol", recs, None, stream)
    assert all(len(line.split()) == 6 for line in stream.getvalue().splitlines()[1:])
    stream.seek(0)
    back, _ = read("protocol", stream)
    assert [r["r_std_pct"] for r in back] == [None, None]


def test_protocol_refuses_poles_and_missing_r():
    with pytest.raises(ValueError, match="infinity"):
        write("protocol", [make_record(a=1, b=0, m=2, n=0, r_ohm=1.0)], None, io.StringIO())
    with pytest.raises(ValueError, match="r_ohm"):
        write("protocol", [make_record(a=1, b=2, m=3, n=4)], None, io.StringIO())


def test_protocol_reads_single_string_3d_layout():
    text = "1\n1 1 1 1 4 1 2 1 3 2.5 0.05\n"
    [rec], _ = read("protocol", io.StringIO(text))
    assert (rec["a"], rec["b"], rec["m"], rec["n"]) == (1, 4, 2, 3)
    assert rec["r_std_pct"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", None, "empty file"),
        ("x\n", 1, "number of measurements"),
        ("2\n1 1 2 3 4 1.0\n", 1, "announces 2 measurements, file has 1"),
        ("1\n1 1 2 3 1.0\n", 2, "got 5"),
        ("1\n1 1 2 x 4 1.0\n", 2, "integers"),
        ("1\n1 1 2 3 4 ohm\n", 2, "numbers"),
        ("1\n1 0 2 3 4 1.0\n", 2, "start at 1"),
        ("1\n1 1 1 2 4 1 2 1 3 2.5\n", 2, "several strings"),
    ],
)
def test_protocol_malformed(text, line, message):
    with pytest.raises(FormatError, match=message) as info:
        read("protocol", io.StringIO(text))
    assert info.value.line == line


# --- dispatch --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(formats.FORMATS))
def test_paths_and_empty_surveys(tmp_path, fmt):
    path = tmp_path / f"survey.{fmt}"
    write(fmt, [], line_positions(4), path)
    recs, _ = read(fmt, path)
    assert recs == []


def test_unknown_format_and_guess():
    with pytest.raises(ValueError, match="unknown data format 'xls'"):
        write("xls", [], None, io.StringIO())
    with pytest.raises(ValueError, match="unknown data format"):
        read("xls", io.StringIO())
    assert guess_format("a/b.OHM") == "ohm" and guess_format("protocol.dat") == "protocol"
    assert guess_format("x.csv") == "csv"
    with pytest.raises(ValueError):
        guess_format("x.txt")


def test_records_without_electrodes_or_with_unknown_fields_refused():
    with pytest.raises(ValueError, match="record 1"):
        write("csv", [{"a": 1, "b": 2, "m": 3}], None, io.StringIO())
    with pytest.raises(ValueError, match="unknown record field"):
        write("csv", [{"a": 1, "b": 2, "m": 3, "n": 4, "rho": 5}], None, io.StringIO())
