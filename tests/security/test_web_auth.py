"""Accounts on the real gateway (under supervisord, real HTTP): the first-start setup link,
login limits, refresh rotation and reuse, logout, revocation, tickets, the CLI round trips, the
audit trail, and no raw secret in any file under $OHMPI_VAR.

One system for the module, started with no user at all (as on a fresh instrument)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import statistics
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from bus.events import Subscriber
from tests.support.procs import wait_until
from tests.support.web import authed_client, fetch, make_app, start_web_system

SECRETS: list[str] = []  # every raw token and password handed out in this module (checked at the end)


@pytest.fixture(scope="module")
def fresh():
    system = start_web_system(electrodes=16, time_scale=0.0, accounts=False)
    system.admin = None
    yield system
    system.close()


def _cookies(headers_list: list[tuple[str, str]]) -> dict[str, str]:
    """Set-Cookie headers by cookie name (raw header text)."""
    return {v.split("=", 1)[0]: v for k, v in headers_list if k.lower() == "set-cookie"}


def _post(system, path, body=None, *, headers=None, source=None, token=None):
    """A POST returning (status, all headers as a list, JSON body)."""
    import http.client

    url = urlsplit(system.web_url)
    conn = http.client.HTTPConnection(
        url.hostname, url.port, timeout=30, source_address=(source, 0) if source else None
    )
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, resp.getheaders(), json.loads(text) if text else None
    finally:
        conn.close()


def _setup_token(system) -> str:
    link = (system.var / "setup-url").read_text().strip()
    return parse_qs(urlsplit(link).query)["token"][0]


def ensure_admin(system) -> tuple[str, str]:
    if system.admin is None:
        password = "first-admin-pass"
        status, _, body = _post(
            system, "/api/setup", {"token": _setup_token(system), "username": "boss", "password": password}
        )
        assert status == 200, body
        system.admin = ("boss", password)
        SECRETS.extend([password, body["access_token"], body["csrf_token"]])
    return system.admin


def login(system, name, password, source=None):
    status, headers, body = _post(system, "/api/login", {"username": name, "password": password}, source=source)
    if status == 200:
        cookies = _cookies(headers)
        refresh = cookies["ohmpi_refresh"].split(";")[0].split("=", 1)[1]
        SECRETS.extend([body["access_token"], refresh, body["csrf_token"]])
        body["refresh"] = refresh
        body["cookies"] = cookies
    return status, headers, body


def add_user(system, name, role, password) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "users", "add", name, "--role", role, "--password-stdin"],
        input=password + "\n",
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    SECRETS.append(password)


# ---- first start ----------------------------------------------------------------------------
def test_first_start_setup_link_creates_the_first_admin_once(fresh):
    setup_file = fresh.var / "setup-url"
    assert stat.S_IMODE(setup_file.stat().st_mode) == 0o600
    link = setup_file.read_text().strip()
    assert re.fullmatch(rf"http://127\.0\.0\.1:{fresh.web_port}/setup\?token=ohmpi_st_[\w-]+", link), link
    token = _setup_token(fresh)
    assert token in (fresh.var / "log" / "web.log").read_text()  # printed on stderr, the supervisord log
    # the bus log says where to look, never the token itself
    logs = wait_until(
        lambda: (
            (lines := fresh.client.call("recorder", "logs", process="web", limit=50))
            and any("setup-url" in line["message"] for line in lines)
            and lines
        ),
        timeout=30,
        what="the setup log line stored",
    )
    assert not any(token in json.dumps(line) for line in logs)
    # the same link from the CLI (admin over the bus)
    r = fresh.ohmpi("web", "setup-link")
    assert r.returncode == 0 and r.stdout.strip() == link
    # the page itself is public, the API is not
    assert fetch(fresh.web_url, "GET", "/setup?token=x")[0] == 200
    assert fetch(fresh.web_url, "GET", "/api/status")[0] == 401
    # a wrong token, a short password: refused, nothing created
    status, _, body = _post(fresh, "/api/setup", {"token": "ohmpi_st_guess", "username": "boss", "password": "x" * 12})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, _, body = _post(fresh, "/api/setup", {"token": token, "username": "boss", "password": "short"})
    assert status == 400 and body["error"]["arg"] == "password"
    # the real one: an admin, answered like a login
    status, headers, body = _post(
        fresh, "/api/setup", {"token": token, "username": "boss", "password": "first-admin-pass"}
    )
    assert status == 200, body
    assert body["role"] == "admin" and body["username"] == "boss" and body["token_type"] == "Bearer"
    assert {"ohmpi_refresh", "ohmpi_csrf"} <= set(_cookies(headers))
    fresh.admin = ("boss", "first-admin-pass")
    SECRETS.extend(["first-admin-pass", body["access_token"], body["csrf_token"]])
    assert fetch(fresh.web_url, "GET", "/api/me", token=body["access_token"])[2]["role"] == "admin"
    # one time only: the file is gone, the token is dead, the CLI says so
    assert not setup_file.exists()
    status, _, body = _post(fresh, "/api/setup", {"token": token, "username": "boss2", "password": "x" * 12})
    assert status == 401
    r = fresh.ohmpi("web", "setup-link")
    assert r.returncode == 1 and "has users" in r.stdout


def test_setup_token_expires(fresh, tmp_path):
    """An expired setup token is refused (the store's own clock: the row is aged in the database)."""
    app = make_app(fresh, AUTH_DB=str(tmp_path / "auth.db"))
    try:
        token = app.extensions["ohmpi_auth"].new_setup_token()
        with sqlite3.connect(tmp_path / "auth.db") as db:
            db.execute("UPDATE setup SET expires = ?", (time.time() - 1,))
        resp = app.test_client().post("/api/setup", json={"token": token, "username": "late", "password": "x" * 12})
        assert resp.status_code == 401 and resp.get_json()["error"]["reason"] == "expired"
        assert not app.extensions["ohmpi_auth"].has_users()
    finally:
        app.extensions["ohmpi_close"]()


# ---- login ------------------------------------------------------------------------------------
def test_login_cookies_and_wrong_credentials(fresh):
    ensure_admin(fresh)
    add_user(fresh, "ann", "operator", "ann-password")
    status, headers, body = login(fresh, "ann", "ann-password")
    assert status == 200
    assert set(body) >= {"access_token", "token_type", "expires_in", "role", "username", "csrf_token"}
    assert body["expires_in"] == 1800 and body["role"] == "operator"
    refresh, csrf = body["cookies"]["ohmpi_refresh"].lower(), body["cookies"]["ohmpi_csrf"].lower()
    assert "httponly" in refresh and "samesite=strict" in refresh and "path=/api/" in refresh
    assert "secure" not in refresh  # plain HTTP here (HTTPS: see test_web_https)
    assert "httponly" not in csrf and "samesite=strict" in csrf and "path=/;" in csrf + ";"
    assert body["csrf_token"] in body["cookies"]["ohmpi_csrf"]
    # same answer for an unknown user and a wrong password
    unknown = _post(fresh, "/api/login", {"username": "nobody", "password": "whatever1"}, source="127.0.0.9")
    wrong = _post(fresh, "/api/login", {"username": "ann", "password": "whatever1"}, source="127.0.0.9")
    assert unknown[0] == wrong[0] == 401
    assert unknown[2] == wrong[2] and unknown[2]["error"]["code"] == "unauthorized"


def test_unknown_user_costs_a_password_check(fresh, tmp_path):
    """Unknown user and wrong password take the same (scrypt) time: names cannot be probed."""
    app = make_app(fresh, AUTH_DB=str(tmp_path / "auth.db"))
    try:
        accounts = app.extensions["ohmpi_auth"]
        accounts.add_user("real", "viewer", "real-password")

        def timed(name):
            started = time.perf_counter()
            assert accounts.check_password(name, "not-the-password") is None
            return time.perf_counter() - started

        # interleaved, so that a neighbour's burst of load weighs on both alike
        pairs = [(timed("real"), timed("ghost")) for _ in range(7)]
        known, unknown = (statistics.median(column) for column in zip(*pairs))
        assert 0.5 < unknown / known < 2.0, (known, unknown)
        assert known > 0.01  # a real key derivation, not a plain comparison
    finally:
        app.extensions["ohmpi_close"]()


def test_login_rate_limit_per_user_and_per_address(fresh):
    ensure_admin(fresh)
    add_user(fresh, "victim", "viewer", "victim-password")
    for _ in range(5):
        status, _, _ = _post(fresh, "/api/login", {"username": "victim", "password": "guess-guess"}, source="127.0.0.2")
        assert status == 401
    status, headers, body = _post(
        fresh, "/api/login", {"username": "victim", "password": "guess-guess"}, source="127.0.0.2"
    )
    assert status == 429 and body["error"]["code"] == "too_many_requests"
    retry = int(dict((k.lower(), v) for k, v in headers)["retry-after"])
    assert 1 <= retry <= 60 and body["error"]["retry_after"] == retry
    # per user: the right password from elsewhere is refused too while the account is limited
    assert (
        _post(fresh, "/api/login", {"username": "victim", "password": "victim-password"}, source="127.0.0.4")[0] == 429
    )
    # per address: five names from one place, then even a valid login from there waits
    add_user(fresh, "bob", "viewer", "bob-password")
    for i in range(5):
        assert (
            _post(fresh, "/api/login", {"username": f"spray{i}", "password": "guess-guess"}, source="127.0.0.3")[0]
            == 401
        )
    assert _post(fresh, "/api/login", {"username": "bob", "password": "bob-password"}, source="127.0.0.3")[0] == 429
    # everyone else is unaffected
    assert login(fresh, "bob", "bob-password", source="127.0.0.5")[0] == 200


# ---- sessions ---------------------------------------------------------------------------------
def _refresh(system, refresh, csrf):
    headers = {"Cookie": f"ohmpi_refresh={refresh}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    status, hdrs, body = _post(system, "/api/refresh", headers=headers)
    if status == 200:
        new = _cookies(hdrs)["ohmpi_refresh"].split(";")[0].split("=", 1)[1]
        SECRETS.extend([body["access_token"], new])
        body["refresh"] = new
    return status, hdrs, body


def test_refresh_rotates_and_needs_the_csrf_token(fresh):
    ensure_admin(fresh)
    add_user(fresh, "rita", "viewer", "rita-password")
    _, _, s = login(fresh, "rita", "rita-password")
    status, _, body = _refresh(fresh, s["refresh"], None)
    assert status == 403 and body["error"]["reason"] == "csrf"
    status, _, body = _refresh(fresh, s["refresh"], "not-the-csrf-token")
    assert status == 403
    status, headers, new = _refresh(fresh, s["refresh"], s["csrf_token"])  # not consumed by the refusals above
    assert status == 200, new
    assert new["access_token"] != s["access_token"] and new["refresh"] != s["refresh"]
    assert new["csrf_token"] == s["csrf_token"] and new["username"] == "rita"
    assert fetch(fresh.web_url, "GET", "/api/me", token=new["access_token"])[0] == 200
    # the old refresh token at once again: a concurrent refresh, nothing revoked
    status, headers, body = _refresh(fresh, s["refresh"], s["csrf_token"])
    assert status == 401 and body["error"]["reason"] == "rotated"
    assert "ohmpi_refresh" not in _cookies(headers)  # the other call's new cookie is left alone
    status, _, newer = _refresh(fresh, new["refresh"], s["csrf_token"])
    assert status == 200


def test_reused_refresh_token_revokes_the_session(fresh):
    """A refresh token presented after its rotation (a stolen copy): the whole session ends."""
    app = make_app(fresh, REFRESH_GRACE_S=0.0)
    try:
        add_user(fresh, "sam", "viewer", "sam-password")
        c = app.test_client()
        first = c.post("/api/login", json={"username": "sam", "password": "sam-password"}).get_json()
        old = c.get_cookie("ohmpi_refresh", path="/api/").value
        second = c.post("/api/refresh", headers={"X-CSRF-Token": first["csrf_token"]})
        assert second.status_code == 200
        new = c.get_cookie("ohmpi_refresh", path="/api/").value
        SECRETS.extend([first["access_token"], old, new, second.get_json()["access_token"]])
        thief = app.test_client()
        thief.set_cookie("ohmpi_refresh", old, path="/api/")
        stolen = thief.post("/api/refresh", headers={"X-CSRF-Token": first["csrf_token"]})
        assert stolen.status_code == 401 and stolen.get_json()["error"]["reason"] == "reused"
        # the legitimate holder's tokens died with the session
        assert c.post("/api/refresh", headers={"X-CSRF-Token": first["csrf_token"]}).status_code == 401
        assert fetch(fresh.web_url, "GET", "/api/me", token=second.get_json()["access_token"])[0] == 401
    finally:
        app.extensions["ohmpi_close"]()


def test_logout_revokes_the_session(fresh):
    ensure_admin(fresh)
    add_user(fresh, "lou", "viewer", "lou-password")
    # by cookie + CSRF token (the page)
    _, _, s = login(fresh, "lou", "lou-password")
    status, _, body = _post(fresh, "/api/logout", headers={"Cookie": f"ohmpi_refresh={s['refresh']}"})
    assert status == 403 and body["error"]["reason"] == "csrf"  # a cookie alone is no credential for a write
    status, headers, body = _post(
        fresh, "/api/logout", headers={"Cookie": f"ohmpi_refresh={s['refresh']}", "X-CSRF-Token": s["csrf_token"]}
    )
    assert status == 200 and body == {"ok": True, "revoked": True}
    cleared = _cookies(headers)
    assert "max-age=0" in cleared["ohmpi_refresh"].lower() and "max-age=0" in cleared["ohmpi_csrf"].lower()
    assert fetch(fresh.web_url, "GET", "/api/me", token=s["access_token"])[0] == 401
    assert _refresh(fresh, s["refresh"], s["csrf_token"])[0] == 401
    # by bearer
    _, _, s = login(fresh, "lou", "lou-password")
    assert _post(fresh, "/api/logout", token=s["access_token"])[0] == 200
    assert fetch(fresh.web_url, "GET", "/api/me", token=s["access_token"])[0] == 401


# ---- API tokens, tickets --------------------------------------------------------------------------
def test_token_revocation_takes_effect_on_the_next_request(fresh):
    ensure_admin(fresh)
    r = fresh.ohmpi("tokens", "create", "probe", "--role", "viewer", "--json")
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    SECRETS.append(token)
    assert fetch(fresh.web_url, "GET", "/api/me", token=token)[2] == {
        "username": "probe",
        "role": "viewer",
        "auth": "token",
        "expires_in": None,
    }
    status, _, ticket = _post(fresh, "/api/tickets", token=token)
    assert status == 200 and ticket["expires_in"] == 60
    SECRETS.append(ticket["ticket"])
    assert fetch(fresh.web_url, "GET", "/api/surveys/S-none/export?ticket=" + ticket["ticket"])[0] == 400  # authorised
    assert fetch(fresh.web_url, "GET", "/api/status?ticket=" + ticket["ticket"])[0] == 401  # tickets: only where said
    assert fresh.ohmpi("tokens", "revoke", "probe").returncode == 0
    status, headers, body = fetch(fresh.web_url, "GET", "/api/me", token=token)
    assert status == 401 and "bearer" in headers["www-authenticate"].lower()
    assert fetch(fresh.web_url, "GET", "/api/surveys/S-none/export?ticket=" + ticket["ticket"])[0] == 401
    SECRETS.append(fresh.client.call("web", "tokens_create", name="probe", role="viewer")["token"])
    assert fetch(fresh.web_url, "GET", "/api/surveys/S-none/export?ticket=" + ticket["ticket"])[0] == 401  # same name,
    # another token: the old ticket stays dead
    # over HTTP too, by an admin
    _, _, admin = login(fresh, *fresh.admin)
    status, _, made = _post(
        fresh, "/api/tokens", {"name": "probe2", "role": "operator", "expires_days": 1}, token=admin["access_token"]
    )
    assert status == 200 and made["expires"] > time.time() + 86000
    SECRETS.append(made["token"])
    assert fetch(fresh.web_url, "GET", "/api/me", token=made["token"])[0] == 200
    assert fetch(fresh.web_url, "DELETE", "/api/tokens/probe2", token=admin["access_token"])[0] == 200
    assert fetch(fresh.web_url, "GET", "/api/me", token=made["token"])[0] == 401


def test_a_live_stream_ends_when_its_token_is_revoked(fresh):
    ensure_admin(fresh)
    app = make_app(fresh, SSE_KEEPALIVE_S=0.2)
    try:
        made = fresh.client.call("web", "tokens_create", name="streamer", role="viewer")
        SECRETS.append(made["token"])
        resp = authed_client(app, made["token"]).get("/api/events", buffered=False)
        assert resp.status_code == 200
        chunks = iter(resp.response)
        fresh.client.call("web", "tokens_revoke", name="streamer")
        text = ""
        deadline = time.monotonic() + 20
        while "event: revoked" not in text and time.monotonic() < deadline:
            chunk = next(chunks)
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
        assert "event: revoked" in text
        assert next(chunks, None) is None  # and the stream ends
        resp.close()
    finally:
        app.extensions["ohmpi_close"]()


# ---- the command line -------------------------------------------------------------------------
def test_users_and_tokens_cli_round_trips(fresh):
    ensure_admin(fresh)
    add_user(fresh, "carl", "viewer", "carl-password")
    users = json.loads(fresh.ohmpi("users", "list", "--json").stdout)
    assert {"username": "carl", "role": "viewer"}.items() <= next(u for u in users if u["username"] == "carl").items()
    assert "carl" in fresh.ohmpi("users", "list").stdout
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "users", "add", "carl", "--role", "viewer", "--password-stdin"],
        input="carl-password\n",
        env=fresh.env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "already exists" in r.stderr  # refused by the service
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "users", "add", "dora", "--role", "king", "--password-stdin"],
        stdin=subprocess.DEVNULL,
        env=fresh.env,
        capture_output=True,
    )
    assert r.returncode == 2  # bad usage
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "users", "add", "dora", "--role", "viewer", "--password-stdin"],
        input="short\n",
        env=fresh.env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "at least 8" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "users", "add", "dora", "--role", "viewer"],
        stdin=subprocess.DEVNULL,
        env=fresh.env,
        capture_output=True,
        text=True,
    )  # no terminal
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    # passwd: the old password stops working, sessions end
    _, _, s = login(fresh, "carl", "carl-password")
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "users", "passwd", "carl", "--password-stdin"],
        input="carl-new-password\n",
        env=fresh.env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    SECRETS.append("carl-new-password")
    assert fetch(fresh.web_url, "GET", "/api/me", token=s["access_token"])[0] == 401
    assert _post(fresh, "/api/login", {"username": "carl", "password": "carl-password"}, source="127.0.0.6")[0] == 401
    assert login(fresh, "carl", "carl-new-password")[0] == 200
    assert fresh.ohmpi("users", "remove", "carl").returncode == 0
    assert fresh.ohmpi("users", "remove", "carl").returncode == 1
    assert login(fresh, "carl", "carl-new-password", source="127.0.0.7")[0] == 401
    # tokens
    r = fresh.ohmpi("tokens", "create", "logger", "--role", "operator", "--expires", "90d")
    assert r.returncode == 0 and "shown once" in r.stderr
    token = r.stdout.strip()
    SECRETS.append(token)
    assert token.startswith("ohmpi_tk_") and fetch(fresh.web_url, "GET", "/api/me", token=token)[0] == 200
    listed = json.loads(fresh.ohmpi("tokens", "list", "--json").stdout)
    entry = next(t for t in listed if t["name"] == "logger")
    assert entry["role"] == "operator" and entry["last_used"] is not None
    assert 89 * 86400 < entry["expires"] - entry["created"] <= 90 * 86400
    assert "token" not in entry and token not in json.dumps(listed)
    assert "logger" in fresh.ohmpi("tokens", "list").stdout
    assert fresh.ohmpi("tokens", "create", "logger", "--role", "viewer").returncode == 1
    assert fresh.ohmpi("tokens", "create", "x", "--role", "viewer", "--expires", "soon").returncode == 2
    assert fresh.ohmpi("tokens", "revoke", "logger").returncode == 0
    assert fresh.ohmpi("tokens", "revoke", "logger").returncode == 1
    # the bus unreachable: exit 3
    r = fresh.ohmpi("users", "list", "--bus", f"ipc://{fresh.var}/no-bus", "--timeout", "0.3")
    assert r.returncode == 3


