"""What a survey costs, measured on the emulated instrument: simulated seconds, seconds
injecting, relay coils switched (the expanders' outputs) and energy from the supply."""

import argparse
import json

import pytest

from client.commands import simulate as command
from ohmpi.sim.world import simulated_board


def test_coils_are_counted_on_the_expander_outputs():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    assert hw.relay_operations() == 0
    board.relays.connect_quadrupole(1, 4, 2, 3)
    assert hw.relay_operations() == 4
    board.relays.connect_quadrupole(1, 4, 2, 5)  # only N moves: one opens, one closes
    assert hw.relay_operations() == 6
    board.safe_state()
    assert hw.relay_operations() == 10


def test_energy_is_what_the_supply_delivered_while_injecting():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    board.relays.connect_quadrupole(1, 4, 2, 3)
    board.injector.on()
    watts = board.injector.voltage * hw.physics.current_A()
    board.clock.sleep(2.0)
    board.injector.off()
    board.clock.sleep(5.0)  # off: costs nothing
    energy, injecting = hw.meter.totals()
    assert injecting == pytest.approx(2.0)
    assert energy == pytest.approx(2.0 * watts)


def test_simulate_json_prints_the_survey_figures(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(
        ["--electrodes", "16", "--array", "wenner", "--stacks", "1", "-o", str(tmp_path / "s.ohm")]
    )
    args.json = True
    assert command.run(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == {"quadrupoles", "flagged", "sim_duration_s", "injection_s", "relay_operations", "energy_j"}
    assert figures["quadrupoles"] == 35
    assert 0 < figures["injection_s"] < figures["sim_duration_s"]
    assert figures["energy_j"] > 0 and figures["relay_operations"] > 0
