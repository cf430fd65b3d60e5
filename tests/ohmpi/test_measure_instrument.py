"""The Instrument facade: construction, settings, measure, rs_check, self_test, soh."""

import threading

import pytest

from ohmpi.instrument import Aborted, Instrument, SafetyError
from ohmpi.sim.clock import ENV_TIME_SCALE


@pytest.fixture
def inst():
    with Instrument.from_config({"n_electrodes": 16}, time_scale=0) as instrument:
        yield instrument


def released(inst):
    hw = inst.sim
    return all(c.outputs() == 0 for c in hw.expanders) and not inst.board.injector.is_on


def test_default_instrument_is_simulated_64_electrodes_1m():
    with Instrument.from_config(time_scale=0) as inst:
        assert inst.simulated and inst.cfg["n_electrodes"] == 64
        assert inst.positions[63][0] == pytest.approx(63.0)
        assert len(inst.sim.expanders) == 16  # four 1role boards of four MCP23017


def test_time_scale_environment_overrides(monkeypatch):
    monkeypatch.setenv(ENV_TIME_SCALE, "0")
    with Instrument.from_config({"n_electrodes": 16}, time_scale=1.0) as inst:
        assert inst.board.clock.time_scale == 0
    monkeypatch.setenv(ENV_TIME_SCALE, "fast")
    with pytest.raises(ValueError, match=ENV_TIME_SCALE):
        Instrument.from_config({"n_electrodes": 16})


def test_measure_with_settings_overrides(inst):
    record, wave = inst.measure(1, 4, 2, 3, nb_stack=1, injection_ms=100)
    assert record["n_stacks"] == 1 and record["injection_ms"] == 100
    assert record["rhoa_ohmm"] == pytest.approx(100, rel=0.02)
    assert inst.settings["nb_stack"] == 2  # overrides are per call
    assert released(inst)


def test_settings_get_set_validate(inst):
    inst.settings = {"nb_stack": 4}
    assert inst.settings["nb_stack"] == 4
    with pytest.raises(ValueError, match="duty_cycle"):
        inst.settings = {"nb_stack": 5, "duty_cycle": 2}
    assert inst.settings["nb_stack"] == 4  # nothing changed
    with pytest.raises(ValueError, match="sampling_hz"):
        inst.validate_settings({"sampling_hz": 0})


def test_refused_and_aborted(inst):
    with pytest.raises(SafetyError):
        inst.measure(1, 2, 2, 3)
    event = threading.Event()
    event.set()
    with pytest.raises(Aborted):
        inst.measure(1, 4, 2, 3, abort=event)
    assert released(inst)


def test_rs_check_self_test_soh(inst):
    result = inst.rs_check()
    assert result["bad"] == [] and len(result["electrodes"]) == 16
    report = inst.self_test()
    assert report["ok"], report
    assert {c["name"] for c in report["checks"]} >= {"tca9548a", "relays_A", "adc_voltage"}
    soh = inst.soh()
    assert soh["supply_V"] == 12.0 and soh["injecting"] is False and soh["bus_errors"] == 0
    assert soh["cpu_temp_C"] == pytest.approx(47.0)
    assert released(inst)


def test_self_test_reports_a_dead_chip():
    with Instrument.from_config({"n_electrodes": 16}, time_scale=0) as inst:
        m_board = dict(inst.sim.tca.channels[2])
        inst.sim.tca.channels[2].clear()  # the M board stops answering
        report = inst.self_test()
        assert not report["ok"]
        checks = {c["name"]: c for c in report["checks"]}
        assert not checks["relays_M"]["ok"] and "121" in checks["relays_M"]["detail"]
        assert not checks["safe_state"]["ok"]  # the dead board cannot be released either
        assert checks["adc_current"]["ok"] and checks["tca9548a"]["ok"]
        assert inst.soh()["bus_errors"] >= 1
        inst.sim.tca.channels[2].update(m_board)


def test_dps_supply_soh_reads_input_voltage():
    with Instrument.from_config(
        {"n_electrodes": 16, "injection": {"supply": "dps5005", "battery_V": 12.6}}, time_scale=0
    ) as inst:
        assert inst.soh()["supply_V"] == pytest.approx(12.6)
        record, _ = inst.measure(1, 4, 2, 3, strategy="adaptive", vmn_target_mV=200)
        assert record["vmn_mV"] == pytest.approx(200, rel=0.05)
        assert not inst.sim.supply.output_on
