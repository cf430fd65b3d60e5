"""The facade the controller process uses: one object per instrument.

``Instrument.from_config()`` builds the board from the configuration, on the simulated
instrument by default or, with ``simulated=False``, on ``smbus2.SMBus(i2c_bus)`` and
real GPIO pins. Every public method leaves the hardware safe when it fails. A lock
serialises hardware access; ``abort`` (an Event) may be set from any thread.
"""

from __future__ import annotations

import os
import threading

from ohmpi import battery, relay_settle
from ohmpi import config as configuration
from ohmpi.hardware.board import Board, chip_cabling
from ohmpi.hardware.buswatch import CountingBus
from ohmpi.measure import SETTINGS_SPEC, Aborted, validate_settings
from ohmpi.measure.procedure import RangeMemory, measure_group
from ohmpi.relay_hold import RelayHold
from ohmpi.relay_wear import RelayWear
from ohmpi.rs_check import rs_check
from ohmpi.safety import SafetyError, SafetyTrip
from ohmpi.survey_energy import SurveyEnergy

__all__ = ["Aborted", "Instrument", "SafetyError", "SafetyTrip"]


def _cpu_temperature_C() -> float | None:
    try:
        with open("/sys/class/thermal/thermal_zone0/temp") as f:
            return int(f.read().strip()) / 1000
    except (OSError, ValueError):
        return None


