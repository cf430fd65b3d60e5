// The admin panel: API tokens (create, shown once; list; revoke), users (add, list, remove, set
// password) and the audit log. Every value from the gateway is rendered as text.

import { ApiError, api, get, post, del, busy, toast, describeError, h } from "./api.js";
import { can, user } from "./session.js";
import { openPasswordDialog } from "./login.js";

const $ = (id) => document.getElementById(id);
const DEFAULT_ROLES = ["viewer", "operator", "admin"];

const listOf = (res, key) => (Array.isArray(res) ? res : (res && (res[key] || res.items)) || []);

// epoch seconds, ISO 8601 or nothing
export function when(t, none = "–") {
  if (t === null || t === undefined || t === "") return none;
  const d = new Date(typeof t === "number" ? t * 1000 : t);
  if (Number.isNaN(d.getTime())) return String(t);
  const year = d.getFullYear() !== new Date().getFullYear() ? { year: "numeric" } : {};
  return d.toLocaleString([], { ...year, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function detailsText(row) {
  const known = new Set(["ts", "time", "process", "action", "ok", "user", "role", "details", "id"]);
  const extra = Object.entries(row).filter(([k]) => !known.has(k));
  let d = row.details;
  if (d && typeof d === "object") d = Object.entries(d).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  const parts = [d ? String(d) : "", ...extra.map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)];
  if (row.process) parts.push(`(${row.process})`);
  return parts.filter(Boolean).join(" ");
}

// Role choices from the API description when it lists them, else the three roles.
function roleChoices(doc, path) {
  try {
    const schema = doc.paths[path].post.requestBody.content["application/json"].schema;
    const e = schema.properties.role.enum;
    if (Array.isArray(e) && e.length) return e.filter((r) => r !== "service");
  } catch { /* not described: the defaults */ }
  return DEFAULT_ROLES;
}

function fillRoles(select, roles) {
  const keep = select.value || "viewer";
  select.replaceChildren(...roles.map((r) => h("option", { value: r, text: r, selected: r === keep })));
}

function markInvalid(form, err) {
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  if (err instanceof ApiError && err.arg && form.elements[err.arg]) {
    form.elements[err.arg].classList.add("invalid");
    form.elements[err.arg].focus();
  }
}

// ---- tokens ---------------------------------------------------------------------------------------
async function loadTokens() {
  const body = $("tokens").tBodies[0];
  try {
    const list = listOf(await get("/api/tokens"), "tokens");
    const mayRevoke = can("DELETE", "/api/tokens/{name}");
    body.replaceChildren(...list.map((t) => {
      let cell = null;
      if (mayRevoke) {
        const b = h("button", { type: "button", class: "small warn", text: "revoke", "aria-label": `revoke ${t.name}` });
        b.addEventListener("click", () => revokeToken(t.name, b));
        cell = h("td", { class: "row-tools" }, b);
      }
      const expired = t.expires && new Date(typeof t.expires === "number" ? t.expires * 1000 : t.expires) < new Date();
      return h("tr", { "data-token": t.name, class: expired ? "row-dead" : "" },
        h("th", { scope: "row", text: t.name }), h("td", { text: t.role }),
        h("td", { text: when(t.created), "data-label": "created" }),
        h("td", { text: when(t.last_used, "never"), "data-label": "last used" }),
        h("td", { text: expired ? `expired ${when(t.expires)}` : when(t.expires, "never"), "data-label": "expires" }), cell);
    }));
    if (!list.length) body.append(h("tr", {}, h("td", { colspan: "6", class: "muted", text: "No API token yet." })));
  } catch (err) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "6", class: "msg msg-bad", text: describeError(err, "listing tokens") })));
  }
}

async function revokeToken(name, button) {
  if (!window.confirm(`Revoke the token “${name}”? Scripts using it stop working at their next request.`)) return;
  const res = await busy(button, `revoke ${name}`, () => del(`/api/tokens/${encodeURIComponent(name)}`), `token ${name} revoked`);
  if (!(res instanceof Error)) loadTokens();
}

function showNewToken(name, token) {
  $("token-new").hidden = false;
  $("token-new-name").textContent = name;
  const input = $("token-value");
  input.value = token;
  input.focus();
  input.select();
}

function hideNewToken() {
  $("token-new").hidden = true;
  $("token-value").value = "";
}

async function copyToken(button) {
  const input = $("token-value");
  input.focus();
  input.select();
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(input.value); ok = true; }
  } catch { ok = false; }
  if (!ok) { try { ok = document.execCommand("copy"); } catch { ok = false; } }
  button.textContent = ok ? "Copied ✓" : "Select & copy by hand";
  setTimeout(() => { button.textContent = "Copy"; }, 2500);
}

