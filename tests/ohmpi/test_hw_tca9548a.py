"""TCA9548A channel select and routing of downstream addresses on the fake bus."""

import errno

import pytest

from ohmpi.hardware.mcp230xx import MCP23017
from ohmpi.hardware.tca9548a import TCA9548A, MuxedBus
from ohmpi.sim import FakeSMBus
from ohmpi.sim.mcp230xx import EmulatedMCP23017
from ohmpi.sim.tca9548a import EmulatedTCA9548A


def make():
    bus = FakeSMBus()
    switch = bus.attach(0x70, EmulatedTCA9548A())
    chips = [switch.attach(ch, 0x20, EmulatedMCP23017()) for ch in range(3)]
    return bus, switch, chips, TCA9548A(bus, 0x70)


def test_control_byte_and_power_on_value():
    bus, switch, chips, tca = make()
    assert tca.read_mask() == 0
    tca.select(5)
    assert switch.control == 0b0010_0000 and bus.read_byte(0x70) == 0x20
    tca.disable()
    assert switch.control == 0
    with pytest.raises(ValueError):
        tca.select(8)


def test_downstream_chip_invisible_until_its_channel_is_selected():
    bus, switch, chips, tca = make()
    with pytest.raises(OSError) as err:
        bus.read_byte_data(0x20, 0x00)
    assert err.value.errno == errno.EREMOTEIO
    tca.select(1)
    bus.write_byte_data(0x20, 0x14, 0x42)
    assert chips[1].regs[0]["OLAT"] == 0x42 and chips[0].regs[0]["OLAT"] == 0


def test_two_channels_with_same_address_contend():
    bus, switch, chips, tca = make()
    tca.select_mask(0b011)
    with pytest.raises(OSError):
        bus.read_byte_data(0x20, 0x00)


def test_muxed_bus_makes_the_switch_transparent():
    bus, switch, chips, tca = make()
    drivers = [MCP23017(MuxedBus(tca, ch), 0x20) for ch in range(3)]
    for i, mcp in enumerate(drivers):
        mcp.setup_outputs(0x100 << i)
    assert [c.outputs() for c in chips] == [0x100, 0x200, 0x400]
    assert drivers[0].read_latch() == 0x100


def test_wrong_switch_address():
    bus, *_ = make()
    with pytest.raises(OSError) as err:
        TCA9548A(bus, 0x71).select(0)
    assert err.value.errno == 121
