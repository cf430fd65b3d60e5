// The gate in front of the page: log in, create the first administrator from the one-time setup
// link, and the "change password" dialog (one's own, or another user's for an admin).

import { api, toast, describeError } from "./api.js";
import { login, setup, user } from "./session.js";

const $ = (id) => document.getElementById(id);

function showError(el, message) {
  el.hidden = !message;
  el.textContent = message || "";
}

function working(button, on) {
  button.disabled = on;
  button.classList.toggle("working", on);
  if (on) button.setAttribute("aria-busy", "true"); else button.removeAttribute("aria-busy");
}

// 429: count the Retry-After wait down on the button, then let the user try again.
let lockTimer = null;
function lockOut(button, errorEl, seconds) {
  clearInterval(lockTimer);
  let left = Math.max(1, Math.ceil(seconds));
  const label = button.textContent;
  const tick = () => {
    if (left <= 0) {
      clearInterval(lockTimer);
      button.disabled = false;
      button.textContent = label;
      showError(errorEl, "You can try again now.");
      return;
    }
    showError(errorEl, `Too many failed attempts. Try again in ${left} s.`);
    button.textContent = `Wait ${left} s`;
    left -= 1;
  };
  button.disabled = true;
  tick();
  lockTimer = setInterval(tick, 1000);
}

function gateMessage(err) {
  if (err.status === 0) return err.message;
  if (err.status === 401) return err.message || "Wrong username or password.";
  return err.message || `failed (HTTP ${err.status})`;
}

// Show the login form (with an optional note, e.g. why the session ended) or the setup form.
export function showGate(kind, note) {
  document.body.dataset.auth = "out";
  $("login-form").hidden = kind !== "login";
  $("setup-form").hidden = kind !== "setup";
  const noteEl = $("login-note");
  noteEl.hidden = !note;
  noteEl.textContent = note || "";
  const form = kind === "setup" ? $("setup-form") : $("login-form");
  const first = [...form.elements].find((el) => el.name && !el.value);
  (first || form.elements[0]).focus();
}

// onEnter(user) runs once a login or setup succeeded.
export function wireGate(onEnter) {
  const loginForm = $("login-form");
  loginForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = loginForm.elements;
    const button = $("login-go");
    if (button.disabled) return;
    showError($("login-error"), "");
    working(button, true);
    let locked = false;
    try {
      const who = await login(f.username.value.trim(), f.password.value);
      f.password.value = "";
      $("login-note").hidden = true;
      onEnter(who);
    } catch (err) {
      f.password.value = "";
      if (err.status === 429) {
        locked = true;
        button.classList.remove("working");
        button.removeAttribute("aria-busy");
        lockOut(button, $("login-error"), err.retryAfter || 60);
        return;
      }
      showError($("login-error"), gateMessage(err));
      f.password.focus();
    } finally {
      if (!locked) working(button, false);
    }
  });

  const setupForm = $("setup-form");
  setupForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = setupForm.elements;
    const err = $("setup-error");
    showError(err, "");
    if (f.password.value !== f.password2.value) {
      showError(err, "The two passwords differ.");
      f.password2.focus();
      return;
    }
    const token = new URLSearchParams(location.search).get("token") || "";
    if (!token) { showError(err, "This link has no setup token: use the link the gateway printed at its first start."); return; }
    const button = $("setup-go");
    working(button, true);
    try {
      const who = await setup(token, f.username.value.trim(), f.password.value);
      f.password.value = f.password2.value = "";
      history.replaceState(null, "", "/"); // the token is spent: out of the address bar and history
      onEnter(who);
    } catch (ex) {
      const field = ex.arg && f[ex.arg];
      showError(err, gateMessage(ex));
      if (field) field.focus();
    } finally {
      working(button, false);
    }
  });
}

// ---- password dialog ----------------------------------------------------------------------------
let passwdFor = null; // the user whose password changes
export function openPasswordDialog(username) {
  const me = user();
  if (!me) return;
  passwdFor = username || me.username;
  const own = passwdFor === me.username;
  const dlg = $("passwd");
  const form = $("passwd-form");
  form.reset();
  form.elements.username.value = passwdFor;
  $("passwd-title").textContent = own ? "Change my password" : `Set the password of ${passwdFor}`;
  $("passwd-current").hidden = !own;
  form.elements.current.required = own;
  showError($("passwd-error"), "");
  dlg.showModal();
  (own ? form.elements.current : form.elements.password).focus();
}

export function wirePasswordDialog() {
  const dlg = $("passwd");
  const form = $("passwd-form");
  $("passwd-cancel").addEventListener("click", () => dlg.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const err = $("passwd-error");
    showError(err, "");
    if (f.password.value !== f.password2.value) { showError(err, "The two new passwords differ."); f.password2.focus(); return; }
    const own = passwdFor === (user() && user().username);
    const body = { password: f.password.value };
    if (own) body.current_password = f.current.value;
    const button = $("passwd-go");
    working(button, true);
    try {
      await api("PUT", `/api/users/${encodeURIComponent(passwdFor)}/password`, body);
      dlg.close();
      toast(own ? "your password is changed" : `password of ${passwdFor} changed`, "ok", 4000);
    } catch (ex) {
      showError(err, describeError(ex, "change password"));
      const field = ex.arg === "current_password" ? f.current : ex.arg === "password" ? f.password : null;
      if (field) field.focus();
    } finally {
      working(button, false);
    }
  });
}
