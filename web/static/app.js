// The control page: state from the gateway's JSON API, live updates from its SSE stream, behind
// a login (session.js); what the user's role may not do is hidden (data-op, session.can).

import { ApiError, api, get, post, busy, toast, describeError, fmt, duration, bytes, clock, h, flagBadges, download, FLAG_LABEL } from "./api.js";
import { user, refresh, logout, loadPermissions, applyRoles, can, onSessionEnd, ended } from "./session.js";
import { showGate, wireGate, wirePasswordDialog, openPasswordDialog } from "./login.js";
import { showAdmin, wireAdmin } from "./admin.js";
import { PseudoSection } from "./pseudo.js";
import { loadSpec, levelRank } from "./spec.js";
import { diskTile, healthNotes, renderHealthNotes } from "./health.js";
import { batteryTile } from "./battery.js";
import { wireAlarms, loadAlarms, onAlarmState } from "./alarms.js";
import { wireInversion, showInversion, onInversionState } from "./inversion.js";
import { drawContacts, drawWaveform as paintWaveform, drawTimeseries, drawDecay, drawHistogram, SERIES } from "./charts.js";

const $ = (id) => document.getElementById(id);
const CORE = ["hub", "recorder", "controller", "sequencer"];
const LIVE_ROWS = 60;

const state = {
  sse: "connecting",
  processes: [],
  survey: null,
  controller: null,
  recorder: null,
  errors: {},
  soh: {},
  geometry: null,
  settings: null,
  spec: null,
  live: [],
  byId: new Map(),
  ps: { surveyId: null, pass: null, follow: true },
  series: [],
  wave: { pinned: false, id: null },
  rs: null,
  surveys: [],
  quality: { surveyId: null, data: null },
};

const ps = new PseudoSection($("ps"), $("ps-tip"), { onPick: (rec) => pickQuadrupole(rec) });

// ---- test / benchmark hook ------------------------------------------------------------------
window.ohmpi = {
  state,
  pseudosection: {
    count: () => ps.count(),
    points: () => [...ps.points.values()].map((p) => ({ key: p.key, x: p.px, y: p.py, depth: p.z, rhoa: p.rec.rhoa_ohmm })),
    // render(points?): draw now (replacing the data with `points` if given); returns the ms taken
    render: (points) => {
      const t0 = performance.now();
      if (points) ps.setData(points);
      ps.render();
      return performance.now() - t0;
    },
  },
};

// ---- header: instrument state, progress, processes -------------------------------------------
function proc(name) { return state.processes.find((p) => p.name === name); }
function isDead(name) {
  const p = proc(name);
  return (p && !p.alive && !p.off) || (!p && state.errors && name in state.errors);
}
// An optional program that is not configured (it exited 0 at once) is off, not dead.
function liveness(p) { return p.alive ? "alive" : p.off ? "off" : "dead"; }

function instrumentState() {
  const dead = CORE.filter(isDead);
  const s = state.survey;
  const activity = (state.soh.controller && state.soh.controller.activity) || (state.controller && state.controller.activity);
  if (dead.length) return { key: "fault", label: "fault", detail: `${dead.join(", ")} down` };
  if (s && s.state === "failed") return { key: "fault", label: "fault", detail: s.message || "survey failed" };
  if (s && s.state === "running") return { key: "running", label: "survey running", detail: s.name || "" };
  if (s && s.state === "waiting") {
    const wait = s.next_pass_at ? s.next_pass_at - Date.now() / 1000 : null;
    return { key: "running", label: "survey waiting", detail: wait !== null ? `next pass in ${duration(wait)}` : "" };
  }
  if (s && s.state === "paused") return { key: "paused", label: "paused", detail: s.name || "" };
  if (activity) return { key: "measuring", label: "measuring", detail: String(activity) };
  if (state.sse === "connecting" && !state.processes.length) return { key: "unknown", label: "connecting…", detail: "" };
  return { key: "idle", label: "idle", detail: s && s.state && s.state !== "idle" ? `last survey ${s.state}` : "" };
}

function renderHeader() {
  const st = instrumentState();
  const box = $("state");
  box.className = `state st-${st.key}`;
  $("state-label").textContent = st.label;
  $("state-detail").textContent = st.detail;
  const measuring = st.key === "running" || st.key === "measuring" || (state.soh.controller && state.soh.controller.injecting);
  $("abort").classList.toggle("hot", !!measuring);
  document.body.dataset.state = st.key;

  const s = state.survey;
  const fill = $("progress-fill");
  const text = $("progress-text");
  if (s && s.survey_id && s.total) {
    const frac = s.total_all ? s.done_all / s.total_all : s.done / s.total;
    fill.style.width = `${Math.min(100, 100 * frac).toFixed(1)}%`;
    fill.className = `progress-fill pf-${s.state}`;
    const parts = [`${s.done}/${s.total}`];
    if ((s.repeat || 1) > 1) parts.push(`pass ${(s.pass_index || 0) + 1}/${s.repeat}`);
    if (s.active && Number.isFinite(s.eta_s)) {
      const end = new Date(Date.now() + s.eta_s * 1000);
      parts.push(`ETA ${duration(s.eta_s)} (${end.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })})`);
    } else if (!s.active) parts.push(s.state);
    if (s.failed) parts.push(`${s.failed} refused`);
    text.textContent = parts.join(" · ");
    $("progress").setAttribute("aria-valuenow", String(Math.round(100 * frac)));
  } else {
    fill.style.width = "0";
    text.textContent = "no survey";
  }

  const chips = $("chips");
  chips.replaceChildren();
  const names = state.processes.length ? state.processes.map((p) => p.name) : [...CORE, "web"];
  for (const name of names) {
    const p = proc(name);
    const life = p ? liveness(p) : state.processes.length ? "dead" : null;
    const cls = life === null ? "chip-unknown" : `chip-${life}`;
    const title = !p ? name : p.alive ? `${name}: alive, last heartbeat ${fmt(p.age_s, 2)} s ago`
      : p.off ? `${name}: off (not configured)` : `${name}: DEAD (no heartbeat for ${fmt(p.age_s, 3)} s)`;
    chips.append(h("li", { class: `chip ${cls}`, title }, h("span", { class: "dot", "aria-hidden": "true" }), `${name}${life === "alive" || life === null ? "" : ` ${life}`}`));
  }

  const alerts = $("alerts");
  const errs = Object.entries(state.errors || {});
  if (state.sse === "reconnecting") errs.unshift(["events", "live stream lost, reconnecting…"]);
  alerts.hidden = !errs.length;
  alerts.replaceChildren(...errs.map(([k, v]) => h("div", {}, h("b", { text: `${k}: ` }), String(v))));

  const conn = $("conn");
  conn.className = `badge conn-${state.sse}`;
  conn.textContent = state.sse === "live" ? "● live" : state.sse === "reconnecting" ? "reconnecting…" : "connecting…";
  renderSurveyControls();
}

