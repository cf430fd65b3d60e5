"""HTTPS with a self-signed pair from `ohmpi web selfsigned`: the certificate verifies for the
instrument's address, cookies are Secure, live events stream over TLS, a plain-HTTP client is
told to use https://, and silent or half-done handshakes do not stall anybody else."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.procs import short_tmpdir
from tests.support.sse import SSEClient
from tests.support.web import start_web_system


@pytest.fixture(scope="module")
def pair():
    out = Path(short_tmpdir())
    r = subprocess.run(
        [sys.executable, "-m", "client.cli", "web", "selfsigned", "-o", str(out), "--host", "ohmpi.test", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def tls(pair):
    system = start_web_system(
        web_extra=f'certfile = "{pair["certfile"]}"\nkeyfile = "{pair["keyfile"]}"\n',
        scheme="https",
        electrodes=16,
        time_scale=0.0,
    )
    yield system
    system.close()


def verified(pair) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pair["certfile"])
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


def https(system, pair, method, path, body=None, token=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", system.web_port, timeout=30, context=verified(pair))
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data, hdrs["Content-Type"] = json.dumps(body).encode(), "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_selfsigned_pair(pair):
    from cryptography import x509

    assert stat.S_IMODE(Path(pair["keyfile"]).stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(Path(pair["certfile"]).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "ohmpi.test" in names.get_values_for_type(x509.DNSName)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert any(str(ip) == "127.0.0.1" for ip in names.get_values_for_type(x509.IPAddress))
    assert len(pair["sha256"].split(":")) == 32


def test_https_login_sets_secure_cookies(tls, pair):
    status, _, body = https(tls, pair, "GET", "/api/health")
    assert status == 200 and body == {"ok": True}
    name, password = tls.passwords["viewer"]
    status, headers, body = https(tls, pair, "POST", "/api/login", {"username": name, "password": password})
    assert status == 200
    cookies = [v.lower() for k, v in headers if k.lower() == "set-cookie"]
    assert len(cookies) == 2 and all("; secure" in c for c in cookies)
    status, _, me = https(tls, pair, "GET", "/api/me", token=body["access_token"])
    assert status == 200 and me["username"] == name


def test_live_events_stream_over_tls(tls, pair):
    status, _, ticket = https(tls, pair, "POST", "/api/tickets", token=tls.tokens["viewer"])
    assert status == 200
    c = SSEClient(tls.web_url, ticket=ticket["ticket"], context=verified(pair))
    try:
        assert c.resp.status == 200
        seen = c.until(lambda e: e["id"] is not None and e["event"] == "soh", timeout=20, what="a live heartbeat")
        assert seen[0]["event"] == "survey"  # the snapshot first
        first = int(seen[-1]["id"])
        later = c.until(lambda e: e["id"] is not None and int(e["id"]) > first + 3, timeout=20, what="more events")
        assert later  # frames arrive one by one, not when a buffer fills
    finally:
        c.close()


def test_plain_http_on_the_https_port_is_told_to_use_https(tls):
    conn = http.client.HTTPConnection("127.0.0.1", tls.web_port, timeout=30)
    try:
        conn.request("GET", "/api/health")
        resp = conn.getresponse()
        assert resp.status == 400 and b"https://" in resp.read()
    finally:
        conn.close()


def test_silent_and_half_done_handshakes_stall_nobody(tls, pair):
    stalled = []
    try:
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", tls.web_port), timeout=10, source_address=(f"127.0.2.{i}", 0))
            if i % 2:  # the start of a TLS record, then nothing
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            stalled.append(s)
        started = time.monotonic()
        status, _, _ = https(tls, pair, "GET", "/api/health")
        assert status == 200 and time.monotonic() - started < 10  # stock cheroot: 15 s per silent client
        assert https(tls, pair, "GET", "/api/status", token=tls.tokens["viewer"])[0] == 200
    finally:
        for s in stalled:
            s.close()
