"""A fake I2C bus with smbus2's method names, routing transfers to emulated chips.

Each SMBus call is turned into the I2C messages the real adapter would send (a write
of the register pointer, then data, or a read), so chips are emulated at the message
level as on the wire. A missing address raises OSError 121 (Remote I/O error), as
Linux does when nobody acknowledges. A TCA9548A emulation forwards to its enabled
channels.
"""

from __future__ import annotations

import errno
import os
import threading
import time


def _no_ack(address: int) -> OSError:
    return OSError(errno.EREMOTEIO, f"{os.strerror(errno.EREMOTEIO)} (no device at 0x{address:02x})")


class I2CDevice:
    """Interface of an emulated chip: raw I2C write and read messages."""

    def i2c_write(self, data: list[int]) -> None:
        raise NotImplementedError

    def i2c_read(self, length: int) -> list[int]:
        raise NotImplementedError


class FakeSMBus:
    """Drop-in for ``smbus2.SMBus`` with the methods our drivers use."""

    def __init__(self, clock=None, bit_rate: float = 400_000.0):
        self.clock = clock
        self.bit_rate = bit_rate
        self.devices: dict[int, I2CDevice] = {}
        self._routers: list = []  # `downstream` of the attached switches (TCA9548A), in attach order
        self.transfers = 0
        self.errors = 0
        self.chip_seconds = 0.0  # wall time spent inside emulated chips (for the bench)
        self._lock = threading.RLock()
        self.fault: BaseException | None = None  # set to make the next transfer fail

    def attach(self, address: int, device: I2CDevice) -> I2CDevice:
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"I2C address 0x{address:02x} outside 0x03..0x77")
        if address in self.devices:
            raise ValueError(f"I2C address 0x{address:02x} already taken")
        self.devices[address] = device
        downstream = getattr(device, "downstream", None)
        if downstream is not None:
            self._routers.append(downstream)
        return device

    # -- routing -----------------------------------------------------------------
    def _find(self, address: int) -> I2CDevice:
        direct = self.devices.get(address)
        if not self._routers:
            if direct is None:
                raise _no_ack(address)
            return direct
        found = [] if direct is None else [direct]
        for downstream in self._routers:
            found.extend(downstream(address))
        if not found:
            raise _no_ack(address)
        if len(found) > 1:
            raise OSError(errno.EIO, f"bus contention: {len(found)} devices answer at 0x{address:02x}")
        return found[0]

    def _transfer(self, address: int, write: list[int] | None, read_length: int = 0):
        with self._lock:
            self.transfers += 1
            if self.fault is not None:
                fault, self.fault = self.fault, None
                self.errors += 1
                raise fault
            try:
                device = self._find(address)
            except OSError:
                self.errors += 1
                raise
            started = time.perf_counter()
            try:
                if write is not None:
                    device.i2c_write([b & 0xFF for b in map(int, write)])
                result = device.i2c_read(read_length) if read_length else None
            finally:
                self.chip_seconds += time.perf_counter() - started
            if self.clock is not None and self.bit_rate:
                n_bytes = (len(write) if write else 0) + read_length + (2 if read_length and write else 1)
                self.clock.advance(9 * n_bytes / self.bit_rate)
            return result

    # -- smbus2 API ---------------------------------------------------------------------
    def read_byte(self, i2c_addr, force=None):
        return self._transfer(i2c_addr, None, 1)[0]

    def write_byte(self, i2c_addr, value, force=None):
        self._transfer(i2c_addr, [value])

    def read_byte_data(self, i2c_addr, register, force=None):
        return self._transfer(i2c_addr, [register], 1)[0]

    def write_byte_data(self, i2c_addr, register, value, force=None):
        self._transfer(i2c_addr, [register, value])

    def read_word_data(self, i2c_addr, register, force=None):
        low, high = self._transfer(i2c_addr, [register], 2)
        return high << 8 | low  # SMBus words are little-endian

    def write_word_data(self, i2c_addr, register, value, force=None):
        self._transfer(i2c_addr, [register, value & 0xFF, value >> 8 & 0xFF])

    def read_i2c_block_data(self, i2c_addr, register, length, force=None):
        if not 1 <= length <= 32:
            raise ValueError("block length must be 1..32")
        return list(self._transfer(i2c_addr, [register], length))

    def write_i2c_block_data(self, i2c_addr, register, data, force=None):
        if len(data) > 32:
            raise ValueError("block length must be at most 32")
        self._transfer(i2c_addr, [register, *data])

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
