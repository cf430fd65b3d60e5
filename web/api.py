"""The HTTP API: one route table (`ROUTES`) that registers the Flask rules and is the OpenAPI document.

Handlers take one dict of checked arguments (path parameters, query parameters and body
fields, by their bus argument names) and return something JSON-able or a Response. They
reach the instrument only through the bus (`Gateway.bus`), plus supervisord for processes.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask, Response, current_app, g, request, send_from_directory, stream_with_context

from bus.constants import LOG_LEVELS, MAX_LOG_TEXT

from . import accounts
from .alarm_routes import routes as alarm_routes
from .auth import audit, authorize, store
from .bus_access import ApiError, BusAccess, bad_request
from .events import EventHub, peer_gone
from .inversion_routes import routes as inversion_routes
from .openapi import Field, Route, document
from .supervisor import Supervisor

STATIC = Path(__file__).resolve().parent / "static"
PROGRAM_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
STATUS_TIMEOUT = 1.5
STATIC_MAX_AGE = 600

PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OhmPi</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>OhmPi gateway</h1><p>The control page is not installed. The API is at
<a href="/api/openapi.json">/api/openapi.json</a>; live events at <code>/api/events</code>.</p></body></html>
"""


def is_off(info: dict) -> bool:
    """An optional program that is not configured (mqtt without [mqtt], inverter without pyGIMLi) exits 0
    at once and stays EXITED: it is off, not dead."""
    return info.get("state") == "EXITED" and info.get("exitstatus") == 0


class Gateway:
    """What the handlers share: the bus, supervisord, the SSE hub, a small pool for parallel status."""

    def __init__(
        self,
        bus: BusAccess,
        supervisor: Supervisor,
        *,
        max_sse_clients: int = 16,
        max_sse_per_client: int = 4,
        keepalive_s: float = 15.0,
    ):
        self.bus = bus
        self.supervisor = supervisor
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="web-status")
        self.events = EventHub(
            bus.address,
            bus.cfg,
            processes=self._processes_quiet,
            max_clients=max_sse_clients,
            max_per_client=max_sse_per_client,
            keepalive_s=keepalive_s,
        )

    def processes(self, timeout: float = 2.0, on_behalf: tuple[str, str] | None = None) -> list[dict]:
        """Hub heartbeats merged with supervisord's view (either may be missing)."""
        hub_error = sup_error = None
        try:
            beats = self.bus.call_paged("hub", "processes", timeout=timeout, retries=0, on_behalf=on_behalf)
        except ApiError as exc:
            beats, hub_error = [], exc
        try:
            sup = self.supervisor.processes()
        except ApiError as exc:
            sup, sup_error = {}, exc
        if hub_error is not None and sup_error is not None:
            raise hub_error
        out = []
        for beat in beats if isinstance(beats, list) else []:
            name = beat.get("name")
            out.append(
                {
                    "name": name,
                    "alive": bool(beat.get("alive")),
                    "age_s": beat.get("age_s"),
                    "pid": beat.get("pid"),
                    "uptime_s": beat.get("uptime_s"),
                    "rss_mb": beat.get("rss_mb"),
                    "cpu_pct": beat.get("cpu_pct"),
                    "threads": beat.get("threads"),
                    "missed": beat.get("missed"),
                    "dropped": beat.get("dropped"),
                    "supervisor": sup.get(name),
                }
            )
        seen = {p["name"] for p in out}
        for name, info in sorted(sup.items()):
            if name not in seen:  # a program that never sent a heartbeat (stopped, crashing, starting, off)
                out.append(
                    {
                        "name": name,
                        "alive": False,
                        "age_s": None,
                        "pid": info.get("pid"),
                        "uptime_s": None,
                        "rss_mb": None,
                        "cpu_pct": None,
                        "threads": None,
                        "missed": None,
                        "dropped": None,
                        "off": is_off(info),
                        "supervisor": info,
                    }
                )
        return out

    def _processes_quiet(self) -> list[dict] | None:
        try:
            return self.processes(timeout=1.0)
        except ApiError:
            return None

    def close(self) -> None:
        self.events.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.bus.close()


