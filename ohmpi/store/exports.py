"""A survey as a data file (ohm, protocol, csv, time-lapse matrix), its reciprocal error model
and its quality summary."""

from __future__ import annotations

import io
import math

from ohmpi import errmodel, formats, quality
from ohmpi.formats import timelapse
from ohmpi.geometry import line_positions
from ohmpi.record import FIELDS

from .schema import ELECTRODES

EXPORT_FORMATS = (*formats.FORMATS, "matrix")  # ohm, protocol, csv; matrix: time-lapse R, quadrupole × pass
EXTENSION = {"ohm": ".ohm", "protocol": ".dat", "csv": ".csv", "matrix": "_timelapse.csv"}


class Exports:
    """The Store's exports (uses its `survey`, `rs_checks`, `_select_rows` and `_where`)."""

    def export_info(
        self,
        survey_id: str,
        fmt: str,
        pass_index: int | None = None,
        *,
        error_model: bool = False,
        common: bool = False,
    ) -> dict:
        """{"text", "notes", "measurements", "filename"}: a survey as a data file.

        Every stored measurement once, in sequence order. ohm and protocol leave out the
        measurements without a finite R (an inversion cannot use them), saying so in notes.
        `error_model`: the errors written are those of the survey's reciprocal error model
        (``ohmpi.errmodel``) instead of each datum's own. `common`: only the quadrupoles with a
        finite R in every pass, in sequence order (time-lapse files that line up). Format
        "matrix": R of each quadrupole (rows) in each pass (columns), see ``ohmpi.formats.timelapse``.
        """
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
        survey = self.survey(survey_id) or {}
        notes = []
        if fmt == "matrix":
            text, count = timelapse.matrix_text(self._select_rows(*self._where(survey_id, None)), notes)
            return {"text": text, "notes": notes, "measurements": count, "filename": f"{survey_id}{EXTENSION[fmt]}"}
        where, args = self._where(survey_id, pass_index)
        rows = self._select_rows(where, args)
        if common:
            keep = timelapse.common_quadrupoles(self._select_rows(*self._where(survey_id, None)))
            dropped = len(rows)
            rows = timelapse.in_order(rows, keep)
            if dropped > len(rows):
                notes.append(f"{dropped - len(rows)} measurement(s) not in every pass left out (time-lapse)")
        records = [{f: r[f] for f in FIELDS} for r in rows]
        if error_model:
            model = errmodel.fit(self._select_rows(*self._where(survey_id, None)))
            for record in records:
                if record["r_ohm"] is not None:
                    record["r_std_pct"] = errmodel.relative_error_pct(model, record["r_ohm"])
            notes.append(f"errors from the reciprocal error model {model['model']} ({model['pairs']} pairs)")
        if fmt in ("ohm", "protocol"):
            usable = [r for r in records if r["r_ohm"] is not None and math.isfinite(r["r_ohm"])]
            if len(usable) < len(records):
                notes.append(f"{len(records) - len(usable)} measurement(s) without a finite R left out")
            records = usable
        positions = survey.get("positions") or None
        max_el = max((max(r[e] for e in ELECTRODES) for r in records), default=0)
        if fmt == "ohm":
            if positions is None or len(positions) < max_el:
                n = max(max_el, survey.get("n_electrodes") or 0, 1)
                why = "unknown" if positions is None else f"only {len(positions)} for electrode {max_el}"
                notes.append(f"electrode positions {why}: a line of {n} electrodes 1 m apart was written")
                positions = line_positions(n, 1.0).tolist()
        buf = io.StringIO()
        formats.write(fmt, records, positions, buf)
        suffix = "" if pass_index is None else f"_pass{pass_index}"
        return {
            "text": buf.getvalue(),
            "notes": notes,
            "measurements": len(records),
            "filename": f"{survey_id}{suffix}{EXTENSION[fmt]}",
        }

    def export(self, survey_id: str, fmt: str, pass_index: int | None = None, **options) -> str:
        """A survey as the text of an ohm | protocol | csv | matrix file (see export_info)."""
        return self.export_info(survey_id, fmt, pass_index, **options)["text"]

    def errmodel(self, survey_id: str) -> dict:
        """The reciprocal error model of a survey (ValueError when it has too few pairs)."""
        return errmodel.fit(self._select_rows(*self._where(survey_id, None)))

    def quality(self, survey_id: str, pass_index: int | None = None) -> dict:
        """A survey's data quality at a glance (see ``ohmpi.quality``)."""
        rows = self._select_rows(*self._where(survey_id, pass_index))
        checks = self.rs_checks(survey_id, limit=10_000)
        return quality.summary(rows, checks[-1] if checks else None)
