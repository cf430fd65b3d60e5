// The inverted section under the pseudo-section: resistivity cells on the same log colour scale
// (the pseudo-section's limits when it shows ρa) faded below the depth of investigation (cell
// coverage), the fit (χ², RMS), the data misfit as a pseudo-section, the time-lapse change with a
// diverging scale, and a slider across the inverted passes. Operators ask for an inversion; the
// inverter's progress (`state.inverter`) and new results (`state.inversions`) arrive on the event
// stream as "state" events. No inline script or style (CSP): canvases and CSSOM only.

import { get, post, busy, download, toast, describeError, fmt, h } from "./api.js";
import { LUT, medianDepth } from "./pseudo.js";
import { setup } from "./charts.js";

const $ = (id) => document.getElementById(id);
const DIVERGING = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199],
  [239, 138, 98], [178, 24, 43]]; // blue (lower) → white → red (higher)
const inv = { surveyId: null, passes: [], result: null, view: "rho", pseudo: null, load: 0 };

function diverging(t) { // t in [-1, 1]
  const x = (Math.max(-1, Math.min(1, t)) + 1) / 2 * (DIVERGING.length - 1);
  const j = Math.min(Math.floor(x), DIVERGING.length - 2), f = x - j;
  const c = DIVERGING[j].map((v, k) => Math.round(v + (DIVERGING[j + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function percentile(sorted, q) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))] : NaN; }

// The colour of each value and a legend: log ρ on the pseudo-section's scale, or a symmetric diverging scale.
function scale(values, kind) {
  if (kind === "rho") {
    const logs = values.map((v) => (v > 0 ? Math.log10(v) : NaN));
    let [lo, hi] = inv.pseudo && inv.pseudo.quantity === "rhoa" && inv.pseudo.limits ? inv.pseudo.limits : [NaN, NaN];
    if (!(hi > lo)) {
      const s = logs.filter(Number.isFinite).sort((a, b) => a - b);
      [lo, hi] = [percentile(s, 0.02), percentile(s, 0.98)];
      if (!(hi - lo > 0.05)) { lo -= 0.1; hi += 0.1; }
    }
    const colour = (i) => LUT[Math.max(0, Math.min(LUT.length - 1, Math.round((logs[i] - lo) / (hi - lo) * (LUT.length - 1))))];
    return { colour, legend: [`${fmt(10 ** lo)} Ω·m`, `${fmt(10 ** hi)} Ω·m`], ramp: (t) => LUT[Math.round(t * (LUT.length - 1))] };
  }
  const s = values.filter(Number.isFinite).map(Math.abs).sort((a, b) => a - b);
  const m = Math.max(kind === "change" ? 5 : 1, percentile(s, 0.98) || 0);
  return { colour: (i) => diverging(values[i] / m), legend: [`−${fmt(m)} %`, `+${fmt(m)} %`], ramp: (t) => diverging(2 * t - 1) };
}

function legendBar(ctx, x, y, w, sc) {
  for (let i = 0; i < w; i++) { ctx.fillStyle = sc.ramp(i / (w - 1)); ctx.fillRect(x + i, y, 1, 8); }
  ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--ink").trim() || "#000";
  ctx.textBaseline = "top";
  ctx.textAlign = "left"; ctx.fillText(sc.legend[0], x, y + 10);
  ctx.textAlign = "right"; ctx.fillText(sc.legend[1], x + w, y + 10);
}

// DOI fade: full colour where the summed sensitivity is within a decade of the best-covered cells,
// fading to 15 % two decades below.
function fades(coverage) {
  const s = coverage.filter((v) => Number.isFinite(v) && v > -50).sort((a, b) => a - b);
  const top = percentile(s, 0.9);
  return coverage.map((v) => Math.max(0.15, Math.min(1, 1 - (top - 1 - v) / 1)));
}

function drawSection() {
  const canvas = $("inv-section");
  const r = inv.result;
  const { ctx, W, H, c } = setup(canvas, 260);
  if (!r) {
    ctx.fillStyle = c.muted; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(inv.surveyId ? "not inverted yet" : "no survey", W / 2, H / 2);
    return;
  }
  const cells = r.cells, n = cells.rho.length;
  const kind = inv.view === "change" && cells.change_pct ? "change" : "rho";
  const values = kind === "change" ? cells.change_pct : cells.rho;
  const sc = scale(values, kind);
  const alpha = fades(cells.coverage || []);
  let x0 = Infinity, x1 = -Infinity, z0 = Infinity, z1 = -Infinity;
  for (const p of cells.polygons) for (let k = 0; k < p.length; k += 2) {
    x0 = Math.min(x0, p[k]); x1 = Math.max(x1, p[k]); z0 = Math.min(z0, p[k + 1]); z1 = Math.max(z1, p[k + 1]);
  }
  const L = 44, R = 10, T = 10, B = 36, pw = W - L - R, ph = H - T - B;
  const sx = pw / (x1 - x0 || 1), sz = Math.min(ph / (z1 - z0 || 1), 3 * sx); // at most 3× vertical exaggeration
  const X = (x) => L + (x - x0) * sx, Y = (z) => T + (z1 - z) * sz;
  for (let i = 0; i < n; i++) {
    const p = cells.polygons[i];
    ctx.beginPath();
    ctx.moveTo(X(p[0]), Y(p[1]));
    for (let k = 2; k < p.length; k += 2) ctx.lineTo(X(p[k]), Y(p[k + 1]));
    ctx.closePath();
    ctx.globalAlpha = alpha[i] ?? 1;
    ctx.fillStyle = sc.colour(i);
    ctx.fill();
    ctx.strokeStyle = ctx.fillStyle; ctx.lineWidth = 0.5; ctx.stroke();
  }
  ctx.globalAlpha = 1;
  ctx.fillStyle = c.ink;
  for (const [x, z] of r.electrodes || []) { ctx.beginPath(); ctx.arc(X(x), Y(z), 2.2, 0, 2 * Math.PI); ctx.fill(); }
  ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const z of [z1, (z0 + z1) / 2, z0]) ctx.fillText(`${fmt(z, 2)} m`, L - 4, Y(z)); // elevation
  legendBar(ctx, L, T + ph + 8, Math.min(220, pw), sc);
  canvas.dataset.cells = String(n);
  canvas.dataset.view = kind;
}

