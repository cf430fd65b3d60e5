"""The role matrix over real HTTP: every route of the table × anonymous, viewer, operator, admin
(logged in with a password, and with an API token) → allowed, 401, or 403 `forbidden` naming
the role. Generated from `web.api.ROUTES`, so a new route cannot be forgotten."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import pytest

from bus.roles import HUMAN_ROLES, allows
from tests.support.procs import wait_until
from tests.support.web import ROLES, fetch, make_app
from web.api import ROUTES
from web.openapi import Field, Route

# Public routes that check a credential of their own (a refresh cookie): 401 is their answer to none.
OWN_CREDENTIAL = {("POST", "/api/refresh")}
NOT_A_FIELD = {"matrix_probe": 1}  # a body every route refuses (unknown field): nothing is changed


def test_every_route_declares_its_role():
    for route in ROUTES:
        assert route.role is None or route.role in HUMAN_ROLES, route
    with pytest.raises(TypeError, match="declare its role"):
        Route("GET", "/api/x", lambda args: None, "no role")
    with pytest.raises(ValueError, match="role"):
        Route("GET", "/api/x", lambda args: None, "service is not for HTTP", role="service")
    assert Field  # the table's own types are what build routes


def test_every_served_rule_is_in_the_table(web_system):
    app = make_app(web_system)
    try:
        served = {
            (rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
        }
    finally:
        app.extensions["ohmpi_close"]()
    assert served == {(r.path, r.method) for r in ROUTES}


def test_openapi_carries_each_role(web_system):
    status, _, doc = fetch(web_system.web_url, "GET", "/api/openapi.json", token=web_system.tokens["viewer"])
    assert status == 200
    for r in ROUTES:
        op = doc["paths"][r.openapi_path][r.method.lower()]
        assert op["x-role"] == r.role, r.path
        if r.role is not None:
            assert {"401", "403"} <= set(op["responses"]), r.path
        if r.self_param:
            assert op["x-role-others"] == "admin"


def _path(route: Route, own_name: str) -> str:
    values = {"survey_id": "S-none", "measurement_id": "M-none", "filename": "app.js"}
    values["name"] = own_name if route.self_param else "nosuch"
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m.group(1)], route.path)


def _request(base_url: str, route: Route, path: str, token: str | None) -> tuple[int, dict, object]:
    if route.path == "/api/events":  # a stream: the status line is the answer
        url = urlsplit(base_url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            resp = conn.getresponse()
            body = resp.read() if resp.status != 200 else b""
            import json

            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(body) if body else None
        finally:
            conn.close()
    body = NOT_A_FIELD if route.body is not None else None
    return fetch(base_url, route.method, path, body=body, token=token)


def _principals(system) -> list[tuple[str, str | None, str | None, str]]:
    """(label, role, token, own user name): anonymous, each role by password session and by API token."""
    out = [("anonymous", None, None, "nosuch")]
    for role in ROLES:
        name, password = system.passwords[role]
        status, _, session = fetch(system.web_url, "POST", "/api/login", {"username": name, "password": password})
        assert status == 200, session
        out.append((f"{role} (password)", role, session["access_token"], name))
        out.append((f"{role} (token)", role, system.tokens[role], f"token-test-{role}"))
    return out


def test_role_matrix(web_system):
    principals = _principals(web_system)
    routes = sorted(ROUTES, key=lambda r: r.path == "/api/logout")  # logout last: it ends the session
    failures = []
    for route in routes:
        for label, role, token, own in principals:
            path = _path(route, own)
            status, headers, body = _request(web_system.web_url, route, path, token)
            need = route.role
            if route.self_param and label.endswith("(token)"):
                need = "admin"  # an API token has no password of its own to change
            error = body.get("error", {}) if isinstance(body, dict) else {}
            if need is None:
                ok = status != 403 and (status != 401 or (route.method, route.path) in OWN_CREDENTIAL)
            elif role is None:
                ok = (
                    status == 401
                    and error.get("code") == "unauthorized"
                    and "bearer" in headers.get("www-authenticate", "").lower()
                )
            elif allows(role, need):
                ok = status not in (401, 403)
            else:
                ok = (
                    status == 403
                    and error.get("code") == "forbidden"
                    and error.get("role") == need
                    and error.get("have") == role
                )
            if not ok:
                failures.append((route.method, path, label, need, status, str(body)[:200]))
    assert failures == []


def test_self_service_password_route_refuses_others(web_system):
    """Below admin, PUT /api/users/<name>/password is only for oneself (x-role-others: admin)."""
    name, password = web_system.passwords["viewer"]
    status, _, session = fetch(web_system.web_url, "POST", "/api/login", {"username": name, "password": password})
    assert status == 200
    other = web_system.passwords["operator"][0]
    status, _, body = fetch(
        web_system.web_url,
        "PUT",
        f"/api/users/{other}/password",
        {"password": "x" * 12, "current_password": password},
        token=session["access_token"],
    )
    assert status == 403 and body["error"]["role"] == "admin" and body["error"]["have"] == "viewer"
    status, _, body = fetch(
        web_system.web_url,
        "PUT",
        f"/api/users/{name}/password",
        {"password": "y" * 12, "current_password": "wrong-password"},
        token=session["access_token"],
    )
    assert status == 400 and body["error"]["arg"] == "current_password"
    status, _, body = fetch(
        web_system.web_url,
        "PUT",
        f"/api/users/{name}/password",
        {"password": "a-new-password", "current_password": password},
        token=session["access_token"],
    )
    assert status == 200 and body["changed"] is True
    web_system.passwords["viewer"] = (name, "a-new-password")
    status, _, me = fetch(web_system.web_url, "GET", "/api/me", token=session["access_token"])
    assert status == 200 and me["username"] == name  # one's own session survives one's own change


def test_a_refusal_by_the_service_is_http_403(web_system):
    """The gateway acts on the bus for its user: the service checks the role again."""
    from web.bus_access import ApiError, BusAccess

    bus = BusAccess(web_system.address, web_system.cfg)
    try:
        with pytest.raises(ApiError) as refused:
            bus.call("controller", "abort", on_behalf=("someone", "viewer"))
        assert refused.value.status == 403 and refused.value.code == "forbidden"
        assert refused.value.details["role"] == "operator" and refused.value.details["have"] == "viewer"
    finally:
        bus.close()


def test_services_and_the_audit_name_the_user(web_system):
    op = web_system.tokens["operator"]
    status, _, before = fetch(web_system.web_url, "GET", "/api/settings", token=op)
    stacks = before["settings"]["nb_stack"]
    assert fetch(web_system.web_url, "PUT", "/api/settings", {"settings": {"nb_stack": stacks + 1}}, token=op)[0] == 200
    fetch(web_system.web_url, "PUT", "/api/settings", {"settings": {"nb_stack": stacks}}, token=op)
    admin = web_system.tokens["admin"]

    def audited(action, user):
        status, _, rows = fetch(web_system.web_url, "GET", f"/api/audit?action={action}&limit=50", token=admin)
        assert status == 200, rows
        return [r for r in rows if r["user"] == user]

    changes = wait_until(
        lambda: audited("settings_change", "web:token-test-operator"),
        timeout=30,
        what="the settings change audited under the gateway's user",
    )
    assert changes[0]["process"] == "controller" and changes[0]["role"] == "operator"
    name, password = web_system.passwords["admin"]
    assert fetch(web_system.web_url, "POST", "/api/login", {"username": name, "password": password})[0] == 200
    logins = wait_until(lambda: audited("login", name), timeout=30, what="the login audited")
    assert logins[0]["process"] == "web" and logins[0]["ok"] is True
