"""Are the error bars honest, and is the chargeability right? Simulated surveys against the truth.

For each scenario (array, electrodes, noise, contact resistance, stacks) a whole survey is
simulated (the real procedure and drivers on the emulated instrument) over a homogeneous
earth, and every quadrupole's standardized error z = (R − R_true) / (|R_true| · r_std_pct/100)
is computed against the analytic transfer resistance. Calibrated error bars give a z spread
of 1 and 0.3 % beyond 3σ; the target is a spread in 0.8..1.25 and at most 1 % beyond 3σ.
IP scenarios measure the apparent chargeability over chargeable earths.

    .venv/bin/python bench/science.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ohmpi import colecole, earth  # noqa: E402
from ohmpi.simulate import simulate  # noqa: E402

RHO = 37.0
SCENARIOS = [  # (array, electrodes, noise, contact ohm, stacks)
    ("dipole-dipole", 32, 0.005, 1000.0, 2),  # the case
    ("dipole-dipole", 16, 0.002, 100.0, 1),
    ("dipole-dipole", 64, 0.01, 5000.0, 2),
    ("dipole-dipole", 32, 0.05, 20000.0, 4),
    ("wenner", 32, 0.002, 1000.0, 1),
    ("wenner", 64, 0.05, 100.0, 8),
    ("wenner", 16, 0.01, 20000.0, 2),
    ("gradient", 32, 0.005, 1000.0, 3),
    ("gradient", 16, 0.05, 5000.0, 1),
    ("gradient", 64, 0.002, 20000.0, 8),
]
QUICK = SCENARIOS[:4]
IP_MODELS = [
    ("homogeneous:rho=100;m=50;tau=1;c=0.5", "homogeneous"),
    ("layers:rho=100,20;h=3;m=0,80;tau=1;c=0.5", "chargeable second layer"),
]


def z_scores(records, positions, rho=RHO):
    quads = np.array([[r[k] for k in "abmn"] for r in records])
    truth = earth.HomogeneousEarth(rho).transfer_resistances(positions, quads)
    r = np.array([np.nan if x["r_ohm"] is None else x["r_ohm"] for x in records], float)
    std = np.array([np.nan if x["r_std_pct"] is None else x["r_std_pct"] for x in records], float)
    z = (r - truth) / (np.abs(r) * std / 100)  # the absolute error as exported: |R| · r_std_pct
    return z[np.isfinite(z)]


def calibration(array, electrodes, noise, contact, stacks, seed=1):
    started = time.perf_counter()
    records, positions = simulate(
        electrodes=electrodes,
        array=array,
        model=f"homogeneous:rho={RHO}",
        noise=noise,
        stacks=stacks,
        contact_ohm=contact,
        seed=seed,
    )
    z = z_scores(records, positions)
    return {
        "array": array,
        "electrodes": electrodes,
        "noise": noise,
        "contact_ohm": contact,
        "stacks": stacks,
        "quadrupoles": len(records),
        "z_std": round(float(np.std(z)), 3),
        "z_beyond3_pct": round(float(100 * np.mean(np.abs(z) > 3)), 3),
        "z_max": round(float(np.max(np.abs(z))), 2),
        "median_r_std_pct": round(float(np.median([x["r_std_pct"] for x in records if x["r_std_pct"]])), 4),
        "ok": bool(0.8 <= np.std(z) <= 1.25 and np.mean(np.abs(z) > 3) <= 0.01),
        "seconds": round(time.perf_counter() - started, 1),
    }


def chargeability(model, label):
    started = time.perf_counter()
    records, _ = simulate(electrodes=32, array="wenner", model=model, noise=0.01, stacks=2, seed=1, strategy="fixed")
    strong = [r for r in records if r["ip_mvv"] is not None and abs(r["vmn_mV"]) > 1]
    ip = np.array([r["ip_mvv"] for r in strong])
    spacing = np.array([abs(r["m"] - r["a"]) for r in strong])
    by_spacing = {int(a): round(float(ip[spacing == a].mean()), 2) for a in sorted(set(spacing.tolist()))}
    return {
        "model": model,
        "label": label,
        "quadrupoles": len(records),
        "strong": len(strong),
        "ip_mean_mvv": round(float(ip.mean()), 2),
        "ip_spread_pct": round(float(100 * ip.std() / ip.mean()), 2),
        "ip_by_spacing_mvv": by_spacing,
        "seconds": round(time.perf_counter() - started, 1),
    }


IP_REFERENCE = [  # noise-free: the measured chargeability against the model's windowed value
    (
        "homogeneous:rho=100;m=60;tau=0.3;c=0.5",
        {"nb_stack": 2, "injection_ms": 400, "ip_windows_ms": [40, 60, 80, 120]},
    ),
    ("homogeneous:rho=100;m=50;tau=1;c=0.5", {"nb_stack": 2}),
    ("homogeneous:rho=50;m=100;tau=0.05;c=1", {"nb_stack": 1}),
    (
        "homogeneous:rho=100;m=30;tau=2;c=0.5",
        {"nb_stack": 4, "injection_ms": 2000, "ip_delay_ms": 450, "ip_windows_ms": [130, 130, 130, 130, 130]},
    ),  # Newmont-like
]


def ip_accuracy(model, settings):
    record, reference = colecole.measured_with_reference(model, settings)
    return {
        "model": model,
        "settings": settings,
        "ip_mvv": round(record["ip_mvv"], 4),
        "model_mvv": round(reference, 4),
        "error_pct": round(100 * (record["ip_mvv"] / reference - 1), 3),
        "ip_std_mvv": round(record["ip_std_mvv"], 4),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="four scenarios only")
    args = parser.parse_args(argv)
    out = {"calibration": [], "ip": [], "ip_accuracy": []}
    for scenario in QUICK if args.quick else SCENARIOS:
        result = calibration(*scenario)
        out["calibration"].append(result)
        if not args.json:
            print(
                f"{result['array']:>14} {result['electrodes']:3d} el noise {100 * result['noise']:4.1f} % "
                f"contact {result['contact_ohm']:7.0f} Ω stacks {result['stacks']}: z_std {result['z_std']:.2f} "
                f"beyond 3σ {result['z_beyond3_pct']:.2f} % (max {result['z_max']}) "
                f"{'ok' if result['ok'] else 'MISSED'}  [{result['seconds']} s]",
                flush=True,
            )
    for model, label in IP_MODELS:
        result = chargeability(model, label)
        out["ip"].append(result)
        if not args.json:
            print(
                f"IP {label}: mean {result['ip_mean_mvv']} mV/V, spread {result['ip_spread_pct']} % over "
                f"{result['strong']} quadrupoles with |Vmn| > 1 mV; by spacing {result['ip_by_spacing_mvv']}",
                flush=True,
            )
    for model, settings in IP_REFERENCE:
        result = ip_accuracy(model, settings)
        out["ip_accuracy"].append(result)
        if not args.json:
            print(
                f"IP accuracy {model} {settings}: measured {result['ip_mvv']} mV/V, model {result['model_mvv']} "
                f"mV/V ({result['error_pct']:+.2f} %)",
                flush=True,
            )
    out["all_ok"] = all(r["ok"] for r in out["calibration"])
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
