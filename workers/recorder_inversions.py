"""The recorder's part of the inversions: the inverter delivers each result (`inversion_put`,
service only); `inversions`, `inversion` and `inversion_export` (model CSV, VTK) serve them
(ohmpi.store.inversions, ohmpi.inversion.section: numpy only, no pyGIMLi needed here). Results and
files travel zlib-compressed (`pack`/`unpack`): a large section would not fit one bus message."""

from __future__ import annotations

import json
import zlib

from bus.errors import BadRequest
from ohmpi.inversion import section
from ohmpi.store.inversions import MAX_BODY_BYTES, SURVEY_ID_RE, InversionResults

REPLY_BYTES = 900 * 1024  # under the bus's 1 MiB message limit
# Results travel as zlib-compressed JSON (a 128-electrode section is a few MB of numbers).


def pack(value) -> bytes:
    """zlib-compressed JSON, as results and files travel on the bus."""
    return zlib.compress(json.dumps(value, separators=(",", ":"), allow_nan=False).encode(), 6)


def unpack(data: bytes, limit: int = MAX_BODY_BYTES):
    """The JSON value of `pack`, refusing more than `limit` bytes once inflated (no zip bombs)."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise ValueError(f"not zlib data: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError(f"over {limit} bytes once inflated, or truncated")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def _survey_id(value) -> str:
    if not isinstance(value, str) or not SURVEY_ID_RE.match(value):
        raise BadRequest(f"survey_id: not a survey id: {str(value)[:80]!r}", arg="survey_id", reason="not a survey id")
    return value


def _pass(value) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise BadRequest(f"pass_index must be an integer >= 0, got {value!r}", arg="pass_index", reason="out of range")
    return value


def attach(node, store) -> InversionResults:
    results = InversionResults(store)

    def inversion_put(result_z: bytes) -> dict:
        """Store the inverter's result of one pass (zlib-compressed JSON; replacing an older one): its summary."""
        try:
            summary = results.put(unpack(result_z))
        except ValueError as exc:
            raise BadRequest(f"result refused: {exc}", arg="result", reason="invalid result") from None
        node.publish("state.inversions", summary)
        return summary

    def _found(survey_id, pass_index) -> dict:
        result = results.get(_survey_id(survey_id), _pass(pass_index))
        if result is None:
            which = "" if pass_index is None else f" pass {pass_index}"
            raise BadRequest(
                f"no inversion stored for survey {survey_id!r}{which}", arg="survey_id", reason="not inverted"
            )
        return result

    def inversions(survey_id: str) -> list:
        """The inversion results of a survey by pass: chi2, rms_pct, iterations, n_data, n_cells, lambda."""
        return results.summaries(_survey_id(survey_id))

    def inversion(survey_id: str, pass_index: int | None = None) -> dict:
        """One pass's inversion (the newest pass's by default) as `{"result_z"}`, zlib-compressed JSON:
        cells (polygons, x, depth, rho, coverage, change_pct for time-lapse), fit, misfit per quadrupole."""
        data = pack(_found(survey_id, pass_index))
        if len(data) > REPLY_BYTES:
            raise BadRequest(
                f"the result is too large for one reply ({len(data)} bytes compressed): export it",
                arg="survey_id",
                reason="too large",
            )
        return {"result_z": data}

    def inversion_export(survey_id: str, format: str = "model", pass_index: int | None = None) -> dict:
        """An inversion as a model CSV (x_m,depth_m,rho_ohmm[,change_pct]) or a VTK file: {text_z (zlib), filename}."""
        if format not in section.FORMATS:
            raise BadRequest(
                f"format must be one of {', '.join(section.FORMATS)}, got {format!r}",
                arg="format",
                reason="unknown format",
            )
        result = _found(survey_id, pass_index)
        text = section.render(result, format, f"ohmpi {survey_id} pass {result.get('pass_index')}")
        data = zlib.compress(text.encode(), 6)
        if len(data) > REPLY_BYTES:
            raise BadRequest(
                f"the {format} file is too large for one reply ({len(data)} bytes compressed)",
                arg="format",
                reason="too large",
            )
        return {
            "format": format,
            "text_z": data,
            "bytes": len(text.encode()),
            "pass_index": result.get("pass_index"),
            "filename": f"{survey_id}_pass{result.get('pass_index')}{section.EXTENSION[format]}",
        }

    node.command(inversion_put, role="service")
    for fn in (inversions, inversion, inversion_export):
        node.command(fn, role="viewer")
    return results
