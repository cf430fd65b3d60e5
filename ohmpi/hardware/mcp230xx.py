"""Microchip MCP23017 (16 I/O) and MCP23008 (8 I/O) expanders (datasheets DS20001952,
DS21919), register addresses for IOCON.BANK = 0, the power-on default.

IODIR resets to all ones (every pin an input): a relay driver is only energised once
we make its pin an output. We write OLAT before IODIR so no relay ever glitches on.
"""

from __future__ import annotations

# MCP23017, BANK = 0: port A and B registers interleaved.
MCP23017_REGISTERS = {
    "IODIRA": 0x00,
    "IODIRB": 0x01,
    "IPOLA": 0x02,
    "IPOLB": 0x03,
    "GPINTENA": 0x04,
    "GPINTENB": 0x05,
    "DEFVALA": 0x06,
    "DEFVALB": 0x07,
    "INTCONA": 0x08,
    "INTCONB": 0x09,
    "IOCON": 0x0A,
    "IOCON_ALT": 0x0B,
    "GPPUA": 0x0C,
    "GPPUB": 0x0D,
    "INTFA": 0x0E,
    "INTFB": 0x0F,
    "INTCAPA": 0x10,
    "INTCAPB": 0x11,
    "GPIOA": 0x12,
    "GPIOB": 0x13,
    "OLATA": 0x14,
    "OLATB": 0x15,
}

MCP23008_REGISTERS = {
    "IODIR": 0x00,
    "IPOL": 0x01,
    "GPINTEN": 0x02,
    "DEFVAL": 0x03,
    "INTCON": 0x04,
    "IOCON": 0x05,
    "GPPU": 0x06,
    "INTF": 0x07,
    "INTCAP": 0x08,
    "GPIO": 0x09,
    "OLAT": 0x0A,
}


class _Expander:
    """Common logic: a word of n_pins bits, pin 0 = GP0 / GPA0, pin 8 = GPB0."""

    n_pins = 8

    def __init__(self, bus, address: int = 0x20):
        self.bus = bus
        self.address = address
        self._latch: int | None = None

    # register-level helpers, overridden per chip
    def _write(self, name: str, value: int) -> None:
        raise NotImplementedError

    def _read(self, name: str) -> int:
        raise NotImplementedError

    @property
    def mask(self) -> int:
        return (1 << self.n_pins) - 1

    def setup_outputs(self, value: int = 0) -> None:
        """Every pin an output at `value` (latch first, then direction)."""
        self.write_latch(value)
        self._write("IODIR", 0)

    def release(self) -> None:
        """Every output low, and the cached latch forgotten (re-read next time)."""
        self.write_latch(0)

    def write_latch(self, value: int) -> None:
        value &= self.mask
        self._write("OLAT", value)
        self._latch = value

    def read_latch(self) -> int:
        self._latch = self._read("OLAT")
        return self._latch

    def read_pins(self) -> int:
        """The GPIO register: the logic level on each pin."""
        return self._read("GPIO")

    def read_direction(self) -> int:
        return self._read("IODIR")

    def set_pin(self, pin: int, on: bool) -> None:
        if not 0 <= pin < self.n_pins:
            raise ValueError(f"pin {pin} outside 0..{self.n_pins - 1}")
        latch = self.read_latch() if self._latch is None else self._latch
        latch = latch | (1 << pin) if on else latch & ~(1 << pin)
        self.write_latch(latch)


class MCP23008(_Expander):
    n_pins = 8
    REGISTERS = MCP23008_REGISTERS

    def _write(self, name: str, value: int) -> None:
        self.bus.write_byte_data(self.address, MCP23008_REGISTERS[name], value & 0xFF)

    def _read(self, name: str) -> int:
        return self.bus.read_byte_data(self.address, MCP23008_REGISTERS[name])


class MCP23017(_Expander):
    """Both ports written in one transfer: with BANK = 0 and sequential addressing
    (IOCON.SEQOP = 0, the default), the address pointer goes A → B."""

    n_pins = 16
    REGISTERS = MCP23017_REGISTERS

    def _write(self, name: str, value: int) -> None:
        reg = MCP23017_REGISTERS[name + "A"]
        self.bus.write_i2c_block_data(self.address, reg, [value & 0xFF, value >> 8 & 0xFF])

    def _read(self, name: str) -> int:
        low, high = self.bus.read_i2c_block_data(self.address, MCP23017_REGISTERS[name + "A"], 2)
        return high << 8 | low