function renderSurveyControls() {
  const s = state.survey;
  const may = new Set((s && s.actions) || []); // what the sequencer's state machine allows now
  const seqDead = isDead("sequencer");
  $("sv-start").disabled = seqDead || !!(s && s.active);
  $("sv-pause").disabled = seqDead || !may.has("pause");
  $("sv-resume").disabled = seqDead || !may.has("resume");
  $("sv-stop").disabled = seqDead || !may.has("stop");
  const loaded = s && s.loaded;
  $("loaded").textContent = loaded ? `loaded: ${loaded.name} · ${loaded.count} quadrupoles` : seqDead ? "sequencer down" : "no sequence loaded";
  $("loaded").className = loaded ? "" : "muted";
  const msg = $("survey-msg");
  const text = seqDead ? "The sequencer is down: surveys cannot be started or changed until it is back."
    : s && s.message ? s.message : "";
  msg.hidden = !text;
  msg.textContent = text;
  msg.className = seqDead ? "msg msg-bad" : "msg";
}

// ---- health panel -----------------------------------------------------------------------------
function tile(id, value, level) {
  const el = $(id);
  el.querySelector("b").textContent = value;
  el.className = `tile ${level ? `tile-${level}` : ""}`;
}

function renderHealth() {
  const c = { ...(state.controller || {}), ...(state.soh.controller || {}) };
  const v = c.supply_V;
  tile("t-supply", Number.isFinite(v) ? `${v.toFixed(2)} V` : isDead("controller") ? "no data" : "–",
    !Number.isFinite(v) ? (isDead("controller") ? "bad" : "") : v < 10.5 ? "bad" : v < 11.5 ? "warn" : "ok");
  const [battery, batteryLevel, batteryTitle] = batteryTile(c);
  tile("t-battery", battery, batteryLevel);
  $("t-battery").title = batteryTitle;
  const t = c.cpu_temp_C;
  tile("t-temp", Number.isFinite(t) ? `${t.toFixed(1)} °C` : "–", !Number.isFinite(t) ? "" : t > 80 ? "bad" : t > 70 ? "warn" : "ok");
  const worn = c.relays_worn || [], ops = c.relay_ops_max, rated = c.relay_rated_ops;
  tile("t-relays", Number.isFinite(ops) && rated ? `${(100 * ops / rated).toFixed(ops < rated / 100 ? 2 : 0)} %` : "–",
    worn.length ? "warn" : Number.isFinite(ops) ? "ok" : "");
  $("t-relays").title = worn.length ? `at or beyond the rated life (${rated} operations): ${worn.join(", ")}`
    : Number.isFinite(ops) ? `most worn relay ${c.relay_most_worn || "–"}: ${ops} of ${rated} rated operations` : "";
  const r = { ...(state.recorder || {}), ...(state.soh.recorder || {}) };
  const [disk, diskLevel, diskTitle] = diskTile(r, isDead("recorder"));
  tile("t-disk", disk, diskLevel);
  $("t-disk").title = diskTitle;
  renderHealthNotes($("health-notes"), healthNotes(r, state.survey, c));

  const body = $("procs").tBodies[0];
  body.replaceChildren();
  const mayRestart = can("POST", "/api/processes/{name}/restart");
  for (const p of state.processes) {
    const live = { ...p, ...(p.alive ? state.soh[p.name] || {} : {}) };
    let btn = null;
    if (mayRestart) {
      btn = h("button", { type: "button", class: "small", text: "restart", "aria-label": `restart ${p.name}` });
      btn.addEventListener("click", () => restart(p.name, btn));
    }
    body.append(h("tr", { class: p.alive || p.off ? "" : "row-dead" },
      h("th", { text: p.name, scope: "row" }),
      h("td", {}, h("span", { class: `chip chip-${liveness(p)}` }, h("span", { class: "dot" }), liveness(p))),
      h("td", { text: p.alive ? duration(live.uptime_s) : "–" }),
      h("td", { text: p.alive && Number.isFinite(live.rss_mb) ? `${live.rss_mb.toFixed(0)} MB` : "–" }),
      h("td", { text: p.alive && Number.isFinite(live.cpu_pct) ? `${live.cpu_pct.toFixed(0)} %` : "–" }),
      btn ? h("td", {}, btn) : null));
  }
}

async function restart(name, btn) {
  const s = state.survey;
  if (s && s.active && name !== "web" &&
      !window.confirm(`A survey is ${s.state}. Restart ${name} anyway? (The survey resumes where it stopped.)`)) return;
  await busy(btn, `restart ${name}`, () => post(`/api/processes/${encodeURIComponent(name)}/restart`, {}, 60000), `${name} restarted`);
  refreshStatus();
}

// ---- status polling ---------------------------------------------------------------------------
async function refreshStatus() {
  try {
    const st = await get("/api/status", 10000);
    state.processes = st.processes || [];
    state.survey = st.survey;
    state.controller = st.controller;
    state.recorder = st.recorder;
    state.errors = st.errors || {};
    if (st.survey && st.survey.active) loadSurveys(); // keep the counts moving
    if (st.survey && st.survey.survey_id && state.ps.follow && st.survey.survey_id !== state.ps.surveyId) {
      loadSection(st.survey.survey_id, st.survey.pass_index);
    }
  } catch (err) {
    state.errors = { gateway: err.message };
  }
  renderHeader();
  renderHealth();
}

// ---- pseudo-section data ----------------------------------------------------------------------
async function fetchSurveyRows(id, pass) {
  const rows = [];
  let offset = 0;
  for (let guard = 0; guard < 100; guard++) {
    const q = new URLSearchParams({ offset: String(offset), limit: "1000" });
    if (pass !== null && pass !== undefined) q.set("pass", String(pass));
    const page = await get(`/api/surveys/${encodeURIComponent(id)}/data?${q}`, 30000);
    rows.push(...(page.rows || []));
    if (page.next_offset === null || page.next_offset === undefined || !(page.rows || []).length) break;
    offset = page.next_offset;
  }
  return rows;
}

