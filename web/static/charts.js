// Small canvas charts: contact resistance bars, full waveform, R over time.

import { fmt } from "./api.js";

function colours() {
  const css = getComputedStyle(document.documentElement);
  const v = (n, d) => css.getPropertyValue(n).trim() || d;
  return { ink: v("--ink", "#000"), muted: v("--muted", "#555"), grid: v("--grid", "#ddd"), bg: v("--plot-bg", "#fff"),
    good: v("--good", "#1a7f37"), bad: v("--bad", "#c00"), warn: v("--warn", "#b26b00"), accent: v("--accent", "#0a58ca") };
}

// Size the canvas to its box (CSS pixels × devicePixelRatio) and return the 2D context.
export function setup(canvas, height) {
  const W = Math.max(240, canvas.parentElement.clientWidth - 2);
  const H = height || Math.round(Math.min(300, Math.max(180, W * 0.5)));
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(H * dpr);
  canvas.style.height = `${H}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const c = colours();
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, W, H, c };
}

function ticks(lo, hi, n) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) out.push(+v.toFixed(12));
  return out;
}

function message(ctx, W, H, c, text) {
  ctx.fillStyle = c.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.font = "14px system-ui, sans-serif";
  ctx.fillText(text, W / 2, H / 2);
}

// ---- contact resistance: one bar per electrode, log scale kΩ, threshold line -----------------
export function drawContacts(canvas, check) {
  const { ctx, W, H, c } = setup(canvas, 220);
  if (!check || !check.electrodes || !check.electrodes.length) { message(ctx, W, H, c, "Run a check to see every electrode"); return; }
  const els = check.electrodes;
  const L = 44, R = 8, T = 14, B = 30;
  const pw = W - L - R, ph = H - T - B;
  const finite = els.map((e) => e.contact_kohm).filter((v) => v > 0 && Number.isFinite(v));
  const thr = check.threshold_kohm;
  let lo = Math.min(...finite, thr || Infinity), hi = Math.max(...finite, thr || 0);
  if (!Number.isFinite(lo)) { lo = 0.1; hi = 100; }
  lo = Math.floor(Math.log10(lo * 0.8)); hi = Math.ceil(Math.log10(hi * 1.25));
  if (hi - lo < 1) hi = lo + 1;
  const Y = (v) => T + ph - ((Math.log10(v) - lo) / (hi - lo)) * ph;
  ctx.strokeStyle = c.grid; ctx.fillStyle = c.muted; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let d = lo; d <= hi; d++) {
    const y = Math.round(Y(10 ** d)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillText(fmt(10 ** d, 3), L - 5, y);
  }
  ctx.save(); ctx.translate(10, T + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
  ctx.fillText("kΩ (log)", 0, 0); ctx.restore();
  const bw = pw / els.length;
  const every = Math.ceil(22 / bw);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  els.forEach((e, i) => {
    const x = L + i * bw;
    const status = e.status;
    const v = e.contact_kohm;
    const colour = status === "ok" ? c.good : c.bad;
    if (status === "open" || !(v > 0)) {
      // open circuit: a full-height hatched red bar
      ctx.fillStyle = c.bad;
      for (let y = T; y < T + ph; y += 8) ctx.fillRect(x + bw * 0.15, y, bw * 0.7, 4);
    } else {
      ctx.fillStyle = colour;
      const y = Y(v);
      ctx.fillRect(x + bw * 0.15, y, bw * 0.7, T + ph - y);
    }
    const special = status !== "ok";
    if (special || (i % every === 0)) {
      ctx.fillStyle = special ? c.bad : c.muted;
      ctx.font = special ? "bold 12px system-ui, sans-serif" : "12px system-ui, sans-serif";
      ctx.fillText(String(e.electrode), x + bw / 2, T + ph + 4);
    }
  });
  ctx.font = "12px system-ui, sans-serif";
  if (thr > 0) {
    const y = Math.round(Y(thr)) + 0.5;
    ctx.strokeStyle = c.bad; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
    ctx.fillStyle = c.bad; ctx.textAlign = "right"; ctx.textBaseline = "bottom";
    ctx.fillText(`threshold ${fmt(thr, 3)} kΩ`, L + pw - 2, y - 2);
  }
  ctx.fillStyle = c.muted; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
  ctx.fillText("electrode", L, H - 1);
}

// ---- waveform: current and voltage stacked, polarity shaded, counted samples filled ----------
export function drawWaveform(canvas, wf) {
  const { ctx, W, H, c } = setup(canvas);
  if (!wf || !wf.t_s || !wf.t_s.length) { message(ctx, W, H, c, "No waveform yet"); return; }
  const t = wf.t_s, n = t.length;
  const L = 52, R = 8, T = 8, B = 24, gapY = 14;
  const pw = W - L - R, each = (H - T - B - gapY) / 2;
  const t0 = t[0], t1 = t[n - 1] > t0 ? t[n - 1] : t0 + 1;
  const X = (v) => L + ((v - t0) / (t1 - t0)) * pw;
  const panels = [
    { key: "current_mA", label: "I (mA)", top: T, colour: c.accent },
    { key: "voltage_mV", label: "Vmn (mV)", top: T + each + gapY, colour: c.warn },
  ];
  for (const pan of panels) {
    const ys = wf[pan.key] || [];
    let lo = Math.min(0, ...ys), hi = Math.max(0, ...ys);
    if (hi - lo < 1e-12) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    const Y = (v) => pan.top + each - ((v - lo) / (hi - lo)) * each;
    // polarity background: + blue-ish, − orange-ish
    for (let i = 0; i < n; i++) {
      const p = wf.polarity ? wf.polarity[i] : 0;
      if (!p) continue;
      const xa = X(i ? (t[i - 1] + t[i]) / 2 : t[i]), xb = X(i < n - 1 ? (t[i] + t[i + 1]) / 2 : t[i]);
      ctx.fillStyle = p > 0 ? "rgba(40,110,220,0.13)" : "rgba(230,110,20,0.16)";
      ctx.fillRect(xa, pan.top, Math.max(1, xb - xa + 0.5), each);
    }
    ctx.strokeStyle = c.grid; ctx.fillStyle = c.muted; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of ticks(lo, hi, 3)) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
      ctx.fillText(fmt(v, 3), L - 4, y);
    }
    ctx.strokeStyle = c.muted; ctx.beginPath(); ctx.moveTo(L, Y(0)); ctx.lineTo(L + pw, Y(0)); ctx.stroke();
    ctx.save(); ctx.translate(10, pan.top + each / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
    ctx.fillStyle = pan.colour; ctx.font = "bold 12px system-ui, sans-serif"; ctx.fillText(pan.label, 0, 0); ctx.restore();
    ctx.strokeStyle = pan.colour; ctx.lineWidth = 1.5; ctx.beginPath();
    ys.forEach((v, i) => (i ? ctx.lineTo(X(t[i]), Y(v)) : ctx.moveTo(X(t[i]), Y(v))));
    ctx.stroke(); ctx.lineWidth = 1;
    const r = n > 400 ? 1.5 : 2.5;
    ys.forEach((v, i) => {
      const counted = wf.counted ? wf.counted[i] : true;
      ctx.beginPath(); ctx.arc(X(t[i]), Y(v), r, 0, 2 * Math.PI);
      if (counted) { ctx.fillStyle = pan.colour; ctx.fill(); } else { ctx.strokeStyle = c.muted; ctx.stroke(); }
    });
  }
  ctx.fillStyle = c.muted; ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const v of ticks(t0, t1, Math.max(2, Math.floor(pw / 80)))) ctx.fillText(`${fmt(v, 3)} s`, X(v), H - B + 6);
}

// ---- R over time: one coloured series per quadrupole, flagged points in red ----------------
export const SERIES = ["#0a58ca", "#c2410c", "#15803d", "#7e22ce"];

export function drawTimeseries(canvas, series) {
  const { ctx, W, H, c } = setup(canvas);
  const all = series.flatMap((s) => s.rows.filter((r) => Number.isFinite(r.r_ohm)).map((r) => ({ ...r, tm: Date.parse(r.time) })));
  if (!all.length) { message(ctx, W, H, c, series.length ? "No stored values yet" : "Pick a quadrupole"); return; }
  const L = 56, R = 10, T = 10, B = 26;
  const pw = W - L - R, ph = H - T - B;
  let t0 = Math.min(...all.map((r) => r.tm)), t1 = Math.max(...all.map((r) => r.tm));
  if (t1 - t0 < 1000) { t0 -= 30000; t1 += 30000; }
  let lo = Math.min(...all.map((r) => r.r_ohm)), hi = Math.max(...all.map((r) => r.r_ohm));
  if (hi - lo < Math.abs(hi) * 1e-3 + 1e-12) { const d = Math.abs(hi) * 0.05 + 1e-6; lo -= d; hi += d; }
  const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
  const X = (v) => L + ((v - t0) / (t1 - t0)) * pw;
  const Y = (v) => T + ph - ((v - lo) / (hi - lo)) * ph;
  ctx.strokeStyle = c.grid; ctx.fillStyle = c.muted; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const v of ticks(lo, hi, 4)) {
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke();
    ctx.fillText(fmt(v, 4), L - 4, y);
  }
  ctx.save(); ctx.translate(10, T + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.fillText("R (Ω)", 0, 0); ctx.restore();
  const span = t1 - t0;
  const label = (ms) => {
    const d = new Date(ms);
    return span > 2 * 86400e3 ? d.toLocaleDateString([], { month: "short", day: "numeric" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", ...(span < 600e3 ? { second: "2-digit" } : {}) });
  };
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const nt = Math.max(2, Math.floor(pw / 90));
  for (let i = 0; i <= nt; i++) { const v = t0 + (span * i) / nt; ctx.fillText(label(v), Math.min(W - 30, Math.max(L + 20, X(v))), H - B + 6); }
  series.forEach((s, k) => {
    const rows = s.rows.filter((r) => Number.isFinite(r.r_ohm)).map((r) => ({ ...r, tm: Date.parse(r.time) })).sort((a, b) => a.tm - b.tm);
    const col = SERIES[k % SERIES.length];
    ctx.strokeStyle = col; ctx.lineWidth = 2; ctx.beginPath();
    rows.forEach((r, i) => (i ? ctx.lineTo(X(r.tm), Y(r.r_ohm)) : ctx.moveTo(X(r.tm), Y(r.r_ohm))));
    ctx.stroke(); ctx.lineWidth = 1;
    for (const r of rows) {
      const flagged = r.flags && r.flags.length;
      ctx.beginPath(); ctx.arc(X(r.tm), Y(r.r_ohm), flagged ? 4.5 : 3, 0, 2 * Math.PI);
      ctx.fillStyle = flagged ? c.bad : col; ctx.fill();
      if (flagged) { ctx.strokeStyle = c.ink; ctx.stroke(); }
    }
  });
}

// ---- IP decay: the voltage after switch-off, in mV/V of the primary, and the windows -----------
// The off times that follow each half-cycle are stacked as the chargeability is (binomial weights,
// sign of the half-cycle: the self-potential and its drift cancel), smoothed over one mains period
// (the hum), and divided by the record's Vmn; the windows' values (ip_windows_mvv) are the steps.
function binomial(n) {
  const row = [1];
  for (let k = 1; k < n; k++) row.push((row[k - 1] * (n - k)) / k);
  const sum = row.reduce((s, v) => s + v, 0);
  return row.map((v) => v / sum);
}

export function drawDecay(canvas, wf, rec, mainsHz = 50) {
  const { ctx, W, H, c } = setup(canvas, 190);
  if (!wf || !wf.t_s || !rec || !rec.vmn_mV) { message(ctx, W, H, c, "No decay: pick a measurement"); return; }
  const offs = [];
  const n = wf.t_s.length;
  for (let i = 1; i < n; i++) {
    if (wf.polarity[i] === 0 && wf.polarity[i - 1] !== 0) {
      const sign = wf.polarity[i - 1], start = (wf.t_s[i - 1] + wf.t_s[i]) / 2, pts = [];
      for (let j = i; j < n && wf.polarity[j] === 0; j++) pts.push([(wf.t_s[j] - start) * 1000, sign * wf.voltage_mV[j]]);
      offs.push(pts);
    }
  }
  if (offs.length < 2) { message(ctx, W, H, c, "No decay in this waveform (no off time)"); return; }
  const len = Math.min(...offs.map((p) => p.length)), weights = binomial(offs.length);
  const stacked = [];
  for (let j = 0; j < len; j++) {
    let x = 0, y = 0;
    offs.forEach((pts, k) => { x += weights[k] * pts[j][0]; y += weights[k] * pts[j][1]; });
    stacked.push([x, (1000 * y) / rec.vmn_mV]);
  }
  const period = 1000 / mainsHz;
  const smooth = stacked.map(([x]) => {
    const near = stacked.filter(([u]) => Math.abs(u - x) <= period / 2);
    return [x, near.reduce((s, p) => s + p[1], 0) / near.length];
  }).filter(([x]) => x >= period / 2 && x <= stacked[stacked.length - 1][0] - period / 2);
  const L = 52, R = 8, T = 18, B = 24, pw = W - L - R, ph = H - T - B;
  const windows = rec.ip_windows_mvv || [];
  const vals = [...smooth.map((p) => p[1]), ...windows, 0].filter(Number.isFinite);
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (!(hi - lo > 1e-9)) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
  const tmax = Math.max(stacked[stacked.length - 1][0], 1);
  const X = (v) => L + (v / tmax) * pw, Y = (v) => T + ph - ((v - lo) / (hi - lo)) * ph;
  ctx.strokeStyle = c.grid; ctx.fillStyle = c.muted; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const v of ticks(lo, hi, 3)) { const y = Math.round(Y(v)) + 0.5; ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(L + pw, y); ctx.stroke(); ctx.fillText(fmt(v, 3), L - 4, y); }
  ctx.strokeStyle = c.warn; ctx.lineWidth = 1.5; ctx.beginPath();
  smooth.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
  ctx.stroke();
  let edge = rec.ip_delay_ms || 0;
  ctx.strokeStyle = c.ink; ctx.lineWidth = 2.5;
  windows.forEach((v, i) => {
    const w = (rec.ip_windows_ms || [])[i] || 0;
    ctx.beginPath(); ctx.moveTo(X(edge), Y(v)); ctx.lineTo(X(edge + w), Y(v)); ctx.stroke();
    edge += w;
  });
  ctx.lineWidth = 1;
  ctx.fillStyle = c.muted; ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const v of ticks(0, tmax, Math.max(2, Math.floor(pw / 80)))) ctx.fillText(`${fmt(v, 3)} ms`, X(v), H - B + 6);
  ctx.textAlign = "left"; ctx.fillStyle = c.ink;
  ctx.fillText(`decay, mV/V (${offs.length} stacked) · M = ${fmt(rec.ip_mvv, 3)} ± ${fmt(rec.ip_std_mvv, 2)}`, L + 4, 2);
}

// ---- histogram: counts between edges, bars labelled with the bins' upper edges ---------------
export function drawHistogram(canvas, hist, { unit = "", colour } = {}) {
  const { ctx, W, H, c } = setup(canvas, 170);
  const counts = (hist && hist.counts) || [];
  const total = counts.reduce((s, v) => s + v, 0);
  if (!total) { message(ctx, W, H, c, "No data"); return; }
  const L = 36, R = 6, T = 8, B = 30, pw = W - L - R, ph = H - T - B;
  const top = Math.max(...counts), bw = pw / counts.length;
  ctx.fillStyle = c.muted; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const v of ticks(0, top, 3)) { const y = T + ph - (v / top) * ph; ctx.fillText(String(v), L - 4, y); }
  counts.forEach((v, i) => {
    const h = (v / top) * ph;
    ctx.fillStyle = colour || c.accent;
    ctx.fillRect(L + i * bw + 1, T + ph - h, Math.max(1, bw - 2), h);
  });
  ctx.fillStyle = c.muted; ctx.textAlign = "center"; ctx.textBaseline = "top";
  const edges = hist.edges || hist.edges_pct || [];
  const every = Math.max(1, Math.ceil(counts.length / Math.max(1, Math.floor(pw / 44))));
  for (let i = 0; i < counts.length; i += every) {
    const label = i === counts.length - 1 ? `>${fmt(edges[i], 3)}` : `${fmt(edges[i + 1], 3)}`;
    ctx.fillText(`${label}${unit}`, L + (i + 0.5) * bw, T + ph + 4);
  }
}
