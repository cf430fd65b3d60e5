"""The whole measurement board assembled from the validated configuration: relay
matrix behind the TCA9548A, the current ADC and the receiver channels' ADCs, the
injection relays and supply, the LED.

The bus, the GPIO pin factory and the supply's serial transport are passed in, so the
same assembly runs on a Pi or on the simulated instrument.
"""

from __future__ import annotations

from ohmpi import config as configuration
from ohmpi.hardware import gpio
from ohmpi.hardware.ads1115 import ADS1115, parse_mux
from ohmpi.hardware.clock import SystemClock
from ohmpi.hardware.dps5005 import DPS5005
from ohmpi.hardware.injection import Injector
from ohmpi.hardware.mcp230xx import MCP23008, MCP23017
from ohmpi.hardware.relays import RelayMatrix
from ohmpi.hardware.tca9548a import TCA9548A, MuxedBus
from ohmpi.safety import Limits

EXPANDERS = {"mcp23017": MCP23017, "mcp23008": MCP23008}


def chip_cabling(cfg: dict) -> dict[tuple[int, str], tuple[int, int]]:
    """(electrode, role) → (index in the flat chip list, pin), from the board cabling."""
    flat, first_pin = [], []
    for board in cfg["boards"]:
        starts, total = [], 0
        for chip in board["chips"]:
            starts.append((len(flat), total, configuration.CHIP_PINS[chip["type"]]))
            flat.append(chip)
            total += configuration.CHIP_PINS[chip["type"]]
        first_pin.append(starts)
    table = {}
    for key, (board_index, relay) in configuration.cabling(cfg).items():
        for chip_index, start, pins in first_pin[board_index]:
            if start <= relay < start + pins:
                table[key] = (chip_index, relay - start)
                break
    return table


class Board:
    def __init__(self, cfg: dict, bus, *, pin_factory=None, clock=None, supply_transport=None):
        self.cfg = cfg
        self.bus = bus
        self.clock = clock or SystemClock()
        tca_cfg = cfg["tca9548a"]
        self.tca = TCA9548A(bus, tca_cfg["address"]) if tca_cfg else None
        self.expanders = []
        for board in cfg["boards"]:
            channel = board.get("tca_channel")
            view = bus if channel is None else MuxedBus(self.tca, channel)
            for chip in board["chips"]:
                self.expanders.append(EXPANDERS[chip["type"]](view, chip["address"]))
        self.limits = Limits(**cfg["limits"])
        self.relays = RelayMatrix(
            self.expanders,
            chip_cabling(cfg),
            cfg["n_electrodes"],
            injecting=lambda: self.injector.is_on,
            clock=self.clock,
            settle_s=cfg["relay_settle_ms"] / 1000,
        )
        adc = cfg["adc"]
        self.current_adc = ADS1115(bus, adc["current"]["address"], clock=self.clock)
        self.voltage_adc = ADS1115(bus, adc["voltage"]["address"], clock=self.clock)
        self.current_mux = parse_mux(adc["current"]["mux"])
        self.voltage_mux = parse_mux(adc["voltage"]["mux"])
        chips = {adc["voltage"]["address"]: self.voltage_adc}
        # receiver channels, channel 1 first: (ADC, mux); channels on one chip share its driver
        self.receivers = [
            (chips.setdefault(address, ADS1115(bus, address, clock=self.clock)), parse_mux(mux))
            for address, mux in configuration.receiver_inputs(cfg)
        ]
        inj = cfg["injection"]
        self._devices = [
            gpio.relay(inj["gpio_on"], pin_factory=pin_factory),
            gpio.relay(inj["gpio_polarity"], pin_factory=pin_factory),
        ]
        self.led = gpio.led(cfg["gpio_led"], pin_factory=pin_factory) if cfg["gpio_led"] is not None else None
        supply = None
        if inj["supply"] == "dps5005":
            supply = DPS5005(supply_transport, unit=inj["modbus_unit"])
        self.injector = Injector(
            *self._devices,
            limits=self.limits,
            battery_V=inj["battery_V"],
            supply=supply,
            relay_state=lambda: self.relays.state,
        )
        fe = cfg["front_end"]
        self.shunt_ohm = fe["shunt_ohm"]
        self.current_gain = fe["current_gain"]
        self.vmn_gain = fe["vmn_gain"]

    def setup(self) -> None:
        """Bring every chip to a known, safe state (run once at start)."""
        self.injector.shutdown()
        if self.tca is not None:
            self.tca.disable()
        self.relays.setup()
        self.current_adc.power_down()
        for adc in dict.fromkeys(adc for adc, _ in self.receivers):
            adc.power_down()

    def safe_state(self) -> None:
        """Injection off first, then every relay open; both attempted whatever fails."""
        first_error = None
        for action in (self.injector.shutdown, self.relays.release_all):
            try:
                action()
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def close(self) -> None:
        try:
            self.safe_state()
        finally:
            for device in self._devices + ([self.led] if self.led else []):
                device.close()