let sectionLoad = 0;
async function loadSection(id, pass) {
  const token = ++sectionLoad;
  state.ps.surveyId = id;
  state.ps.pass = pass ?? null;
  ps.clear();
  renderSectionTitle();
  try {
    let rows = await fetchSurveyRows(id, pass);
    if (!rows.length && pass > 0) rows = await fetchSurveyRows(id, pass - 1);
    if (token !== sectionLoad) return;
    // keep events that arrived while loading: add stored rows first, then what is already shown
    const shown = [...ps.points.values()].map((p) => p.rec);
    ps.setData([...rows, ...shown]);
    if (!state.live.length) for (const r of rows.slice(-20)) addLiveRow(r, false);
    renderLive();
  } catch (err) {
    toast(describeError(err, "loading the survey data"));
  }
  renderSectionTitle();
  if (token === sectionLoad) showInversion(id, ps);  // the inverted section under it (inversion.js)
}

function renderSectionTitle() {
  const id = state.ps.surveyId;
  const sv = state.surveys.find((s) => s.survey_id === id);
  const name = sv ? sv.name : state.survey && state.survey.survey_id === id ? state.survey.name : "";
  $("ps-title").textContent = id ? `${name ? `${name} · ` : ""}${id}${state.ps.pass !== null ? ` · pass ${state.ps.pass + 1}` : ""}` : "";
  $("ps-live").hidden = state.ps.follow;
  const n = ps.count();
  $("ps-count").textContent = `${n} point${n === 1 ? "" : "s"}`;
}

// ---- live table -------------------------------------------------------------------------------
function addLiveRow(rec, front = true) {
  if (front) state.live.unshift(rec); else state.live.push(rec);
  if (state.live.length > LIVE_ROWS) state.live.length = LIVE_ROWS;
  if (rec.measurement_id) {
    state.byId.set(rec.measurement_id, rec);
    if (state.byId.size > 500) state.byId.delete(state.byId.keys().next().value);
  }
}

let liveQueued = false;
function renderLive() {
  if (liveQueued) return;
  liveQueued = true;
  requestAnimationFrame(() => {
    liveQueued = false;
    const body = $("live").tBodies[0];
    const rows = state.live.map((r) => {
      const tr = h("tr", { class: r.flags && r.flags.length ? "row-flagged" : "", tabindex: "0", title: "show its waveform and R over time" },
        h("td", { text: r.a }), h("td", { text: r.b }), h("td", { text: r.m }), h("td", { text: r.n }),
        h("td", { class: "muted", title: "receiver channel", text: r.channel ?? "" }),
        h("td", { class: "num strong", text: fmt(r.rhoa_ohmm, 4) }),
        h("td", { class: "num", text: fmt(r.r_ohm, 4) }),
        h("td", { class: `num ${r.r_std_pct > ((state.settings && state.settings.max_std_pct) || 2) ? "bad-text" : ""}`, text: fmt(r.r_std_pct, 2) }),
        h("td", { class: "num", title: r.ip_std_mvv !== undefined && r.ip_std_mvv !== null ? `± ${fmt(r.ip_std_mvv, 2)} mV/V` : "", text: fmt(r.ip_mvv, 3) }),
        h("td", {}, flagBadges(r.flags)),
        h("td", { class: "num", text: fmt(r.iab_mA, 3) }),
        h("td", { class: "num", text: fmt(r.vmn_mV, 4) }),
        h("td", { class: "muted", text: clock(r.time) }));
      const pick = () => pickQuadrupole(r);
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
      return tr;
    });
    body.replaceChildren(...rows);
    const flagged = state.live.filter((r) => r.flags && r.flags.length).length;
    $("live-count").textContent = state.live.length ? `${state.live.length} shown · ${flagged} flagged` : "";
    if (!state.live.length) body.append(h("tr", {}, h("td", { colspan: "12", class: "muted", text: "No measurements yet." })));
  });
}

// ---- quadrupole picking: waveform + time series ------------------------------------------------
async function pickQuadrupole(rec) {
  if (rec.measurement_id) {
    state.wave = { pinned: true, id: rec.measurement_id };
    $("wave-title").textContent = `A${rec.a} B${rec.b} M${rec.m} N${rec.n} · picked`;
    get(`/api/measurements/${encodeURIComponent(rec.measurement_id)}/waveform`)
      .then((wf) => { if (state.wave.id === rec.measurement_id) drawWaveform($("wave"), wf, rec); })
      .catch((err) => toast(describeError(err, "loading the waveform")));
    showWaveFollow();
  }
  const key = `${rec.a},${rec.b},${rec.m},${rec.n}`;
  if (state.series.some((s) => s.key === key)) return;
  const s = { key, a: rec.a, b: rec.b, m: rec.m, n: rec.n, rows: [] };
  state.series.push(s);
  if (state.series.length > 4) state.series.shift();
  renderSeriesChips();
  try {
    const q = new URLSearchParams({ a: rec.a, b: rec.b, m: rec.m, n: rec.n, limit: "1000" });
    s.rows = await get(`/api/timeseries?${q}`);
  } catch (err) {
    toast(describeError(err, "loading R over time"));
  }
  drawTimeseries($("ts"), state.series);
}

function renderSeriesChips() {
  const box = $("ts-chips");
  box.replaceChildren(...state.series.map((s, i) => {
    const b = h("button", { type: "button", class: "serie small", title: "remove" }, `${s.a} ${s.b} ${s.m} ${s.n} ✕`);
    b.style.setProperty("--c", SERIES[i % SERIES.length]); // CSSOM, not a style attribute (CSP)
    b.addEventListener("click", () => { state.series = state.series.filter((x) => x !== s); renderSeriesChips(); drawTimeseries($("ts"), state.series); });
    return b;
  }));
  $("ts-hint").hidden = state.series.length > 0;
}

function showWaveFollow() {
  let b = document.getElementById("wave-live");
  if (!state.wave.pinned) { if (b) b.remove(); return; }
  if (!b) {
    b = h("button", { id: "wave-live", type: "button", class: "ghost small", text: "follow live" });
    b.addEventListener("click", () => { state.wave.pinned = false; $("wave-title").textContent = ""; showWaveFollow(); });
    $("card-wave").querySelector(".card-head").append(b);
  }
}