class Instrument:
    def __init__(self, board: Board, cfg: dict, *, positions, simulated: bool, sim_hw=None, wear_path=None):
        self.board = board
        self.cfg = cfg
        self.positions = positions
        self.simulated = simulated
        self.sim = sim_hw  # the emulated side (None on a Pi)
        self._lock = threading.RLock()
        self._settings = validate_settings({"mains_hz": cfg["mains_hz"]})
        self._closed = False
        self._hold = RelayHold(self.safe_state, self._lock)
        self._ranges = RangeMemory()  # gains and voltage of the last held quadrupole
        names = {place: f"{electrode}{role}" for (electrode, role), place in chip_cabling(cfg).items()}
        self.wear = RelayWear(names, wear_path, rated_ops=cfg["relay_rated_ops"])
        board.relays.on_switch = self.wear.switched
        self.survey_energy = SurveyEnergy()  # the controller gives it a file (it survives restarts)
        self._resting_V = None  # the battery's last voltage read with the injection off
        board.setup()

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config_dict: dict | None = None,
        *,
        simulated: bool = True,
        time_scale: float | None = None,
        model=None,
        wear_path=None,
    ) -> "Instrument":
        """`config_dict`: the `[instrument]` table (validated here unless already so);
        `wear_path`: the file keeping each relay's lifetime operation count (None: not kept)."""
        cfg = configuration.load(config_dict) if not _is_loaded(config_dict) else config_dict
        from ohmpi.sim.world import electrode_positions

        positions = electrode_positions(cfg)
        if simulated:
            from ohmpi.sim.clock import SimClock, resolve_time_scale
            from ohmpi.sim.world import build

            clock = SimClock(resolve_time_scale(time_scale, default=cfg["time_scale"]))
            hw = build(cfg, clock, model=model)
            board = Board(cfg, hw.bus, pin_factory=hw.pin_factory, clock=clock, supply_transport=hw.supply)
            return cls(board, cfg, positions=positions, simulated=True, sim_hw=hw, wear_path=wear_path)
        import smbus2

        transport = None
        if cfg["injection"]["supply"] == "dps5005":
            import serial  # pyserial, only needed with the programmable supply

            transport = serial.Serial(cfg["injection"]["serial_port"], 9600, timeout=0.5)
        bus = CountingBus(smbus2.SMBus(cfg["i2c_bus"]))
        board = Board(cfg, bus, supply_transport=transport)
        return cls(board, cfg, positions=positions, simulated=False, wear_path=wear_path)

    # -- settings ---------------------------------------------------------------------------
    @property
    def settings(self) -> dict:
        return self._settings.as_dict()

    @settings.setter
    def settings(self, values: dict) -> None:
        """Change some settings; all are validated together, nothing changes on error."""
        self._settings = validate_settings(values, base=self._settings)

    @staticmethod
    def validate_settings(values: dict) -> dict:
        return validate_settings(values).as_dict()

    settings_spec = SETTINGS_SPEC

    # -- operations -------------------------------------------------------------------------
    def safe_state(self) -> None:
        """Injection off and every relay open (callable at any time, from any thread)."""
        with self._lock:
            self._hold.cancel()
            self._ranges.last = None
            self.board.safe_state()

    @property
    def channels(self) -> int:
        """Receiver channels: how many M–N dipoles one A–B injection measures at once."""
        return self.board.relays.channels

    def measure(
        self, a: int, b: int, m: int, n: int, *, abort=None, hold_relays: bool = False, **settings
    ) -> tuple[dict, dict]:
        """Measure one quadrupole with the current settings overridden by `settings`.

        `hold_relays` (a survey): the relays stay closed for the next quadrupole, which moves
        only those that differ; released on any error and after a short idle time anyway."""
        return self.measure_group(a, b, [(m, n)], abort=abort, hold_relays=hold_relays, **settings)[0]

    def measure_group(
        self, a: int, b: int, dipoles, *, abort=None, hold_relays: bool = False, **settings
    ) -> list[tuple[dict, dict]]:
        """Inject between A and B and measure up to `channels` M–N dipoles ((m, n), ...) at
        once, dipole i on receiver channel i: one (record, waveform) per dipole, in order."""
        values = validate_settings(settings, base=self._settings) if settings else self._settings
        with self._lock:
            self._hold.cancel()
            try:
                result = measure_group(
                    self.board,
                    self.positions,
                    (a, b),
                    dipoles,
                    values,
                    abort=abort,
                    hold_relays=hold_relays,
                    memory=self._ranges,
                )
            except BaseException:
                self.board.safe_state()
                raise
            if hold_relays:
                self._hold.arm()
            return result

    def rs_check(self, abort=None) -> dict:
        with self._lock:
            self._hold.cancel()
            self._ranges.last = None
            return rs_check(self.board, abort=abort, mains_hz=self._settings.mains_hz)

    def self_test(self) -> dict:
        """Every chip answers, relays read back as written, ADCs convert, board left safe."""
        checks, found = [], {}

        def check(name, fn):
            try:
                detail = fn()
                checks.append({"name": name, "ok": True, "detail": detail})
            except Exception as exc:  # report every failure, keep testing the rest
                checks.append({"name": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}"})

        with self._lock:
            self._hold.cancel()
            self._ranges.last = None
            b = self.board
            try:
                if b.tca is not None:
                    check("tca9548a", lambda: f"mask 0x{b.tca.read_mask():02x}")
                b.injector.shutdown()
                electrodes = range(1, b.relays.n_electrodes + 1)
                for role in b.relays.roles:
                    # every relay of one role at a time, through the relay matrix (so the
                    # safety rules hold), then read back from every chip
                    def walk(role=role):
                        b.relays.connect({role: electrodes})
                        wrong = [
                            f"0x{chip.address:02x}"
                            for chip, latch in zip(b.expanders, b.relays._latches)
                            if chip.read_latch() != latch or chip.read_pins() != latch
                        ]
                        b.relays.release_all()
                        if wrong:
                            raise OSError(f"relay read-back differs on {', '.join(wrong)}")
                        return f"{len(electrodes)} relays ok"

                    check(f"relays_{role}", walk)
                receivers = [(f"adc_voltage_{i}", adc, mux) for i, (adc, mux) in enumerate(b.receivers[1:], 2)]
                for name, adc, mux in (
                    ("adc_current", b.current_adc, b.current_mux),
                    ("adc_voltage", b.voltage_adc, b.voltage_mux),
                    *receivers,
                ):
                    check(name, lambda adc=adc, mux=mux: f"{adc.read(mux, 6.144, 860):.4f} V")
                if b.injector.supply is not None:
                    check("supply", lambda: f"input {b.injector.supply.input_voltage():.2f} V")
                check("relay_settle", lambda: _settle_check(b, found))
            finally:
                check("safe_state", lambda: b.safe_state() or "injection off, relays open")
        return {"ok": all(c["ok"] for c in checks), "checks": checks, "relay_settle": found or None}

    def soh(self) -> dict:
        """State of health: supply voltage, CPU temperature, injection, bus errors."""
        b = self.board
        supply_V = b.injector.battery_V
        if b.injector.supply is not None:
            try:
                with self._lock:
                    supply_V = b.injector.supply.input_voltage()
            except OSError:
                supply_V = None
        bus_errors = getattr(b.bus, "errors", None)
        if self.simulated:
            temperature = self.cfg["sim"]["cpu_temp_C"]
        else:
            temperature = _cpu_temperature_C()
        return {
            "simulated": self.simulated,
            "supply_V": supply_V,
            "cpu_temp_C": temperature,
            "injecting": b.injector.is_on,
            "relays_closed": sum(len(v) for v in b.relays.state.values()),
            "bus_errors": bus_errors if bus_errors is not None else 0,
            "bus_transfers": getattr(b.bus, "transfers", None),
            "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            **self.wear.soh(),
            **self._battery_soh(supply_V),
        }

    def _battery_soh(self, supply_V) -> dict:
        """Battery voltage (measured: the programmable supply's input, or the emulated battery), its
        charge and the surveys it has left (ohmpi.battery); a voltage read under load is not used."""
        inj = self.cfg["injection"]
        volts = None
        if self.board.injector.supply is not None:
            volts = supply_V
        elif self.sim is not None and self.sim.battery is not None:
            # the emulated meter is brought up to date under the lock (never while a measurement
            # moves the clock); soh() never waits for a measurement: meanwhile, the last value
            if self._lock.acquire(blocking=False):
                try:
                    volts = self.sim.battery.voltage()
                finally:
                    self._lock.release()
            else:
                volts = self._resting_V
        if self.board.injector.is_on:
            volts = self._resting_V
        else:
            self._resting_V = volts
        per_survey, basis = self.survey_energy.per_survey(inj["base_load_W"])
        return battery.estimate(volts, inj, per_survey, basis)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._hold.stop()
                try:
                    self.board.close()
                finally:
                    for counter in (self.wear, self.survey_energy):
                        try:
                            counter.flush()
                        except OSError:
                            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _settle_check(board, found: dict) -> str:
    """The relays' settle time measured (ohmpi.relay_settle) against relay_settle_ms."""
    found.update(relay_settle.measure(board))
    settle, configured = found["settle_ms"], found["configured_ms"]
    if settle is None:
        return "not measurable: the M-N readings never steadied (electrodes not in the ground?)"
    if settle > configured:
        raise OSError(f"the relays settle in {settle} ms, longer than relay_settle_ms = {configured}")
    return f"contacts at rest {settle} ms after switching (relay_settle_ms = {configured})"


def _is_loaded(cfg) -> bool:
    """A dict that already went through config.load (boards filled in)."""
    return (
        isinstance(cfg, dict)
        and isinstance(cfg.get("boards"), list)
        and "sim" in cfg
        and "front_end" in cfg
        and all(k in cfg for k in configuration.DEFAULTS)
    )
