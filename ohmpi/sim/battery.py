"""The emulated battery behind the supply: its resting voltage falls as energy is drawn.

It starts at the configured `injection.battery_V` and follows the chemistry's resting-voltage
curve (ohmpi.battery) down as the survey draws energy: the supply's metered output divided by the
converter's efficiency, plus the instrument's own load (`injection.base_load_W`) over simulated
time. Read with 10 mV resolution, as the DPS5005 reports its input voltage.
"""

from __future__ import annotations

from ohmpi import battery

CONVERTER_EFFICIENCY = 0.9


class SimBattery:
    def __init__(self, clock, meter, injection: dict):
        self.clock = clock
        self.meter = meter
        self.start_V = float(injection["battery_V"])
        self.chemistry = injection["battery_chemistry"]
        self.capacity_wh = float(injection["battery_capacity_wh"])
        self.base_load_W = float(injection["base_load_W"])
        self.start_soc = battery.soc_pct(self.start_V, self.chemistry)
        self.start = clock.monotonic()

    def drawn_wh(self) -> float:
        energy_j, _ = self.meter.totals()
        return (energy_j / CONVERTER_EFFICIENCY + self.base_load_W * (self.clock.monotonic() - self.start)) / 3600

    def soc_pct(self) -> float:
        return max(0.0, self.start_soc - 100.0 * self.drawn_wh() / self.capacity_wh)

    def voltage(self) -> float:
        """Resting voltage now: the start voltage less what the curve lost since the start."""
        sag = battery.resting_volts(self.start_soc, self.chemistry) - battery.resting_volts(
            self.soc_pct(), self.chemistry
        )
        return round(self.start_V - sag, 2)