// ---- live events (SSE) ------------------------------------------------------------------------
// EventSource cannot send an Authorization header: each (re)connect asks for a fresh short-lived
// ticket and puts it in the URL. On an error the browser would retry with the spent ticket, so
// the page closes the stream itself and reconnects with a new one (backing off to 10 s).
let source = null;
let everOpen = false;
let sseGen = 0;
let sseTimer = null;
let sseFailures = 0;

function stopLive() {
  sseGen++;
  clearTimeout(sseTimer);
  if (source) { source.close(); source = null; }
}

function reconnectLater() {
  clearTimeout(sseTimer);
  const delay = Math.min(10000, 1000 * 2 ** Math.min(sseFailures++, 4));
  sseTimer = setTimeout(connect, delay);
}

async function connect() {
  stopLive();
  if (!user()) return;
  const gen = sseGen;
  let ticket;
  try {
    ticket = (await post("/api/tickets", {}, 10000)).ticket;
  } catch {
    if (gen !== sseGen) return;
    state.sse = "reconnecting";
    renderHeader();
    reconnectLater();
    return;
  }
  if (gen !== sseGen || !user()) return;
  source = new EventSource(`/api/events?ticket=${encodeURIComponent(ticket)}`);
  source.onopen = () => {
    const again = everOpen;
    everOpen = true;
    sseFailures = 0;
    state.sse = "live";
    renderHeader();
    if (again) { refreshStatus(); if (state.ps.surveyId && state.ps.follow) loadSection(state.ps.surveyId, state.ps.pass); }
  };
  source.onerror = () => {
    if (gen !== sseGen) return;
    state.sse = "reconnecting";
    renderHeader();
    if (source) { source.close(); source = null; }
    reconnectLater();
  };
  const on = (name, fn) => source.addEventListener(name, (e) => {
    let data;
    try { data = JSON.parse(e.data); } catch { return; }
    try { fn(data); } catch (err) { console.error(name, err); }
  });
  // the gateway ends the stream when its session or token is revoked or expired
  on("revoked", async () => {
    stopLive();
    if (await refresh()) connect(); else ended("your session has ended");
  });
  on("measurement", onMeasurement);
  on("waveform", (wf) => {
    if (state.wave.pinned) return;
    const rec = wf.measurement_id && state.byId.get(wf.measurement_id);
    $("wave-title").textContent = rec ? `A${rec.a} B${rec.b} M${rec.m} N${rec.n} · latest` : "latest";
    drawWaveform($("wave"), wf, rec || null);
  });
  on("rs_check", showContacts);
  on("survey", (s) => {
    const before = state.survey;
    state.survey = { ...(before || {}), ...s };
    if (s.survey_id && state.ps.follow && s.survey_id !== state.ps.surveyId) loadSection(s.survey_id, s.pass_index);
    if (!before || before.state !== s.state || before.survey_id !== s.survey_id) loadSurveys();
    renderHeader();
  });
  on("recorder", (r) => { state.recorder = { ...(state.recorder || {}), ...r }; renderHealth(); });
  on("soh", (s) => {
    if (!s.process) return;
    state.soh[s.process] = s;
    if (s.process === "controller") renderHeader();
    scheduleHealth();
  });
  on("log", (l) => addLog(l, true));
  on("state", onAlarmState);
  on("state", onInversionState);
  on("processes", (list) => {
    if (!Array.isArray(list)) return;
    state.processes = list;
    for (const p of list) if (p.alive && state.errors[p.name]) delete state.errors[p.name];
    renderHeader();
    scheduleHealth();
  });
}

let healthQueued = null;
function scheduleHealth() {
  if (healthQueued) return;
  healthQueued = setTimeout(() => { healthQueued = null; renderHealth(); }, 300);
}

function onMeasurement(rec) {
  addLiveRow(rec);
  renderLive();
  if (rec.survey_id) {
    if (state.ps.follow && rec.survey_id !== state.ps.surveyId) {
      loadSection(rec.survey_id, rec.pass_index);
    } else if (rec.survey_id === state.ps.surveyId) {
      ps.add(rec);
      if (rec.pass_index !== undefined && rec.pass_index !== state.ps.pass) state.ps.pass = rec.pass_index;
      renderSectionTitle();
    }
  }
  const key = `${rec.a},${rec.b},${rec.m},${rec.n}`;
  const s = state.series.find((x) => x.key === key);
  if (s) { s.rows.push(rec); drawTimeseries($("ts"), state.series); }
}

// ---- survey controls --------------------------------------------------------------------------
function surveyOptions() {
  const f = $("survey-form").elements;
  const body = {};
  if (f.name.value.trim()) body.name = f.name.value.trim();
  const repeat = parseInt(f.repeat.value, 10);
  if (repeat > 1) body.repeat = repeat;
  const every = parseFloat(f.every.value);
  if (every > 0) body.every_s = every * parseFloat(f.every_unit.value);
  if (f.stacks.value) body.stacks = parseInt(f.stacks.value, 10);
  if (f.injection_ms.value) body.injection_ms = parseFloat(f.injection_ms.value);
  if (f.reciprocals.checked) body.reciprocals = true;
  return body;
}

function markField(form, name, message) {
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  if (!name) return false;
  const input = form.elements[name] || form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!input) return false;
  input.classList.add("invalid");
  const label = input.closest("label") || input.parentElement;
  label.append(h("span", { class: "field-error", role: "alert", text: message }));
  input.focus();
  return true;
}

async function surveyAction(action, btn) {
  const form = $("survey-form");
  markField(form, null);
  const body = action === "start" ? surveyOptions() : {};
  const res = await busy(btn, `${action} survey`, () => post(`/api/survey/${action}`, body, 30000),
    action === "start" ? (r) => `survey ${r.survey_id} started: ${r.total} quadrupoles${r.repeat > 1 ? ` × ${r.repeat}` : ""}` : `survey ${action}${action === "stop" ? "ped" : action === "pause" ? "d" : "d"}`);
  if (res instanceof ApiError && res.arg) {
    const name = res.arg === "every_s" ? "every" : res.arg;
    markField(form, name, res.reason || res.message);
  }
  if (action === "start" && res && res.survey_id) {
    state.ps.follow = true;
    loadSection(res.survey_id, 0);
  }
  refreshStatus();
  loadSurveys();
}

