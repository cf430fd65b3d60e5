"""Emulated MCP23017 / MCP23008 I/O expanders: register file, address pointer with
sequential increment, IOCON.BANK remapping, IODIR/OLAT/GPIO/IPOL/GPPU semantics.
"""

from __future__ import annotations

from ohmpi.sim.bus import I2CDevice

PORT_REGISTERS = ("IODIR", "IPOL", "GPINTEN", "DEFVAL", "INTCON", "IOCON", "GPPU", "INTF", "INTCAP", "GPIO", "OLAT")
RESET = {"IODIR": 0xFF}
BANK_BIT, SEQOP_BIT = 0x80, 0x20


class EmulatedExpander(I2CDevice):
    def __init__(self, n_ports: int):
        self.n_ports = n_ports
        self.regs = [{name: RESET.get(name, 0) for name in PORT_REGISTERS} for _ in range(n_ports)]
        self.pointer = 0
        self.external = [0] * n_ports  # levels driven onto input pins from outside
        self.version = 0  # bumped whenever the pin outputs may have changed
        self.coil_changes = 0  # driven outputs that changed level: relay coils switched (wear)

    # -- address decoding -----------------------------------------------------------------
    @property
    def iocon(self) -> int:
        return self.regs[0]["IOCON"]

    def _decode(self, address: int) -> tuple[int, str] | None:
        if self.n_ports == 1:
            return (0, PORT_REGISTERS[address]) if address < len(PORT_REGISTERS) else None
        if self.iocon & BANK_BIT:
            port, index = address >> 4, address & 0x0F
        else:
            port, index = address & 1, address >> 1
        if port > 1 or index >= len(PORT_REGISTERS):
            return None
        return port, PORT_REGISTERS[index]

    def _last_address(self) -> int:
        if self.n_ports == 1:
            return len(PORT_REGISTERS) - 1
        return 0x1A if self.iocon & BANK_BIT else 2 * len(PORT_REGISTERS) - 1

    def _advance(self) -> None:
        if self.iocon & SEQOP_BIT:  # byte mode
            if self.n_ports == 2 and not self.iocon & BANK_BIT:
                self.pointer ^= 1  # toggles within the A/B pair
            return
        self.pointer = 0 if self.pointer >= self._last_address() else self.pointer + 1

    # -- register semantics ----------------------------------------------------------------
    def _write_register(self, address: int, value: int) -> None:
        decoded = self._decode(address)
        if decoded is None:
            return
        port, name = decoded
        if name == "GPIO":
            name = "OLAT"  # writing GPIO writes the output latch
        if name in ("INTF", "INTCAP"):
            return  # read-only
        before = self.outputs()
        if name == "IOCON":
            value &= 0xFE  # bit 0 unimplemented
            for regs in self.regs:
                regs["IOCON"] = value  # one register, mirrored at both addresses
        else:
            self.regs[port][name] = value & 0xFF
        self.version += 1
        self.coil_changes += (before ^ self.outputs()).bit_count()

    def _read_register(self, address: int) -> int:
        decoded = self._decode(address)
        if decoded is None:
            return 0
        port, name = decoded
        regs = self.regs[port]
        if name == "GPIO":
            return self.pin_levels(port)
        return regs[name]

    def pin_levels(self, port: int) -> int:
        """Logic read from GPIO: outputs show the latch, inputs the outside level XOR IPOL."""
        regs = self.regs[port]
        inputs = regs["IODIR"]
        outside = self.external[port] | regs["GPPU"]  # floating inputs read 0 unless pulled up
        return ((regs["OLAT"] & ~inputs) | ((outside ^ regs["IPOL"]) & inputs)) & 0xFF

    def outputs(self) -> int:
        """Pins actually driven high (output direction and latch 1), port B in the high byte."""
        word = 0
        for port, regs in enumerate(self.regs):
            word |= (regs["OLAT"] & ~regs["IODIR"] & 0xFF) << (8 * port)
        return word

    def latch(self) -> int:
        return sum(regs["OLAT"] << (8 * port) for port, regs in enumerate(self.regs))

    def direction(self) -> int:
        return sum(regs["IODIR"] << (8 * port) for port, regs in enumerate(self.regs))

    # -- I2C --------------------------------------------------------------------------------
    def i2c_write(self, data):
        if not data:
            return
        self.pointer = data[0]
        for value in data[1:]:
            self._write_register(self.pointer, value)
            self._advance()

    def i2c_read(self, length):
        out = []
        for _ in range(length):
            out.append(self._read_register(self.pointer))
            self._advance()
        return out


class EmulatedMCP23017(EmulatedExpander):
    def __init__(self):
        super().__init__(2)


class EmulatedMCP23008(EmulatedExpander):
    def __init__(self):
        super().__init__(1)
