"""TI TCA9548A 1-to-8 I2C switch: one control byte, bit i connects downstream channel i.

Several multiplexer boards carrying the same expander addresses can share a bus when
each sits behind its own channel; ``MuxedBus`` makes that invisible to their drivers.
"""

from __future__ import annotations

import threading


class TCA9548A:
    def __init__(self, bus, address: int = 0x70):
        self.bus = bus
        self.address = address
        self._selected: int | None = None
        self.lock = threading.RLock()

    def select_mask(self, mask: int) -> None:
        if not 0 <= mask <= 0xFF:
            raise ValueError(f"TCA9548A channel mask {mask!r} outside 0..0xFF")
        self.bus.write_byte(self.address, mask)
        self._selected = mask

    def select(self, channel: int) -> None:
        """Connect exactly one channel (skipped when it is already the selected one)."""
        if not 0 <= channel <= 7:
            raise ValueError(f"TCA9548A channel {channel!r} outside 0..7")
        if self._selected != 1 << channel:
            self.select_mask(1 << channel)

    def disable(self) -> None:
        self.select_mask(0)

    def read_mask(self) -> int:
        self._selected = self.bus.read_byte(self.address)
        return self._selected

    def forget(self) -> None:
        """Forget the cached selection (after a bus error the switch may have reset)."""
        self._selected = None


class MuxedBus:
    """An SMBus-like view of one TCA9548A channel: selects it before every transfer."""

    def __init__(self, switch: TCA9548A, channel: int):
        if not 0 <= channel <= 7:
            raise ValueError(f"TCA9548A channel {channel!r} outside 0..7")
        self.switch = switch
        self.channel = channel

    def _call(self, method: str, *args):
        with self.switch.lock:
            try:
                self.switch.select(self.channel)
                return getattr(self.switch.bus, method)(*args)
            except OSError:
                self.switch.forget()
                raise

    def read_byte(self, addr):
        return self._call("read_byte", addr)

    def write_byte(self, addr, value):
        return self._call("write_byte", addr, value)

    def read_byte_data(self, addr, reg):
        return self._call("read_byte_data", addr, reg)

    def write_byte_data(self, addr, reg, value):
        return self._call("write_byte_data", addr, reg, value)

    def read_i2c_block_data(self, addr, reg, length):
        return self._call("read_i2c_block_data", addr, reg, length)

    def write_i2c_block_data(self, addr, reg, data):
        return self._call("write_i2c_block_data", addr, reg, data)
