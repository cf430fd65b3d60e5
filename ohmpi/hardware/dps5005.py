"""DPS5005-style programmable supply over Modbus RTU (holding registers).

Register map: 0 U-SET (10 mV), 1 I-SET (1 mA), 2 UOUT (10 mV), 3 IOUT (1 mA),
4 POWER (10 mW), 5 UIN (10 mV), 6 LOCK, 7 PROTECT, 8 CV/CC, 9 ONOFF, 11 MODEL.
"""

from __future__ import annotations

from ohmpi.hardware.modbus import ModbusClient

U_SET, I_SET, UOUT, IOUT, POWER, UIN, LOCK, PROTECT, CVCC, ONOFF = range(10)
MODEL = 0x0B


class DPS5005:
    max_voltage = 50.0
    max_current = 5.0

    def __init__(self, transport, unit: int = 1):
        self.modbus = ModbusClient(transport, unit)

    def set_voltage(self, volts: float) -> None:
        if not 0 <= volts <= self.max_voltage:
            raise ValueError(f"supply voltage {volts} V outside 0..{self.max_voltage} V")
        self.modbus.write_register(U_SET, round(volts * 100))

    def set_current_limit(self, amps: float) -> None:
        if not 0 <= amps <= self.max_current:
            raise ValueError(f"supply current limit {amps} A outside 0..{self.max_current} A")
        self.modbus.write_register(I_SET, round(amps * 1000))

    def output(self, on: bool) -> None:
        self.modbus.write_register(ONOFF, 1 if on else 0)

    def read_status(self) -> dict:
        """One read of registers 0..9, scaled to volts, amperes and watts."""
        r = self.modbus.read_registers(U_SET, 10)
        return {
            "voltage_set_V": r[U_SET] / 100,
            "current_set_A": r[I_SET] / 1000,
            "voltage_V": r[UOUT] / 100,
            "current_A": r[IOUT] / 1000,
            "power_W": r[POWER] / 100,
            "input_V": r[UIN] / 100,
            "protect": r[PROTECT],
            "cc_mode": bool(r[CVCC]),
            "output_on": bool(r[ONOFF]),
        }

    def voltage_setting(self) -> float:
        return self.modbus.read_registers(U_SET, 1)[0] / 100

    def measured_voltage(self) -> float:
        return self.modbus.read_registers(UOUT, 1)[0] / 100

    def measured_current(self) -> float:
        return self.modbus.read_registers(IOUT, 1)[0] / 1000

    def input_voltage(self) -> float:
        return self.modbus.read_registers(UIN, 1)[0] / 100

    def is_on(self) -> bool:
        return bool(self.modbus.read_registers(ONOFF, 1)[0])

    def model(self) -> int:
        return self.modbus.read_registers(MODEL, 1)[0]