def gw() -> Gateway:
    return current_app.extensions["ohmpi"]


def acting() -> tuple[str, str]:
    """(user, role) the bus is told the gateway acts for: services check the role again. A
    public route never gets more than a viewer's reach (the gateway itself is a `service`)."""
    who = getattr(g, "principal", None)
    return (who.user, who.role) if who is not None else ("anonymous", "viewer")


def call(service: str, cmd: str, **kw):
    return gw().bus.call(service, cmd, on_behalf=acting(), **kw)


def _present(args: dict, *names: str) -> dict:
    return {n: args[n] for n in names if args.get(n) is not None}


# ---- handlers ---------------------------------------------------------------------------------
def health(args):
    return {"ok": True}


def spec(args):
    """The bus's vocabulary (bus/constants.py), so the page keeps no copy of it."""
    return {"log_levels": list(LOG_LEVELS), "max_log_text": MAX_LOG_TEXT}


def status(args):
    gate, who = gw(), acting()  # the pool's threads have no request context: take the caller along
    parts = {
        "survey": (
            "sequencer",
            lambda: gate.bus.call("sequencer", "status", timeout=STATUS_TIMEOUT, retries=0, on_behalf=who),
        ),
        "controller": (
            "controller",
            lambda: gate.bus.call("controller", "status", timeout=STATUS_TIMEOUT, retries=0, on_behalf=who),
        ),
        "recorder": (
            "recorder",
            lambda: gate.bus.call("recorder", "stats", timeout=STATUS_TIMEOUT, retries=0, on_behalf=who),
        ),
        "processes": ("hub", lambda: gate.processes(timeout=STATUS_TIMEOUT, on_behalf=who)),
    }
    futures = {key: gate.pool.submit(fn) for key, (_, fn) in parts.items()}
    out: dict = {"errors": {}}
    for key, fut in futures.items():
        service = parts[key][0]
        try:
            out[key] = fut.result(timeout=3 * STATUS_TIMEOUT + 2)
        except ApiError as exc:
            out[key] = [] if key == "processes" else None
            out["errors"][service] = exc.message
        except Exception as exc:  # the pool timed out or a worker thread failed
            out[key] = [] if key == "processes" else None
            out["errors"][service] = f"{type(exc).__name__}: {exc}"
    out["web"] = gate.events.status()
    return out


def processes(args):
    return gw().processes(on_behalf=acting())


def restart_process(args):
    name = args["name"]
    if not PROGRAM_RE.match(name):
        raise ApiError(
            404, "not_found", f"no program {name[:64]!r} under supervisord", arg="name", reason="unknown program"
        )
    try:
        result = gw().supervisor.restart(name)
    except ApiError as exc:
        audit("process_restart", ok=False, target=name, reason=exc.message)
        raise
    audit("process_restart", target=name)
    return result


def get_settings(args):
    return call("controller", "get_settings")


def put_settings(args):
    return call("controller", "set_settings", settings=args["settings"])


def measure(args):
    # however long the settings make it: the controller answers `in_progress` while it measures
    return call("controller", "measure", timeout=2.0, retries=2, **_present(args, "a", "b", "m", "n", "settings"))


def abort(args):
    return call("controller", "abort")


def rs_check(args):
    return call("controller", "rs_check", timeout=2.0, retries=2, **_present(args, "survey_id"))


def rs_checks(args):
    return call("recorder", "rs_checks", **_present(args, "limit", "survey_id"))


def geometry(args):
    return call("controller", "geometry")


def get_sequence(args):
    return call("sequencer", "sequence")


def load_sequence(args):
    return call("sequencer", "load", **_present(args, "text", "name"))


