"""Emulated TCA9548A: one control register; downstream chips answer only when their
channel bit is set. Power-on value 0: no channel connected."""

from __future__ import annotations

from ohmpi.sim.bus import I2CDevice

# the channel numbers whose bit is set, for each control byte
_ENABLED = tuple(tuple(ch for ch in range(8) if value >> ch & 1) for value in range(256))


class EmulatedTCA9548A(I2CDevice):
    def __init__(self):
        self.control = 0
        self.channels: list[dict[int, I2CDevice]] = [{} for _ in range(8)]

    def attach(self, channel: int, address: int, device: I2CDevice) -> I2CDevice:
        if address in self.channels[channel]:
            raise ValueError(f"channel {channel}: address 0x{address:02x} already taken")
        self.channels[channel][address] = device
        return device

    def downstream(self, address: int) -> list[I2CDevice]:
        channels = self.channels
        return [channels[ch][address] for ch in _ENABLED[self.control] if address in channels[ch]]

    def i2c_write(self, data):
        if data:
            self.control = data[-1] & 0xFF

    def i2c_read(self, length):
        return [self.control] * length
