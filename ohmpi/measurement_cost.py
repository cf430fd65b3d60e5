"""What one measurement cost the instrument: seconds, seconds injecting, relay coil
operations and energy drawn — the figures a field installation is limited by.

Read as running totals before and after a measurement (`totals`, `spent`). On the simulated
instrument they come from its clock, the emulated supply's meter and the emulated expanders'
outputs (the same figures as ``ohmpi simulate --json``). On a Pi the seconds come from the
board's clock and the relay operations from the lifetime counter; nothing meters the supply,
so `injection_s` and `energy_j` are None there.
"""

from __future__ import annotations

COST_FIELDS = ("duration_s", "injection_s", "relay_operations", "energy_j")


def totals(instrument) -> dict:
    """The instrument's running totals now (None where it has no such meter)."""
    hw = instrument.sim
    if hw is not None and hw.meter is not None:
        energy, injection = hw.meter.totals()
        relays = hw.relay_operations()
    else:
        energy = injection = None
        relays = sum(instrument.wear.counts.values())
    return {
        "duration_s": instrument.board.clock.monotonic(),
        "injection_s": injection,
        "relay_operations": relays,
        "energy_j": energy,
    }


def spent(before: dict, after: dict) -> dict:
    """What was spent between two `totals` (None where either is unknown)."""
    out = {}
    for name in COST_FIELDS:
        if before.get(name) is None or after.get(name) is None:
            out[name] = None
        elif name == "relay_operations":
            out[name] = int(after[name] - before[name])
        else:
            out[name] = round(max(0.0, after[name] - before[name]), 6)
    return out