def test_security_events_are_audited(fresh):
    ensure_admin(fresh)
    sub = Subscriber(["audit.web"], address=fresh.address, cfg=fresh.cfg)
    try:
        time.sleep(0.3)  # slow joiner: the subscription reaches the hub
        add_user(fresh, "vic", "viewer", "vic-password")
        _post(fresh, "/api/login", {"username": "vic", "password": "not-it-at-all"}, source="127.0.0.8")
        _, _, s = login(fresh, "vic", "vic-password", source="127.0.0.8")
        _post(fresh, "/api/abort", token=s["access_token"])  # a viewer may not abort
        seen = []

        def got(action, ok):
            while (msg := sub.recv(timeout=0.2)) is not None:
                seen.append(msg.body)
            return any(b["action"] == action and b["ok"] is ok for b in seen)

        wait_until(lambda: got("user_add", True), timeout=10, what="user_add audited")
        wait_until(lambda: got("login", False), timeout=10, what="failed login audited")
        wait_until(lambda: got("login", True), timeout=10, what="login audited")
        wait_until(lambda: got("forbidden", False), timeout=10, what="refusal audited")
        failed = next(b for b in seen if b["action"] == "login" and not b["ok"])
        assert failed["user"] == "vic" and failed["client"] == "127.0.0.8"
        refusal = next(b for b in seen if b["action"] == "forbidden")
        assert refusal["user"] == "vic" and refusal["role"] == "viewer" and refusal["needed"] == "operator"
        assert not any("vic-password" in json.dumps(b) or "not-it-at-all" in json.dumps(b) for b in seen)
    finally:
        sub.close()


# ---- nothing secret at rest ------------------------------------------------------------------
def test_no_raw_secret_in_any_file_under_var(fresh):
    """Every token and password handed out above: in no file under $OHMPI_VAR (database, WAL, logs)."""
    ensure_admin(fresh)
    assert len(SECRETS) > 20
    secrets = {s.encode() for s in SECRETS}
    found = []
    for root, _, files in os.walk(fresh.var):
        for name in files:
            path = os.path.join(root, name)
            try:
                data = open(path, "rb").read()
            except OSError:  # sockets
                continue
            found += [(path, s[:16]) for s in secrets if s in data]
    assert found == []
    mode = stat.S_IMODE((fresh.var / "auth.db").stat().st_mode)
    assert mode == 0o600
