"""Abort and faults mid-injection: injection off and every relay released, proven on
the emulated registers (MCP OLAT/GPIO) and the mock GPIO pins."""

import threading

import pytest

from ohmpi.measure import Aborted, measure
from ohmpi.safety import SafetyError, SafetyTrip
from ohmpi.sim.world import electrode_positions, simulated_board


def released(hw, cfg):
    inj = cfg["injection"]
    return (
        all(chip.outputs() == 0 and chip.latch() == 0 and chip.pin_levels(0) == 0 for chip in hw.expanders)
        and not hw.pin_state(inj["gpio_on"])
        and not hw.pin_state(inj["gpio_polarity"])
        and (hw.supply is None or not hw.supply.output_on)
    )


@pytest.mark.parametrize("supply", ["battery", "dps5005"])
def test_abort_mid_injection(supply):
    board, hw, cfg = simulated_board({"n_electrodes": 16, "injection": {"supply": supply}})
    seen = {}

    def abort():
        # fire during the second − half-cycle, while current flows
        on = hw.pin_state(cfg["injection"]["gpio_on"])
        if on and hw.pin_state(cfg["injection"]["gpio_polarity"]):
            seen["n"] = seen.get("n", 0) + 1
        if seen.get("n", 0) > 30:
            seen["state_when_aborted"] = dict(hw.relay_state())
            seen["injecting"] = on
            return True
        return False

    with pytest.raises(Aborted):
        measure(board, electrode_positions(cfg), (1, 4, 2, 3), {"nb_stack": 5}, abort=abort)
    assert seen["injecting"] and seen["state_when_aborted"]["A"] == {1}
    assert released(hw, cfg)


def test_abort_event_from_another_thread_in_real_time():
    board, hw, cfg = simulated_board({"n_electrodes": 16}, time_scale=1.0)
    event = threading.Event()
    outcome = {}

    def target():
        try:
            measure(board, electrode_positions(cfg), (1, 4, 2, 3), {"nb_stack": 50, "injection_ms": 1000}, abort=event)
        except Aborted as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target)
    worker.start()
    while not hw.pin_state(cfg["injection"]["gpio_on"]) and worker.is_alive():
        threading.Event().wait(0.01)
    event.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), Aborted)
    assert released(hw, cfg)


def test_bus_fault_mid_measurement_leaves_the_board_safe():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    count = {"n": 0}
    original = hw.voltage_adc.i2c_read

    def failing_read(length):
        count["n"] += 1
        if count["n"] == 40:
            raise OSError(5, "Input/output error")
        return original(length)

    hw.voltage_adc.i2c_read = failing_read
    with pytest.raises(OSError):
        measure(board, electrode_positions(cfg), (1, 4, 2, 3))
    assert released(hw, cfg)


def test_over_current_stops_the_injection():
    board, hw, cfg = simulated_board({"n_electrodes": 16, "limits": {"max_current_mA": 2.0}})
    with pytest.raises(SafetyTrip, match="current"):
        measure(board, electrode_positions(cfg), (1, 4, 2, 3))
    assert released(hw, cfg)


def test_refused_quadrupole_touches_nothing():
    board, hw, cfg = simulated_board({"n_electrodes": 16})
    transfers = hw.bus.transfers
    with pytest.raises(SafetyError):
        measure(board, electrode_positions(cfg), (1, 1, 2, 3))
    with pytest.raises(SafetyError):
        measure(board, electrode_positions(cfg), (1, 2, 3, 99))
    assert released(hw, cfg)
    assert hw.bus.transfers - transfers <= 2 * len(hw.expanders) + 4  # only the safe-state writes
