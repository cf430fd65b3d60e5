"""From samples to R: per-segment means over whole mains periods, then a least-squares
fit of  V = R·I·polarity + SP(t)  with SP a constant plus a linear drift, so the
self-potential and its drift drop out; spreads are taken over the half-cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Analysis:
    r_ohm: float
    r_std_pct: float
    vmn_mV: float
    vmn_std_pct: float
    iab_mA: float
    iab_std_pct: float
    sp_mV: float


def _rel_std(values: np.ndarray, reference: float) -> float:
    if len(values) < 2 or reference == 0:
        return 0.0
    return float(100.0 * np.std(values, ddof=1) / abs(reference))


def analyse(t, polarity, segment, counted, current_mA, vmn_mV) -> Analysis:
    t, polarity, segment = np.asarray(t), np.asarray(polarity), np.asarray(segment)
    counted, current_mA, vmn_mV = np.asarray(counted), np.asarray(current_mA), np.asarray(vmn_mV)
    t_ref = float(np.mean(t[counted])) if counted.any() else 0.0
    rows, means, on = [], [], []
    for s in np.unique(segment):
        sel = counted & (segment == s)
        if not sel.any():
            continue
        pol = int(polarity[sel][0])
        ts = float(np.mean(t[sel])) - t_ref
        rows.append((pol, float(np.mean(current_mA[sel])), ts))
        means.append(float(np.mean(vmn_mV[sel])))
        on.append(pol != 0)
    rows_a, means_a, on_a = np.array(rows, float), np.array(means), np.array(on)
    if not on_a.any():
        raise ValueError("no injection half-cycle with counted samples")
    pol, cur, ts = rows_a.T
    design = [pol * cur, np.ones_like(cur)]
    if len(rows_a) >= 4:  # enough segments to also fit a linear SP drift
        design.append(ts)
    design = np.stack(design, axis=1)
    coef, *_ = np.linalg.lstsq(design, means_a, rcond=None)
    drift = coef[2] if len(coef) > 2 else 0.0
    sp = coef[1] + drift * ts  # SP at each segment's time
    vmn_h = pol[on_a] * (means_a[on_a] - sp[on_a])
    iab_h = cur[on_a]
    vmn = float(np.mean(vmn_h))
    iab = float(np.mean(iab_h))
    r = vmn / iab if iab > 0 else float("nan")
    r_h = vmn_h / np.where(iab_h > 0, iab_h, np.nan)
    return Analysis(r_ohm=r, r_std_pct=_rel_std(r_h, r), vmn_mV=vmn,
                    vmn_std_pct=_rel_std(vmn_h, vmn), iab_mA=iab,
                    iab_std_pct=_rel_std(iab_h, iab), sp_mV=float(coef[1]))
