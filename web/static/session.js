// Who is logged in, and the requests made in their name.
//
// The access token lives in this module's memory only (never in storage): a reload gets a new
// one through the HttpOnly refresh cookie (`POST /api/refresh` with the CSRF cookie's value in
// `X-CSRF-Token`). Tokens are refreshed silently before they expire and once on a 401; when
// that fails the page is told (`onSessionEnd`) and shows the login screen.
//
// What the user may do is read from the OpenAPI document (`x-role` on each operation), never
// hard-coded here: `can(method, path)` answers, `applyRoles()` hides what the role may not use.

const RANK = { viewer: 1, operator: 2, admin: 3, service: 4 };
const OPEN = new Set(["public", "anonymous", "none"]); // x-role values that need no login
const REFRESH_EARLY = 0.8; // refresh at 80 % of the token's life

let access = null; // { token, username, role, expiresAt }
let lastCsrf = null;
let refreshTimer = null;
let refreshing = null;
let ops = null; // "GET /api/users/{name}" -> { self: x-role, others: x-role-others }
const endListeners = new Set();

export class AuthError extends Error {
  constructor(status, data, fallback, retryAfter) {
    const e = (data && data.error) || {};
    super(e.message || fallback);
    this.status = status;
    this.code = e.code || (status === 0 ? "network" : "http");
    this.arg = e.arg;
    this.reason = e.reason;
    this.retryAfter = retryAfter;
  }
}

export const user = () => (access ? { username: access.username, role: access.role } : null);
export const onSessionEnd = (fn) => endListeners.add(fn);

function csrfCookie() {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === "ohmpi_csrf") return decodeURIComponent(v.join("="));
  }
  return null;
}

async function readJson(resp) {
  const text = await resp.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

// A JSON POST to one of the login endpoints (no bearer token).
async function post(path, body, headers = {}) {
  let resp;
  try {
    resp = await fetch(path, {
      method: "POST", cache: "no-store", credentials: "same-origin",
      headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new AuthError(0, null, "cannot reach the instrument (Wi-Fi or gateway down?)");
  }
  const data = await readJson(resp);
  if (!resp.ok) {
    const wait = parseInt(resp.headers.get("Retry-After") || "", 10);
    throw new AuthError(resp.status, data, `HTTP ${resp.status}`, Number.isFinite(wait) ? wait : undefined);
  }
  return data;
}

function adopt(data) {
  const lifeMs = 1000 * (data.expires_in || 60);
  access = { token: data.access_token, username: data.username, role: data.role, expiresAt: Date.now() + lifeMs };
  if (data.csrf_token) lastCsrf = data.csrf_token;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => { if (!(await refresh())) ended("your session has ended"); },
    Math.max(5000, lifeMs * REFRESH_EARLY));
  return user();
}

function drop() {
  access = null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
}

export async function login(username, password) {
  return adopt(await post("/api/login", { username, password }));
}

export async function setup(token, username, password) {
  return adopt(await post("/api/setup", { token, username, password }));
}

// One refresh at a time (a burst of 401s shares it). Resolves true when a new token is in hand.
export function refresh() {
  if (!refreshing) {
    const run = async () => {
      for (let attempt = 0; ; attempt++) {
        const csrf = csrfCookie() || lastCsrf;
        if (!csrf) return false; // no session cookie: nothing to refresh
        try {
          adopt(await post("/api/refresh", undefined, { "X-CSRF-Token": csrf }));
          return true;
        } catch (err) {
          if (err.code === "network") return !!access; // keep the token we have; retried on the next 401
          // another tab rotated the same cookie a moment ago: its new cookie is ours too, try again
          if (err.reason === "rotated" && attempt < 3) { await new Promise((r) => setTimeout(r, 400 * (attempt + 1))); continue; }
          drop();
          return false;
        }
      }
    };
    // tabs share the refresh cookie: one refresh at a time across them too, where the browser can
    const locks = navigator.locks;
    refreshing = (locks ? locks.request("ohmpi-refresh", run) : run()).finally(() => { refreshing = null; });
  }
  return refreshing;
}

// The session ended under us (refresh refused): tell the page.
export function ended(reason) {
  drop();
  for (const fn of endListeners) fn(reason);
}

export async function logout() {
  const token = access && access.token;
  drop();
  if (!token) return;
  try {
    await fetch("/api/logout", { method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { Authorization: `Bearer ${token}` } });
  } catch { /* the gateway is away: the token dies with its 30 min anyway */ }
}

// fetch() in the user's name: adds the bearer token, refreshes once on a 401 and retries.
export async function authFetch(path, init = {}) {
  if (!access && !(await refresh())) { ended("login required"); return new Response(null, { status: 401 }); }
  const send = () => fetch(path, { ...init, credentials: "same-origin",
    headers: { ...(init.headers || {}), Authorization: `Bearer ${access ? access.token : ""}` } });
  let resp = await send();
  if (resp.status === 401) {
    if (await refresh()) resp = await send();
    if (resp.status === 401) ended("your session has ended");
  }
  return resp;
}

// Refresh now if the tab slept past the planned refresh (timers are throttled in the background).
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && access && access.expiresAt - Date.now() < 60000) refresh();
});

// ---- what the role may do --------------------------------------------------------------------
export async function loadPermissions() {
  const resp = await authFetch("/api/openapi.json", { cache: "no-store" });
  if (!resp.ok) throw new Error(`cannot read the API description (HTTP ${resp.status})`);
  const doc = await resp.json();
  const map = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== "object" || !("x-role" in op)) continue; // undescribed: refused below
      const self = op["x-role"];
      map.set(`${method.toUpperCase()} ${path}`, { self, others: "x-role-others" in op ? op["x-role-others"] : self });
    }
  }
  ops = map;
  return doc;
}

// May the user call `METHOD /path` (the path as in the document, e.g. `/api/users/{name}`)?
// `x-role` null is a public route. Unknown operations and unknown roles are refused: the page
// hides rather than guesses. `onOthers`: on someone else's record (`x-role-others`, e.g. setting
// another user's password) rather than one's own.
export function can(method, path, { onOthers = false } = {}) {
  if (!ops || !access) return false;
  const op = ops.get(`${method.toUpperCase()} ${path}`);
  if (!op) return false;
  const need = onOthers ? op.others : op.self;
  if (need === null || OPEN.has(need)) return true;
  return (RANK[access.role] || 0) >= (RANK[need] || Infinity);
}

// `data-op="POST /api/survey/start, POST /api/survey/stop"`: shown when any of them is allowed.
export function allowedOps(spec) {
  return spec.split(",").map((s) => s.trim()).filter(Boolean).some((op) => {
    const [method, path] = op.split(/\s+/);
    return can(method, path);
  });
}

// Until this first runs, CSS hides every [data-op] element (body:not([data-roles])): no flash of
// controls the role may not use.
export function applyRoles(root = document) {
  for (const el of root.querySelectorAll("[data-op]")) el.classList.toggle("denied", !allowedOps(el.dataset.op));
  document.body.dataset.roles = "1";
}
