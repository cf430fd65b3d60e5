"""What the samples say about their own noise: a fit of every counted sample.

Each segment (a half-cycle or an off time) is a level with a slow trend (slope, curvature:
self-potential drift, the charging or decay of a chargeable earth) and the whole record
shares the mains hum (the fundamental and two harmonics below the Nyquist frequency,
continuous in time). What this
fit leaves is the random scatter of single samples, estimated with many degrees of freedom
(the spread of a few half-cycles has three or seven). Fit samples of one kind together
(injecting, or not: noise grows with the signal). The fitted hum is kept too: its amplitude dithers the
ADC codes, and the induced-polarization windows subtract it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HARMONICS = 3


@dataclass
class SampleNoise:
    sigma: float  # std of one sample (signal units)
    dof: int  # degrees of freedom of the fit (0: no estimate, sigma is NaN)
    hum_amplitude: float  # amplitude of the fitted fundamental (signal units)
    hum_coef: np.ndarray  # coefficients of the hum regressors
    mains_hz: float
    t_ref: float

    def hum(self, t) -> np.ndarray:
        """The fitted hum at times t (0 without a fit)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if not len(self.hum_coef):
            return np.zeros_like(t)
        return _hum_columns(t - self.t_ref, self.mains_hz, len(self.hum_coef) // 2) @ self.hum_coef


def _hum_columns(t: np.ndarray, mains_hz: float, harmonics: int) -> np.ndarray:
    cols = []
    for h in range(1, harmonics + 1):
        w = 2 * math.pi * mains_hz * h
        cols += [np.sin(w * t), np.cos(w * t)]
    return np.stack(cols, axis=1) if cols else np.zeros((len(t), 0))


def fit_samples(t, values, segment, mains_hz: float, *, trend: bool = True) -> SampleNoise:
    """Fit samples (times t, values, segment ids) and measure their scatter.

    `trend` adds a slope and a curvature per segment (where it has samples enough)."""
    t, values, segment = (np.asarray(x) for x in (t, values, segment))
    t_ref = float(np.mean(t)) if len(t) else 0.0
    columns = []
    for s in np.unique(segment):
        sel = segment == s
        n_s = int(sel.sum())
        ts = np.where(sel, t - (t[sel].mean() if n_s else 0.0), 0.0)
        columns.append(sel.astype(float))
        if trend and n_s >= 5:
            columns.append(ts)
        if trend and n_s >= 8:
            scale = np.abs(ts).max() or 1.0
            quad = np.where(sel, (ts / scale) ** 2, 0.0)
            columns.append(quad - np.where(sel, quad[sel].mean(), 0.0))
    n_base = len(columns)
    # only harmonics below the Nyquist frequency: above it they alias into slow trends (a decay)
    steps = np.diff(np.sort(t))
    step = float(np.median(steps[steps > 0])) if np.any(steps > 0) else 0.0
    harmonics = sum(1 for h in range(1, HARMONICS + 1) if step and h * mains_hz < 0.5 / step)
    while harmonics and len(t) - n_base - 2 * harmonics < 3:
        harmonics -= 1
    hum = _hum_columns(t - t_ref, mains_hz, harmonics)
    design = np.column_stack(columns + [hum]) if columns else hum
    dof = len(t) - np.linalg.matrix_rank(design) if len(t) else 0
    if dof < 3:
        return SampleNoise(math.nan, 0, 0.0, np.zeros(0), mains_hz, t_ref)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = values - design @ coef
    hum_coef = coef[n_base:]
    amplitude = float(math.hypot(hum_coef[0], hum_coef[1])) if len(hum_coef) else 0.0
    return SampleNoise(math.sqrt(float(residual @ residual) / dof), int(dof), amplitude, hum_coef, mains_hz, t_ref)


def undithered_share(dither: float, lsb: float) -> float:
    """How much of the ADC quantization error stays the same from sample to sample (1: none of it
    averages out) given the random and hum variation `dither` at the input, both in signal units.
    Gaussian dither of half an LSB already randomizes the codes; this falls to 6 % there."""
    if lsb <= 0:
        return 0.0
    return math.exp(-((dither / (0.3 * lsb)) ** 2))