def validate_sequence(args):
    return call("sequencer", "validate", **_present(args, "text", "name"))


def generate_sequence(args):
    return call("sequencer", "generate", **_present(args, "array", "electrodes"))


def survey_status(args):
    return call("sequencer", "status")


def survey_start(args):
    return call(
        "sequencer",
        "start",
        **_present(args, "name", "stacks", "injection_ms", "settings", "reciprocals", "repeat", "every_s"),
    )


def survey_pause(args):
    return call("sequencer", "pause")


def survey_resume(args):
    return call("sequencer", "resume")


def survey_stop(args):
    return call("sequencer", "stop")


def surveys(args):
    return call("recorder", "surveys")


def survey(args):
    return call("recorder", "survey", survey_id=args["survey_id"])


def survey_data(args):
    return call("recorder", "data", **_present(args, "survey_id", "offset", "limit", "pass_index"))


def survey_quality(args):
    return call("recorder", "quality", timeout=15.0, **_present(args, "survey_id", "pass_index"))


def survey_errmodel(args):
    return call("recorder", "errmodel", timeout=15.0, survey_id=args["survey_id"])


def survey_export(args):
    base = _present(args, "survey_id", "format", "pass_index", "error_model", "common")
    text, reply = gw().bus.call_chunked("recorder", "export", on_behalf=acting(), timeout=15.0, retries=1, **base)
    data = text.encode("utf-8")
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", str(reply.get("filename") or f"survey.{base['format']}"))
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Measurements": str(reply.get("measurements", "")),
        "X-Content-SHA256": reply.get("sha256", ""),
    }
    for i, note in enumerate(reply.get("notes") or []):
        headers[f"X-Export-Note-{i + 1}"] = re.sub(r"[^\x20-\x7e]", "?", str(note))[:200]
    return Response(data, mimetype="text/plain", headers=headers)


def waveform(args):
    return call("recorder", "waveform", measurement_id=args["measurement_id"])


def timeseries(args):
    return call("recorder", "timeseries", **_present(args, "a", "b", "m", "n", "limit"))


def logs(args):
    return call("recorder", "logs", **_present(args, "limit", "level", "process", "since"))


def soh(args):
    return call("recorder", "soh", **_present(args, "process", "since", "limit"))


def audit_log(args):
    return call("recorder", "audit", **_present(args, "limit", "since", "user", "action"))