// ---- sequences --------------------------------------------------------------------------------
function showSequenceResult(res, err) {
  const out = $("seq-result");
  const list = $("seq-errors");
  list.replaceChildren();
  list.hidden = true;
  if (err) {
    out.hidden = false;
    out.className = "msg msg-bad";
    out.textContent = err.message;
    if (err.errors && err.errors.length) {
      list.hidden = false;
      for (const [line, reason] of err.errors.slice(0, 200)) {
        const li = h("li", {}, h("b", { text: `line ${line}` }), ` ${reason}`);
        li.addEventListener("click", () => selectLine(line));
        list.append(li);
      }
      if (err.errors.length > 200) list.append(h("li", { text: `… and ${err.errors.length - 200} more` }));
    }
    return;
  }
  out.hidden = false;
  out.className = "msg msg-ok";
  out.textContent = res.loaded ? `Loaded “${res.name}”: ${res.count} quadrupoles.` : `“${res.name}” is valid: ${res.count} quadrupoles on ${res.n_electrodes ?? "?"} electrodes.`;
}

function selectLine(line) {
  const ta = $("seq-text");
  if (!ta.value) return;
  const lines = ta.value.split("\n");
  let start = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const end = start + (lines[line - 1] || "").length;
  ta.focus();
  ta.setSelectionRange(start, end);
  const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  ta.scrollTop = Math.max(0, (line - 3) * lh);
}

async function sequenceCall(btn, what, path, body, load) {
  const res = await busy(btn, what, () => post(path, body, 30000));
  if (res instanceof ApiError) { showSequenceResult(null, res); return; }
  if (res instanceof Error || !res) return;
  showSequenceResult({ ...res, loaded: load }, null);
  if (load) {
    state.survey = { ...(state.survey || { state: "idle" }), loaded: { name: res.name, count: res.count } };
    renderSurveyControls();
    toast(`sequence “${res.name}” loaded: ${res.count} quadrupoles`, "ok", 3500);
  }
}

async function readFile() {
  const file = $("seq-file").files[0];
  if (!file) throw new Error("choose a file first");
  if (file.size > 2e6) throw new Error(`${file.name} is too large (${bytes(file.size)})`);
  return { text: await file.text(), name: file.name.replace(/\.[^.]*$/, "") };
}

// ---- settings form, built from the spec -------------------------------------------------------
async function loadSettings() {
  const form = $("settings-form");
  try {
    const res = await get("/api/settings");
    state.settings = res.settings;
    state.spec = res.spec;
    buildSettings(form, res.spec, res.settings);
  } catch (err) {
    form.replaceChildren(h("p", { class: "msg msg-bad", text: describeError(err, "loading settings") }));
  }
}

function buildSettings(form, spec, values) {
  form.replaceChildren();
  for (const [name, sp] of Object.entries(spec)) {
    const v = values[name];
    let input;
    if (sp.kind === "choice") {
      input = h("select", { name });
      for (const a of sp.allowed || []) input.append(h("option", { value: String(a), text: String(a), selected: String(a) === String(v) }));
    } else if (sp.kind === "bool") {
      input = h("input", { type: "checkbox", name, checked: !!v });
    } else if (sp.kind === "floats") {
      input = h("input", { type: "text", name, inputmode: "decimal", value: Array.isArray(v) ? v.join(", ") : "",
        placeholder: "e.g. 20, 20, 40, 80" });
    } else {
      const step = sp.kind === "int" ? "1" : "any";
      input = h("input", { type: "number", name, step, min: sp.min ?? undefined, max: sp.max ?? undefined,
        inputmode: sp.kind === "int" ? "numeric" : "decimal", value: v === null || v === undefined ? "" : String(v),
        placeholder: sp.kind.endsWith("?") ? "auto" : undefined });
    }
    input.dataset.kind = sp.kind;
    const range = sp.min !== null && sp.min !== undefined ? `${sp.min} – ${sp.max}` : sp.allowed ? sp.allowed.join(" / ") : "";
    const label = h("label", { class: sp.kind === "bool" ? "check" : "" },
      h("span", { class: "lab" }, name.replace(/_/g, " "), range ? h("small", { text: ` ${range}` }) : null),
      input,
      sp.help ? h("span", { class: "help", text: sp.help }) : null);
    form.append(label);
  }
}

function settingsChanges() {
  const form = $("settings-form");
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    const kind = el.dataset.kind;
    let v;
    if (kind === "bool") v = el.checked;
    else if (kind === "floats") {
      const parts = el.value.split(/[\s,;]+/).filter(Boolean);
      v = parts.map(Number);
      if (v.some(Number.isNaN)) { out[el.name] = el.value; continue; }
      if (JSON.stringify(v) !== JSON.stringify(state.settings[el.name])) out[el.name] = v;
      continue;
    }
    else if (kind === "choice") {
      const allowed = state.spec[el.name].allowed || [];
      v = allowed.find((a) => String(a) === el.value) ?? el.value;
    } else if (el.value === "") v = kind.endsWith("?") ? null : NaN;
    else v = kind === "int" ? Number(el.value) : Number(el.value);
    if (Number.isNaN(v)) { out[el.name] = el.value; continue; }
    if (v !== state.settings[el.name]) out[el.name] = v;
  }
  return out;
}

// ---- single measurement -----------------------------------------------------------------------
function showMeasurement(res) {
  const r = res.record;
  const dl = $("measure-result");
  dl.hidden = false;
  const items = [["ρa", `${fmt(r.rhoa_ohmm, 4)} Ω·m`], ["R", `${fmt(r.r_ohm, 4)} Ω ± ${fmt(r.r_std_pct, 2)} %`], ["M", `${fmt(r.ip_mvv, 3)} ± ${fmt(r.ip_std_mvv, 2)} mV/V`],
    ["k", `${fmt(r.k_m, 4)} m`], ["I", `${fmt(r.iab_mA, 4)} mA`], ["Vmn", `${fmt(r.vmn_mV, 4)} mV`],
    ["SP", `${fmt(r.sp_mV, 3)} mV`], ["Vab", `${fmt(r.vab_V, 3)} V`], ["Rab", `${fmt(r.rab_kohm, 3)} kΩ`]];
  dl.replaceChildren(...items.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]),
    h("dt", { text: "flags" }), h("dd", {}, flagBadges(r.flags)));
  addLiveRow({ ...r, measurement_id: res.measurement_id });
  renderLive();
}

