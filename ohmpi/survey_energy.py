"""What the recent surveys cost the battery, summed from each measurement's cost, kept across restarts.

The controller adds every survey measurement's `cost` (ohmpi.measurement_cost) under its survey id.
Only the last few surveys are kept (bounded), in a small JSON file written atomically when a new
survey begins, at most once a minute otherwise, and when the instrument closes. A survey counts as
finished once the next one has begun; its energy (metered injection plus the instrument's own load
over its duration: ohmpi.battery.survey_wh) is what `surveys_left` divides by. Before any survey
finished, the running one's energy per quadrupole times its length, when the length is known.
"""

from __future__ import annotations

import math
import threading
import time

from ohmpi import battery, durable

KEEP = 4
FLUSH_S = 60.0
FIELDS = ("energy_j", "duration_s", "quadrupoles", "unmetered")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _totals(data) -> bool:
    """A saved file holds [[survey id, totals], ...]."""
    return isinstance(data, list) and all(
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], dict)
        and all(_number(item[1].get(k)) for k in FIELDS)
        and (item[1].get("length") is None or _number(item[1]["length"]))
        for item in data
    )


class SurveyEnergy:
    def __init__(self, path=None, *, flush_s: float = FLUSH_S, clock=time.monotonic):
        self.saved = durable.SavedJson(path, flush_s=flush_s, clock=clock)
        self.surveys: dict[str, dict] = dict((self.saved.load(_totals) or [])[-KEEP:])  # oldest first
        self._lock = threading.Lock()  # measurements add while the state of health reads

    @property
    def set_aside(self) -> str | None:
        """Where an unreadable file went (counting restarted), or None."""
        return self.saved.set_aside

    def add(self, survey_id: str | None, cost: dict | None, length: int | None = None) -> None:
        """One measurement of survey `survey_id` cost `cost`; `length`: the survey's quadrupoles, if known.
        Never raises: the battery estimate never stands in the way of measuring."""
        if not isinstance(survey_id, str) or not isinstance(cost, dict):
            return
        with self._lock:
            new = survey_id not in self.surveys
            entry = self.surveys.pop(survey_id, None) or {k: 0 for k in FIELDS}
            self.surveys[survey_id] = entry  # the latest survey measured is last
            if _number(cost.get("duration_s")):
                entry["duration_s"] += cost["duration_s"]
            if _number(cost.get("energy_j")):
                entry["energy_j"] += cost["energy_j"]
            else:
                entry["unmetered"] += 1
            entry["quadrupoles"] += 1
            if isinstance(length, int) and not isinstance(length, bool) and length > 0:
                entry["length"] = length
            while len(self.surveys) > KEEP:
                self.surveys.pop(next(iter(self.surveys)))
            self.saved.dirty = True
            snapshot = self._snapshot()
        self.saved.flush_if_due(snapshot, now=new)  # a survey begins: the one before is finished, write it

    def _snapshot(self) -> list:
        return [[k, dict(v)] for k, v in self.surveys.items()]

    def flush(self) -> None:
        """Write the totals now (atomically) if they changed."""
        with self._lock:
            snapshot = self._snapshot()
        self.saved.flush(snapshot)

    def per_survey(self, base_load_W: float) -> tuple[float | None, str]:
        """(Wh one survey costs, what that is based on); None when nothing is known yet."""
        with self._lock:
            surveys = {k: dict(v) for k, v in self.surveys.items()}
        if not surveys:
            return None, "no survey measured yet"

        def wh(entry: dict) -> float:
            return battery.survey_wh(entry["energy_j"], entry["duration_s"], base_load_W)

        def note(entry: dict) -> str:
            return ", injection not metered" if entry["unmetered"] else ""

        ids = list(surveys)
        running = surveys[ids[-1]]
        if len(ids) > 1:
            last = surveys[ids[-2]]
            if running["quadrupoles"] > last["quadrupoles"]:  # the last one was cut short: the running one is longer
                return wh(running), f"survey {ids[-1]} so far ({running['quadrupoles']} quadrupoles{note(running)})"
            return wh(last), f"last survey {ids[-2]} ({last['quadrupoles']} quadrupoles{note(last)})"
        length = running.get("length")
        if length:
            per = wh(running) / running["quadrupoles"]
            return per * max(length, running["quadrupoles"]), (
                f"running survey {ids[-1]}: {1000 * per:.2f} mWh per quadrupole x {length}{note(running)}"
            )
        return None, f"no survey finished yet (running {ids[-1]}: length unknown)"
