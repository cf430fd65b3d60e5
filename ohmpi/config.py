"""The instrument description: chips, addresses, multiplexer boards and cabling.

A plain dict (the ``[instrument]`` table of the system TOML config) merged over the
defaults below and validated here, so a wrong key or value is reported by name with
what is allowed. Two multiplexer board styles are built in:

- ``"1role"``: one role (A, B, M or N) for up to 64 electrodes, relay i = electrode
  first+i, on four MCP23017 (OhmPi-v2023-like: four boards behind a TCA9548A);
- ``"4roles"``: 8 electrodes × the 4 roles, relay = role·8 + electrode offset, on two
  MCP23017 (or four MCP23008).

Receiver channels: channel 1 is ``adc.voltage``; ``adc.receivers`` adds channels 2..k, each a
differential pair of an ADS1115 (the second pair AIN2-AIN3 of a chip, or another chip at
0x4A/0x4B), each with its own M and N relay boards (roles ``M<i>``, ``N<i>``, ``ohmpi.safety``).
``channels(cfg)`` is their count. The default boards are one "1role" board per role; when
they outnumber the TCA9548A's 8 channels, two boards share a channel at different expander
address blocks (0x20-0x23, 0x24-0x27).
"""

from __future__ import annotations

import copy
from typing import Any

from ohmpi.safety import MAX_CHANNELS, ROLES, roles_for

BOARD_STYLES = ("1role", "4roles")
CHIP_PINS = {"mcp23017": 16, "mcp23008": 8}
SUPPLIES = ("battery", "dps5005")
MAINS_HZ = (50, 60)
ADC_RANGE = (0x48, 0x4B)
MCP_RANGE = (0x20, 0x27)
TCA_RANGE = (0x70, 0x77)


class ConfigError(ValueError):
    """An invalid instrument configuration; the message names the key."""


