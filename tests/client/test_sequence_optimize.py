"""`ohmpi sequence optimize`: same quadrupoles in a relay-sparing order; bad files refused by line."""

import argparse
import json

from client.commands import sequence as command
from ohmpi import sequences


def run(argv, json_out=False):
    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(argv)
    args.json = json_out
    return command.run(args)


def test_optimize_writes_the_same_quadrupoles_moving_fewer_relays(tmp_path, capsys):
    src, out = tmp_path / "dd.txt", tmp_path / "dd-opt.txt"
    seq = sequences.with_reciprocals(sequences.generate("dipole-dipole", 16))
    src.write_text(sequences.format_sequence(seq))
    assert run(["optimize", str(src), "--electrodes", "16", "-o", str(out)], json_out=True) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["relay_operations"] < summary["relay_operations_before"] / 1.8
    got = sequences.load_sequence(out, 16)
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, seq.tolist()))


def test_optimize_refuses_a_bad_file_naming_the_line(tmp_path, capsys):
    src = tmp_path / "bad.txt"
    src.write_text("1 4 2 3\n1 1 2 3\n")
    assert run(["optimize", str(src), "--electrodes", "16", "-o", str(tmp_path / "x.txt")]) == 2
    assert "bad.txt:2:" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists()