// ---- contact resistance -----------------------------------------------------------------------
function showContacts(check) {
  if (!check) return;
  const c = check.result && check.result.electrodes ? { ...check, ...check.result } : check;
  state.rs = c;
  drawContacts($("rs"), c);
  const bad = c.bad || [], open = c.open || [];
  const sum = $("rs-sum");
  const when = c.time ? ` · ${clock(c.time)}` : "";
  if (!bad.length && !open.length) {
    sum.className = "msg msg-ok";
    sum.textContent = `All ${c.electrodes.length} electrodes below ${fmt(c.threshold_kohm, 3)} kΩ${when}.`;
  } else {
    sum.className = "msg msg-bad";
    const byE = new Map(c.electrodes.map((e) => [e.electrode, e]));
    const parts = [];
    if (bad.length) parts.push(`High: ${bad.map((e) => `${e} (${fmt(byE.get(e) && byE.get(e).contact_kohm, 3)} kΩ)`).join(", ")}`);
    if (open.length) parts.push(`Open: ${open.join(", ")}`);
    sum.textContent = `${parts.join(" · ")} — threshold ${fmt(c.threshold_kohm, 3)} kΩ${when}. Check those stakes (water, depth, cable).`;
  }
  ps.setBadElectrodes([...bad, ...open]);
}

// ---- surveys & downloads ----------------------------------------------------------------------
let surveysTimer = null;
function loadSurveys() {
  clearTimeout(surveysTimer);
  surveysTimer = setTimeout(async () => {
    try {
      state.surveys = await get("/api/surveys");
      renderSurveys();
      renderSectionTitle();
    } catch (err) {
      $("surveys").replaceChildren(h("li", { class: "msg msg-bad", text: describeError(err, "listing surveys") }));
    }
  }, 250);
}

// what a survey cost the instrument: measuring time, injection, relay clicks, energy (null: nothing metered)
function surveyCost(s) {
  if (!s.metered) return "";
  const parts = [`${duration(s.sim_duration_s)} measuring`];
  if (s.injection_s != null) parts.push(`${duration(s.injection_s)} injecting`);
  parts.push(`${s.relay_operations} relay operations`);
  if (s.energy_j != null) parts.push(`${fmt(s.energy_j)} J`);
  return parts.join(" · ") + (s.metered < s.quadrupoles ? ` (${s.metered} of ${s.quadrupoles} quadrupoles)` : "");
}

function renderSurveys() {
  const ul = $("surveys");
  if (!state.surveys.length) { ul.replaceChildren(h("li", { class: "muted", text: "No survey stored yet." })); return; }
  ul.replaceChildren(...state.surveys.slice(0, 50).map((s) => {
    const id = encodeURIComponent(s.survey_id);
    const link = (fmtName, label, extra = "", suffix = "") => {
      const b = h("button", { type: "button", class: "small dl", "data-format": fmtName + extra.replace(/[^a-z_]/g, "-"), text: label, title: `download ${label}` });
      const ext = fmtName === "protocol" ? "dat" : fmtName === "matrix" ? "csv" : fmtName;
      b.addEventListener("click", () => busy(b, `download ${label}`,
        () => download(`/api/surveys/${id}/export?format=${fmtName}${extra}`, `${s.survey_id}${suffix}.${ext}`)));
      return b;
    };
    const quality = h("button", { type: "button", class: "small ghost", text: "quality", title: "show its data quality" });
    quality.addEventListener("click", () => {
      loadQuality(s.survey_id);
      $("card-quality").scrollIntoView({ behavior: "smooth", block: "start" });
    });
    const show = h("button", { type: "button", class: "small ghost", text: "view", title: "show in the pseudo-section" });
    show.addEventListener("click", () => {
      state.ps.follow = false;
      loadSection(s.survey_id, s.passes > 1 ? s.passes - 1 : null);
      loadQuality(s.survey_id);
      $("card-pseudo").scrollIntoView({ behavior: "smooth", block: "start" });
    });
    const flagged = s.flagged ? h("span", { class: "flag flag-high_std", text: `${s.flagged} flagged` }) : null;
    const cost = surveyCost(s);
    return h("li", { "data-survey": s.survey_id },
      h("div", { class: "sv-line" }, h("b", { text: s.name || s.survey_id }), h("span", { class: `sv-state sv-${s.state}`, text: s.state })),
      h("div", { class: "muted small-text" }, `${s.survey_id} · ${s.created ? new Date(s.created).toLocaleString() : ""} · ${s.measurements}/${(s.total || 0) * (s.repeat || 1)} measured${s.passes > 1 ? ` · ${s.passes} passes` : ""} `, flagged),
      cost ? h("div", { class: "muted small-text sv-cost", text: cost, title: "what the instrument spent (summed over the measurements that carried it)" }) : null,
      h("div", { class: "sv-links" }, link("ohm", ".ohm (pyGIMLi)"), link("protocol", "protocol.dat"), link("csv", "CSV"),
        link("ohm", ".ohm with error model", "&error_model=true", "_errmodel"),
        s.passes > 1 ? link("matrix", "time-lapse matrix", "", "_timelapse") : null, quality, show));
  }));
}

// ---- logs -------------------------------------------------------------------------------------
const logRows = [];
function levelOk(level) { return levelRank(level) >= levelRank($("log-level").value); }
function addLog(l, live) {
  if (live) logRows.unshift(l); else logRows.push(l);
  if (logRows.length > 400) logRows.length = 400;
  if (!levelOk(l.level)) return;
  const li = h("li", { class: `log log-${l.level}` }, h("span", { class: "muted", text: clock(l.ts || l.time) }),
    h("span", { class: `lvl lvl-${l.level}`, text: l.level }), h("b", { text: l.process || "" }), h("span", { class: "lmsg", text: l.message }));
  const ol = $("logs");
  if (live) ol.prepend(li); else ol.append(li);
  while (ol.children.length > 200) ol.lastChild.remove();
}

async function loadLogs() {
  const level = $("log-level").value;
  try {
    const rows = await get(`/api/logs?limit=200&level=${level}`);
    const list = Array.isArray(rows) ? rows : rows.logs || rows.rows || [];
    $("logs").replaceChildren();
    logRows.length = 0;
    const newestFirst = list.length > 1 && String(list[0].ts || list[0].time) < String(list[list.length - 1].ts || list[list.length - 1].time)
      ? list.slice().reverse() : list;
    for (const l of newestFirst) addLog(l, false);
    if (!list.length) $("logs").append(h("li", { class: "muted", text: "No log lines at this level." }));
  } catch (err) {
    $("logs").replaceChildren(h("li", { class: "msg msg-bad", text: describeError(err, "loading the log") }));
  }
}

