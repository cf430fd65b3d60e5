"""The Cole–Cole relaxation in the time domain: how a chargeable earth answers a current step.

Pelton's Cole–Cole resistivity  ρ(ω) = ρ0 [1 − m (1 − 1 / (1 + (iωτ)^c))]  answers a current
step switched on at t = 0 with  V(t) = V0 [1 − m G(t)],  and the voltage left after a long
injection is switched off decays as  m G(t),  where  G(t) = E_c(−(t/τ)^c)  is the
Mittag-Leffler relaxation (G(0) = 1, G(∞) = 0; c = 1 is the Debye exponential e^(−t/τ)).

G is completely monotone: a mixture of exponentials with the spectrum
    K(r) = sin(cπ) r^(c−1) / (π (r^(2c) + 2 r^c cos(cπ) + 1)),   G(t) = ∫ K(r) e^(−r t/τ) dr,
which ``Spectrum`` discretizes on a log grid. Any current waveform is then a superposition
of steps, each decaying as a sum of exponentials: exact enough to simulate, fast, and with
closed forms (c = 1, c = 1/2) to check it against.

Chargeabilities m are in mV/V here as in the record (a fraction × 1000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DECADES = (-10.0, 10.0)  # r range of the discretized spectrum (in units of 1/τ)
PER_DECADE = 20


@dataclass(frozen=True)
class Spectrum:
    """G(t) ≈ Σ w_j exp(−λ_j t): relaxation rates λ_j (1/s) and weights summing to 1."""

    rates: np.ndarray
    weights: np.ndarray

    def relaxation(self, t) -> np.ndarray:
        """G at times t ≥ 0 (s)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        return np.exp(-np.outer(t, self.rates)) @ self.weights

    def window_mean_factors(self, duration: float) -> np.ndarray:
        """Mean of exp(−λ s) over s in [0, duration], per rate (1 for a zero duration)."""
        if duration <= 0:
            return np.ones_like(self.rates)
        x = self.rates * duration
        return np.where(x > 1e-12, -np.expm1(-x) / np.where(x > 1e-12, x, 1.0), 1.0)


def spectrum(tau: float, c: float) -> Spectrum:
    """The discretized relaxation spectrum of a Cole–Cole model (τ in s, 0 < c ≤ 1)."""
    check_parameters(0.0, tau, c)
    if c >= 1.0:
        return Spectrum(np.array([1.0 / tau]), np.array([1.0]))
    log_r = np.linspace(DECADES[0], DECADES[1], int((DECADES[1] - DECADES[0]) * PER_DECADE) + 1)
    r = 10.0**log_r
    rc = r**c
    density = math.sin(c * math.pi) * rc / (math.pi * (rc * rc + 2.0 * rc * math.cos(c * math.pi) + 1.0))
    weights = density * (log_r[1] - log_r[0]) * math.log(10.0)  # K(r) dr = K(r) r dln r
    return Spectrum(r / tau, weights / weights.sum())


def check_parameters(m: float, tau: float, c: float) -> None:
    """ValueError naming the parameter when m (mV/V), τ (s) or c is out of range."""
    if not (math.isfinite(m) and 0.0 <= m < 1000.0):
        raise ValueError(f"m must be a chargeability in 0..1000 mV/V, got {m!r}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a time constant > 0 s, got {tau!r}")
    if not (math.isfinite(c) and 0.0 < c <= 1.0):
        raise ValueError(f"c must be an exponent in 0..1 (0 excluded), got {c!r}")