function drawMisfit() {
  const canvas = $("inv-misfit");
  const r = inv.result;
  const { ctx, W, H, c } = setup(canvas, 160);
  if (!r || !r.data) return;
  const el = r.electrodes || [];
  const pts = r.data.abmn.map(([a, b, m, n], i) => {
    const P = [a, b, m, n].map((e) => (e > 0 && el[e - 1] ? [el[e - 1][0], 0, 0] : null));
    const xs = P.filter(Boolean).map((p) => p[0]);
    return { x: xs.reduce((t, v) => t + v, 0) / xs.length, z: medianDepth(P), v: r.data.misfit_pct[i] };
  });
  const sc = scale(pts.map((p) => p.v), "misfit");
  const xs = pts.map((p) => p.x), zs = pts.map((p) => p.z);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), zmax = Math.max(...zs, 1e-3);
  const L = 44, R = 10, T = 8, B = 34, pw = W - L - R, ph = H - T - B;
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i];
    ctx.fillStyle = sc.colour(i);
    ctx.beginPath();
    ctx.arc(L + (x1 > x0 ? (p.x - x0) / (x1 - x0) : 0.5) * pw, T + (p.z / zmax) * ph, 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = c.ink;
  legendBar(ctx, L, T + ph + 8, Math.min(220, pw), sc);
}

function renderFit() {
  const r = inv.result;
  const fit = $("inv-fit");
  fit.replaceChildren();
  if (!r) return;
  const counts = r.counts || {};
  const left = Object.entries(counts).filter(([k, v]) => !["total", "used"].includes(k) && v).map(([k, v]) => `${v} ${k.replace("_", " ")}`);
  fit.append(h("b", { text: `χ² ${fmt(r.chi2)}` }), ` · RMS ${fmt(r.rms_pct)} % · ${r.iterations} iterations · `,
    `${r.n_data} data (${r.error_source} errors) · ${r.n_cells} cells · λ ${fmt(r.lambda)}`,
    r.baseline_pass !== null && r.baseline_pass !== undefined ? ` · change against pass ${r.baseline_pass + 1}` : "",
    left.length ? h("span", { class: "muted", text: ` · left out: ${left.join(", ")}` }) : "");
  $("inv-view-change").disabled = !r.cells.change_pct;
  if (!r.cells.change_pct && inv.view === "change") { inv.view = "rho"; $("inv-view").value = "rho"; }
}

