"""From samples to R and its calibrated uncertainty.

R: per-segment means over whole mains periods, then a least-squares fit of
V = R·I·polarity + SP(t) with SP a constant plus a linear drift (and, when there are off
times, the mean decay a chargeable earth leaves after each half-cycle), so the
self-potential, its drift and the induced polarization drop out.

The uncertainty of R (``r_std_pct``) is a standard error built from every sample, not the
spread of a few half-cycles (three degrees of freedom for two stacks: a t-distribution whose
tails put 6 % of the data beyond 3σ). Its budget, each a 1σ share in %, combined in quadrature:

- ``noise``: the scatter of single samples (``ohmpi.measure.noise``) through the estimator;
- ``sp``: what fitting the self-potential and its drift adds to it;
- ``quantization``: ADC codes that the noise and hum do not dither (a constant error per
  half-cycle, up to half an LSB: what dominates microvolt quadrupoles);
- ``current``: the measured current (its scatter and quantization);
- ``excess``: half-cycle means that scatter more than their samples allow (hum leakage, a
  non-linear drift, a changing contact), tested by χ² and counted only when significant.

The raw spread over half-cycles is kept as ``r_stack_std_pct``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ohmpi.measure import ip as ip_windows
from ohmpi.measure.noise import fit_samples, undithered_share

CHI2_Z = 2.326  # one-sided 99 %: excess scatter is counted only beyond this


@dataclass
class Context:
    """What the analysis needs beyond the samples (the procedure knows it)."""

    mains_hz: float = 50.0
    v_lsb_mV: float = 0.0  # one ADC code of Vmn, in mV at the electrodes
    i_lsb_mA: float = 0.0  # one ADC code of the current, in mA
    conversion_s: float = 0.0  # duration of one conversion (a sample is its mean)
    segment_starts: dict = field(default_factory=dict)  # segment -> switching time
    ip_delay_ms: float = 0.0
    ip_windows_ms: tuple = ()


@dataclass
class Analysis:
    r_ohm: float
    r_std_pct: float
    vmn_mV: float
    vmn_std_pct: float
    iab_mA: float
    iab_std_pct: float
    sp_mV: float
    r_stack_std_pct: float = None
    r_budget_pct: dict = None
    ip: ip_windows.Chargeability | None = None


def _rel_std(values: np.ndarray, reference: float) -> float:
    if len(values) < 2 or reference == 0:
        return 0.0
    return float(100.0 * np.std(values, ddof=1) / abs(reference))


def _chi2_quantile(dof: int, z: float = CHI2_Z) -> float:
    """Wilson–Hilferty approximation of the χ² quantile."""
    a = 2.0 / (9.0 * dof)
    return dof * (1.0 - a + z * math.sqrt(a)) ** 3


def analyse(t, polarity, segment, counted, current_mA, vmn_mV, context: Context | None = None) -> Analysis:
    ctx = context or Context()
    t, polarity, segment = np.asarray(t, float), np.asarray(polarity), np.asarray(segment)
    counted, current_mA, vmn_mV = np.asarray(counted, bool), np.asarray(current_mA, float), np.asarray(vmn_mV, float)
    t_ref = float(np.mean(t[counted])) if counted.any() else 0.0
    segs, rows, means, sizes = [], [], [], []
    for s in np.unique(segment):
        sel = counted & (segment == s)
        if not sel.any():
            continue
        segs.append(int(s))
        rows.append((int(polarity[sel][0]), float(np.mean(current_mA[sel])), float(np.mean(t[sel])) - t_ref))
        means.append(float(np.mean(vmn_mV[sel])))
        sizes.append(int(sel.sum()))
    rows_a, means_a, sizes_a = np.array(rows, float).reshape(-1, 3), np.array(means), np.array(sizes)
    pol, cur, ts = rows_a.T
    on_a = pol != 0
    if not on_a.any():
        raise ValueError("no injection half-cycle with counted samples")
    previous = _previous_polarity(segs, segment, polarity)
    design = [pol * cur, np.ones_like(cur)]
    if len(rows_a) >= 4:  # enough segments to also fit a linear SP drift
        design.append(ts)
    off_after_on = (~on_a) & (previous != 0)
    if off_after_on.sum() >= 2 and len(rows_a) >= 6:  # the decay left after each half-cycle
        design.append(np.where(off_after_on, previous, 0.0))
    design = np.stack(design, axis=1)

    # --- how noisy each segment mean is, from its samples -----------------------------------------
    # injecting and not injecting are fitted apart: their noise differs by orders of magnitude, and
    # one common hum fit would carry the injecting samples' noise into the quiet ones
    sample_on = polarity[counted] != 0
    tc, vc, sc = t[counted], vmn_mV[counted], segment[counted]
    fit_on = fit_samples(tc[sample_on], vc[sample_on], sc[sample_on], ctx.mains_hz)
    fit_off = fit_samples(tc[~sample_on], vc[~sample_on], sc[~sample_on], ctx.mains_hz)
    ifit = fit_samples(tc[sample_on], current_mA[counted][sample_on], sc[sample_on], ctx.mains_hz)
    known = bool(fit_on.dof)
    if known:
        off = fit_off if fit_off.dof else fit_on
        sigma = np.where(on_a, fit_on.sigma, off.sigma)
        hum = np.where(on_a, fit_on.hum_amplitude, off.hum_amplitude)
        white = sigma**2 / sizes_a
        dither = np.sqrt(sigma**2 + hum**2 / 2)
        quant = np.array([ctx.v_lsb_mV**2 / 12 * undithered_share(d, ctx.v_lsb_mV) for d in dither])
        seg_var = np.maximum(white + quant, 1e-30)
    else:
        white = quant = np.zeros(len(means_a))
        seg_var = np.ones(len(means_a))
    # weighted least squares: the quiet off-time means pin the SP line down, the noisy half-cycles don't pull it
    w = 1.0 / seg_var
    pinv = np.linalg.pinv(design * np.sqrt(w)[:, None]) * np.sqrt(w)[None, :]
    coef = pinv @ means_a
    drift = coef[2] if design.shape[1] > 2 else 0.0
    sp = coef[1] + drift * ts  # SP at each segment's time
    vmn_h = pol[on_a] * (means_a[on_a] - sp[on_a])
    iab_h = cur[on_a]
    vmn = float(np.mean(vmn_h))
    iab = float(np.mean(iab_h))
    r = vmn / iab if iab > 0 else float("nan")
    r_h = vmn_h / np.where(iab_h > 0, iab_h, np.nan)

    # --- the uncertainty: the linear map from segment means to vmn, with and without the SP fit ---
    sp_map = design[:, 1:] @ pinv[1:, :]
    n_on = int(on_a.sum())
    direct = np.zeros(len(means_a))
    direct[on_a] = pol[on_a] / n_on
    weights = direct - (pol * on_a / n_on) @ sp_map
    budget = None
    if known and vmn != 0 and iab > 0:
        var_direct = float(np.sum(direct**2 * white))
        var_sp = max(float(np.sum(weights**2 * white)) - var_direct, 0.0)
        var_quant = float(np.sum(weights**2 * quant))
        residual = means_a - design @ coef
        dof = len(means_a) - np.linalg.matrix_rank(design)
        var_excess = 0.0
        if dof >= 2:
            chi2 = float(np.sum(residual**2 / seg_var))
            if chi2 > _chi2_quantile(dof):
                var_excess = (chi2 / dof - 1.0) * (var_direct + var_sp + var_quant)
        var_current = 0.0
        if ifit.dof:
            i_sigma = ifit.sigma
            i_quant = ctx.i_lsb_mA**2 / 12 * undithered_share(i_sigma, ctx.i_lsb_mA)
            var_current = float(np.sum((i_sigma**2 / sizes_a[on_a] + i_quant))) / n_on**2
        budget = {
            "noise": 100 * math.sqrt(var_direct) / abs(vmn),
            "sp": 100 * math.sqrt(var_sp) / abs(vmn),
            "quantization": 100 * math.sqrt(var_quant) / abs(vmn),
            "current": 100 * math.sqrt(var_current) / iab,
            "excess": 100 * math.sqrt(var_excess) / abs(vmn),
        }
        r_std = math.sqrt(sum(v * v for v in budget.values()))
        vmn_std = 100 * math.sqrt(var_direct + var_sp + var_quant + var_excess) / abs(vmn)
        iab_std = budget["current"]
    else:  # too few samples to know their noise: the half-cycles' standard error is all there is
        r_std = _rel_std(r_h, r) / math.sqrt(max(len(r_h), 1))
        vmn_std, iab_std = _rel_std(vmn_h, vmn), _rel_std(iab_h, iab)
    charge = None
    if ctx.ip_windows_ms and ctx.segment_starts and fit_off.dof:
        charge = ip_windows.chargeability(
            t,
            polarity,
            segment,
            vmn_mV,
            segs=segs,
            vmn=vmn,
            hum=fit_off.hum,
            sigma_off=fit_off.sigma,
            lsb=ctx.v_lsb_mV,
            ctx=ctx,
        )
    return Analysis(
        r_ohm=r,
        r_std_pct=r_std,
        vmn_mV=vmn,
        vmn_std_pct=vmn_std,
        iab_mA=iab,
        iab_std_pct=iab_std,
        sp_mV=float(coef[1]),
        r_stack_std_pct=_rel_std(r_h, r),
        r_budget_pct=budget,
        ip=charge,
    )


def _previous_polarity(segs, segment, polarity) -> np.ndarray:
    """The polarity of the segment just before each one (0 for the first or an off one)."""
    by_segment = {}
    for s, p in zip(segment.tolist(), polarity.tolist()):
        by_segment.setdefault(s, p)
    return np.array([by_segment.get(s - 1, 0) for s in segs], float)
