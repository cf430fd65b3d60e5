"""Faster surveys without losing quality: simulated seconds, relay operations and energy per survey.

Each scenario (array × electrodes × quiet/noisy earth × contact resistance) is simulated twice
on the emulated instrument, in the same run: as the instrument did before (the sequence's own
order, every relay released after each quadrupole, a probe each time, nb_stack = 2) and as it
does now (relay-sparing order, relays held, probe reused within an A–B, stacking until the
calibrated uncertainty reaches target_std_pct). Simulated time is what a real instrument would
spend. Several receiver channels: the dipole-dipole survey measured "now" with 2 and 4 channels
(up to k M–N dipoles per A–B injection), beside the same survey with one channel and the ratio
of their simulated times (issue 10: 4 channels in <= 35 % of 1 channel, same quality).
Quality: the z-scores against the analytic truth (calibrated: spread ~1, ≤ 1 % beyond 3σ),
the 95th percentile of r_std_pct and the quadrupoles above max_std_pct (2 %).

    .venv/bin/python bench/survey_speed.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ohmpi import earth  # noqa: E402
from ohmpi.simulate import simulate_survey  # noqa: E402

RHO = 37.0
QUIET, NOISY = 0.002, 0.02
TARGET = {"target_std_pct": 2.0, "min_stacks": 1, "max_stacks": 8}
BASELINE_ISSUE = {  # issue 10, measured before: 64 electrodes, default settings, quiet earth
    "dipole-dipole": {"quadrupoles": 1891, "sim_duration_s": 3283, "relay_ops_per_quadrupole": 8.0},
    "wenner": {"quadrupoles": 651, "sim_duration_s": 1130, "relay_ops_per_quadrupole": 8.0},
    "gradient": {"quadrupoles": 784, "sim_duration_s": 1361, "relay_ops_per_quadrupole": 8.0},
}
SCENARIOS = [  # (array, electrodes, noise, contact ohm)
    ("dipole-dipole", 64, QUIET, 1000.0),
    ("wenner", 64, QUIET, 1000.0),
    ("gradient", 64, QUIET, 1000.0),
    ("dipole-dipole", 32, NOISY, 1000.0),
    ("wenner", 32, NOISY, 5000.0),
    ("gradient", 32, QUIET, 20000.0),
]
QUICK = [("dipole-dipole", 32, QUIET, 1000.0), ("wenner", 32, QUIET, 1000.0), ("gradient", 32, NOISY, 5000.0)]
CHANNEL_SCENARIOS = [("dipole-dipole", 64, QUIET, 1000.0, (2, 4))]  # (array, electrodes, noise, contact, channels)
CHANNEL_QUICK = [("dipole-dipole", 32, QUIET, 1000.0, (2, 4))]
CHANNEL_TARGET_RATIO = 0.35


def quality(records, positions) -> dict:
    quads = np.array([[r[k] for k in "abmn"] for r in records])
    truth = earth.HomogeneousEarth(RHO).transfer_resistances(positions, quads)
    r = np.array([np.nan if x["r_ohm"] is None else x["r_ohm"] for x in records], float)
    std = np.array([np.nan if x["r_std_pct"] is None else x["r_std_pct"] for x in records], float)
    z = (r - truth) / (np.abs(r) * std / 100)
    z = z[np.isfinite(z)]
    err = 100 * np.abs(r / truth - 1)
    return {
        "z_std": round(float(np.std(z)), 3),
        "z_beyond3_pct": round(float(100 * np.mean(np.abs(z) > 3)), 2),
        "r_std_p50_pct": round(float(np.nanmedian(std)), 3),
        "r_std_p95_pct": round(float(np.nanpercentile(std, 95)), 3),
        "above_max_std": int(np.sum(std > 2.0)),
        "error_p50_pct": round(float(np.nanmedian(err)), 3),
        "error_p95_pct": round(float(np.nanpercentile(err, 95)), 3),
        "stacks_mean": round(float(np.mean([x["n_stacks"] for x in records])), 2),
    }


def run(array, electrodes, noise, contact, fast: bool, channels: int = 1) -> dict:
    started = time.perf_counter()
    records, positions, figures = simulate_survey(
        electrodes=electrodes,
        array=array,
        model=f"homogeneous:rho={RHO}",
        noise=noise,
        contact_ohm=contact,
        seed=1,
        stacks=2,
        settings=TARGET if fast else None,
        optimize=fast,
        hold_relays=fast,
        channels=channels,
    )
    n = figures["quadrupoles"]
    return {
        **figures,
        "s_per_quadrupole": round(figures["sim_duration_s"] / n, 3),
        "relay_ops_per_quadrupole": round(figures["relay_operations"] / n, 2),
        "energy_j_per_quadrupole": round(figures["energy_j"] / n, 3),
        **quality(records, positions),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="three 32-electrode scenarios only")
    parser.add_argument("--channels-only", action="store_true", help="only the receiver-channel scenarios")
    parser.add_argument("--max-stacks", type=int, default=TARGET["max_stacks"], help="stacking ceiling (default 8)")
    args = parser.parse_args(argv)
    TARGET["max_stacks"] = args.max_stacks
    out = {"settings": TARGET, "baseline_issue": BASELINE_ISSUE, "scenarios": []}
    for array, electrodes, noise, contact in [] if args.channels_only else QUICK if args.quick else SCENARIOS:
        before, now = run(array, electrodes, noise, contact, False), run(array, electrodes, noise, contact, True)
        row = {
            "array": array,
            "electrodes": electrodes,
            "noise": noise,
            "contact_ohm": contact,
            "before": before,
            "now": now,
            "time_saved_pct": round(100 * (1 - now["sim_duration_s"] / before["sim_duration_s"]), 1),
            "energy_saved_pct": round(100 * (1 - now["energy_j"] / before["energy_j"]), 1),
        }
        out["scenarios"].append(row)
        if not args.json:
            print(
                f"{array:>14} {electrodes:2d} el noise {100 * noise:3.1f} % contact {contact:6.0f} Ω "
                f"{now['quadrupoles']:5d} quads: {before['sim_duration_s']:7.0f} → {now['sim_duration_s']:7.0f} s "
                f"(−{row['time_saved_pct']} %), relays/quad {before['relay_ops_per_quadrupole']:.2f} → "
                f"{now['relay_ops_per_quadrupole']:.2f}, energy {before['energy_j']:.0f} → {now['energy_j']:.0f} J, "
                f"p95 r_std {before['r_std_p95_pct']} → {now['r_std_p95_pct']} %, >2 % {before['above_max_std']} → "
                f"{now['above_max_std']}, z_std {now['z_std']} beyond 3σ {now['z_beyond3_pct']} %",
                flush=True,
            )
    out["channels"] = []
    for array, electrodes, noise, contact, counts in CHANNEL_QUICK if args.quick else CHANNEL_SCENARIOS:
        done = {1: run(array, electrodes, noise, contact, True)}
        for k in counts:
            done[k] = run(array, electrodes, noise, contact, True, channels=k)
        for k, figures in done.items():
            ratio = figures["sim_duration_s"] / done[1]["sim_duration_s"]
            out["channels"].append(
                {
                    "array": array,
                    "electrodes": electrodes,
                    "noise": noise,
                    "contact_ohm": contact,
                    "channels": k,
                    "time_ratio": round(ratio, 3),
                    **figures,
                }
            )
            if not args.json:
                print(
                    f"{array:>14} {electrodes:2d} el noise {100 * noise:3.1f} % {k} channel(s): "
                    f"{figures['quadrupoles']:5d} quads {figures['sim_duration_s']:7.0f} s = {100 * ratio:5.1f} % of "
                    f"1 channel (target 4 channels <= {100 * CHANNEL_TARGET_RATIO:.0f} %), relays/quad "
                    f"{figures['relay_ops_per_quadrupole']:.2f}, energy {figures['energy_j']:.0f} J, "
                    f"z_std {figures['z_std']} beyond 3σ {figures['z_beyond3_pct']} %, p95 r_std "
                    f"{figures['r_std_p95_pct']} %, >2 % {figures['above_max_std']}, stacks {figures['stacks_mean']}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(
            "issue baseline (64 electrodes): "
            + ", ".join(
                f"{a} {b['sim_duration_s']} s {b['relay_ops_per_quadrupole']} relays/quad"
                for a, b in BASELINE_ISSUE.items()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