def one_role_boards(
    n_electrodes: int = 64, *, channels=(0, 1, 2, 3), chip: str = "mcp23017", receivers: int = 1
) -> list[dict]:
    """One board per role, each on its own TCA9548A channel (`channels`, for one receiver
    channel) at 0x20.. addresses; with more roles than the switch has channels, boards share
    a channel at consecutive address blocks (ConfigError when even that does not fit)."""
    n_chips = -(-n_electrodes // CHIP_PINS[chip])
    roles = roles_for(receivers)
    if receivers == 1:
        places = [(ch, 0x20) for ch in channels]
    else:
        span = MCP_RANGE[1] - MCP_RANGE[0] + 1
        per_channel = span // n_chips if len(roles) > 8 else 1
        if not per_channel or (len(roles) - 1) // per_channel > 7:
            raise ConfigError(
                f"boards: {receivers} receiver channels need {len(roles)} one-role boards of {n_chips} "
                f"{chip} each, more than a TCA9548A holds (8 channels x {span} expander addresses); "
                "fewer electrodes or channels, or list the boards yourself"
            )
        places = [(i // per_channel, MCP_RANGE[0] + n_chips * (i % per_channel)) for i in range(len(roles))]
    return [
        {
            "style": "1role",
            "role": role,
            "first_electrode": 1,
            "n_electrodes": n_electrodes,
            "tca_channel": ch,
            "chips": [{"type": chip, "address": first + i} for i in range(n_chips)],
        }
        for role, (ch, first) in zip(roles, places)
    ]


def four_role_boards(n_electrodes: int = 32, *, chip: str = "mcp23017") -> list[dict]:
    """n/8 boards of 8 electrodes × 4 roles; four boards share a TCA9548A channel."""
    if n_electrodes % 8:
        raise ConfigError(f"n_electrodes: must be a multiple of 8 for 4roles boards, got {n_electrodes}")
    per_board = 32 // CHIP_PINS[chip]
    boards = []
    for i in range(n_electrodes // 8):
        slot = i % (8 // per_board)
        boards.append(
            {
                "style": "4roles",
                "first_electrode": 8 * i + 1,
                "n_electrodes": 8,
                "tca_channel": i // (8 // per_board),
                "chips": [{"type": chip, "address": 0x20 + per_board * slot + j} for j in range(per_board)],
            }
        )
    return boards


DEFAULTS: dict[str, Any] = {
    "n_electrodes": 64,
    "spacing_m": 1.0,
    "positions": None,  # optional list of [x, y, z] per electrode, overrides spacing
    "i2c_bus": 1,
    "tca9548a": {"address": 0x70},  # None when every chip sits on the main bus
    "boards": None,  # None = four "1role" boards sized for n_electrodes
    "adc": {
        "current": {"address": 0x48, "mux": "AIN0"},  # shunt amplifier output vs GND
        "voltage": {"address": 0x49, "mux": "AIN0-AIN1"},  # Vmn front end, differential (channel 1)
        "receivers": [],  # channels 2..k: [{address, mux}], e.g. {"address": 0x49, "mux": "AIN2-AIN3"}
    },
    "front_end": {"shunt_ohm": 1.0, "current_gain": 20.0, "vmn_gain": 1.0, "vdd_V": 5.0},
    "injection": {
        "supply": "battery",
        "battery_V": 12.0,
        "gpio_on": 17,
        "gpio_polarity": 27,
        "serial_port": "/dev/ttyUSB0",
        "modbus_unit": 1,
        # the battery behind the supply (ohmpi.battery): surveys left in the state of health
        "battery_chemistry": "lead-acid",  # lead-acid | lifepo4 | li-ion (12 V packs)
        "battery_capacity_wh": 84.0,  # e.g. 12 V x 7 Ah
        "battery_reserve_pct": 30.0,  # never planned into surveys: kept for the Pi and the battery's life
        "base_load_W": 3.0,  # the Pi, boards and held relay coils while measuring (beside the injection)
    },
    "gpio_led": 22,
    "limits": {"max_voltage_V": 50.0, "max_current_mA": 100.0, "max_power_W": 5.0},
    "mains_hz": 50,
    "time_scale": 1.0,
    "relay_rated_ops": 1_000_000,  # operations per relay before the state of health warns
    "relay_settle_ms": 8.0,  # wait after relays moved before measuring (bench/relay_settle.py: 6 ms + margin)
    "sim": {
        "model": "homogeneous:rho=100",
        "contact_ohm": 1000.0,  # every electrode, unless listed in bad_electrodes
        "bad_electrodes": {},  # {electrode: contact ohm, or "open"}
        "noise": 0.01,  # relative noise of each Vmn conversion
        "current_noise": 0.001,
        "noise_floor_uV": 2.0,
        "hum_V": 0.002,  # mains hum amplitude at the Vmn input
        "sp_mV": 10.0,  # spread of electrode self-potentials
        "sp_drift_mV_per_s": 0.02,
        "seed": 0,
        "cpu_temp_C": 47.0,
        "relay_operate_ms": 5.0,  # relay contacts follow their coils late (ohmpi.sim.mcp230xx)
        "relay_release_ms": 2.0,
        "relay_bounce_ms": 1.0,
    },
}


def _merge(base: dict, override: dict, path: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        name = f"{path}{key}"
        if key not in base:
            raise ConfigError(f"{name}: unknown key; allowed: {', '.join(sorted(base))}")
        if isinstance(base[key], dict) and key not in ("bad_electrodes",) and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a table")
            out[key] = _merge(base[key], value, name + ".")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _number(cfg: dict, key: str, path: str, low: float, high: float | None = None) -> float:
    value = cfg[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (low <= value and (high is None or value <= high))
    ):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{path}{key}: {value!r} is not a number in {allowed}")
    return value


def _address(value, path: str, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"{path}: address {value!r} outside 0x{bounds[0]:02x}..0x{bounds[1]:02x}")
    return value


def load(config: dict | None = None) -> dict:
    """Defaults merged with `config`, validated; raises ConfigError naming the key."""
    cfg = _merge(DEFAULTS, config or {}, "")
    n = cfg["n_electrodes"]
    if isinstance(n, bool) or not isinstance(n, int) or not 4 <= n <= 256:
        raise ConfigError(f"n_electrodes: {n!r} is not an integer in 4..256")
    _number(cfg, "spacing_m", "", 1e-3, 1e4)
    if cfg["positions"] is not None:
        pos = cfg["positions"]
        if len(pos) != n or any(len(p) not in (2, 3) for p in pos):
            raise ConfigError(f"positions: expected {n} rows of x, y[, z]")
    if cfg["mains_hz"] not in MAINS_HZ:
        raise ConfigError(f"mains_hz: {cfg['mains_hz']!r}; allowed: 50, 60")
    _number(cfg, "time_scale", "", 0.0)
    _number(cfg, "relay_rated_ops", "", 1)
    _number(cfg, "relay_settle_ms", "", 0.0, 1000.0)
    for key in ("shunt_ohm", "current_gain", "vmn_gain", "vdd_V"):
        _number(cfg["front_end"], key, "front_end.", 1e-6)
    for key in cfg["limits"]:
        _number(cfg["limits"], key, "limits.", 0.0)
    inj = cfg["injection"]
    if inj["supply"] not in SUPPLIES:
        raise ConfigError(f"injection.supply: {inj['supply']!r}; allowed: {', '.join(SUPPLIES)}")
    _number(inj, "battery_V", "injection.", 0.0, 60.0)
    from ohmpi.battery import check_config as check_battery

    check_battery(inj, "injection.", ConfigError)
    for role in ("current", "voltage"):
        adc = cfg["adc"][role]
        _address(adc["address"], f"adc.{role}.address", ADC_RANGE)
        from ohmpi.hardware.ads1115 import parse_mux

        try:
            parse_mux(adc["mux"])
        except ValueError as exc:
            raise ConfigError(f"adc.{role}.mux: {exc}") from None
    if cfg["adc"]["current"]["address"] == cfg["adc"]["voltage"]["address"]:
        raise ConfigError("adc: current and voltage ADCs need different addresses")
    _check_receivers(cfg["adc"])
    if cfg["tca9548a"] is not None:
        _address(cfg["tca9548a"].get("address"), "tca9548a.address", TCA_RANGE)
    if cfg["boards"] is None:
        cfg["boards"] = one_role_boards(n, receivers=channels(cfg))
    _check_boards(cfg)
    sim = cfg["sim"]
    for key in ("contact_ohm", "noise", "current_noise", "noise_floor_uV", "hum_V", "sp_mV"):
        _number(sim, key, "sim.", 0.0)
    for key in ("relay_operate_ms", "relay_release_ms", "relay_bounce_ms"):
        _number(sim, key, "sim.", 0.0, 1000.0)
    for electrode, value in sim["bad_electrodes"].items():
        if not 1 <= int(electrode) <= n or not (value == "open" or isinstance(value, (int, float)) and value > 0):
            raise ConfigError(
                f"sim.bad_electrodes.{electrode}: expected an electrode in 1..{n} "
                f'mapped to a contact resistance in ohm or "open"'
            )
    return cfg


def channels(cfg: dict) -> int:
    """How many receiver channels (M–N dipoles measured at once) the instrument has."""
    return 1 + len(cfg["adc"]["receivers"])


def receiver_inputs(cfg: dict) -> list[tuple[int, str]]:
    """(ADC address, mux) of each receiver channel, channel 1 first."""
    adc = cfg["adc"]
    return [(r["address"], r["mux"]) for r in [adc["voltage"], *adc["receivers"]]]


def receivers_for(channels: int, *, current: int = 0x48, voltage: int = 0x49) -> list[dict]:
    """`adc.receivers` for `channels` receiver channels in all: first one per free ADS1115
    (they convert at once), then their second pairs AIN2-AIN3 (those convert in turn)."""
    chips = [voltage] + [a for a in range(ADC_RANGE[0], ADC_RANGE[1] + 1) if a not in (current, voltage)]
    inputs = [(a, "AIN0-AIN1") for a in chips] + [(a, "AIN2-AIN3") for a in chips]
    if not 1 <= channels <= len(inputs):
        raise ConfigError(f"channels: {channels!r}; allowed: 1..{len(inputs)} (ADS1115 pairs beside the current's)")
    return [{"address": a, "mux": mux} for a, mux in inputs[1:channels]]


def _check_receivers(adc: dict) -> None:
    """Channels 2..k: differential pairs on ADCs other than the current's, no input used twice."""
    from ohmpi.hardware.ads1115 import format_mux, parse_mux

    receivers = adc["receivers"]
    if not isinstance(receivers, list) or len(receivers) > MAX_CHANNELS - 1:
        raise ConfigError(f"adc.receivers: expected a list of at most {MAX_CHANNELS - 1} {{address, mux}} tables")
    voltage = adc["voltage"]
    pair = parse_mux(voltage["mux"])
    used = {(voltage["address"], pin): 1 for pin in pair if pin is not None}
    for i, receiver in enumerate(receivers):
        path = f"adc.receivers[{i}]"
        if not isinstance(receiver, dict) or set(receiver) != {"address", "mux"}:
            raise ConfigError(f"{path}: expected a table with exactly the keys address, mux")
        address = _address(receiver["address"], f"{path}.address", ADC_RANGE)
        if address == adc["current"]["address"]:
            raise ConfigError(f"{path}.address: 0x{address:02x} is the current ADC's")
        try:
            pair = parse_mux(receiver["mux"])
        except ValueError as exc:
            raise ConfigError(f"{path}.mux: {exc}") from None
        if pair[1] is None:
            raise ConfigError(f"{path}.mux: {receiver['mux']!r} is single-ended; a channel needs a differential pair")
        for pin in pair:
            if (address, pin) in used:
                raise ConfigError(
                    f"{path}: {format_mux(pair)} at 0x{address:02x} uses AIN{pin}, already the input of "
                    f"channel {used[(address, pin)]} (an ADS1115 has two differential pairs)"
                )
            used[(address, pin)] = i + 2


def _check_boards(cfg: dict) -> None:
    n = cfg["n_electrodes"]
    all_roles = roles_for(channels(cfg))
    seen: dict[tuple[int, str], tuple[int, int]] = {}
    addresses: set[tuple[Any, int]] = set()
    for i, board in enumerate(cfg["boards"]):
        path = f"boards[{i}]"
        style = board.get("style")
        if style not in BOARD_STYLES:
            raise ConfigError(f"{path}.style: {style!r}; allowed: {', '.join(BOARD_STYLES)}")
        channel = board.get("tca_channel")
        if channel is not None and (cfg["tca9548a"] is None or channel not in range(8)):
            raise ConfigError(f"{path}.tca_channel: {channel!r}; allowed: 0..7 with a tca9548a, or null")
        pins = 0
        for j, chip in enumerate(board.get("chips", [])):
            if chip.get("type") not in CHIP_PINS:
                raise ConfigError(f"{path}.chips[{j}].type: {chip.get('type')!r}; allowed: {', '.join(CHIP_PINS)}")
            key = (channel, _address(chip.get("address"), f"{path}.chips[{j}].address", MCP_RANGE))
            if key in addresses:
                raise ConfigError(f"{path}.chips[{j}].address: 0x{key[1]:02x} already used on channel {channel}")
            addresses.add(key)
            pins += CHIP_PINS[chip["type"]]
        roles = [board.get("role")] if style == "1role" else list(ROLES)
        if style == "1role" and board.get("role") not in all_roles:
            raise ConfigError(f"{path}.role: {board.get('role')!r}; allowed: {', '.join(all_roles)}")
        count = board.get("n_electrodes", 0)
        if len(roles) * count > pins:
            raise ConfigError(f"{path}: {len(roles) * count} relays needed but the chips have {pins} pins")
        first = board.get("first_electrode", 1)
        for role in roles:
            for e in range(first, first + count):
                if not 1 <= e <= n:
                    raise ConfigError(f"{path}: electrode {e} outside 1..{n}")
                if (e, role) in seen:
                    raise ConfigError(
                        f"{path}: electrode {e} role {role} already cabled on boards[{seen[(e, role)][0]}]"
                    )
                seen[(e, role)] = (i, 0)
    missing = [(e, r) for e in range(1, n + 1) for r in all_roles if (e, r) not in seen]
    if missing:
        e, r = missing[0]
        raise ConfigError(
            f"boards: electrode {e} has no relay for role {r} ({len(missing)} (electrode, role) pairs missing)"
        )


def relay_of(board: dict, electrode: int, role: str) -> int | None:
    """Relay index on `board` that connects `electrode` to `role`, or None."""
    offset = electrode - board["first_electrode"]
    if not 0 <= offset < board["n_electrodes"]:
        return None
    if board["style"] == "1role":
        return offset if board["role"] == role else None
    return ROLES.index(role) * board["n_electrodes"] + offset if role in ROLES else None


def cabling(cfg: dict) -> dict[tuple[int, str], tuple[int, int]]:
    """(electrode, role) → (board index, relay index), for every electrode and role."""
    table = {}
    for i, board in enumerate(cfg["boards"]):
        for e in range(1, cfg["n_electrodes"] + 1):
            for role in roles_for(channels(cfg)):
                relay = relay_of(board, e, role)
                if relay is not None:
                    table[(e, role)] = (i, relay)
    return table