function renderPasses() {
  const slider = $("inv-pass");
  const passes = inv.passes.map((p) => p.pass_index);
  slider.max = String(Math.max(0, passes.length - 1));
  slider.disabled = passes.length < 2;
  const at = inv.result ? passes.indexOf(inv.result.pass_index) : -1;
  if (at >= 0) slider.value = String(at);
  $("inv-pass-label").textContent = inv.result ? `pass ${inv.result.pass_index + 1} of ${passes.length} inverted` : "";
}

function render() {
  renderFit();
  renderPasses();
  drawSection();
  drawMisfit();
  $("inv-exports").hidden = !inv.result;
}

async function loadPass(passIndex) {
  const token = ++inv.load;
  const q = passIndex === null || passIndex === undefined ? "" : `?pass=${passIndex}`;
  try {
    const result = await get(`/api/surveys/${encodeURIComponent(inv.surveyId)}/inversion${q}`, 30000);
    if (token !== inv.load) return;
    inv.result = result;
  } catch (err) {
    if (token !== inv.load) return;
    inv.result = null;
    if (!(err && err.status === 400)) toast(describeError(err, "loading the inverted section"));
  }
  render();
}

// Show the inversions of a survey (called when the pseudo-section changes survey).
export async function showInversion(surveyId, pseudo) {
  inv.pseudo = pseudo || inv.pseudo;
  if (surveyId === inv.surveyId && inv.result) { render(); return; }
  inv.surveyId = surveyId;
  inv.result = null;
  inv.passes = [];
  render();
  if (!surveyId) return;
  try {
    inv.passes = await get(`/api/surveys/${encodeURIComponent(surveyId)}/inversions`, 15000);
  } catch (err) {
    inv.passes = [];
  }
  if (surveyId !== inv.surveyId) return;
  if (inv.passes.length) await loadPass(inv.passes[inv.passes.length - 1].pass_index); else render();
}

// "state" events: the inverter's progress, and a result just stored.
export function onInversionState(ev) {
  if (!ev || typeof ev !== "object") return;
  if (ev.process === "inverter" && ev.state) {
    const st = ev.state, job = st.job;
    const text = job ? `inverting ${job.survey_id} pass ${job.pass_index + 1}: ${job.phase || "…"} (${Math.round(100 * (job.progress || 0))} %)`
      : st.queue && st.queue.length ? `${st.queue.length} queued` : "";
    const paused = job && st.paused ? ` · waiting: ${st.paused}` : "";  // stopped while the instrument measures
    $("inv-status").textContent = text + paused + (st.queue && st.queue.length && job ? ` · ${st.queue.length} queued` : "");
  } else if (ev.process === "inversions" && ev.state && ev.state.survey_id === inv.surveyId) {
    const surveyId = inv.surveyId;
    inv.surveyId = null;
    showInversion(surveyId);
  }
}

export function wireInversion() {
  $("inv-view").addEventListener("change", (e) => { inv.view = e.target.value; drawSection(); });
  $("inv-pass").addEventListener("input", (e) => {
    const p = inv.passes[Number(e.target.value)];
    if (p) loadPass(p.pass_index);
  });
  $("inv-go").addEventListener("click", async (e) => {
    if (!inv.surveyId) return;
    const path = `/api/surveys/${encodeURIComponent(inv.surveyId)}/invert`;
    const lam = Number($("inv-lambda").value);
    const body = Number.isFinite(lam) && lam > 0 ? { lambda: lam } : {};
    if (inv.result) body.pass = inv.result.pass_index;
    await busy(e.currentTarget, "asking for an inversion", () => post(path, body), "inversion queued");
  });
  for (const fmtName of ["model", "vtk"]) {
    $(`inv-export-${fmtName}`).addEventListener("click", async () => {
      if (!inv.result) return;
      const q = new URLSearchParams({ format: fmtName, pass: String(inv.result.pass_index) });
      try {
        await download(`/api/surveys/${encodeURIComponent(inv.surveyId)}/inversion/export?${q}`,
          `${inv.surveyId}.${fmtName === "vtk" ? "vtk" : "csv"}`);
      } catch (err) {
        toast(describeError(err, "downloading the section"));
      }
    });
  }
  new ResizeObserver(() => { drawSection(); drawMisfit(); }).observe($("inv-section").parentElement);
}
