"""The alarm routes of the HTTP API (docs/alarms.md): viewers read the alarms, their history
and the metric catalogue; operators acknowledge with a comment; admins read and replace the
rules. Handlers reach the `alarms` worker and the recorder through the bus only."""

from __future__ import annotations

from typing import Callable

from .openapi import Field, Route

OBJ = {"type": "object", "additionalProperties": True}
ALARM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "state": {"type": "string", "enum": ["ok", "active", "acknowledged", "cleared"]},
        "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
        "since": {"type": "number", "nullable": True},
        "value": {"nullable": True},
        "when": {"type": "string"},
        "user": {"type": "string", "nullable": True},
        "comment": {"type": "string", "nullable": True},
    },
}
NAME = Field("name", "str", required=True, max_length=64)
RULES = {
    "type": "object",
    "properties": {"rules": {"type": "array", "items": OBJ}, "source": {"type": "string", "enum": ["config", "saved"]}},
}


def routes(call: Callable) -> list[Route]:
    """The routes, given the gateway's `call(service, cmd, **args)` (acting for the logged-in user)."""

    def alarms(args):
        return call("alarms", "alarms")

    def ack(args):
        return call("alarms", "ack", name=args["name"], comment=args.get("comment") or "")

    def metrics(args):
        return call("alarms", "metrics")

    def history(args):
        return call(
            "recorder", "alarm_history", **{k: args[k] for k in ("name", "limit", "before") if args.get(k) is not None}
        )

    def rules_get(args):
        return call("alarms", "rules_get")

    def rules_set(args):
        return call("alarms", "rules_set", rules=args["rules"])

    return [
        Route(
            "GET",
            "/api/alarms",
            alarms,
            "every alarm with its state, raised ones first",
            role="viewer",
            tag="alarms",
            response={"type": "array", "items": ALARM},
        ),
        Route(
            "POST",
            "/api/alarms/<name>/ack",
            ack,
            "acknowledge an active alarm, with a comment",
            role="operator",
            tag="alarms",
            path_params=(NAME,),
            body=(Field("comment", "str", max_length=500),),
            response=ALARM,
        ),
        Route(
            "GET",
            "/api/alarms/metrics",
            metrics,
            "the metrics rules may watch, with their current values",
            role="viewer",
            tag="alarms",
            response=OBJ,
        ),
        Route(
            "GET",
            "/api/alarms/history",
            history,
            "alarm state changes, newest first",
            role="viewer",
            tag="alarms",
            query=(
                Field("name", "str", max_length=64),
                Field("limit", "int", min=1, max=5000, default=100),
                Field("before", "int", min=0, description="page back: an id of the last page"),
            ),
            response={"type": "array", "items": OBJ},
        ),
        Route(
            "GET",
            "/api/alarms/rules",
            rules_get,
            "the alarm rules as [[alarms]] tables",
            role="admin",
            tag="alarms",
            response=RULES,
        ),
        Route(
            "PUT",
            "/api/alarms/rules",
            rules_set,
            "replace every alarm rule (all checked; nothing changes on error)",
            role="admin",
            tag="alarms",
            body=(Field("rules", "array", required=True),),
            body_required=True,
            response=RULES,
        ),
    ]