// ---- users --------------------------------------------------------------------------------------
async function loadUsers() {
  const body = $("users").tBodies[0];
  try {
    const list = listOf(await get("/api/users"), "users");
    const me = user();
    const mayRemove = can("DELETE", "/api/users/{name}");
    const maySet = can("PUT", "/api/users/{name}/password", { onOthers: true });
    body.replaceChildren(...list.map((u) => {
      const name = u.username ?? u.name;
      const tools = h("td", { class: "row-tools" });
      if (maySet) {
        const b = h("button", { type: "button", class: "small ghost", text: "password", "aria-label": `set the password of ${name}` });
        b.addEventListener("click", () => openPasswordDialog(name));
        tools.append(b);
      }
      if (mayRemove && !(me && me.username === name)) {
        const b = h("button", { type: "button", class: "small warn", text: "remove", "aria-label": `remove ${name}` });
        b.addEventListener("click", () => removeUser(name, b));
        tools.append(b);
      }
      return h("tr", { "data-user": name },
        h("th", { scope: "row", text: name }, me && me.username === name ? h("small", { class: "muted", text: " (you)" }) : null),
        h("td", { text: u.role }), h("td", { text: when(u.created), "data-label": "created" }), tools);
    }));
  } catch (err) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "4", class: "msg msg-bad", text: describeError(err, "listing users") })));
  }
}

async function removeUser(name, button) {
  if (!window.confirm(`Remove the user “${name}”? Their sessions end now.`)) return;
  const res = await busy(button, `remove ${name}`, () => del(`/api/users/${encodeURIComponent(name)}`), `user ${name} removed`);
  if (!(res instanceof Error)) loadUsers();
}

// ---- audit log ------------------------------------------------------------------------------------
async function loadAudit() {
  const f = $("audit-form").elements;
  const q = new URLSearchParams({ limit: "200" });
  if (f.user.value.trim()) q.set("user", f.user.value.trim());
  if (f.action.value.trim()) q.set("action", f.action.value.trim());
  const body = $("audit").tBodies[0];
  try {
    const rows = listOf(await get(`/api/audit?${q}`), "audit");
    const stamp = (r) => { const t = r.ts ?? r.time; return typeof t === "number" ? t : Date.parse(t) / 1000 || 0; };
    rows.sort((a, b) => stamp(b) - stamp(a)); // newest first, whatever the order sent
    body.replaceChildren(...rows.map((r) => h("tr", { class: r.ok === false ? "row-refused" : "", "data-ts": String(stamp(r)) },
      h("td", { class: "muted", text: when(r.ts ?? r.time) }),
      h("td", { text: r.user ?? "–" }, r.role ? h("small", { class: "muted", text: ` ${r.role}` }) : null),
      h("td", { text: r.action ?? "" }),
      h("td", { class: r.ok === false ? "bad-text" : "good-text", text: r.ok === false ? "refused" : "ok" }),
      h("td", { class: "details", text: detailsText(r) }))));
    $("audit-count").textContent = `${rows.length} shown`;
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "muted", text: "No audit record matches." })));
  } catch (err) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "5", class: "msg msg-bad", text: describeError(err, "loading the audit log") })));
  }
}

// ---- the panel --------------------------------------------------------------------------------------
export function showAdmin(doc) {
  for (const sel of document.querySelectorAll(".role-select")) {
    fillRoles(sel, roleChoices(doc, sel.closest("#user-form") ? "/api/users" : "/api/tokens"));
  }
  const loads = [];
  if (can("GET", "/api/tokens")) loads.push(loadTokens());
  if (can("GET", "/api/users")) loads.push(loadUsers());
  if (can("GET", "/api/audit")) loads.push(loadAudit());
  return Promise.allSettled(loads);
}

export function wireAdmin() {
  $("tokens-reload").addEventListener("click", (e) => busy(e.currentTarget, "refresh", loadTokens));
  $("users-reload").addEventListener("click", (e) => busy(e.currentTarget, "refresh", loadUsers));
  $("token-done").addEventListener("click", hideNewToken);
  $("token-copy").addEventListener("click", (e) => copyToken(e.currentTarget));

  const tokenForm = $("token-form");
  tokenForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = tokenForm.elements;
    const body = { name: f.name.value.trim(), role: f.role.value };
    if (f.expires_days.value) body.expires_days = Number(f.expires_days.value);
    markInvalid(tokenForm, null);
    const res = await busy($("token-go"), "create token", () => post("/api/tokens", body));
    if (res instanceof Error) { markInvalid(tokenForm, res); return; }
    if (res && res.token) {
      showNewToken(res.name || body.name, res.token);
      f.name.value = "";
    }
    loadTokens();
  });

  const userForm = $("user-form");
  userForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = userForm.elements;
    markInvalid(userForm, null);
    if (f.password.value !== f.password2.value) {
      toast("the two passwords differ");
      f.password2.classList.add("invalid");
      f.password2.focus();
      return;
    }
    const name = f.username.value.trim();
    const res = await busy($("user-go"), `add ${name}`, () => post("/api/users", { username: name, role: f.role.value, password: f.password.value }),
      `user ${name} added as ${f.role.value}`);
    if (res instanceof Error) { markInvalid(userForm, res); return; }
    f.username.value = f.password.value = f.password2.value = "";
    loadUsers();
  });

  $("audit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("audit-go"), "audit log", loadAudit);
  });
}
