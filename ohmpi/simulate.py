"""A virtual survey without the bus: the real measurement procedure, through the real
drivers, on the simulated instrument with no waiting (time_scale 0).

For planning a survey and testing an inversion before going to the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ohmpi import config as configuration
from ohmpi import earth, measurement_cost, sequence_groups, sequences
from ohmpi.instrument import Instrument
from ohmpi.safety import MAX_CHANNELS

ARRAYS = ("wenner", "schlumberger", "dipole-dipole", "gradient")


def quadrupoles(array: str, n_electrodes: int) -> np.ndarray:
    """A named array, or else a sequence file (`A B M N` per line)."""
    if array.strip().lower() in ARRAYS or not Path(array).exists():
        try:
            return sequences.generate(array, n_electrodes)
        except ValueError:
            if array.strip().lower() in ARRAYS or Path(array).suffix:
                raise
            raise ValueError(
                f"--array: {array!r} is neither {', '.join(ARRAYS)} nor an existing sequence file"
            ) from None
    return sequences.load_sequence(array, n_electrodes)


def simulate(**options) -> tuple[list[dict], np.ndarray]:
    """Measure every quadrupole of `array` over `model`; returns (records, positions).
    Options as `simulate_survey`."""
    records, positions, _ = simulate_survey(**options)
    return records, positions


def simulate_survey(
    *,
    electrodes: int = 24,
    spacing: float = 1.0,
    array: str = "wenner",
    model: str = "homogeneous:rho=100",
    noise: float = 0.01,
    strategy: str = "adaptive",
    stacks: int = 2,
    contact_ohm: float = 1000.0,
    seed: int = 0,
    settings: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    optimize: bool = True,
    hold_relays: bool = True,
    channels: int = 1,
) -> tuple[list[dict], np.ndarray, dict]:
    """Measure every quadrupole of `array` over `model`; returns (records, positions, figures).

    `settings`: measurement settings beyond the strategy and stacks (e.g. injection_ms, ip_windows_ms).
    `optimize`: measure in the relay-sparing order (``ohmpi.sequence_order``), records in that order;
    `hold_relays`: relays stay closed between quadrupoles, only those that differ move;
    `channels`: receiver channels (``config.receivers_for``): one A–B injection measures up to
    that many M–N dipoles at once (``ohmpi.sequence_groups``), one record per quadrupole.
    `figures`: what the survey cost — simulated seconds, seconds injecting, relay coil
    operations (counted on the emulated expanders) and energy drawn from the supply."""
    earth_model = earth.parse_model(model)  # fails early with the model's own message
    if not 0 <= noise <= 1:
        raise ValueError(f"--noise: {noise!r} is not a fraction in 0..1 (0.01 = 1 %)")
    config = {
        "n_electrodes": electrodes,
        "spacing_m": spacing,
        "injection": {"supply": "dps5005" if strategy == "adaptive" else "battery"},
        "sim": {"model": model, "noise": noise, "contact_ohm": contact_ohm, "seed": seed},
    }
    if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"--channels: {channels!r} is not a number of receiver channels in 1..{MAX_CHANNELS}")
    if channels != 1:
        config["adc"] = {"receivers": configuration.receivers_for(channels)}
    quads = quadrupoles(array, electrodes)
    if optimize:
        quads = sequence_groups.order(quads, channels)
    records = []
    with Instrument.from_config(config, time_scale=0, model=earth_model) as inst:
        inst.settings = {"strategy": strategy, "nb_stack": stacks, **(settings or {})}
        before = measurement_cost.totals(inst)
        for group in sequence_groups.group_ranges(quads, channels):
            a, b = (int(x) for x in quads[group.start, :2])
            measured = inst.measure_group(a, b, quads[group][:, 2:].tolist(), hold_relays=hold_relays)
            records.extend(record for record, _ in measured)
            if progress:
                progress(group.stop, len(quads))
        inst.safe_state()
        cost = measurement_cost.spent(before, measurement_cost.totals(inst))
        figures = {
            "quadrupoles": len(records),
            "flagged": sum(1 for r in records if r["flags"]),
            "sim_duration_s": round(cost["duration_s"], 3),
            "injection_s": round(cost["injection_s"], 3),
            "relay_operations": cost["relay_operations"],
            "energy_j": round(cost["energy_j"], 3),
        }
        positions = np.asarray(inst.positions)
    return records, positions, figures