// ---- wiring -----------------------------------------------------------------------------------
function wireTheme() {
  const theme = localStorage.getItem("ohmpi-theme");
  if (theme) document.documentElement.dataset.theme = theme;
  $("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("ohmpi-theme", next);
    ps.schedule();
    redrawCharts();
  });
}

function wire() {
  $("abort").addEventListener("click", (e) => busy(e.currentTarget, "abort", () => post("/api/abort", {}, 10000),
    (r) => (r && r.aborted ? `aborted: ${r.aborted} — injection off, relays released` : "abort sent: injection off, relays released")));
  for (const a of ["start", "pause", "resume", "stop"]) $(`sv-${a}`).addEventListener("click", (e) => surveyAction(a, e.currentTarget));
  $("ps-live").addEventListener("click", () => {
    state.ps.follow = true;
    const s = state.survey;
    if (s && s.survey_id) loadSection(s.survey_id, s.pass_index); else renderSectionTitle();
  });

  // sequence tabs
  for (const tab of document.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll("[data-tab]")) t.setAttribute("aria-selected", String(t === tab));
      for (const p of document.querySelectorAll("[data-pane]")) p.hidden = p.dataset.pane !== tab.dataset.tab;
    });
  }
  $("gen-go").addEventListener("click", (e) => {
    const body = { array: $("gen-array").value };
    const n = parseInt($("gen-n").value, 10);
    if (n) body.electrodes = n;
    sequenceCall(e.currentTarget, "generate", "/api/sequence/generate", body, true);
  });
  $("file-go").addEventListener("click", async (e) => {
    const btn = e.currentTarget;
    let f;
    try { f = await readFile(); } catch (err) { toast(err.message); return; }
    $("seq-text").value = f.text;
    sequenceCall(btn, `load ${f.name}`, "/api/sequence", f, true);
  });
  $("paste-check").addEventListener("click", (e) => sequenceCall(e.currentTarget, "check", "/api/sequence/validate", { text: $("seq-text").value, name: "pasted" }, false));
  $("paste-go").addEventListener("click", (e) => sequenceCall(e.currentTarget, "load", "/api/sequence", { text: $("seq-text").value, name: "pasted" }, true));

  // settings
  $("settings-save").addEventListener("click", async (e) => {
    const form = $("settings-form");
    markField(form, null);
    if (!state.spec) { toast("settings not loaded (controller down?)"); return; }
    const changes = settingsChanges();
    if (!Object.keys(changes).length) { toast("no change to save", "ok", 2500); return; }
    const res = await busy(e.currentTarget, "save settings", () => api("PUT", "/api/settings", { settings: changes }), "settings saved");
    if (res instanceof ApiError) { markField(form, res.arg, res.reason || res.message); return; }
    if (res && !(res instanceof Error)) {
      state.settings = res.settings || { ...state.settings, ...changes };
      buildSettings(form, state.spec, state.settings);
    }
  });
  $("settings-reload").addEventListener("click", (e) => busy(e.currentTarget, "reload settings", loadSettings));

  // single measurement
  $("measure-go").addEventListener("click", async (e) => {
    const form = $("measure-form");
    markField(form, null);
    const f = form.elements;
    const body = {};
    for (const k of ["a", "b", "m", "n"]) body[k] = parseInt(f[k].value, 10);
    const bad = Object.entries(body).find(([, v]) => !Number.isInteger(v));
    if (bad) { markField(form, bad[0], "an electrode number"); return; }
    $("measure-result").hidden = true;
    const res = await busy(e.currentTarget, `measure ${body.a} ${body.b} ${body.m} ${body.n}`, () => post("/api/measure", body, 180000));
    if (res instanceof ApiError) {
      if (res.arg && res.arg in body) markField(form, res.arg, res.reason || res.message);
      return;
    }
    if (res && res.record) showMeasurement(res);
  });

  $("rs-go").addEventListener("click", async (e) => {
    const res = await busy(e.currentTarget, "contact check", () => post("/api/rs-check", {}, 600000));
    if (res && !(res instanceof Error)) showContacts(res);
  });
  $("dl-reload").addEventListener("click", () => loadSurveys());
  $("q-reload").addEventListener("click", () => loadQuality(state.quality.surveyId || state.ps.surveyId));
  $("ps-quantity").addEventListener("change", (e) => ps.setQuantity(e.target.value));
  $("log-level").addEventListener("change", loadLogs);

  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(redrawCharts, 150); });
}

let lastWave = null, lastRec = null;
function drawWaveform(canvas, wf, rec) {
  lastWave = wf;
  lastRec = rec === undefined ? lastRec : rec;
  paintWaveform(canvas, wf);
  drawDecay($("decay"), wf, lastRec, (state.settings && state.settings.mains_hz) || 50);
  renderBudget(lastRec);
}

// the uncertainty budget of one measurement: each source's 1σ share, the dominant one first
const BUDGET_LABEL = { noise: "sample noise", sp: "SP drift removal", quantization: "ADC quantization",
  current: "current measurement", excess: "excess half-cycle scatter (hum, drift)" };
function renderBudget(rec) {
  const list = $("budget");
  const budget = rec && rec.r_budget_pct;
  $("budget-total").textContent = rec ? `± ${fmt(rec.r_std_pct, 3)} % (stacks alone: ${fmt(rec.r_stack_std_pct, 3)} %)` : "";
  if (!budget) { list.replaceChildren(h("li", { class: "muted", text: rec ? "No budget for this measurement." : "Pick a measurement." })); return; }
  const total = Math.max(1e-12, ...Object.values(budget));
  const items = Object.entries(budget).sort((a, b) => b[1] - a[1]).map(([k, v], i) => {
    const bar = h("span", { class: "bar" });
    bar.style.setProperty("--w", `${Math.max(1, (100 * v) / total).toFixed(1)}%`); // CSSOM (CSP)
    return h("li", { class: i === 0 ? "dominant" : "", "data-source": k },
      h("span", { class: "lab", text: BUDGET_LABEL[k] || k }), bar, h("span", { class: "num", text: `${fmt(v, 2)} %` }));
  });
  list.replaceChildren(...items);
}

// ---- data quality of one survey ---------------------------------------------------------------
async function loadQuality(id) {
  state.quality.surveyId = id;
  $("q-title").textContent = id || "";
  if (!id) return;
  try {
    state.quality.data = await get(`/api/surveys/${encodeURIComponent(id)}/quality`, 30000);
  } catch (err) {
    $("q-summary").className = "msg msg-bad";
    $("q-summary").textContent = describeError(err, "loading the data quality");
    return;
  }
  renderQuality();
}

