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
    r = 10.0 ** log_r
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
