"""Benchmark the whole driver stack on the simulated instrument at time_scale 0.

Measures quadrupoles per second through Instrument.measure (relay matrix → MCP23017
emulation behind the TCA9548A, ADS1115 drivers → emulation → physics, analysis) and
splits the wall time between the emulated chips (including the physics they call)
and our own code (drivers, procedure, analysis, fake-bus routing).

    python bench/instrument.py [--electrodes 32] [--array dipole-dipole] [--json]

Prints a table, then one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ohmpi import sequences  # noqa: E402
from ohmpi.instrument import Instrument  # noqa: E402


def timed(fn, box: list):
    def wrapper(*args):
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            box[0] += time.perf_counter() - start

    return wrapper


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--electrodes", type=int, default=32)
    parser.add_argument("--array", default="dipole-dipole")
    parser.add_argument("--limit", type=int, default=200, help="quadrupoles to measure")
    parser.add_argument("--stacks", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)

    quads = sequences.generate(args.array, args.electrodes)[: args.limit]
    with Instrument.from_config({"n_electrodes": args.electrodes}, time_scale=0) as inst:
        hw = inst.sim
        physics = [0.0]
        for adc in (hw.current_adc, hw.voltage_adc):
            adc.analog = timed(adc.analog, physics)
        inst.settings = {"nb_stack": args.stacks}
        transfers0, chip0 = hw.bus.transfers, hw.bus.chip_seconds
        sim0 = hw.clock.monotonic()
        start = time.perf_counter()
        samples = 0
        for a, b, m, n in quads:
            record, _ = inst.measure(int(a), int(b), int(m), int(n))
            samples += record["n_samples"]
        wall = time.perf_counter() - start
        chip = hw.bus.chip_seconds - chip0
        transfers = hw.bus.transfers - transfers0
        simulated = hw.clock.monotonic() - sim0

    result = {
        "quadrupoles": len(quads),
        "quadrupoles_per_s": len(quads) / wall,
        "wall_s": wall,
        "simulated_s": simulated,
        "speedup_vs_real_time": simulated / wall,
        "i2c_transfers": transfers,
        "i2c_transfers_per_s": transfers / wall,
        "samples_per_s": samples / wall,
        "emulated_chips_share": chip / wall,
        "physics_share": physics[0] / wall,
        "our_code_share": 1 - chip / wall,
    }
    if not args.json:
        rows = [
            ("quadrupoles", f"{len(quads)} ({args.array}, {args.electrodes} electrodes, {args.stacks} stacks)"),
            ("quadrupoles per second", f"{result['quadrupoles_per_s']:.1f}"),
            ("simulated time / wall time", f"{result['speedup_vs_real_time']:.0f}x"),
            ("I2C transfers per second", f"{result['i2c_transfers_per_s']:.0f}"),
            ("time in emulated chips", f"{100 * result['emulated_chips_share']:.1f} %"),
            ("  of which physics", f"{100 * result['physics_share']:.1f} %"),
            ("time in our code", f"{100 * result['our_code_share']:.1f} %"),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