def events(args):
    hub = gw().events
    last = request.headers.get("Last-Event-ID", "").strip()
    stream = hub.connect(int(last) if last.isdigit() and len(last) < 18 else None, client=request.remote_addr or "")
    if stream == "client":
        raise ApiError(
            429,
            "too_many_requests",
            f"this address already has {hub.max_per_client} live event streams: close another page",
            service="web",
            retry_after=5,
        )
    if stream == "full":
        raise ApiError(
            503, "unavailable", f"too many live event streams ({hub.max_clients}); close another page", service="web"
        )
    sock = request.environ.get("ohmpi.socket")
    who, accounts_db = g.principal, store()
    return Response(
        stream_with_context(
            hub.serve(
                stream,
                gone=(lambda: peer_gone(sock)) if sock else None,
                still_allowed=lambda: accounts_db.still_valid(who),
            )
        ),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def openapi(args):
    return document(ROUTES)


def index(args):
    page = STATIC / "index.html"
    if page.is_file():
        resp = send_from_directory(STATIC, "index.html", max_age=0)
    else:
        resp = Response(PLACEHOLDER, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def static_file(args):
    if not STATIC.is_dir():
        raise ApiError(404, "not_found", f"no static file {args['filename'][:100]!r}")
    return send_from_directory(STATIC, args["filename"], max_age=STATIC_MAX_AGE)


# ---- the table --------------------------------------------------------------------------------
def _limit(default: int, high: int = 5000) -> Field:
    return Field("limit", "int", min=1, max=high, default=default, description="how many at most")


ELECTRODE = dict(min=0, max=100_000)
QUADRUPOLE = tuple(Field(k, "int", required=True, **ELECTRODE) for k in "abmn")  # 1-based a, b, m, n
SURVEY_ID = Field("survey_id", "str", required=True, max_length=200)
PASS = Field("pass", "int", min=0, arg="pass_index", description="only this pass (0-based)")
SEQ_FIELDS = (
    Field("text", "str", required=True, max_length=900_000, description="lines `A B M N` (1-based), `#` comments"),
    Field("name", "str", max_length=200),
)
OBJ = {"type": "object", "additionalProperties": True}
LIST = {"type": "array", "items": OBJ}
PROCESS = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "alive": {"type": "boolean"},
        "age_s": {"type": "number", "nullable": True},
        "pid": {"type": "integer", "nullable": True},
        "uptime_s": {"type": "number", "nullable": True},
        "rss_mb": {"type": "number", "nullable": True},
        "cpu_pct": {"type": "number", "nullable": True},
        "supervisor": {
            "type": "object",
            "nullable": True,
            "properties": {
                "state": {"type": "string"},
                "pid": {"type": "integer", "nullable": True},
                "uptime_s": {"type": "number"},
                "description": {"type": "string"},
            },
        },
    },
}
SETTINGS = Field("settings", "object", description="measurement settings overrides (see GET /api/settings spec)")
ROLE = Field("role", "str", required=True, enum=("viewer", "operator", "admin"))
USER = Field("name", "str", required=True, max_length=200)
SESSION = {
    "type": "object",
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
        "role": {"type": "string"},
        "username": {"type": "string"},
        "csrf_token": {"type": "string"},
    },
}

ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/health",
        health,
        "the gateway answers",
        role=None,
        tag="meta",
        response={"type": "object", "properties": {"ok": {"type": "boolean"}}},
    ),
    Route("GET", "/api/openapi.json", openapi, "this document", role="viewer", tag="meta"),
    Route(
        "GET",
        "/api/spec",
        spec,
        "shared constants: log levels in rising severity, log text limit",
        role="viewer",
        tag="meta",
        response={
            "type": "object",
            "properties": {
                "log_levels": {"type": "array", "items": {"type": "string"}},
                "max_log_text": {"type": "integer"},
            },
        },
    ),
    Route(
        "GET",
        "/api/status",
        status,
        "everything at a glance; a dead service gives null and an entry in errors",
        role="viewer",
        response={
            "type": "object",
            "properties": {
                "processes": {"type": "array", "items": PROCESS},
                "survey": {**OBJ, "nullable": True},
                "controller": {**OBJ, "nullable": True},
                "recorder": {**OBJ, "nullable": True},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                "web": OBJ,
            },
        },
    ),
    Route(
        "GET",
        "/api/processes",
        processes,
        "processes: heartbeats merged with supervisord",
        role="viewer",
        tag="processes",
        response={"type": "array", "items": PROCESS},
    ),
    Route(
        "POST",
        "/api/processes/<name>/restart",
        restart_process,
        "restart a program through supervisord",
        role="admin",
        tag="processes",
        path_params=(Field("name", "str", required=True, max_length=64),),
        errors=(404, 502),
    ),
    Route(
        "GET",
        "/api/settings",
        get_settings,
        "measurement settings and their spec",
        role="viewer",
        tag="controller",
        response={"type": "object", "properties": {"settings": OBJ, "spec": OBJ}},
    ),
    Route(
        "PUT",
        "/api/settings",
        put_settings,
        "change some settings (all checked; nothing changes on error)",
        role="operator",
        tag="controller",
        body=(Field("settings", "object", required=True),),
        body_required=True,
    ),
    Route(
        "POST",
        "/api/measure",
        measure,
        "measure one quadrupole (1-based electrodes)",
        role="operator",
        tag="controller",
        body=(
            *QUADRUPOLE,
            SETTINGS,
        ),
        body_required=True,
        errors=(409, 502),
        response={
            "type": "object",
            "properties": {"measurement_id": {"type": "string"}, "record": OBJ, "repeated": {"type": "boolean"}},
        },
    ),
    Route("POST", "/api/abort", abort, "stop the measurement in progress now", role="operator", tag="controller"),
    Route(
        "POST",
        "/api/rs-check",
        rs_check,
        "contact-resistance check of every electrode",
        role="operator",
        tag="controller",
        body=(Field("survey_id", "str", max_length=200),),
        errors=(409, 502),
    ),
    Route(
        "GET",
        "/api/rs-checks",
        rs_checks,
        "stored contact-resistance checks, newest first",
        role="viewer",
        tag="recorder",
        query=(_limit(20), Field("survey_id", "str", max_length=200)),
        response=LIST,
    ),
    Route(
        "GET",
        "/api/geometry",
        geometry,
        "electrode count and positions",
        role="viewer",
        tag="controller",
        response={
            "type": "object",
            "properties": {
                "instrument": {"type": "string"},
                "n_electrodes": {"type": "integer"},
                "positions": {"type": "array", "items": {"type": "array"}},
            },
        },
    ),
    Route(
        "GET",
        "/api/sequence",
        get_sequence,
        "the loaded sequence (or null)",
        role="viewer",
        tag="sequencer",
        response={**OBJ, "nullable": True},
    ),
    Route(
        "POST",
        "/api/sequence",
        load_sequence,
        "load a sequence; errors name the line",
        role="operator",
        tag="sequencer",
        body=SEQ_FIELDS,
        body_required=True,
    ),
    Route(
        "POST",
        "/api/sequence/validate",
        validate_sequence,
        "check a sequence without loading it",
        role="viewer",
        tag="sequencer",
        body=SEQ_FIELDS,
        body_required=True,
    ),
    Route(
        "POST",
        "/api/sequence/generate",
        generate_sequence,
        "generate and load a standard array",
        role="operator",
        tag="sequencer",
        body=(
            Field(
                "array",
                "str",
                required=True,
                max_length=64,
                description="wenner, schlumberger, dipole-dipole, gradient (or alias)",
            ),
            Field("electrodes", "int", min=0, max=100_000),
        ),
        body_required=True,
    ),
    Route("GET", "/api/survey", survey_status, "survey progress (sequencer status)", role="viewer", tag="sequencer"),
    Route(
        "POST",
        "/api/survey/start",
        survey_start,
        "start a survey of the loaded sequence",
        role="operator",
        tag="sequencer",
        body=(
            Field("name", "str", max_length=200),
            Field("stacks", "int", min=0, max=100_000),
            Field("injection_ms", "number"),
            SETTINGS,
            Field("reciprocals", "bool"),
            Field("repeat", "int", min=0, max=10_000_000),
            Field("every_s", "number"),
        ),
        errors=(409,),
    ),
    Route(
        "POST",
        "/api/survey/pause",
        survey_pause,
        "pause after the quadrupole being measured",
        role="operator",
        tag="sequencer",
    ),
    Route("POST", "/api/survey/resume", survey_resume, "resume a paused survey", role="operator", tag="sequencer"),
    Route("POST", "/api/survey/stop", survey_stop, "stop the survey now", role="operator", tag="sequencer"),
    Route("GET", "/api/surveys", surveys, "stored surveys, newest first", role="viewer", tag="recorder", response=LIST),
    Route(
        "GET",
        "/api/surveys/<survey_id>",
        survey,
        "one stored survey",
        role="viewer",
        tag="recorder",
        path_params=(SURVEY_ID,),
    ),
    Route(
        "GET",
        "/api/surveys/<survey_id>/data",
        survey_data,
        "a page of a survey's measurements",
        role="viewer",
        tag="recorder",
        path_params=(SURVEY_ID,),
        query=(Field("offset", "int", min=0, default=0), _limit(500), PASS),
    ),
    Route(
        "GET",
        "/api/surveys/<survey_id>/export",
        survey_export,
        "download a survey as a file",
        role="viewer",
        ticket=True,
        tag="recorder",
        path_params=(SURVEY_ID,),
        query=(
            Field("format", "str", enum=("ohm", "protocol", "csv", "matrix"), default="ohm"),
            PASS,
            Field(
                "error_model", "bool", description="errors from the reciprocal error model instead of each datum's own"
            ),
            Field(
                "common",
                "bool",
                description="only the quadrupoles measured in every pass, in sequence order (time-lapse)",
            ),
        ),
        content="text/plain",
        response={"type": "string"},
        errors=(502,),
        description="`.ohm` for pyGIMLi, `protocol.dat` for ResIPy, OhmPi CSV, `matrix` (R of each quadrupole "
        "in each pass, CSV); sent as an attachment (docs/formats.md)",
    ),
    Route(
        "GET",
        "/api/surveys/<survey_id>/quality",
        survey_quality,
        "a survey's data quality: flagged share, "
        "uncertainty and reciprocal-error histograms, error model, chargeability, contacts at its start",
        role="viewer",
        tag="recorder",
        path_params=(SURVEY_ID,),
        query=(PASS,),
    ),
    Route(
        "GET",
        "/api/surveys/<survey_id>/errmodel",
        survey_errmodel,
        "the reciprocal error model |Rn - Rr| = a·|R|^b of a survey",
        role="viewer",
        tag="recorder",
        path_params=(SURVEY_ID,),
    ),
    Route(
        "GET",
        "/api/measurements/<measurement_id>/waveform",
        waveform,
        "the full waveform of one measurement",
        role="viewer",
        tag="recorder",
        path_params=(Field("measurement_id", "str", required=True, max_length=200),),
    ),
    Route(
        "GET",
        "/api/timeseries",
        timeseries,
        "R of one quadrupole over time, oldest first",
        role="viewer",
        tag="recorder",
        query=(
            *QUADRUPOLE,
            _limit(1000),
        ),
        response={
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    k: {} for k in ("time", "r_ohm", "rhoa_ohmm", "r_std_pct", "survey_id", "pass_index", "flags")
                },
            },
        },
    ),
    Route(
        "GET",
        "/api/logs",
        logs,
        "stored log lines, newest first",
        role="viewer",
        tag="recorder",
        query=(
            _limit(200),
            Field("level", "str", enum=LOG_LEVELS),
            Field("process", "str", max_length=64),
            Field("since", "number", description="epoch seconds"),
        ),
        response=LIST,
    ),
    Route(
        "GET",
        "/api/soh",
        soh,
        "stored state-of-health samples, newest first",
        role="viewer",
        tag="recorder",
        query=(Field("process", "str", max_length=64), Field("since", "number"), _limit(500)),
        response=LIST,
    ),
    Route(
        "GET",
        "/api/events",
        events,
        "live events (Server-Sent Events)",
        role="viewer",
        ticket=True,
        tag="events",
        content="text/event-stream",
        response={"type": "string"},
        errors=(429, 503),
        description="Events: measurement, waveform, rs_check, survey, recorder, soh, log, processes, state, "
        "dropped, revoked (the stream's credential ended: the stream closes). `retry: 2000`, "
        "incrementing `id:`, a keep-alive comment every 15 s; on connect the latest survey, "
        "recorder, processes and every soh first. Honours `Last-Event-ID`. At most "
        "`[web] max_sse_per_client` streams per client address (429) and `max_sse_clients` in all "
        "(503). EventSource cannot send headers: use `?ticket=` (POST /api/tickets).",
    ),
    # ---- accounts ----
    Route(
        "POST",
        "/api/login",
        accounts.login,
        "log in: an access token, and a refresh cookie",
        role=None,
        tag="auth",
        body=(
            Field("username", "str", required=True, max_length=200),
            Field("password", "str", required=True, max_length=1024),
        ),
        body_required=True,
        errors=(401, 429),
        response=SESSION,
        description="Sets cookies `ohmpi_refresh` (HttpOnly, SameSite=Strict, Path=/api/) and `ohmpi_csrf` "
        "(readable, SameSite=Strict): send its value as `X-CSRF-Token` with cookie-authenticated "
        "writes. 5 failures a minute per user name or per address give 429 with `Retry-After`.",
    ),
    Route(
        "POST",
        "/api/refresh",
        accounts.refresh,
        "a new access token from the refresh cookie (rotated)",
        role=None,
        tag="auth",
        errors=(401, 403),
        response=SESSION,
        description="Needs the `ohmpi_refresh` cookie and `X-CSRF-Token` equal to the `ohmpi_csrf` cookie. A "
        "refresh token already rotated, presented again, ends its whole session (401, reason "
        "`reused`), except within a few seconds of its rotation (a concurrent refresh: 401, reason "
        "`rotated`, nothing revoked: retry).",
    ),
    Route(
        "POST",
        "/api/logout",
        accounts.logout,
        "end this login session (its access and refresh tokens)",
        role="viewer",
        cookie_auth=True,
        tag="auth",
        response={"type": "object", "properties": {"ok": {"type": "boolean"}, "revoked": {"type": "boolean"}}},
    ),
    Route(
        "GET",
        "/api/me",
        accounts.me,
        "who is calling",
        role="viewer",
        tag="auth",
        response={
            "type": "object",
            "properties": {
                "username": {"type": "string"},
                "role": {"type": "string"},
                "auth": {"type": "string", "enum": ["password", "token"]},
                "expires_in": {"type": "integer", "nullable": True},
            },
        },
    ),
    Route(
        "POST",
        "/api/tickets",
        accounts.tickets,
        "a 60 s ticket for ?ticket= (EventSource, downloads)",
        role="viewer",
        tag="auth",
        response={"type": "object", "properties": {"ticket": {"type": "string"}, "expires_in": {"type": "integer"}}},
    ),
    Route(
        "POST",
        "/api/setup",
        accounts.setup,
        "create the first admin with the one-time setup token",
        role=None,
        tag="auth",
        body=(
            Field("token", "str", required=True, max_length=200),
            Field("username", "str", required=True, max_length=200),
            Field("password", "str", required=True, max_length=1024),
        ),
        body_required=True,
        errors=(401, 409, 429),
        response=SESSION,
        description="The token is in the link the gateway prints at its first start (and in "
        "`$OHMPI_VAR/setup-url`; `ohmpi web setup-link`). Answers like /api/login.",
    ),
    Route("GET", "/api/users", accounts.users, "the users", role="admin", tag="auth", response=LIST),
    Route(
        "POST",
        "/api/users",
        accounts.add_user,
        "add a user",
        role="admin",
        tag="auth",
        body=(
            Field("username", "str", required=True, max_length=200),
            ROLE,
            Field("password", "str", required=True, max_length=1024),
        ),
        body_required=True,
        errors=(409,),
    ),
    Route(
        "DELETE",
        "/api/users/<name>",
        accounts.remove_user,
        "remove a user (their sessions end)",
        role="admin",
        tag="auth",
        path_params=(USER,),
        errors=(404, 409),
    ),
    Route(
        "PUT",
        "/api/users/<name>/password",
        accounts.set_password,
        "change a password (their other sessions end)",
        role="viewer",
        self_param="name",
        tag="auth",
        path_params=(USER,),
        body=(
            Field("password", "str", required=True, max_length=1024),
            Field(
                "current_password",
                "str",
                max_length=1024,
                description="required when changing one's own password without the admin role",
            ),
        ),
        body_required=True,
        errors=(404, 429),
        description="Admins may change anyone's; other users only their own (`x-role-others`).",
    ),
    Route(
        "GET",
        "/api/tokens",
        accounts.tokens,
        "the API tokens (never their values)",
        role="admin",
        tag="auth",
        response=LIST,
    ),
    Route(
        "POST",
        "/api/tokens",
        accounts.create_token,
        "create an API token (its value is shown once)",
        role="admin",
        tag="auth",
        body=(
            Field("name", "str", required=True, max_length=200),
            ROLE,
            Field("expires_days", "number", min=0.001, max=36500, description="default: never expires"),
        ),
        body_required=True,
        errors=(409,),
        response={
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "role": {"type": "string"},
                "token": {"type": "string"},
                "expires": {"type": "number", "nullable": True},
            },
        },
    ),
    Route(
        "DELETE",
        "/api/tokens/<name>",
        accounts.revoke_token,
        "revoke an API token (at once)",
        role="admin",
        tag="auth",
        path_params=(Field("name", "str", required=True, max_length=200),),
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/audit",
        audit_log,
        "the audit log, newest first",
        role="admin",
        tag="auth",
        query=(
            _limit(200),
            Field("since", "number", description="epoch seconds"),
            Field("user", "str", max_length=200),
            Field("action", "str", max_length=64),
        ),
        response=LIST,
    ),
    Route(
        "GET", "/", index, "the control page", role=None, tag="page", content="text/html", response={"type": "string"}
    ),
    Route(
        "GET",
        "/setup",
        index,
        "the control page, creating the first admin (?token=)",
        role=None,
        tag="page",
        content="text/html",
        response={"type": "string"},
    ),
    Route(
        "GET",
        "/static/<path:filename>",
        static_file,
        "the page's assets (cached)",
        role=None,
        tag="page",
        content="application/octet-stream",
        response={"type": "string"},
        errors=(404,),
        path_params=(Field("filename", "str", required=True),),
    ),
]
ROUTES += alarm_routes(call)  # web/alarm_routes.py
ROUTES += inversion_routes(call)  # web/inversion_routes.py


