// HTTP helpers: JSON calls with clear errors, toasts, and buttons that show progress.
// Every call goes out in the logged-in user's name (`session.authFetch`).

import { authFetch } from "./session.js";

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const e = (body && body.error) || {};
    super(e.message || fallback || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? "network" : "http");
    this.arg = e.arg;
    this.reason = e.reason;
    this.errors = e.errors;
  }
}

// One call to the gateway. Resolves with the decoded JSON, rejects with an ApiError that
// carries the gateway's message, the field (`arg`) and the bad lines (`errors`) if any.
export async function api(method, path, body, timeoutMs = 30000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  let resp;
  try {
    resp = await authFetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal,
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, null, ctl.signal.aborted ? `no answer from the instrument after ${timeoutMs / 1000} s`
      : "cannot reach the instrument (Wi-Fi or gateway down?)");
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) throw new ApiError(resp.status, data, `HTTP ${resp.status} ${resp.statusText}`);
  return data;
}

export const get = (path, timeoutMs) => api("GET", path, undefined, timeoutMs);
export const post = (path, body = {}, timeoutMs) => api("POST", path, body, timeoutMs);
export const del = (path, timeoutMs) => api("DELETE", path, undefined, timeoutMs);

// Download a file in the user's name: fetched with the bearer token and saved from a Blob, so
// no token ever appears in a URL. The name comes from the gateway's Content-Disposition.
export async function download(path, fallbackName, timeoutMs = 120000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  let resp, blob;
  try {
    resp = await authFetch(path, { cache: "no-store", signal: ctl.signal });
    if (!resp.ok) {
      let data = null;
      try { data = await resp.json(); } catch { data = null; }
      throw new ApiError(resp.status, data, `HTTP ${resp.status} ${resp.statusText}`);
    }
    blob = await resp.blob();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(0, null, ctl.signal.aborted ? `no answer from the instrument after ${timeoutMs / 1000} s`
      : "cannot reach the instrument (Wi-Fi or gateway down?)");
  } finally {
    clearTimeout(timer);
  }
  const cd = resp.headers.get("Content-Disposition") || "";
  const m = /filename\*=UTF-8''([^;]+)/i.exec(cd) || /filename="?([^";]+)"?/i.exec(cd);
  let name = fallbackName;
  if (m) { try { name = decodeURIComponent(m[1]); } catch { name = m[1]; } }
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name.replace(/[\\/]/g, "_");
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return name;
}

// ---- toasts -------------------------------------------------------------------------------
export function toast(message, kind = "error", ms = 7000) {
  const box = document.getElementById("toasts");
  const el = document.createElement("div");
  el.className = `toast toast-${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "ghost small";
  close.textContent = "✕";
  close.setAttribute("aria-label", "dismiss");
  close.addEventListener("click", () => el.remove());
  el.append(text, close);
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => el.remove(), ms);
}

export function describeError(err, what) {
  if (!(err instanceof ApiError)) return `${what}: ${err && err.message ? err.message : err}`;
  const status = err.status ? ` (${err.status})` : "";
  const prefix = err.status === 503 ? "service down" : err.status === 504 ? "timed out" : err.status === 409 ? "not now" : "failed";
  return `${what} ${prefix}${status}: ${err.message}`;
}

// Run `fn` while the button shows it is working; errors become a toast (and are returned).
export async function busy(button, what, fn, okMessage) {
  if (button.classList.contains("working")) return undefined;
  button.classList.add("working");
  button.setAttribute("aria-busy", "true");
  const wasDisabled = button.disabled;
  button.disabled = true;
  try {
    const result = await fn();
    if (okMessage) toast(typeof okMessage === "function" ? okMessage(result) : okMessage, "ok", 3500);
    return result;
  } catch (err) {
    toast(describeError(err, what));
    if (err instanceof ApiError) return err;
    console.error(err);
    return err;
  } finally {
    button.classList.remove("working");
    button.removeAttribute("aria-busy");
    button.disabled = wasDisabled;
  }
}

// ---- formatting -----------------------------------------------------------------------------
export function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

export function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, "0")} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

export function bytes(b) {
  if (b === null || b === undefined || !Number.isFinite(b)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (b >= 1000 && i < units.length - 1) { b /= 1000; i++; }
  return `${b.toFixed(b < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function clock(iso) {
  if (!iso) return "–";
  const d = new Date(typeof iso === "number" ? iso * 1000 : iso); // epoch seconds or ISO 8601
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style") throw new Error("no style attributes (CSP): set el.style from code");
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export const FLAG_LABEL = { high_std: "high std", low_current: "low I", saturated: "saturated", open_electrode: "open",
  ip_wrong_sign: "IP sign", ip_noisy: "IP noisy" };

export function flagBadges(flags) {
  const span = document.createElement("span");
  span.className = "flags";
  for (const f of flags || []) {
    span.append(h("span", { class: `flag flag-${f}`, title: f, text: FLAG_LABEL[f] || f }));
  }
  if (!flags || !flags.length) span.append(h("span", { class: "flag flag-ok", text: "ok" }));
  return span;
}
