"""The inversion routes of the HTTP API (docs/inversion.md): operators ask for an inversion
(the `inverter` worker queues it); viewers follow its jobs, read the results (cells, fit, data
misfit, time-lapse change) and download the section as a model CSV or a VTK file. Handlers
reach the inverter and the recorder through the bus only."""

from __future__ import annotations

import re
import zlib
from typing import Callable

from flask import Response

from .openapi import Field, Route

OBJ = {"type": "object", "additionalProperties": True}
SURVEY_ID = Field("survey_id", "str", required=True, max_length=200)
PASS = Field("pass", "int", min=0, arg="pass_index", description="the pass (0-based; default the newest inverted)")
SUMMARY = {
    "type": "object",
    "properties": {
        k: {}
        for k in (
            "survey_id",
            "pass_index",
            "baseline_pass",
            "created",
            "chi2",
            "rms_pct",
            "iterations",
            "n_data",
            "n_cells",
            "lambda",
        )
    },
}


def routes(call: Callable) -> list[Route]:
    """The routes, given the gateway's `call(service, cmd, **args)` (acting for the logged-in user)."""

    def invert(args):
        request = {k: args[k] for k in ("lam", "pass_index", "baseline") if args.get(k) is not None}
        return call("inverter", "invert", timeout=30.0, survey_id=args["survey_id"], **request)

    def job(args):
        return call("inverter", "job", job_id=args["job_id"])

    def inversions(args):
        return call("recorder", "inversions", survey_id=args["survey_id"])

    def inversion(args):
        request = {"pass_index": args["pass_index"]} if args.get("pass_index") is not None else {}
        reply = call("recorder", "inversion", timeout=15.0, survey_id=args["survey_id"], **request)
        return Response(zlib.decompress(reply["result_z"]), mimetype="application/json")

    def export(args):
        request = {"pass_index": args["pass_index"]} if args.get("pass_index") is not None else {}
        reply = call(
            "recorder", "inversion_export", timeout=15.0, survey_id=args["survey_id"], format=args["format"], **request
        )
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", str(reply.get("filename") or "inversion.txt"))
        return Response(
            zlib.decompress(reply["text_z"]),
            mimetype="text/plain",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return [
        Route(
            "POST",
            "/api/surveys/<survey_id>/invert",
            invert,
            "queue a 2-D inversion of a stored survey (pyGIMLi; "
            "time-lapse against the baseline for a later pass); bad data are refused at once",
            role="operator",
            tag="inversion",
            path_params=(SURVEY_ID,),
            body=(
                Field("lambda", "number", arg="lam", min=1e-6, max=1e6, description="regularisation strength"),
                Field("pass", "int", min=0, arg="pass_index", description="the pass (default the newest)"),
                Field("baseline", "int", min=0, description="time-lapse baseline pass (default the first)"),
            ),
            response=OBJ,
            errors=(409,),
        ),
        Route(
            "GET",
            "/api/inverter/job",
            job,
            "one inversion job: state, phase, progress, summary or error",
            role="viewer",
            tag="inversion",
            query=(Field("job_id", "int", required=True, min=1),),
            response=OBJ,
        ),
        Route(
            "GET",
            "/api/surveys/<survey_id>/inversions",
            inversions,
            "the inversion results of a survey by pass",
            role="viewer",
            tag="inversion",
            path_params=(SURVEY_ID,),
            response={"type": "array", "items": SUMMARY},
        ),
        Route(
            "GET",
            "/api/surveys/<survey_id>/inversion",
            inversion,
            "one pass's inverted section: cells (polygon, "
            "x, depth, rho, coverage, change_pct), chi2, RMS, data misfit per quadrupole",
            role="viewer",
            tag="inversion",
            path_params=(SURVEY_ID,),
            query=(PASS,),
            response=OBJ,
        ),
        Route(
            "GET",
            "/api/surveys/<survey_id>/inversion/export",
            export,
            "download an inverted section: model (CSV x_m,depth_m,rho_ohmm[,change_pct]) or vtk (ParaView)",
            role="viewer",
            ticket=True,
            tag="inversion",
            path_params=(SURVEY_ID,),
            query=(Field("format", "str", enum=("model", "vtk"), default="model"), PASS),
            content="text/plain",
            response={"type": "string"},
        ),
    ]
