"""Assemble the simulated instrument from the configuration: emulated chips on a fake
SMBus at the configured addresses and TCA9548A channels, gpiozero mock pins, an
emulated DPS5005 when configured, and the physics reading all of them.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPin

from ohmpi import config as configuration
from ohmpi import earth as earth_models
from ohmpi import geometry
from ohmpi.hardware.ads1115 import parse_mux
from ohmpi.hardware.board import chip_cabling
from ohmpi.safety import roles_for
from ohmpi.sim.ads1115 import EmulatedADS1115
from ohmpi.sim.battery import SimBattery
from ohmpi.sim.bus import FakeSMBus
from ohmpi.sim.dps5005 import EmulatedDPS5005
from ohmpi.sim.mcp230xx import EmulatedMCP23008, EmulatedMCP23017, RelayTiming
from ohmpi.sim.meter import SupplyMeter
from ohmpi.sim.physics import Physics
from ohmpi.sim.tca9548a import EmulatedTCA9548A

_VERSION = operator.attrgetter("version")
EMULATED = {"mcp23017": EmulatedMCP23017, "mcp23008": EmulatedMCP23008}


def electrode_positions(cfg: dict) -> np.ndarray:
    if cfg["positions"] is not None:
        return geometry.positions_from_xyz(cfg["positions"])
    return geometry.line_positions(cfg["n_electrodes"], cfg["spacing_m"])


@dataclass
class SimulatedHardware:
    clock: object
    bus: FakeSMBus
    pin_factory: MockFactory
    physics: Physics
    expanders: list
    current_adc: EmulatedADS1115
    voltage_adc: EmulatedADS1115  # receiver channel 1's
    tca: EmulatedTCA9548A | None = None
    receiver_adcs: dict = field(default_factory=dict)  # address -> every receiver channel's ADS1115
    roles: tuple = ("A", "B", "M", "N")
    supply: EmulatedDPS5005 | None = None
    cabling: dict = field(default_factory=dict)
    meter: SupplyMeter | None = None
    battery: SimBattery | None = None

    def relay_operations(self) -> int:
        """Relay coils switched so far, counted on the emulated expanders' outputs."""
        return sum(chip.coil_changes for chip in self.expanders)

    def relay_state(self) -> dict[str, frozenset]:
        """The electrodes each role bus is connected to, read from the chips' pins."""
        key = tuple(map(_VERSION, self.expanders))
        if key != getattr(self, "_state_key", None):
            outputs = [chip.outputs() for chip in self.expanders]
            state = {role: set() for role in self.roles}
            for (electrode, role), (chip, pin) in self.cabling.items():
                if outputs[chip] >> pin & 1:
                    state[role].add(electrode)
            self._state = {role: frozenset(v) for role, v in state.items()}
            self._state_key = key
        return self._state

    def contact_state(self) -> dict[str, frozenset]:
        """The electrodes each role bus is connected to now, through the relays' contacts (which
        follow the coils late: ohmpi.sim.mcp230xx); one object per state, as `relay_state`."""
        now = self.clock.monotonic()
        if all(now >= chip.settled_at for chip in self.expanders):
            return self.relay_state()
        words = tuple(chip.contacts(now) for chip in self.expanders)
        if words != getattr(self, "_contact_words", None):
            state = {role: set() for role in self.roles}
            for (electrode, role), (chip, pin) in self.cabling.items():
                if words[chip] >> pin & 1:
                    state[role].add(electrode)
            self._contact_state = {role: frozenset(v) for role, v in state.items()}
            self._contact_words = words
        return self._contact_state

    def pin_state(self, pin: int) -> bool:
        cache = self.__dict__.setdefault("_pins", {})
        obj = cache.get(pin)
        # the factory's own pin object (still registered: a factory reset drops the cache)
        if obj is None or self.pin_factory.pins.get(obj.info) is not obj:
            obj = cache[pin] = self.pin_factory.pin(pin)
        return bool(obj.state)


class RecentMockPin(MockPin):
    """gpiozero's mock pin keeps every state change in `states`: over months of simulated surveys
    an unbounded list (the soak saw it). Only the recent changes are kept here."""

    KEEP = 64

    def _change_state(self, value):
        changed = super()._change_state(value)
        if len(self.states) > 2 * self.KEEP:
            del self.states[: -self.KEEP]
        return changed


