"""`ohmpi simulate` end to end: real procedure, real drivers, simulated instrument."""

import argparse

import numpy as np
import pytest

from client.commands import simulate as command
from ohmpi import formats, sequences


def run(argv):
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return command.run(parser.parse_args(argv))


@pytest.mark.parametrize("fmt", ["ohm", "protocol", "csv"])
def test_writes_a_file_the_format_reader_parses(tmp_path, fmt):
    out = tmp_path / f"survey.{fmt}"
    status = run(
        [
            "--electrodes",
            "24",
            "--spacing",
            "1",
            "--array",
            "wenner",
            "--model",
            "layers:rho=100,10;h=5",
            "--noise",
            "0.01",
            "--format",
            fmt,
            "-o",
            str(out),
        ]
    )
    assert status == 0
    records, positions = formats.read(fmt, out)
    assert len(records) == len(sequences.generate("wenner", 24)) == 84
    first = records[0]
    assert (first["a"], first["b"], first["m"], first["n"]) == (1, 4, 2, 3)
    r = np.array([rec["r_ohm"] for rec in records], dtype=float)
    assert np.all(np.isfinite(r)) and np.all(r > 0)
    if fmt == "ohm":
        assert positions is not None and len(positions) == 24
        assert positions[23][0] == pytest.approx(23.0)
        rhoa = np.array([rec["rhoa_ohmm"] for rec in records], dtype=float)
        assert rhoa[0] == pytest.approx(99.57, rel=0.01)  # a = 1 m over the two layers


def test_sequence_file_and_stdout(tmp_path, capsys):
    seq = tmp_path / "my.txt"
    seq.write_text("# custom\n1 4 2 3\n2 8 4 6\n")
    assert run(["--electrodes", "8", "--array", str(seq), "--format", "protocol"]) == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[0].strip() == "2"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--array", "zigzag"], "--array"),
        (["--model", "granite"], "model"),
        (["--noise", "2"], "--noise"),
        (["--electrodes", "2"], "electrodes"),
    ],
)
def test_errors_are_one_line_and_status_2(argv, message, capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ohmpi simulate:") and message in err


def test_bad_sequence_file_names_the_line(tmp_path, capsys):
    seq = tmp_path / "bad.txt"
    seq.write_text("1 2 3 4\n1 1 2 3\n")
    assert run(["--electrodes", "8", "--array", str(seq)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and err.count("\n") == 1


def test_chargeable_model_and_longer_injection(tmp_path):
    out = tmp_path / "ip.csv"
    assert (
        run(
            [
                "--electrodes",
                "16",
                "--array",
                "wenner",
                "--model",
                "homogeneous:rho=100;m=50;tau=1",
                "--injection-ms",
                "1000",
                "--stacks",
                "1",
                "--format",
                "csv",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    records, _ = formats.read("csv", out)
    assert all(r["injection_ms"] == 1000 for r in records)
    ip = np.array([r["ip_mvv"] for r in records])
    assert np.all(ip > 10) and np.ptp(ip) / ip.mean() < 0.05  # one homogeneous chargeability


def test_bad_cole_cole_parameter_is_one_line(capsys):
    assert run(["--model", "homogeneous:rho=100;c=2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "c must be" in err
