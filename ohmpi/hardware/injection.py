"""The injection circuit: supply → shunt → polarity relay → A/B role buses.

Two GPIO relays (on/off and polarity reversal) switch a fixed battery or a DPS5005
programmable supply. The relay layer's state is checked before switching on: A and B
must be connected and the voltage within limits. Polarity changes only with the
injection off.
"""

from __future__ import annotations

from typing import Callable

from ohmpi.safety import Limits, SafetyError


class Injector:
    def __init__(
        self,
        on_relay,
        polarity_relay,
        *,
        limits: Limits,
        battery_V: float = 12.0,
        supply=None,
        relay_state: Callable[[], dict] = dict,
    ):
        self.on_relay = on_relay
        self.polarity_relay = polarity_relay
        self.limits = limits
        self.battery_V = battery_V
        self.supply = supply  # a DPS5005 driver or None (fixed battery)
        self.relay_state = relay_state
        self._voltage = battery_V if supply is None else 0.0
        self.polarity = 1

    @property
    def adjustable(self) -> bool:
        return self.supply is not None

    @property
    def is_on(self) -> bool:
        return bool(self.on_relay.value)

    @property
    def voltage(self) -> float:
        """Nominal voltage applied when on (the battery, or the supply setting)."""
        return self._voltage

    def set_voltage(self, volts: float, current_limit_mA: float | None = None) -> None:
        self.limits.check_voltage(volts)
        if self.supply is None:
            if abs(volts - self.battery_V) > 1e-9:
                raise SafetyError(
                    f"vab_V: the battery supply is fixed at {self.battery_V} V "
                    "(an adjustable voltage needs the dps5005 supply)"
                )
            return
        limit = self.limits.max_current_mA if current_limit_mA is None else current_limit_mA
        self.supply.set_current_limit(min(limit, self.limits.max_current_mA) / 1000)
        self.supply.set_voltage(volts)
        self.supply.output(True)
        self._voltage = volts

    def set_polarity(self, sign: int) -> None:
        if sign not in (1, -1):
            raise ValueError(f"polarity must be +1 or -1, got {sign!r}")
        if self.is_on:
            raise SafetyError("polarity cannot change while the injection is on")
        if sign == -1:
            self.polarity_relay.on()
        else:
            self.polarity_relay.off()
        self.polarity = sign

    def on(self) -> None:
        state = self.relay_state()
        if not state.get("A") or not state.get("B"):
            raise SafetyError("injection refused: no electrode connected to A and to B")
        self.limits.check_voltage(self._voltage)
        self.on_relay.on()

    def off(self) -> None:
        self.on_relay.off()

    def shutdown(self) -> None:
        """Injection off, polarity relay at rest, programmable supply output off."""
        first_error = None
        for action in (
            self.on_relay.off,
            self.polarity_relay.off,
            (lambda: self.supply.output(False)) if self.supply else (lambda: None),
        ):
            try:
                action()
            except Exception as exc:
                first_error = first_error or exc
        self.polarity = 1
        if first_error is not None:
            raise first_error
