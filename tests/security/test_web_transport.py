"""The gateway's edge against hostile clients, over real sockets: DNS-rebinding Host headers,
cross-origin requests, bodies that are not JSON, security headers, connection floods (idle and
slow), the per-client cap on live event streams; and hostile credentials (hypothesis)."""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.procs import wait_until
from tests.support.sse import SSEClient
from tests.support.web import authed_client, fetch, make_app, start_web_system

IDLE_S = 3.0  # [web] idle_timeout_s of this module's gateway (default 15): keeps the test short
SAFE = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def gw():
    system = start_web_system(web_extra=f"idle_timeout_s = {IDLE_S}\n", electrodes=16, time_scale=0.0)
    yield system
    system.close()


def raw_get(system, path, headers, token=None):
    """A GET with exactly these headers (http.client adds Host itself unless told not to)."""
    url = urlsplit(system.web_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for k, v in {**headers, **({"Authorization": f"Bearer {token}"} if token else {})}.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if resp.getheader("Content-Type", "").startswith(
            "application/json"
        ) else body
    finally:
        conn.close()


# ---- names and origins ------------------------------------------------------------------------
def test_dns_rebinding_host_is_refused(gw):
    port = gw.web_port
    for path in ("/", "/api/health", "/api/status", "/static/app.js"):
        status, body = raw_get(gw, path, {"Host": f"evil.example:{port}"}, token=gw.tokens["admin"])
        assert status == 400 and body["error"]["arg"] == "Host", (path, status, body)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert raw_get(gw, "/api/health", {"Host": host})[0] == 200, host
    assert raw_get(gw, "/api/health", {})[0] == 400  # no Host at all (HTTP/1.1 requires one)
    assert raw_get(gw, "/api/health", {"Host": "127.0.0.1:x"})[0] == 400


def test_cross_origin_requests_are_refused(gw):
    op = gw.tokens["operator"]
    own = f"http://127.0.0.1:{gw.web_port}"
    for origin in (
        "http://evil.example",
        "null",
        f"http://evil.example:{gw.web_port}",
        f"http://localhost:{gw.web_port}",
        "file://",
        "javascript:alert(1)",
    ):
        status, _, body = fetch(gw.web_url, "POST", "/api/abort", token=op, headers={"Origin": origin})
        assert status == 403 and body["error"]["code"] == "forbidden" and "have" not in body["error"], origin
        status, _, _ = fetch(gw.web_url, "GET", "/api/status", token=op, headers={"Origin": origin})
        assert status == 403, origin
    assert fetch(gw.web_url, "POST", "/api/abort", token=op, headers={"Origin": own})[0] == 200
    assert fetch(gw.web_url, "POST", "/api/abort", token=op, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert fetch(gw.web_url, "POST", "/api/abort", token=op, headers={"Sec-Fetch-Site": "same-origin"})[0] == 200


def test_writes_need_a_json_content_type(gw):
    body = json.dumps({"username": "x", "password": "y" * 8}).encode()
    for ctype in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        None,
    ):
        headers = {"Content-Type": ctype} if ctype else {}
        status, _, reply = fetch(gw.web_url, "POST", "/api/login", headers=headers, raw=body)
        assert status == 415 and reply["error"]["code"] == "unsupported_media_type", ctype
    status, _, reply = fetch(
        gw.web_url, "POST", "/api/login", raw=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert status == 401  # understood: wrong credentials
    status, _, reply = fetch(
        gw.web_url,
        "PUT",
        "/api/settings",
        token=gw.tokens["operator"],
        raw=b"settings=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415
    assert fetch(gw.web_url, "POST", "/api/abort", token=gw.tokens["operator"])[0] == 200  # no body: no type needed


def test_security_headers_on_page_and_api(gw):
    for path, token in (
        ("/", None),
        ("/setup", None),
        ("/static/app.js", None),
        ("/api/health", None),
        ("/api/status", None),
        ("/api/status", gw.tokens["viewer"]),
        ("/api/nothing", None),
    ):
        status, headers, _ = fetch(gw.web_url, "GET", path, token=token)
        csp = headers.get("content-security-policy", "")
        assert headers.get("x-frame-options") == "DENY", path
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert "default-src 'self'" in csp and "object-src 'none'" in csp, path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "no-referrer", path
        if path.startswith("/api/"):
            assert headers.get("cache-control") == "no-store", path


# ---- floods -----------------------------------------------------------------------------------
def _connect(system, source: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", system.web_port), timeout=10, source_address=(source, 0))
    return s


def _closed_by_server(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True


def _health_time(system) -> float:
    started = time.monotonic()
    status, _, _ = fetch(system.web_url, "GET", "/api/health", timeout=30)
    assert status == 200
    return time.monotonic() - started


def test_idle_connection_flood_from_one_address_does_not_lock_others_out(gw):
    """Before: 100 idle TCP connections made the gateway unreachable for 120 s."""
    flood = [_connect(gw, "127.0.0.2") for _ in range(100)]
    try:
        assert _health_time(gw) < 10
        assert fetch(gw.web_url, "GET", "/api/status", token=gw.tokens["viewer"])[0] == 200
        # the address's share is 16 connections: each newer one closed its longest-idle one
        closed: set[int] = set()
        deadline = time.monotonic() + 60
        while len(closed) < 84 and time.monotonic() < deadline:
            closed |= {i for i, s in enumerate(flood) if i not in closed and _closed_by_server(s, 0.02)}
        assert len(closed) == 84
        server = gw.client.call("web", "status")["server"]
        assert server["evicted"] + server["refused"] >= 84
    finally:
        for s in flood:
            s.close()


def test_a_client_at_its_cap_is_served_by_closing_its_own_idle_connection(gw):
    """A browser whose pool (or whose closed sockets not yet counted off) fills its share still loads."""
    idle = [_connect(gw, "127.0.0.4") for _ in range(16)]
    try:
        wait_until(
            lambda: gw.client.call("web", "status")["server"]["connections"] >= 16,
            timeout=30,
            what="the 16 idle connections counted",
        )
        s = _connect(gw, "127.0.0.4")
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        s.settimeout(30)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        s.close()
        assert sum(_closed_by_server(c, 1.0) for c in idle) >= 1  # the longest idle made room
    finally:
        for c in idle:
            c.close()


def test_idle_connections_from_many_addresses_hold_no_thread(gw):
    flood = [_connect(gw, f"127.0.1.{i}") for i in range(1, 101)]
    try:
        wait_until(
            lambda: gw.client.call("web", "status")["server"]["connections"] >= 100,
            timeout=10,
            what="the 100 idle connections held open",
        )
        assert _health_time(gw) < 10  # 100 > the 48 worker threads: waiting ones hold none
    finally:
        for s in flood:
            s.close()


def test_slow_requests_from_one_address_do_not_starve_others(gw):
    slow = []
    try:
        for _ in range(40):  # each sends half a request line and stalls: it holds a worker thread
            s = _connect(gw, "127.0.0.3")
            try:
                s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:
                pass
            slow.append(s)
        assert _health_time(gw) < 10
        assert fetch(gw.web_url, "GET", "/api/status", token=gw.tokens["viewer"])[0] == 200
    finally:
        for s in slow:
            s.close()


def test_silent_connections_are_closed_after_the_idle_timeout(gw):
    s = _connect(gw, "127.0.0.4")
    half = _connect(gw, "127.0.0.4")
    half.sendall(b"GET /api/health HTTP/1.1\r\n")
    try:
        started = time.monotonic()
        assert _closed_by_server(s, IDLE_S + 10)
        assert _closed_by_server(half, IDLE_S + 10)
        assert time.monotonic() - started < IDLE_S + 10
    finally:
        s.close()
        half.close()
    from workers.web import web_config

    assert web_config({})["idle_timeout_s"] <= 20


def test_per_client_cap_on_live_event_streams(gw):
    viewer = gw.tokens["viewer"]
    mine = [SSEClient(gw.web_url, token=viewer, source="127.0.0.5") for _ in range(4)]
    try:
        assert all(c.resp.status == 200 for c in mine)
        extra = SSEClient(gw.web_url, token=viewer, source="127.0.0.5")
        assert extra.resp.status == 429 and int(extra.resp.getheader("Retry-After")) > 0
        assert json.loads(extra.resp.read())["error"]["code"] == "too_many_requests"
        extra.close()
        other = SSEClient(gw.web_url, token=viewer, source="127.0.0.6")  # another address is served
        assert other.resp.status == 200
        other.close()
        mine.pop().close()  # a closed page frees its slot promptly

        def reopened():
            c = SSEClient(gw.web_url, token=viewer, source="127.0.0.5")
            if c.resp.status == 200:
                mine.append(c)
                return True
            c.close()
            return False

        wait_until(reopened, timeout=10, what="the freed slot reused")
    finally:
        for c in mine:
            c.close()


# ---- hostile credentials (in-process app, same accounts database) ------------------------------
latin = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=200)


@pytest.fixture(scope="module")
def app(gw):
    app = make_app(gw)
    yield app
    app.extensions["ohmpi_close"]()


@SAFE
@given(
    value=latin
    | st.sampled_from(
        ["Bearer", "Bearer ", "Bearer ohmpi_at_", "Bearer ohmpi_tk_x", "Basic dXNlcjpwYXNz", "bearer ohmpi_ti_x.y"]
    )
)
def test_hostile_authorization_headers_are_401(app, value):
    resp = app.test_client().get("/api/status", headers={"Authorization": value})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"


@SAFE
@given(ticket=latin | st.sampled_from(["ohmpi_ti_", "ohmpi_ti_.", "ohmpi_ti_czox.AAAA", "ohmpi_ti_" + "A" * 500]))
def test_hostile_tickets_are_401(app, ticket):
    resp = app.test_client().get("/api/surveys/S-none/export", query_string={"ticket": ticket})
    assert resp.status_code == 401


@SAFE
@given(cookie=latin, csrf=latin, path=st.sampled_from(["/api/refresh", "/api/logout"]))
def test_hostile_session_cookies_are_refused(app, cookie, csrf, path):
    c = app.test_client()
    c.set_cookie("ohmpi_refresh", cookie, path="/api/")
    resp = c.post(path, headers={"X-CSRF-Token": csrf})
    assert resp.status_code in (401, 403), resp.get_data(as_text=True)


@SAFE
@given(host=latin, origin=st.none() | latin)
def test_hostile_host_and_origin_never_500(app, gw, host, origin):
    headers = {"Host": host}
    if origin is not None:
        headers["Origin"] = origin
    resp = authed_client(app, gw.tokens["viewer"]).get("/api/health", headers=headers)
    assert resp.status_code in (200, 400, 403)


def test_a_first_user_made_with_the_cli_ends_the_setup_link(gw):
    """The fixture made its users over the bus (`ohmpi users add`): the printed link is dead."""
    import re

    printed = re.search(r"/setup\?token=(ohmpi_st_[\w-]+)", (gw.var / "log" / "web.log").read_text())
    assert printed and not (gw.var / "setup-url").exists()
    status, _, body = fetch(
        gw.web_url, "POST", "/api/setup", {"token": printed[1], "username": "late", "password": "late-password"}
    )
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_configured_allowed_hosts_replace_the_machine_names(gw):
    app = make_app(gw, ALLOWED_HOSTS=["ohmpi.example", "field-box:8080"])
    try:
        c = authed_client(app, gw.tokens["viewer"])
        for host, status in (
            ("ohmpi.example:8080", 200),
            ("OHMPI.example", 200),
            ("field-box", 200),
            ("localhost:8080", 200),
            ("127.0.0.1", 200),
            ("evil.example", 400),
            ("ohmpi.example.evil.example", 400),
        ):
            assert c.get("/api/health", headers={"Host": host}).status_code == status, host
    finally:
        app.extensions["ohmpi_close"]()
