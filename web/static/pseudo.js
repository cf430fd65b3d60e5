// The apparent-resistivity pseudo-section, drawn on a canvas (fast at thousands of points).
//
// Horizontal position: the mean x of the electrodes used (an electrode "at infinity", number 0,
// is left out).
//
// Pseudo-depth (downward): Edwards' (1977) median depth of investigation, computed for each
// quadrupole rather than taken from a per-array table, so any sequence (uploaded, gradient,
// pole-dipole…) gets a consistent depth. The sensitivity of a thin horizontal layer at depth z to
// a pole-pole pair at distance r in a homogeneous half-space integrates to
//     F(z; r) = 1 − r / sqrt(r² + 4 z²).
// A quadrupole is the signed sum of its four pole-pole pairs (AM +, AN −, BM −, BN +) weighted by
// 1/r, so its cumulative sensitivity is
//     G(z) = 1 − Σ sᵢ / sqrt(rᵢ² + 4 z²) / Σ sᵢ / rᵢ
// and the median depth is the z where G(z) = ½ (bisection). This reproduces the usual table
// values (Wenner 0.519 a, dipole-dipole n=1 0.416 a, Schlumberger n=1 0.173 L…). When a
// quadrupole has no sensitivity (Σ sᵢ/rᵢ ≈ 0) we fall back to 0.19 × the electrode spread.
//
// Colour: log10(ρa), limits at the 2nd and 98th percentiles of the plotted values, a
// blue (conductive) → green → yellow → red (resistive) ramp, with a legend. ρa ≤ 0 is grey.
// k and ρa are never recomputed here: the record's `k_m` and `rhoa_ohmm` are plotted.

import { fmt, FLAG_LABEL } from "./api.js";

// Colour ramp anchors (chosen for this page): dark blue → blue → teal → green → yellow → orange → dark red.
const ANCHORS = [
  [38, 52, 140], [33, 113, 181], [32, 160, 160], [110, 190, 80],
  [240, 210, 50], [240, 130, 40], [200, 40, 40], [120, 16, 24],
];
const LUT_SIZE = 64;
export const LUT = (() => {
  const lut = [];
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = (i / (LUT_SIZE - 1)) * (ANCHORS.length - 1);
    const j = Math.min(Math.floor(t), ANCHORS.length - 2);
    const f = t - j;
    const c = ANCHORS[j].map((v, k) => Math.round(v + (ANCHORS[j + 1][k] - v) * f));
    lut.push(`rgb(${c[0]},${c[1]},${c[2]})`);
  }
  return lut;
})();

export function medianDepth(P) {
  // P: up to four [x, y, z, sign] electrode entries: A, B (current), M, N (potential); null = at infinity.
  const [A, B, M, N] = P;
  const terms = [];
  for (const [src, s1] of [[A, 1], [B, -1]]) {
    if (!src) continue;
    for (const [rcv, s2] of [[M, 1], [N, -1]]) {
      if (!rcv) continue;
      const r = Math.hypot(src[0] - rcv[0], src[1] - rcv[1], src[2] - rcv[2]);
      if (r > 0) terms.push([s1 * s2, r]);
    }
  }
  let sum = 0, spread = 0;
  for (const [s, r] of terms) { sum += s / r; spread = Math.max(spread, r); }
  const xs = P.filter(Boolean).map((p) => p[0]);
  const fallback = 0.19 * (Math.max(...xs) - Math.min(...xs));
  if (!terms.length || Math.abs(sum) < 1e-9 * terms.reduce((t, [, r]) => t + 1 / r, 0)) return fallback;
  const G = (z) => {
    let acc = 0;
    for (const [s, r] of terms) acc += s / Math.sqrt(r * r + 4 * z * z);
    return 1 - acc / sum;
  };
  let lo = 0, hi = 20 * spread;
  if (!(G(hi) >= 0.5)) return fallback;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (G(mid) < 0.5) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) out.push(+v.toFixed(10));
  return out;
}

