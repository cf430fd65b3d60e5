"""Apparent chargeability from the decay after each current switch-off (time-domain IP).

After every half-cycle of polarity p and primary voltage Vp (that half-cycle's Vmn, SP
removed), the off time holds the secondary voltage Vs(t) the earth's polarization leaves.
Each sample is cleaned of the fitted self-potential and mains hum, placed at the middle of
its conversion, and the decay is integrated (trapezoids on the samples, interpolated to the
window edges) over consecutive windows starting `ip_delay_ms` after the switch-off:

    m_k = 1000 · p · (1/W_k) ∫_{window k} Vs(t) dt / Vp        (mV/V)

``ip_windows_mvv`` are the m_k averaged over the switch-offs; ``ip_mvv`` is the apparent
integral chargeability, their width-weighted mean (the Newmont-style M in mV/V, as ResIPy's
and pyGIMLi's ``ip`` column expects). Windows that do not fit in the off time are left out.
``ip_std_mvv`` propagates the sample noise, undithered quantization and the uncertainty of
the SP baseline. Flags: ``ip_wrong_sign`` (a decay of the opposite sign beyond 3σ and
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


def chargeability(t, polarity, segment, vmn_mV, *, segs, vmn_h, sp, sp_cov, t_ref, hum, sigma_off, lsb, ctx):
    """The chargeability of one measurement, or None when no window fits an off time."""
    half = ctx.conversion_s / 2
    delay = ctx.ip_delay_ms / 1000
    edges = delay + np.concatenate([[0.0], np.cumsum(ctx.ip_windows_ms)]) / 1000
    per_off, variances, off_times, primaries = [], [], [], []
    usable = len(ctx.ip_windows_ms)
    decays = []
    for s in segs:
        p_prev = vmn_h.get(s - 1)
        if p_prev is None or s not in ctx.segment_starts or s - 1 not in ctx.segment_starts:
            continue
        sel = segment == s
        if not sel.any() or polarity[sel][0] != 0:
            continue
        prev_pol = polarity[segment == s - 1][0]
        x = t[sel] + half - ctx.segment_starts[s]
        y = vmn_mV[sel] - hum(t[sel]) - sp(t[sel])
        fits = int(np.searchsorted(edges[1:], x[-1] + 1e-9, side="right"))
        usable = min(usable, fits)
        decays.append((x, y, prev_pol, p_prev, float(np.mean(t[sel]))))
    if not decays or usable == 0 or any(len(d[0]) < 2 for d in decays):
        return None
    sigma2 = (sigma_off if math.isfinite(sigma_off) else 0.0) ** 2
    sigma2 += lsb**2 / 12 * undithered_share(math.sqrt(sigma2), lsb)
    widths = np.asarray(ctx.ip_windows_ms[:usable], float)
    for x, y, prev_pol, vp, t_mean in decays:
        values, var = [], []
        for k in range(usable):
            w = _window_weights(x, edges[k], edges[k + 1])
            values.append(1000.0 * prev_pol * float(w @ y) / vp)
            var.append((1000.0 / vp) ** 2 * sigma2 * float(w @ w))
        per_off.append(values)
        variances.append(var)
        off_times.append(t_mean - t_ref)
        primaries.append(vp)
    per_off, variances = np.array(per_off), np.array(variances)
    windows = per_off.mean(axis=0)
    share = widths / widths.sum()
    ip_value = float(windows @ share)
    var_ip = float(np.sum((variances / len(per_off) ** 2).sum(axis=0) * share**2))
    if sp_cov is not None:
        # the SP baseline error is common to every window of a switch-off; its sign follows p
        signs = np.array([d[2] for d in decays], float)
        g = np.array([[1.0, tm] for tm in off_times]) * (signs / np.array(primaries))[:, None]
        g = 1000.0 * g.mean(axis=0)
        var_ip += float(g @ sp_cov @ g)
    std = math.sqrt(max(var_ip, 0.0))
    flags = []
    if ip_value < -max(3 * std, 1.0):
        flags.append("ip_wrong_sign")
    if std > IP_NOISY_MVV:
        flags.append("ip_noisy")
    return Chargeability(ip_value, std, [float(v) for v in windows], [float(w) for w in widths],
                         float(ctx.ip_delay_ms), flags)
