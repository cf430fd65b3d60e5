"""Count transfers and errors on a real SMBus, for the state-of-health report."""

from __future__ import annotations

METHODS = (
    "read_byte",
    "write_byte",
    "read_byte_data",
    "write_byte_data",
    "read_word_data",
    "write_word_data",
    "read_i2c_block_data",
    "write_i2c_block_data",
)


class CountingBus:
    def __init__(self, bus):
        self.bus = bus
        self.transfers = 0
        self.errors = 0

    def __getattr__(self, name):
        attr = getattr(self.bus, name)
        if name not in METHODS:
            return attr

        def counted(*args, **kwargs):
            self.transfers += 1
            try:
                return attr(*args, **kwargs)
            except OSError:
                self.errors += 1
                raise

        return counted

    def close(self):
        self.bus.close()
