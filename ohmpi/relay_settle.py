"""How long the relays take to settle, measured on the instrument itself.

A relay's contact closes an operate time after its coil and then bounces; until it rests, the
M–N input is (now and then) open and reads whatever a floating input picks up. The measurement:
close an M–N pair, read Vmn after increasing delays (fresh from open each time), and compare with
the reading of the same pair at rest. The settle time is the first delay from which every reading
agrees. Nothing injects: the electrodes' own potential is the signal, so the measurement is safe
at any time; on electrodes that are not in the ground nothing ever agrees and the answer is None.
"""

from __future__ import annotations

import statistics

FSR_V = 0.512
RATE_SPS = 860
REST_S = 0.010  # an opened contact lifts within a release time (typically ≤ 3 ms)
REFERENCE_READS = 8
MIN_TOLERANCE_V = 0.002


def measure(board, m: int = 1, n: int = 2, *, step_ms: float = 0.5, max_ms: float = 12.0, repeats: int = 4) -> dict:
    """{"settle_ms": first delay after which every reading agrees with the pair at rest (None: never),
    "rows": [[delay_ms, fraction agreeing]], ...}. Leaves every relay open."""
    relays, adc, mux, clock = board.relays, board.voltage_adc, board.voltage_mux, board.clock
    saved, relays.settle_s = relays.settle_s, 0.0
    pair = {"M": [m], "N": [n]}

    def read() -> float:
        return adc.read(mux, FSR_V, RATE_SPS)

    try:
        board.injector.shutdown()
        relays.release_all()
        relays.connect(pair)
        clock.sleep(0.05)  # long after any relay has come to rest
        at_rest = [read() for _ in range(REFERENCE_READS)]
        reference = statistics.median(at_rest)
        tolerance = max(3 * (max(at_rest) - min(at_rest)), MIN_TOLERANCE_V)
        rows = []
        steps = int(round(max_ms / step_ms))
        for k in range(steps + 1):
            delay = k * step_ms / 1000
            agree = 0
            for _ in range(repeats):
                relays.release_all()
                clock.sleep(REST_S)
                relays.connect(pair)
                clock.sleep(delay)
                agree += abs(read() - reference) <= tolerance
            rows.append([round(k * step_ms, 3), agree / repeats])
    finally:
        relays.settle_s = saved
        relays.release_all()
    settle = None
    for delay, fraction in reversed(rows):
        if fraction < 1:
            break
        settle = delay
    return {
        "settle_ms": settle,
        "configured_ms": round(saved * 1000, 3),
        "step_ms": step_ms,
        "electrodes": [m, n],
        "tolerance_mV": round(tolerance * 1000, 3),
        "rows": rows,
    }
