"""Apparent chargeability from the decay after each current switch-off (time-domain IP).

After every half-cycle of polarity p the off time holds the secondary voltage Vs(t) the
earth's polarization leaves, on top of the self-potential. Each sample is cleaned of the
fitted mains hum and placed at the middle of its conversion; the decay is integrated
(trapezoids on the samples, interpolated to the window edges) over consecutive windows
starting `ip_delay_ms` after the switch-off, and normalized by the primary voltage Vp (the
record's Vmn):

    m_k = 1000 · Σ_j b_j p_j (1/W_k) ∫_{window k} V_j(t) dt / Vp        (mV/V)

with binomial weights b_j over the switch-offs j (1-1, 1-2-1, 1-3-3-1, ...): alternating p
makes them cancel the self-potential and its drift exactly (a polynomial up to degree n − 2),
without fitting it, so the charging of the earth from cycle to cycle cannot bias the baseline.
``ip_windows_mvv`` are the m_k; ``ip_mvv`` is the apparent
integral chargeability, their width-weighted mean (the Newmont-style M in mV/V, as ResIPy's
and pyGIMLi's ``ip`` column expects). Windows that do not fit in the off time are left out.
``ip_std_mvv`` propagates the sample noise and undithered quantization. Flags: ``ip_wrong_sign`` (a decay of the
opposite sign beyond 3σ and
1 mV/V) and ``ip_noisy`` (σ above IP_NOISY_MVV: the decay is lost in the noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ohmpi.measure.noise import undithered_share

IP_NOISY_MVV = 10.0
GRID = 64  # points per window for the trapezoid weights


@dataclass
class Chargeability:
    ip_mvv: float
    ip_std_mvv: float
    windows_mvv: list
    windows_ms: list
    delay_ms: float
    flags: list = field(default_factory=list)


def _window_weights(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """Weights w with w·y = mean over [a, b] of the piecewise-linear interpolant of (x, y)."""
    grid = np.linspace(a, b, GRID)
    basis = np.zeros((GRID, len(x)))
    j = np.clip(np.searchsorted(x, grid) - 1, 0, len(x) - 2)
    frac = np.clip((grid - x[j]) / (x[j + 1] - x[j]), 0.0, 1.0)
    basis[np.arange(GRID), j] = 1 - frac
    basis[np.arange(GRID), j + 1] += frac
    trapezoid = np.full(GRID, 1.0 / (GRID - 1))
    trapezoid[[0, -1]] /= 2
    return trapezoid @ basis


def binomial_weights(n: int) -> np.ndarray:
    """Weights C(n−1, k)/2^(n−1) of n switch-offs of alternating polarity: they cancel a constant SP
    and its drift up to degree n − 2 (the 1-3-3-1 filter of IP receivers for n = 4)."""
    row = np.array([math.comb(n - 1, k) for k in range(n)], float)
    return row / row.sum()


def chargeability(t, polarity, segment, vmn_mV, *, segs, vmn, hum, sigma_off, lsb, ctx):
    """The chargeability of one measurement (primary `vmn` mV), or None when no window fits an off time."""
    half = ctx.conversion_s / 2
    delay = ctx.ip_delay_ms / 1000
    edges = delay + np.concatenate([[0.0], np.cumsum(ctx.ip_windows_ms)]) / 1000
    usable = len(ctx.ip_windows_ms)
    decays = []
    for s in segs:
        sel = segment == s
        before = segment == s - 1
        if not sel.any() or not before.any() or polarity[sel][0] != 0 or polarity[before][0] == 0:
            continue
        if s not in ctx.segment_starts:
            continue
        x = t[sel] + half - ctx.segment_starts[s]
        y = vmn_mV[sel] - hum(t[sel])
        usable = min(usable, int(np.searchsorted(edges[1:], x[-1] + 1e-9, side="right")))
        decays.append((x, y, int(polarity[before][0])))
    if len(decays) < 2 or usable == 0 or any(len(d[0]) < 2 for d in decays) or vmn == 0:
        return None
    if sum(d[2] for d in decays) != 0:  # the filter needs as many + as − switch-offs
        decays = decays[: 2 * min(sum(d[2] > 0 for d in decays), sum(d[2] < 0 for d in decays))]
        if not decays:
            return None
    sigma2 = (sigma_off if math.isfinite(sigma_off) else 0.0) ** 2
    sigma2 += lsb**2 / 12 * undithered_share(math.sqrt(sigma2), lsb)
    widths = np.asarray(ctx.ip_windows_ms[:usable], float)
    filt = binomial_weights(len(decays))
    windows, variances = np.zeros(usable), np.zeros(usable)
    scale = 1000.0 / vmn  # signed: a negative R has a negative primary and decay
    for weight, (x, y, sign) in zip(filt, decays):
        for k in range(usable):
            w = _window_weights(x, edges[k], edges[k + 1])
            windows[k] += weight * scale * sign * float(w @ y)
            variances[k] += weight**2 * scale**2 * sigma2 * float(w @ w)
    share = widths / widths.sum()
    ip_value = float(windows @ share)
    std = math.sqrt(float(variances @ share**2))  # windows of one decay share no sample noise but
    # neighbouring windows share interpolation end points: a small underestimate, kept simple
    flags = []
    if ip_value < -max(3 * std, 1.0):
        flags.append("ip_wrong_sign")
    if std > IP_NOISY_MVV:
        flags.append("ip_noisy")
    return Chargeability(
        ip_value, std, [float(v) for v in windows], [float(w) for w in widths], float(ctx.ip_delay_ms), flags
    )