# ---- wiring -----------------------------------------------------------------------------------
def _body(route: Route) -> dict:
    raw = request.get_data(cache=False)  # MAX_CONTENT_LENGTH is enforced here (413)
    if not raw.strip():
        if route.body_required:
            raise bad_request("body", "a JSON object is required")
        data = {}
    else:
        try:
            data = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise bad_request("body", f"not valid JSON: {str(exc)[:200]}") from None
        if not isinstance(data, dict):
            raise bad_request("body", "must be a JSON object")
    known = {f.name: f for f in route.body}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise bad_request(unknown[0], f"unknown field; known: {', '.join(known)}", unknown=unknown[:20])
    out = {}
    for f in route.body:
        if f.name not in data or data[f.name] is None:
            if f.required:
                raise bad_request(f.name, "missing required field")
            continue
        out[f.target] = f.check(data[f.name])
    return out


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _query(route: Route) -> dict:
    out = {}
    for f in route.query:
        raw = request.args.get(f.name)
        if raw is None or raw == "":
            if f.required:
                raise bad_request(f.name, "missing required parameter")
            if f.default is not None:
                out[f.target] = f.default
            continue
        out[f.target] = f.parse(raw)
    return out


def _view(route: Route):
    def view(**path):
        authorize(route)  # before anything is parsed: an anonymous caller learns nothing
        args = {}
        for f in route.path_params:
            args[f.target] = f.check(path[f.name])
        args.update(_query(route))
        if route.body is not None:
            args.update(_body(route))
        result = route.handler(args)
        if isinstance(result, Response):
            return result
        return current_app.response_class(current_app.json.dumps(result) + "\n", mimetype="application/json")

    view.__name__ = route.endpoint
    return view


def register(app: Flask) -> None:
    for route in ROUTES:
        app.add_url_rule(route.path, endpoint=route.endpoint, view_func=_view(route), methods=[route.method])
