"""MCP23017/MCP23008 drivers against the emulated register file (IOCON.BANK = 0)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi.hardware.mcp230xx import MCP23008, MCP23017
from ohmpi.hardware.mcp230xx import MCP23017_REGISTERS as R17
from ohmpi.sim import FakeSMBus, SimClock
from ohmpi.sim.mcp230xx import EmulatedMCP23008, EmulatedMCP23017


def make17():
    bus = FakeSMBus(SimClock(0))
    chip = bus.attach(0x20, EmulatedMCP23017())
    return MCP23017(bus, 0x20), chip, bus


def test_register_addresses_bank0():
    assert (R17["IODIRA"], R17["IODIRB"], R17["IOCON"], R17["GPIOA"], R17["GPIOB"], R17["OLATA"], R17["OLATB"]) == (
        0x00,
        0x01,
        0x0A,
        0x12,
        0x13,
        0x14,
        0x15,
    )


def test_power_on_state_all_inputs_nothing_driven():
    mcp, chip, bus = make17()
    assert bus.read_byte_data(0x20, 0x00) == 0xFF and bus.read_byte_data(0x20, 0x01) == 0xFF
    assert mcp.read_direction() == 0xFFFF
    assert mcp.read_latch() == 0 and chip.outputs() == 0


@given(value=st.integers(0, 0xFFFF))
def test_latch_and_gpio_read_back(value):
    mcp, chip, bus = make17()
    mcp.setup_outputs(0)
    mcp.write_latch(value)
    assert mcp.read_latch() == value == chip.latch()
    assert mcp.read_pins() == value == chip.outputs()
    assert bus.read_byte_data(0x20, 0x14) == value & 0xFF
    assert bus.read_byte_data(0x20, 0x15) == value >> 8


def test_latch_without_output_direction_drives_nothing():
    mcp, chip, bus = make17()
    mcp.write_latch(0xABCD)
    assert chip.outputs() == 0 and mcp.read_pins() == 0  # inputs, floating, read 0


def test_writing_gpio_writes_the_latch_and_ipol_inverts_inputs_only():
    mcp, chip, bus = make17()
    bus.write_byte_data(0x20, 0x00, 0x0F)  # GPA0-3 inputs, GPA4-7 outputs
    bus.write_byte_data(0x20, 0x12, 0xF0)  # write GPIOA
    assert bus.read_byte_data(0x20, 0x14) == 0xF0
    bus.write_byte_data(0x20, 0x02, 0x03)  # IPOLA inverts GPA0, GPA1
    assert bus.read_byte_data(0x20, 0x12) == 0xF3


def test_set_pin_read_modify_write():
    mcp, chip, bus = make17()
    mcp.setup_outputs(0)
    mcp.set_pin(3, True)
    mcp.set_pin(12, True)
    mcp.set_pin(3, False)
    assert chip.outputs() == 1 << 12
    with pytest.raises(ValueError):
        mcp.set_pin(16, True)


def test_sequential_and_byte_mode_addressing():
    bus = FakeSMBus()
    chip = bus.attach(0x21, EmulatedMCP23017())
    bus.write_i2c_block_data(0x21, 0x14, [0x11, 0x22, 0x33])  # OLATA, OLATB, wraps to IODIRA
    assert chip.regs[0]["OLAT"] == 0x11 and chip.regs[1]["OLAT"] == 0x22
    assert chip.regs[0]["IODIR"] == 0x33
    bus.write_byte_data(0x21, 0x0A, 0x20)  # IOCON.SEQOP = 1: pointer toggles A/B
    bus.write_i2c_block_data(0x21, 0x14, [0x01, 0x02, 0x03])
    assert chip.regs[0]["OLAT"] == 0x03 and chip.regs[1]["OLAT"] == 0x02
    assert bus.read_byte_data(0x21, 0x0B) == 0x20  # IOCON mirrored


def test_bank1_remaps_addresses():
    bus = FakeSMBus()
    chip = bus.attach(0x22, EmulatedMCP23017())
    bus.write_byte_data(0x22, 0x0A, 0x80)  # BANK = 1
    bus.write_byte_data(0x22, 0x0A, 0x5A)  # now OLATA
    bus.write_byte_data(0x22, 0x1A, 0xA5)  # OLATB
    assert chip.regs[0]["OLAT"] == 0x5A and chip.regs[1]["OLAT"] == 0xA5


@given(value=st.integers(0, 0xFF))
def test_mcp23008(value):
    bus = FakeSMBus()
    chip = bus.attach(0x27, EmulatedMCP23008())
    mcp = MCP23008(bus, 0x27)
    assert bus.read_byte_data(0x27, 0x00) == 0xFF  # IODIR reset
    mcp.setup_outputs(0)
    mcp.write_latch(value)
    assert bus.read_byte_data(0x27, 0x0A) == value  # OLAT
    assert bus.read_byte_data(0x27, 0x09) == value  # GPIO
    assert chip.outputs() == value
    mcp.release()
    assert chip.outputs() == 0