function logTicks(lo, hi) {
  // lo/hi in log10 units; ticks at 1-2-5 per decade, thinned if crowded
  const out = [];
  for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) {
    for (const m of [1, 2, 5]) {
      const v = Math.log10(m) + d;
      if (v >= lo - 1e-9 && v <= hi + 1e-9) out.push(v);
    }
  }
  if (out.length < 3) {
    const t = niceTicks(10 ** lo, 10 ** hi, 4).filter((v) => v > 0).map(Math.log10);
    return t;
  }
  return out;
}

export class PseudoSection {
  constructor(canvas, tip, { onPick } = {}) {
    this.canvas = canvas;
    this.tip = tip;
    this.onPick = onPick;
    this.points = new Map(); // "a,b,m,n" -> point (latest value wins)
    this.positions = [];
    this.bad = new Set();
    this.flaggedBad = new Set();
    this.pending = false;
    this.layout = null;
    this.hover = null;
    this.quantity = "rhoa"; // or "ip": the apparent chargeability (linear colour scale)
    canvas.addEventListener("pointermove", (e) => this._hover(e, false));
    canvas.addEventListener("pointerdown", (e) => this._hover(e, true));
    canvas.addEventListener("pointerleave", () => { if (this.hover && !this.hover.pinned) this._hideTip(); });
    new ResizeObserver(() => this.schedule()).observe(canvas.parentElement);
  }

  setPositions(positions) {
    this.positions = positions || [];
    for (const p of this.points.values()) this._place(p);
    this.schedule();
  }

  setQuantity(quantity) {
    this.quantity = quantity === "ip" ? "ip" : "rhoa";
    for (const p of this.points.values()) p.lr = this._value(p.rec);
    this.schedule();
  }

  _value(rec) {
    if (this.quantity === "ip") return typeof rec.ip_mvv === "number" && Number.isFinite(rec.ip_mvv) ? rec.ip_mvv : NaN;
    const v = rec.rhoa_ohmm;
    return v > 0 ? Math.log10(v) : NaN;
  }

  setBadElectrodes(list) {
    this.bad = new Set(list || []);
    this.schedule();
  }

  _pos(e) {
    if (!e) return null;
    const p = this.positions[e - 1];
    if (p) return [p[0] || 0, p[1] || 0, p[2] || 0];
    // outside the known geometry: assume a 1 m spaced line
    return [e - 1, 0, 0];
  }

  _place(p) {
    const r = p.rec;
    const P = [this._pos(r.a), this._pos(r.b), this._pos(r.m), this._pos(r.n)];
    const xs = P.filter(Boolean).map((q) => q[0]);
    p.x = xs.reduce((s, v) => s + v, 0) / xs.length;
    p.z = medianDepth(P);
  }

  _point(rec) {
    const p = { rec, key: `${rec.a},${rec.b},${rec.m},${rec.n}`, lr: this._value(rec),
      flagged: !!(rec.flags && rec.flags.length) };
    this._place(p);
    return p;
  }

  clear() {
    this.points.clear();
    this._hideTip();
    this.schedule();
  }

  add(rec) {
    const p = this._point(rec);
    this.points.set(p.key, p);
    this.schedule();
  }

  setData(records) {
    this.points.clear();
    for (const r of records) {
      const p = this._point(r);
      this.points.set(p.key, p);
    }
    this.schedule();
  }

  count() { return this.points.size; }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  // Draw now; returns the time taken in ms.
  render() {
    const t0 = performance.now();
    const cv = this.canvas;
    const wrap = cv.parentElement;
    const W = Math.max(280, wrap.clientWidth);
    const H = Math.round(Math.min(460, Math.max(240, W * 0.42)));
    const dpr = window.devicePixelRatio || 1;
    if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
      cv.width = Math.round(W * dpr);
      cv.height = Math.round(H * dpr);
      cv.style.height = `${H}px`;
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue("--ink").trim() || "#000";
    const muted = css.getPropertyValue("--muted").trim() || "#555";
    const grid = css.getPropertyValue("--grid").trim() || "#ddd";
    const bg = css.getPropertyValue("--plot-bg").trim() || "#fff";
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, W, H);
    ctx.font = "12px system-ui, sans-serif";

