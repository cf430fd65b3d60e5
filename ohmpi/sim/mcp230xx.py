"""Emulated MCP23017 / MCP23008 I/O expanders: register file, address pointer with
sequential increment, IOCON.BANK remapping, IODIR/OLAT/GPIO/IPOL/GPPU semantics —
and the relays they drive, whose contacts follow the coils late.

A relay contact is not its coil: it closes an *operate time* after the coil is energised and
then bounces (touches, lifts, touches again) for a *bounce time*; it opens a *release time*
after the coil is de-energised (the normally-open contact just lifts: no bounce on break).
Typical small signal relays (e.g. the datasheets of the Omron G6K, Panasonic TQ, Hongfa HFD4
families) give operate ≤ 3–5 ms, release ≤ 2–3 ms and make-bounce around 1 ms; `RelayTiming`
defaults to those figures. The physics reads `contacts(now)`, so an electrode is connected
only while its contact is really closed on the simulated clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ohmpi.sim.bus import I2CDevice

BOUNCE_SLICES = 5  # the bounce window alternates closed/open in this many equal slices


@dataclass(frozen=True)
class RelayTiming:
    """Contact timing of the relays on the expander outputs, in seconds (zero: ideal relays)."""

    operate_s: float = 0.0
    release_s: float = 0.0
    bounce_s: float = 0.0

    @classmethod
    def from_sim_config(cls, sim: dict) -> "RelayTiming":
        ms = (sim.get("relay_operate_ms", 0.0), sim.get("relay_release_ms", 0.0), sim.get("relay_bounce_ms", 0.0))
        return cls(*(float(x) / 1000 for x in ms))

    def contact(self, coil: bool, before: bool, since: float) -> bool:
        """The contact `since` seconds after the coil went to `coil`, the contact being `before` then."""
        if coil == before:
            return coil
        if not coil:
            return since < self.release_s  # still closed until the armature lets go
        since -= self.operate_s
        if since < 0:
            return False
        if since >= self.bounce_s:
            return True
        return int(since / self.bounce_s * BOUNCE_SLICES) % 2 == 0  # closed, lifted, closed, ...

    def settles_after(self, coil: bool) -> float:
        return self.operate_s + self.bounce_s if coil else self.release_s


PORT_REGISTERS = ("IODIR", "IPOL", "GPINTEN", "DEFVAL", "INTCON", "IOCON", "GPPU", "INTF", "INTCAP", "GPIO", "OLAT")
RESET = {"IODIR": 0xFF}
BANK_BIT, SEQOP_BIT = 0x80, 0x20


class EmulatedExpander(I2CDevice):
    def __init__(self, n_ports: int, clock=None, timing: RelayTiming | None = None):
        """`clock`, `timing`: the simulated clock and the relays' contact timing (none: ideal relays)."""
        self.n_ports = n_ports
        self.clock = clock
        self.timing = timing or RelayTiming()
        self._moving: dict[int, tuple[float, bool, bool]] = {}  # pin -> (coil change time, coil, contact then)
        self._contacts = 0  # the contact word once every moving contact has settled
        self.settled_at = float("-inf")  # when the last moving contact comes to rest
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
        after = self.outputs()
        self.coil_changes += (before ^ after).bit_count()
        if before != after:
            self._coils_moved(before, after)

    # -- the relays' contacts ------------------------------------------------------------------
    def _coils_moved(self, before: int, after: int) -> None:
        if self.clock is None or self.timing == RelayTiming():
            self._contacts = after
            return
        now = self.clock.monotonic()
        changed = before ^ after
        for pin in range(8 * self.n_ports):
            if changed >> pin & 1:
                coil = bool(after >> pin & 1)
                self._moving[pin] = (now, coil, self._contact(pin, now))
                self.settled_at = max(self.settled_at, now + self.timing.settles_after(coil))
        self._contacts = after

    def _contact(self, pin: int, now: float) -> bool:
        moving = self._moving.get(pin)
        if moving is None:
            return bool(self._contacts >> pin & 1)
        since, coil, before = moving
        return self.timing.contact(coil, before, now - since)

    def contacts(self, now: float | None = None) -> int:
        """Relay contacts closed at `now` (default: the clock's now), port B in the high byte."""
        if now is None:
            now = self.clock.monotonic() if self.clock is not None else float("inf")
        if now >= self.settled_at:
            self._moving.clear()
            return self._contacts
        word = self._contacts
        for pin in self._moving:
            if self._contact(pin, now):
                word |= 1 << pin
            else:
                word &= ~(1 << pin)
        return word

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
    def __init__(self, clock=None, timing: RelayTiming | None = None):
        super().__init__(2, clock, timing)


class EmulatedMCP23008(EmulatedExpander):
    def __init__(self, clock=None, timing: RelayTiming | None = None):
        super().__init__(1, clock, timing)
