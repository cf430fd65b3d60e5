"""Emulated DPS5005 programmable supply: a Modbus RTU slave behind a serial-like
``write``/``read`` transport, constant-voltage / constant-current behaviour into the
load the physics reports.

``boost=True`` (the default) emulates the buck-boost DPH5005 that shares the DPS5005
register map (OhmPi v2024 uses it to reach 50 V from a 12 V battery); with
``boost=False`` the output stays below the input as on the buck-only DPS5005.
"""

from __future__ import annotations

import math
import struct

from ohmpi.hardware import dps5005 as spec
from ohmpi.hardware.modbus import READ_HOLDING, WRITE_SINGLE, crc16, with_crc

WRITABLE = {spec.U_SET, spec.I_SET, spec.LOCK, spec.ONOFF, 0x0A}
N_REGISTERS = 0x0D


class EmulatedDPS5005:
    def __init__(self, unit: int = 1, input_voltage: float = 12.0, load_ohm=None, boost: bool = True):
        self.unit = unit
        self.boost = boost
        self.input_voltage = input_voltage
        self.load_ohm = load_ohm or (lambda: math.inf)  # resistance seen at the terminals
        self.registers = [0] * N_REGISTERS
        self.registers[spec.MODEL] = 5005
        self.registers[0x0C] = 16  # firmware version
        self._reply = b""
        self.frames = 0

    # -- electrical behaviour -------------------------------------------------------------
    def input_V(self) -> float:
        """The input (battery) voltage: a number, or a callable (the emulated battery, ohmpi.sim.battery)."""
        v = self.input_voltage
        return v() if callable(v) else v

    @property
    def output_on(self) -> bool:
        return bool(self.registers[spec.ONOFF])

    def output(self) -> tuple[float, float, bool]:
        """(volts, amperes, constant-current) at the terminals for the present load."""
        if not self.output_on:
            return 0.0, 0.0, False
        v_set = self.registers[spec.U_SET] / 100
        if not self.boost:
            v_set = min(v_set, self.input_V() / 1.1)
        i_set = self.registers[spec.I_SET] / 1000
        load = self.load_ohm()
        if not load > 0:
            return 0.0, i_set, True
        current = v_set / load
        if current > i_set:
            return i_set * load, i_set, True
        return v_set, current, False

    def _refresh(self) -> None:
        volts, amps, cc = self.output()
        r = self.registers
        r[spec.UOUT] = round(volts * 100)
        r[spec.IOUT] = round(amps * 1000)
        r[spec.POWER] = round(volts * amps * 100)
        r[spec.UIN] = round(self.input_V() * 100)
        r[spec.CVCC] = int(cc)

    # -- serial transport -------------------------------------------------------------------
    def write(self, frame: bytes) -> int:
        self.frames += 1
        self._reply = self._handle(bytes(frame))
        return len(frame)

    def read(self, n: int) -> bytes:
        out, self._reply = self._reply[:n], self._reply[n:]
        return out

    def _exception(self, function: int, code: int) -> bytes:
        return with_crc(bytes([self.unit, function | 0x80, code]))

    def _handle(self, frame: bytes) -> bytes:
        if len(frame) < 4 or crc16(frame[:-2]) != struct.unpack("<H", frame[-2:])[0]:
            return b""  # a corrupt frame gets no answer
        if frame[0] != self.unit:
            return b""
        function = frame[1]
        if function == READ_HOLDING and len(frame) == 8:
            start, count = struct.unpack(">HH", frame[2:6])
            if count < 1 or start + count > N_REGISTERS:
                return self._exception(function, 2)
            self._refresh()
            values = self.registers[start : start + count]
            return with_crc(bytes([self.unit, function, 2 * count]) + struct.pack(f">{count}H", *values))
        if function == WRITE_SINGLE and len(frame) == 8:
            register, value = struct.unpack(">HH", frame[2:6])
            if register not in WRITABLE:
                return self._exception(function, 2)
            if register == spec.U_SET and value > 5000 or register == spec.I_SET and value > 5000:
                return self._exception(function, 3)
            self.registers[register] = value
            return frame
        return self._exception(function, 1)
