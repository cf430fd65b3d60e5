"""How long the relays need to settle, measured on the emulated instrument (ohmpi.relay_settle).

Each scenario sets the emulated relays' contact timing ([instrument.sim] relay_operate_ms,
relay_release_ms, relay_bounce_ms), then measures on the instrument as `self_test` does: an M-N
pair closed from open, Vmn read after delays in steps of 0.25 ms, four times each, against the
pair at rest. `settle_ms` is the first delay from which every reading agrees; `suggested_ms` adds
a margin (25 %, at least 1 ms, rounded up to 0.5 ms) — what `relay_settle_ms` should be.

    .venv/bin/python bench/relay_settle.py [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ohmpi import relay_settle  # noqa: E402
from ohmpi.sim.world import simulated_board  # noqa: E402

SCENARIOS = [  # (name, operate ms, release ms, bounce ms)
    ("signal relay (defaults)", 5.0, 2.0, 1.0),
    ("fast signal relay", 3.0, 1.5, 0.5),
    ("power relay", 10.0, 5.0, 3.0),
    ("ideal (no timing)", 0.0, 0.0, 0.0),
]
SEEDS = (0, 1, 2)


def suggested(settle_ms: float | None) -> float | None:
    if settle_ms is None:
        return None
    return math.ceil(2 * (settle_ms + max(1.0, 0.25 * settle_ms))) / 2


def run() -> list[dict]:
    rows = []
    for name, operate, release, bounce in SCENARIOS:
        timing = {"relay_operate_ms": operate, "relay_release_ms": release, "relay_bounce_ms": bounce}
        found = []
        for seed in SEEDS:
            board, _, _ = simulated_board({"n_electrodes": 16, "sim": {**timing, "seed": seed}})
            found.append(
                relay_settle.measure(board, step_ms=0.25, max_ms=max(12.0, 2 * (operate + bounce)))["settle_ms"]
            )
        settle = None if None in found else max(found)
        rows.append(
            {
                "relays": name,
                **timing,
                "contact_rest_ms": operate + bounce,
                "settle_ms": settle,
                "settle_ms_per_seed": found,
                "suggested_ms": suggested(settle),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args()
    rows = run()
    if not args.json:
        print(f"{'relays':26} {'operate':>8} {'release':>8} {'bounce':>7} {'measured':>9} {'suggested':>10}  (ms)")
        for r in rows:
            print(
                f"{r['relays']:26} {r['relay_operate_ms']:8.1f} {r['relay_release_ms']:8.1f} "
                f"{r['relay_bounce_ms']:7.1f} {r['settle_ms']:9.2f} {r['suggested_ms']:10.1f}"
            )
    print(json.dumps({"relay_settle": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