def relaxation_exact(t, tau: float, c: float) -> np.ndarray:
    """G(t) in closed form for c = 1 (e^(−t/τ)) and c = 1/2 (e^(x²) erfc(x), x = √(t/τ)): a check."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if c == 1.0:
        return np.exp(-t / tau)
    if c != 0.5:
        raise ValueError("closed forms exist here for c = 1 and c = 0.5 only")
    x = np.sqrt(t / tau)
    out = np.empty_like(x)
    for i, xi in enumerate(x):
        if xi < 20.0:
            out[i] = math.exp(xi * xi) * math.erfc(xi)
        else:  # asymptotic series of the scaled complementary error function
            out[i] = (1 - 1 / (2 * xi * xi) + 3 / (4 * xi**4)) / (xi * math.sqrt(math.pi))
    return out


def step_response(times, steps, spec: Spectrum) -> np.ndarray:
    """Σ_k ΔI_k G(t − t_k) over the steps (t_k, ΔI_k) at or before each time (the polarization
    a current history leaves; multiply by m·R to get a voltage)."""
    times = np.atleast_1d(np.asarray(times, dtype=float))
    out = np.zeros_like(times)
    for t_k, delta in steps:
        after = times >= t_k
        out[after] += delta * spec.relaxation(times[after] - t_k)
    return out


def windowed_chargeability(
    times, polarity, counted, steps, *, m: float, tau: float, c: float, delay_ms: float, windows_ms, binomial
) -> float:
    """The apparent chargeability (mV/V) a homogeneous Cole–Cole earth gives by definition
    (``ohmpi.measure.ip``) for the current steps actually injected, from the closed-form relaxation
    (c = 1 or ½): V/R0 = I(t) − (m/1000) Σ ΔI_k G(t − t_k) at the samples' mid-conversion `times`
    (absolute, s) for the primary, and averaged exactly over each window after each switch-off.
    `binomial(n)` gives the weights over the n switch-offs. A reference to check the chain against."""
    times, polarity, counted = (np.asarray(x) for x in (times, polarity, counted))

    def volts(at):
        at = np.atleast_1d(at)
        current, polar = np.zeros_like(at), np.zeros_like(at)
        for t_k, delta in steps:
            after = at >= t_k
            current[after] += delta
            polar[after] += delta * relaxation_exact(at[after] - t_k, tau, c)
        return current - m / 1000 * polar

    seg = np.cumsum(np.r_[0, np.diff(polarity) != 0])
    edges = delay_ms / 1000 + np.cumsum([0, *windows_ms]) / 1000
    primary = np.mean(
        [
            polarity[seg == s][0] * volts(times[(seg == s) & counted]).mean()
            for s in np.unique(seg)
            if polarity[seg == s][0]
        ]
    )
    values = []
    for s in np.unique(seg)[1:]:
        if polarity[seg == s][0] != 0 or polarity[seg == s - 1][0] == 0:
            continue
        off = min(t_k for t_k, _ in steps if t_k >= times[seg == s - 1][-1])
        values.append(
            [
                1000 * polarity[seg == s - 1][0] * volts(np.linspace(off + a, off + b, 400)).mean() / primary
                for a, b in zip(edges[:-1], edges[1:])
            ]
        )
    windows = binomial(len(values)) @ np.array(values)
    widths = np.asarray(windows_ms, float)
    return float(windows @ widths / widths.sum())


def measured_with_reference(model_text: str, settings: dict, quadrupole=(1, 4, 2, 3)) -> tuple[dict, float]:
    """(record, reference chargeability) of one noise-free simulated measurement over a homogeneous
    Cole–Cole earth: the record's ip_mvv should equal the reference (the model's windowed value)."""
    from ohmpi import earth
    from ohmpi.measure import measure, validate_settings
    from ohmpi.measure.ip import binomial_weights
    from ohmpi.measure.sampling import plan_window
    from ohmpi.sim.world import electrode_positions, simulated_board

    quiet = {
        "noise": 0.0,
        "hum_V": 0.0,
        "sp_mV": 0.0,
        "sp_drift_mV_per_s": 0.0,
        "noise_floor_uV": 0.0,
        "current_noise": 0.0,
    }
    board, hw, cfg = simulated_board({"n_electrodes": 16, "sim": {"model": model_text, **quiet}})
    saved = {}

    def keep(now):  # the current steps the emulated earth saw (reset when the relays change)
        if hw.physics.steps:
            saved["steps"] = list(hw.physics.steps)

    hw.clock.listeners.append(keep)
    s = validate_settings(settings)
    record, wave = measure(board, electrode_positions(cfg), quadrupole, s)
    level, first_off = 0.0, None
    for t_k, delta in saved["steps"]:  # the first switch-off ends the first recorded half-cycle
        level += delta
        if abs(level) < 1e-12 and first_off is None:
            first_off = t_k
    on_s = s.injection_ms / 1000
    start = first_off - on_s + plan_window(on_s, s.settling_ms / 1000, s.sampling_hz, s.mains_hz).offsets[0]
    conversion = 1.0 / 250  # the sampler's rate at 100 Hz sampling
    layer = earth.parse_model(model_text).ip[0]
    reference = windowed_chargeability(
        np.asarray(wave["t_s"]) + start + conversion / 2,
        wave["polarity"],
        wave["counted"],
        saved["steps"],
        m=layer.m,
        tau=layer.tau,
        c=layer.c,
        delay_ms=s.ip_delay_ms,
        windows_ms=s.ip_windows_ms,
        binomial=binomial_weights,
    )
    return record, reference
