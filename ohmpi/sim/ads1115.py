"""Emulated ADS1115: config/conversion/threshold registers, conversion timing on the
simulated clock, PGA quantization and saturation.

The analog side is a callable ``analog(t0, t1) -> (AIN0, AIN1, AIN2, AIN3)`` giving the
mean pin voltages over a conversion window; the chip differences them per MUX, clamps
to the supply rails and quantizes to 16 bits with the PGA full scale.
"""

from __future__ import annotations

import math

from ohmpi.hardware import ads1115 as spec
from ohmpi.sim.bus import I2CDevice


class EmulatedADS1115(I2CDevice):
    def __init__(self, clock, analog, vdd: float = 5.0):
        self.clock = clock
        self.analog = analog
        self.vdd = vdd
        self.config = spec.CONFIG_RESET & ~spec.OS_BIT  # OS reads 1 when idle; stored separately
        self.lo_thresh = spec.LO_THRESH_RESET
        self.hi_thresh = spec.HI_THRESH_RESET
        self.conversion = 0
        self.pointer = 0
        self._conversions = 0
        self._pending: tuple[float, int] | None = None  # (end time, result code)
        self._continuous_start: float | None = None
        self._continuous_index = 0
        self._ready_latched = False

    # -- timing ----------------------------------------------------------------------------
    def _period(self, config: int) -> float:
        return 1.0 / spec.DR_SPS[config >> 5 & 0b111]

    def _settle(self) -> None:
        """Bring the conversion register up to date with the simulated clock."""
        now = self.clock.monotonic()
        if self._pending is not None and now >= self._pending[0]:
            code = self._pending[1]
            self._pending = None
            self._store(code)
        if self._continuous_start is not None:
            period = self._period(self.config)
            index = int((now - self._continuous_start) / period + 1e-9)
            if index > self._continuous_index:
                end = self._continuous_start + index * period
                self._conversions += index - self._continuous_index - 1  # only the last is kept
                self._continuous_index = index
                self._store(self._convert(end - period, end, self.config))

    def _store(self, code: int) -> None:
        self.conversion = code & 0xFFFF
        self._conversions += 1
        self._ready_latched = True

    def _convert(self, t0: float, t1: float, config: int) -> int:
        pins = [min(max(v, -0.3), self.vdd + 0.3) for v in self.analog(t0, t1)]
        pos, neg = spec.MUX_INPUTS[config >> 12 & 0b111]
        volts = pins[pos] - (0.0 if neg is None else pins[neg])
        fsr = spec.PGA_FSR[config >> 9 & 0b111]
        code = math.floor(volts / fsr * 32768.0 + 0.5)
        return min(max(code, -32768), 32767)

    @property
    def conversions(self) -> int:
        """How many conversions have completed so far (on the simulated clock)."""
        self._settle()
        return self._conversions

    @property
    def busy(self) -> bool:
        self._settle()
        return self._pending is not None or self._continuous_start is not None

    # -- ALERT/RDY -------------------------------------------------------------------------
    @property
    def ready_pin_mode(self) -> bool:
        return bool(self.hi_thresh & 0x8000) and not (self.lo_thresh & 0x8000) and (self.config & 0b11) != 0b11

    @property
    def alert_rdy_asserted(self) -> bool:
        """Conversion-ready mode: asserted once a conversion completed (until config rewrite)."""
        self._settle()
        return self.ready_pin_mode and self._ready_latched

    # -- I2C -----------------------------------------------------------------------------------
    def i2c_write(self, data):
        if not data:
            return
        self.pointer = data[0] & 0b11
        if len(data) < 3:
            return
        value = data[1] << 8 | data[2]
        if self.pointer == spec.REG_CONFIG:
            self._write_config(value)
        elif self.pointer == spec.REG_LO_THRESH:
            self.lo_thresh = value
        elif self.pointer == spec.REG_HI_THRESH:
            self.hi_thresh = value
        # the conversion register is read-only

    def _write_config(self, value: int) -> None:
        self._settle()
        now = self.clock.monotonic()
        self.config = value & ~spec.OS_BIT
        self._ready_latched = False
        if value & spec.MODE_SINGLE:
            self._continuous_start = None
            # OS = 1 starts a conversion only from the power-down state
            if value & spec.OS_BIT and self._pending is None:
                # the input is sampled from now on: take it with the state of this moment
                end = now + self._period(value)
                self._pending = (end, self._convert(now, end, self.config))
        else:
            self._pending = None
            self._continuous_start = now
            self._continuous_index = 0

    def i2c_read(self, length):
        self._settle()
        if self.pointer == spec.REG_CONFIG:
            os_bit = 0 if (self._pending is not None or self._continuous_start is not None) else spec.OS_BIT
            value = self.config | os_bit
        elif self.pointer == spec.REG_CONVERSION:
            value = self.conversion
        elif self.pointer == spec.REG_LO_THRESH:
            value = self.lo_thresh
        else:
            value = self.hi_thresh
        out = [value >> 8 & 0xFF, value & 0xFF]
        return (out * ((length + 1) // 2))[:length]