def build(cfg: dict, clock, *, model=None) -> SimulatedHardware:
    """The emulated side of the simulated instrument for a validated config."""
    sim = cfg["sim"]
    bus = FakeSMBus(clock)
    factory = MockFactory(pin_class=RecentMockPin)
    tca = bus.attach(cfg["tca9548a"]["address"], EmulatedTCA9548A()) if cfg["tca9548a"] else None
    expanders = []
    for board in cfg["boards"]:
        for chip in board["chips"]:
            device = EMULATED[chip["type"]](clock, RelayTiming.from_sim_config(sim))
            if board.get("tca_channel") is None:
                bus.attach(chip["address"], device)
            else:
                tca.attach(board["tca_channel"], chip["address"], device)
            expanders.append(device)

    n = cfg["n_electrodes"]
    rng = np.random.default_rng(sim["seed"])
    contact = np.full(n, float(sim["contact_ohm"])) * rng.uniform(0.8, 1.25, n)
    for electrode, value in sim["bad_electrodes"].items():
        contact[int(electrode) - 1] = math.inf if value == "open" else float(value)
    inj = cfg["injection"]
    hw = SimulatedHardware(
        clock=clock,
        bus=bus,
        pin_factory=factory,
        physics=None,
        expanders=expanders,
        current_adc=None,
        voltage_adc=None,
        tca=tca,
        cabling=chip_cabling(cfg),
        roles=roles_for(configuration.channels(cfg)),
    )
    supply = None
    if inj["supply"] == "dps5005":
        supply = EmulatedDPS5005(
            unit=inj["modbus_unit"],
            input_voltage=inj["battery_V"],
            load_ohm=lambda: hw.physics.load_ohm() if hw.pin_state(inj["gpio_on"]) else math.inf,
        )
        hw.supply = supply

    def supply_voltage() -> float:
        if not hw.pin_state(inj["gpio_on"]):
            return 0.0
        return supply.output()[0] if supply is not None else inj["battery_V"]

    fe = cfg["front_end"]
    positions = electrode_positions(cfg)
    earth = (model or earth_models.parse_model(sim["model"])).at_electrodes(positions)  # a mesh: one forward run
    hw.physics = Physics(
        positions,
        earth,
        contact,
        relay_state=hw.contact_state,
        supply_voltage=supply_voltage,
        polarity=lambda: -1 if hw.pin_state(inj["gpio_polarity"]) else 1,
        sp_V=rng.normal(0.0, sim["sp_mV"] * 1e-3, n),
        sp_drift_V_per_s=rng.normal(0.0, sim["sp_drift_mV_per_s"] * 1e-3, n),
        noise=sim["noise"],
        current_noise=sim["current_noise"],
        noise_floor_V=sim["noise_floor_uV"] * 1e-6,
        hum_V=sim["hum_V"],
        mains_hz=cfg["mains_hz"],
        shunt_ohm=fe["shunt_ohm"],
        current_gain=fe["current_gain"],
        vmn_gain=fe["vmn_gain"],
        vdd=fe["vdd_V"],
        seed=sim["seed"],
    )
    if hw.physics.chargeable:
        clock.listeners.append(hw.physics.observe)
    hw.meter = SupplyMeter(
        clock, injecting=lambda: hw.pin_state(inj["gpio_on"]), power_W=lambda: supply_voltage() * hw.physics.current_A()
    )
    hw.battery = SimBattery(clock, hw.meter, inj)
    if supply is not None:
        supply.input_voltage = hw.battery.voltage  # the supply's input sags with the battery
    adc = cfg["adc"]
    hw.current_adc = bus.attach(adc["current"]["address"], EmulatedADS1115(clock, hw.physics.current_pins, fe["vdd_V"]))
    pairs: dict[int, list] = {}  # ADC address -> (pos, neg, channel) of the channels it carries
    for channel, (address, mux) in enumerate(configuration.receiver_inputs(cfg), 1):
        pairs.setdefault(address, []).append((*parse_mux(mux), channel))
    for address, on_chip in pairs.items():
        hw.receiver_adcs[address] = bus.attach(
            address, EmulatedADS1115(clock, hw.physics.receiver_pins(on_chip), fe["vdd_V"])
        )
    hw.voltage_adc = hw.receiver_adcs[adc["voltage"]["address"]]
    return hw


def simulated_board(overrides: dict | None = None, *, time_scale: float = 0.0, model=None):
    """(Board, SimulatedHardware, config) ready to measure, for tests and tools."""
    from ohmpi import config as configuration
    from ohmpi.hardware.board import Board
    from ohmpi.sim.clock import SimClock

    cfg = configuration.load(overrides)
    clock = SimClock(time_scale)
    hw = build(cfg, clock, model=model)
    board = Board(cfg, hw.bus, pin_factory=hw.pin_factory, clock=clock, supply_transport=hw.supply)
    board.setup()
    return board, hw, cfg