function renderQuality() {
  const q = state.quality.data;
  if (!q) return;
  const sum = $("q-summary");
  sum.className = `msg ${q.flagged_pct > 10 ? "msg-bad" : "msg-ok"}`;
  const dominant = Object.entries(q.dominant_error || {}).sort((a, b) => b[1] - a[1])[0];
  sum.textContent = `${q.measurements} measurements · ${q.flagged} flagged (${fmt(q.flagged_pct, 3)} %) · median uncertainty ${fmt(q.r_std_pct.median, 3)} %`
    + (dominant ? ` · mostly ${BUDGET_LABEL[dominant[0]] || dominant[0]} (${dominant[1]})` : "")
    + (q.ip_mvv && q.ip_mvv.median !== null ? ` · median chargeability ${fmt(q.ip_mvv.median, 3)} mV/V` : "");
  $("q-flags").replaceChildren(...Object.entries(q.flags || {}).map(([f, n]) => h("li", { class: `flag flag-${f}`, text: `${FLAG_LABEL[f] || f}: ${n}` })));
  drawHistogram($("q-std"), q.r_std_pct, { unit: "" });
  drawHistogram($("q-recip"), q.reciprocal);
  const model = q.error_model;
  $("q-model").textContent = model
    ? `Reciprocal error model: ${model.model} (${model.pairs} pairs, R² ${fmt(model.r2, 3)}, median ${fmt(model.median_error_pct, 3)} %).`
    : (q.error_model_note || "No reciprocals in this survey: start it with “reciprocals” for an error model.");
  const c = q.contact;
  $("q-contacts").textContent = c
    ? `Contacts at the start (${clock(c.time)}): ${c.electrodes.length} electrodes, median ${fmt(median(c.electrodes.map((e) => e.contact_kohm).filter((v) => v !== null)), 3)} kΩ`
      + (c.bad.length ? `, high: ${c.bad.join(", ")}` : "") + (c.open.length ? `, open: ${c.open.join(", ")}` : "") + "."
    : "No contact check stored for this survey.";
}

function median(values) {
  const v = values.slice().sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : null;
}

function redrawCharts() {
  drawContacts($("rs"), state.rs);
  drawTimeseries($("ts"), state.series);
  drawWaveform($("wave"), lastWave);
  if (state.quality.data) renderQuality();
}

// Load every panel. Each loads on its own: a dead service empties its panel, never the page.
async function loadAll() {
  // the geometry is kept in the browser too, so the section keeps its electrodes when the controller is down
  const useGeometry = (g) => {
    state.geometry = g;
    $("instrument").textContent = `${g.instrument || ""} · ${g.n_electrodes} electrodes`;
    if (!$("gen-n").value) $("gen-n").value = g.n_electrodes;
    $("gen-n").max = g.n_electrodes;
    for (const k of ["a", "b", "m", "n"]) $("measure-form").elements[k].max = g.n_electrodes;
    ps.setPositions(g.positions || []);
  };
  const geometry = get("/api/geometry").then((g) => {
    useGeometry(g);
    try { localStorage.setItem("ohmpi-geometry", JSON.stringify(g)); } catch { /* private mode */ }
  }).catch(() => {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem("ohmpi-geometry") || "null"); } catch { saved = null; }
    if (saved && saved.positions) { useGeometry(saved); $("instrument").textContent += " (saved)"; }
    else $("instrument").textContent = "geometry unavailable";
  });
  await Promise.allSettled([refreshStatus(), geometry, loadSpec()]);
  connect();
  if (can("PUT", "/api/settings")) loadSettings();
  loadSurveys();
  loadLogs();
  get("/api/rs-checks?limit=1").then((list) => {
    const arr = Array.isArray(list) ? list : list.checks || list.rows || [];
    if (arr.length) showContacts(arr[0]);
  }).catch(() => {});
}

// ---- who is logged in; the admin view ----------------------------------------------------------
let apiDoc = null;
function renderUser() {
  const me = user();
  $("user-name").textContent = me ? me.username : "";
  $("user-role").textContent = me ? me.role : "";
  $("user-who").textContent = me ? `${me.username} (${me.role})` : "";
}

// `#admin` shows the admin panel in place of the instrument (back/forward work as usual).
function route() {
  const admin = location.hash === "#admin" && can("GET", "/api/users");
  $("admin").hidden = !admin;
  $("control").hidden = admin;
  document.body.dataset.view = admin ? "admin" : "control";
  if (admin && apiDoc) showAdmin(apiDoc);
  $("user-menu").open = false;
}

function wireSession() {
  $("logout").addEventListener("click", async (e) => {
    stopLive();
    e.currentTarget.disabled = true;
    await logout();
    location.replace("/"); // a fresh page: nothing of this session stays in memory
  });
  $("open-passwd").addEventListener("click", () => { $("user-menu").open = false; openPasswordDialog(); });
  window.addEventListener("hashchange", route);
  document.addEventListener("click", (e) => {
    const menu = $("user-menu");
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  onSessionEnd((reason) => {
    if (document.body.dataset.auth !== "in") return;
    stopLive();
    showGate("login", `${reason[0].toUpperCase()}${reason.slice(1)}: log in again.`);
  });
}

let started = false;
async function enter() {
  document.body.dataset.auth = "in";
  renderUser();
  try {
    apiDoc = await loadPermissions();
  } catch (err) {
    toast(describeError(err, "reading what this account may do"));
  }
  applyRoles();
  route();
  if (!started) {
    started = true;
    wire();
    redrawCharts();
    renderLive();
    renderHeader();
    await loadAll();
    wireAlarms();
    wireInversion();
    setInterval(() => { if (user()) refreshStatus(); }, 10000);
    setInterval(() => { if (state.survey && state.survey.state === "waiting") renderHeader(); }, 1000);
    document.body.dataset.ready = "1";
  } else {
    // back after the session ended (maybe as someone else): everything again, from the gateway
    renderHealth();
    await loadAll();
    loadAlarms();
  }
}

async function boot() {
  wireTheme();
  wireGate(() => enter());
  wirePasswordDialog();
  wireAdmin();
  wireSession();
  if (location.pathname === "/setup") { showGate("setup"); return; }
  if (await refresh()) enter();
  else showGate("login");
}

boot();
