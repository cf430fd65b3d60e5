"""The whole system under supervisord, with what field life does to it: power cuts, and the
checks that every file survived. Shared by the reliability tests and bench/faults.py, soak.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import psutil

from ohmpi.survey import SurveyState
from tests.procs import wait_until
from tests.system.conftest import PROGRAMS, System


class FieldSystem(System):
    """`System` that can lose power: every process killed at once, then started as `make run` does."""

    def process_groups(self) -> tuple[set[int], set[int]]:
        """(pids, process groups) of supervisord and every program: supervisord starts each program
        in its own process group, so killing supervisord's group alone would leave them running."""
        root = psutil.Process(self.proc.pid)
        procs = [root, *root.children(recursive=True)]
        pids = {p.pid for p in procs}
        groups = set()
        for pid in pids:
            try:
                groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        return pids, groups

    def power_cut(self) -> float:
        """SIGKILL supervisord's group and every program's group, back to back; wait until all are
        gone. Returns the wall time of the cut."""
        pids, groups = self.process_groups()
        cut = time.time()
        for group in sorted(groups, key=lambda g: g != self.proc.pid):  # supervisord first: it restarts nothing
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(30)
        wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                   for p in pids), timeout=30, what="every process gone")
        return cut

    def restart(self, wait: tuple = PROGRAMS) -> float:
        """Start again after a cut (same OHMPI_VAR, stale sockets and pid files left as they were);
        returns the seconds until every program answered."""
        started = time.monotonic()
        self.start(wait)
        return time.monotonic() - started

    def stored_indices(self, survey_id: str) -> list[tuple[int, int]]:
        with sqlite3.connect(self.var / "ohmpi.db") as con:
            return con.execute("SELECT pass_index, seq_index FROM measurements WHERE survey_id = ? "
                               "ORDER BY pass_index, seq_index", (survey_id,)).fetchall()

    def measured(self) -> dict[str, float]:
        """measurement id -> when the controller put it in its outbox (each id once by construction)."""
        with sqlite3.connect(self.var / "controller-outbox.db") as con:
            return dict(con.execute("SELECT key, created FROM outbox WHERE kind = 'measurement'"))


def check_files(var: Path) -> dict:
    """Every SQLite file opens and passes `PRAGMA integrity_check`; the sequencer state loads, the
    controller settings parse. Returns {file: "ok"} or raises AssertionError naming the file."""
    out = {}
    for path in sorted(var.glob("*.db")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            result = [r[0] for r in con.execute("PRAGMA integrity_check")]
        assert result == ["ok"], f"{path.name}: {result}"
        out[path.name] = "ok"
    if (var / "sequencer.json").exists():
        state = SurveyState(var / "sequencer.json")
        assert not state.notes, f"sequencer state: {state.notes}"
        state.close()
        out["sequencer.json"] = "ok"
    if (var / "controller-settings.json").exists():
        json.loads((var / "controller-settings.json").read_text())
        out["controller-settings.json"] = "ok"
    return out
