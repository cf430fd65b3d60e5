// Alarms on the page: a banner while any alarm is raised, and a card listing every alarm with
// acknowledge-with-comment (operators) and the rules as JSON (admins). Live: the alarm worker's
// `state.alarms` arrives on the event stream as a "state" event of process "alarms".

import { api, get, post, busy, toast, fmt, clock, h } from "./api.js";
import { can } from "./session.js";

const $ = (id) => document.getElementById(id);
const RAISED = new Set(["active", "acknowledged"]);
let alarms = [];

function valueText(v) {
  return v === "inf" ? "∞ (open)" : fmt(v);
}

function renderBanner() {
  const banner = $("alarm-banner");
  if (!banner) return;
  const active = alarms.filter((a) => a.state === "active");
  const acked = alarms.filter((a) => a.state === "acknowledged");
  banner.hidden = active.length + acked.length === 0;
  banner.replaceChildren();
  if (banner.hidden) return;
  const worst = active.some((a) => a.severity === "critical") ? "critical" : active.length ? "warning" : "acked";
  banner.className = `alarm-banner alarm-${worst}`;
  const names = active.map((a) => `${a.name} (${a.severity}, ${valueText(a.value)})`).join(", ");
  banner.append(h("b", { text: active.length ? `⚠ ${active.length} alarm${active.length > 1 ? "s" : ""} active: ` :
    `${acked.length} alarm${acked.length > 1 ? "s" : ""} acknowledged` }), h("span", { text: names }),
  h("a", { href: "#card-alarms", class: "alarm-link", text: "see alarms" }));
}

function ackForm(alarm) {
  const input = h("input", { name: "comment", maxlength: "500", placeholder: "comment (what you saw or did)",
    "aria-label": `comment for ${alarm.name}` });
  const go = h("button", { type: "submit", class: "small", text: "Acknowledge" });
  return h("form", { class: "alarm-ack", "data-name": alarm.name, onsubmit: async (e) => {
    e.preventDefault();
    const result = await busy(go, `acknowledging ${alarm.name}`, () =>
      post(`/api/alarms/${encodeURIComponent(alarm.name)}/ack`, { comment: input.value }), `${alarm.name} acknowledged`);
    if (result && !(result instanceof Error)) loadAlarms();
  } }, input, go);
}

function renderList() {
  const list = $("alarm-list");
  if (!list) return;
  list.replaceChildren();
  if (!alarms.length) {
    list.append(h("p", { class: "muted", text: "No alarm rules: add [[alarms]] to ohmpi.toml (docs/alarms.md)." }));
    return;
  }
  const mayAck = can("POST", "/api/alarms/{name}/ack");
  for (const a of alarms) {
    const who = a.state === "acknowledged" && a.user ? ` by ${a.user}${a.comment ? `: “${a.comment}”` : ""}` : "";
    const row = h("li", { class: `alarm-row alarm-${a.state} sev-${a.severity}`, "data-name": a.name, "data-state": a.state },
      h("span", { class: "alarm-name", text: a.name }),
      h("span", { class: `badge alarm-state st-${a.state}`, text: a.state }),
      h("span", { class: "alarm-sev", text: a.severity }),
      h("span", { class: "alarm-when muted", text: a.when }),
      h("span", { class: "alarm-value", text: `value ${valueText(a.value)}` }),
      h("span", { class: "alarm-since muted", text: a.since ? `since ${clock(a.since)}${who}` : "never raised" }));
    if (a.state === "active" && mayAck) row.append(ackForm(a));
    list.append(row);
  }
}

function render() {
  renderBanner();
  renderList();
}

export async function loadAlarms() {
  try {
    const list = await get("/api/alarms", 8000);
    if (Array.isArray(list)) { alarms = list; render(); }
  } catch {
    // the alarm process may be down: the banner keeps what it knew, the list says so
    const list = $("alarm-list");
    if (list && !alarms.length) list.replaceChildren(h("p", { class: "muted", text: "alarms unavailable" }));
  }
}

// `state` event of the live stream: {process, state}
export function onAlarmState(msg) {
  if (!msg || msg.process !== "alarms" || !msg.state || !Array.isArray(msg.state.alarms)) return;
  const before = new Set(alarms.filter((a) => a.state === "active").map((a) => a.name));
  alarms = msg.state.alarms;
  for (const a of alarms) if (a.state === "active" && !before.has(a.name)) toast(`alarm ${a.name}: ${a.when}`, "error");
  render();
}

async function loadRules() {
  const box = $("alarm-rules-text");
  try {
    const r = await get("/api/alarms/rules");
    box.value = JSON.stringify(r.rules, null, 1);
    $("alarm-rules-source").textContent = `from ${r.source === "saved" ? "the page (saved)" : "ohmpi.toml"}`;
  } catch (err) {
    $("alarm-rules-msg").textContent = err.message;
  }
}

export function wireAlarms() {
  const rules = $("alarm-rules");
  if (rules) {
    rules.addEventListener("toggle", () => { if (rules.open && can("GET", "/api/alarms/rules")) loadRules(); });
    $("alarm-rules-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const msg = $("alarm-rules-msg");
      const box = $("alarm-rules-text");
      let parsed;
      try { parsed = JSON.parse(box.value); } catch (err) {
        msg.textContent = `not JSON: ${err.message}`;
        box.classList.add("invalid");
        return;
      }
      const result = await busy($("alarm-rules-save"), "saving the alarm rules",
        () => api("PUT", "/api/alarms/rules", { rules: parsed }), "alarm rules saved");
      const failed = result instanceof Error;
      box.classList.toggle("invalid", failed);
      msg.textContent = failed ? result.message : "";
      if (!failed) { loadRules(); loadAlarms(); }
    });
  }
  loadAlarms();
}
