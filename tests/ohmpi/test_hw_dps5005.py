"""Modbus RTU framing and the DPS5005 driver against the emulated supply."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi.hardware.dps5005 import DPS5005
from ohmpi.hardware.modbus import ModbusError, crc16, read_request
from ohmpi.sim.dps5005 import EmulatedDPS5005


def test_crc16_modbus_known_vector():
    # the standard check value of CRC-16/MODBUS for "123456789"
    assert crc16(b"123456789") == 0x4B37
    # read 1 holding register at 0 from unit 1: 01 03 00 00 00 01 84 0A
    assert read_request(1, 0, 1) == bytes.fromhex("010300000001840A")


@given(volts=st.floats(0, 10), limit=st.floats(0.001, 5), load=st.floats(1, 10000))
def test_set_and_read_cv_cc(volts, limit, load):
    supply = EmulatedDPS5005(input_voltage=12.0, load_ohm=lambda: load)
    dps = DPS5005(supply)
    dps.set_voltage(volts)
    dps.set_current_limit(limit)
    assert dps.voltage_setting() == pytest.approx(round(volts * 100) / 100)
    assert not dps.is_on() and dps.measured_voltage() == 0
    dps.output(True)
    status = dps.read_status()
    assert status["output_on"] and status["input_V"] == 12.0
    v_set, i_set = round(volts * 100) / 100, round(limit * 1000) / 1000
    if v_set / load > i_set:
        assert status["cc_mode"] and status["current_A"] == pytest.approx(i_set, abs=1e-3)
    else:
        assert status["voltage_V"] == pytest.approx(v_set, abs=0.01)
    assert status["current_A"] <= i_set + 1e-3


def test_driver_range_and_device_exceptions():
    dps = DPS5005(EmulatedDPS5005())
    with pytest.raises(ValueError, match="0..50"):
        dps.set_voltage(60)
    with pytest.raises(ModbusError, match="exception code 2"):
        dps.modbus.write_register(0x05, 1)  # UIN is read-only
    assert dps.model() == 5005


def test_corrupt_frame_gets_no_reply():
    supply = EmulatedDPS5005()
    frame = bytearray(read_request(1, 0, 1))
    frame[-1] ^= 0xFF
    supply.write(bytes(frame))
    assert supply.read(5) == b""
    dps = DPS5005(supply, unit=7)  # nobody answers unit 7
    with pytest.raises(ModbusError, match="no reply"):
        dps.input_voltage()