    const pts = [...this.points.values()];
    // x range: the electrodes (known geometry), else the data
    let xs = this.positions.map((p) => p[0]);
    if (!xs.length) xs = pts.map((p) => p.x);
    let xmin = xs.length ? Math.min(...xs) : 0, xmax = xs.length ? Math.max(...xs) : 1;
    for (const p of pts) { if (p.x < xmin) xmin = p.x; if (p.x > xmax) xmax = p.x; }
    if (xmax <= xmin) xmax = xmin + 1;
    let zmax = 0;
    for (const p of pts) if (p.z > zmax) zmax = p.z;
    // a depth frame of at least 0.15 × the spread, so a survey fills in downwards in a stable frame
    zmax = Math.max(zmax, (xmax - xmin) * 0.15);
    zmax *= 1.08;

    const L = 54, R = 12, T = 30, B = 58;
    const pw = W - L - R, ph = H - T - B;
    const sx = pw / (xmax - xmin), sz = ph / zmax;
    const X = (x) => L + (x - xmin) * sx;
    const Z = (z) => T + z * sz;
    this.layout = { X, Z, L, T, pw, ph };

    // grid + depth axis
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = muted;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const z of niceTicks(0, zmax, Math.max(2, Math.floor(ph / 45)))) {
      const y = Math.round(Z(z)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
      ctx.fillText(`${fmt(z, 3)}`, L - 6, y);
    }
    ctx.save();
    ctx.translate(12, T + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("pseudo-depth (m)", 0, 0);
    ctx.restore();
    // x axis on top: metres
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    for (const x of niceTicks(xmin, xmax, Math.max(2, Math.floor(pw / 70)))) {
      ctx.fillText(`${fmt(x, 4)} m`, X(x), 12);
    }
    // electrodes: small triangles at the surface, bad ones red and larger
    const epos = this.positions.length ? this.positions.map((p, i) => [i + 1, p[0]]) : [];
    for (const [e, x] of epos) {
      const bad = this.bad.has(e);
      const s = bad ? 6 : 3.5;
      ctx.fillStyle = bad ? "#d00" : ink;
      ctx.beginPath();
      ctx.moveTo(X(x) - s, T - 2 - s * 1.4); ctx.lineTo(X(x) + s, T - 2 - s * 1.4); ctx.lineTo(X(x), T - 2);
      ctx.fill();
    }

    // colour limits: robust percentiles of log10(ρa)
    const logs = pts.map((p) => p.lr).filter(Number.isFinite).sort((a, b) => a - b);
    let lo = 0, hi = 3;
    if (logs.length) {
      lo = logs[Math.floor(0.02 * (logs.length - 1))];
      hi = logs[Math.ceil(0.98 * (logs.length - 1))];
      const pad = this.quantity === "ip" ? 0.5 : 0.1;
      if (hi - lo < pad / 2) { lo -= pad; hi += pad; }
    }
    this.limits = [lo, hi];
    const idx = (lr) => Math.max(0, Math.min(LUT_SIZE - 1, Math.round(((lr - lo) / (hi - lo)) * (LUT_SIZE - 1))));

    // cell size: electrode spacing across, the median gap between depth levels down
    const spacing = this._spacing();
    const cw = Math.max(3, Math.min(48, spacing * sx * 0.98));
    const levels = [...new Set(pts.map((p) => Math.round(p.z * 1000)))].sort((a, b) => a - b);
    let gap = zmax / 12;
    if (levels.length > 1) {
      const gaps = [];
      for (let i = 1; i < levels.length; i++) gaps.push((levels[i] - levels[i - 1]) / 1000);
      gaps.sort((a, b) => a - b);
      gap = gaps[Math.floor(gaps.length / 2)];
    }
    const chh = Math.max(3, Math.min(48, gap * sz * 0.98, ph / 4));

    // one path per colour bin: a few dozen fills whatever the number of points
    const bins = Array.from({ length: LUT_SIZE }, () => []);
    const grey = [];
    for (const p of pts) {
      p.px = X(p.x); p.py = Z(p.z);
      if (Number.isFinite(p.lr)) bins[idx(p.lr)].push(p); else grey.push(p);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(L, T, pw, ph); ctx.clip();
    for (let i = 0; i < LUT_SIZE; i++) {
      const list = bins[i];
      if (!list.length) continue;
      ctx.fillStyle = LUT[i];
      ctx.beginPath();
      for (const p of list) ctx.rect(p.px - cw / 2, p.py - chh / 2, cw, chh);
      ctx.fill();
    }
    if (grey.length) {
      ctx.fillStyle = "#9a9a9a";
      ctx.beginPath();
      for (const p of grey) ctx.rect(p.px - cw / 2, p.py - chh / 2, cw, chh);
      ctx.fill();
    }
    // flagged points: a heavy outline with a light halo, visible on every colour
    const flagged = pts.filter((p) => p.flagged);
    if (flagged.length) {
      ctx.beginPath();
      for (const p of flagged) ctx.rect(p.px - cw / 2 + 1, p.py - chh / 2 + 1, cw - 2, chh - 2);
      ctx.lineWidth = 3; ctx.strokeStyle = "#fff"; ctx.stroke();
      ctx.lineWidth = 1.5; ctx.strokeStyle = "#000"; ctx.stroke();
    }
    if (this.hover && this.points.get(this.hover.key)) {
      const p = this.points.get(this.hover.key);
      ctx.lineWidth = 2.5; ctx.strokeStyle = ink;
      ctx.strokeRect(p.px - cw / 2 - 2, p.py - chh / 2 - 2, cw + 4, chh + 4);
    }
    ctx.restore();
    this.cell = [cw, chh];

    ctx.strokeStyle = muted;
    ctx.lineWidth = 1;
    ctx.strokeRect(L + 0.5, T + 0.5, pw - 1, ph - 1);

    if (!pts.length) {
      ctx.fillStyle = muted;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.font = "15px system-ui, sans-serif";
      ctx.fillText("Waiting for measurements…", L + pw / 2, T + ph / 2);
      ctx.font = "12px system-ui, sans-serif";
    }

    // legend: horizontal log colour bar with 1-2-5 ticks
    const ly = H - B + 16, lh = 12, lx = L, lw = Math.min(pw, 420);
    for (let i = 0; i < LUT_SIZE; i++) {
      ctx.fillStyle = LUT[i];
      ctx.fillRect(lx + (i * lw) / LUT_SIZE, ly, lw / LUT_SIZE + 1, lh);
    }
    ctx.strokeStyle = ink;
    ctx.strokeRect(lx + 0.5, ly + 0.5, lw - 1, lh - 1);
    ctx.fillStyle = ink;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const linear = this.quantity === "ip";
    const tickList = linear ? [0, 1, 2, 3, 4].map((i) => lo + ((hi - lo) * i) / 4) : logTicks(lo, hi);
    for (const t of tickList) {
      const x = lx + ((t - lo) / (hi - lo)) * lw;
      ctx.fillRect(x - 0.5, ly + lh, 1, 4);
      ctx.fillText(fmt(linear ? t : 10 ** t, 3), x, ly + lh + 5);
    }
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const label = linear ? "chargeability (mV/V)" : "ρa (Ω·m, log)";
    if (lx + lw + 10 + ctx.measureText(label).width < W) ctx.fillText(label, lx + lw + 8, ly + lh / 2);
    else { ctx.textBaseline = "bottom"; ctx.fillText(label, lx, ly - 2); }
    if (grey.length) {
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillStyle = muted;
      ctx.fillText(linear ? `${grey.length} without a chargeability in grey` : `${grey.length} with ρa ≤ 0 in grey`, L + pw, ly - 2);
    }
    const ms = performance.now() - t0;
    this.lastMs = ms;
    return ms;
  }

  _spacing() {
    const xs = (this.positions.length ? this.positions.map((p) => p[0]) : [...this.points.values()].map((p) => p.x))
      .slice().sort((a, b) => a - b);
    const gaps = [];
    for (let i = 1; i < xs.length; i++) if (xs[i] - xs[i - 1] > 1e-9) gaps.push(xs[i] - xs[i - 1]);
    if (!gaps.length) return 1;
    gaps.sort((a, b) => a - b);
    return gaps[Math.floor(gaps.length / 2)];
  }

  _find(e) {
    if (!this.layout || !this.cell) return null;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const reach = Math.max(10, this.cell[0] * 0.7, this.cell[1] * 0.7);
    let best = null, bd = Infinity;
    for (const p of this.points.values()) {
      const dx = (p.px - x) / Math.max(1, this.cell[0]), dy = (p.py - y) / Math.max(1, this.cell[1]);
      const d = dx * dx + dy * dy;
      if (d < bd && Math.abs(p.px - x) < reach && Math.abs(p.py - y) < reach) { bd = d; best = p; }
    }
    return best ? { p: best, x, y } : null;
  }

  _hover(e, pick) {
    const found = this._find(e);
    if (!found) { if (pick || !this.hover || !this.hover.pinned) this._hideTip(); return; }
    const { p } = found;
    const r = p.rec;
    // built from text nodes: record fields come from the bus and are never parsed as HTML
    const b = (text) => { const el = document.createElement("b"); el.textContent = text; return el; };
    const lines = [
      [b(`A ${r.a} · B ${r.b} · M ${r.m} · N ${r.n}`)],
      ["ρa ", b(fmt(r.rhoa_ohmm, 4)), " Ω·m"],
      [`R ${fmt(r.r_ohm, 4)} Ω ± ${fmt(r.r_std_pct, 2)} %`],
      [`k ${fmt(r.k_m, 4)} m · I ${fmt(r.iab_mA, 3)} mA`],
      [`Vmn ${fmt(r.vmn_mV, 4)} mV`],
      ["M ", b(fmt(r.ip_mvv, 3)), ` ± ${fmt(r.ip_std_mvv, 2)} mV/V`],
      [`x ${fmt(p.x, 4)} m · depth ${fmt(p.z, 3)} m`],
    ];
    if (r.flags && r.flags.length) {
      const flag = document.createElement("span");
      flag.className = "tip-flag";
      flag.textContent = `⚑ ${r.flags.map((f) => FLAG_LABEL[f] || f).join(", ")}`;
      lines.push([flag]);
    }
    this.tip.replaceChildren(...lines.flatMap((parts, i) => (i ? [document.createElement("br"), ...parts] : parts)));
    this.tip.hidden = false;
    const wrapW = this.canvas.clientWidth;
    const left = found.x + 14 + 200 > wrapW ? Math.max(0, found.x - 214) : found.x + 14;
    this.tip.style.left = `${left}px`;
    this.tip.style.top = `${Math.max(0, found.y - 10)}px`;
    const again = this.hover && this.hover.key === p.key && this.hover.pinned;
    this.hover = { key: p.key, pinned: pick || (this.hover && this.hover.pinned && this.hover.key === p.key) };
    this.schedule();
    if (pick && this.onPick && (e.pointerType === "mouse" || again)) this.onPick(r);
  }

  _hideTip() {
    this.tip.hidden = true;
    if (this.hover) { this.hover = null; this.schedule(); }
  }
}
