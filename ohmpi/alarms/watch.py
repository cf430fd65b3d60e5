"""What the alarm worker follows over time: which processes beat, and how the survey moves.

Both are told the time by the caller (monotonic seconds), so tests drive them with made-up
clocks. A pass is *complete* when the sequencer moves past it (next pass, finished, stopped)."""

from __future__ import annotations

MISSED_BEATS = 3  # a process is dead after 3 missed heartbeats (docs/protocol.md §6)
ENDED = ("finished", "stopped", "failed")


class Liveness:
    """`process.<name>.dead_s`: 0 while a process beats, the seconds since its last beat once it
    missed three. A process never seen counts from when we started watching."""

    def __init__(self, heartbeat_s: float, started: float):
        self.heartbeat_s = heartbeat_s
        self.started = started
        self.last: dict[str, float] = {}

    def beat(self, process: str, now: float) -> None:
        if len(self.last) >= 10_000 and process not in self.last:
            return  # bounded: a storm of made-up names
        self.last[process] = now

    def dead_s(self, process: str, now: float) -> float:
        age = now - self.last.get(process, self.started)
        return round(age, 3) if age >= MISSED_BEATS * self.heartbeat_s else 0.0


class SurveyWatch:
    """`survey.state`, `survey.failed`, `survey.stalled_s`, and the passes that just completed."""

    def __init__(self):
        self.state: str | None = None
        self.failed: int | None = None
        self.position: tuple | None = None  # (survey_id, pass_index, done_all) last seen
        self.moved_at: float | None = None
        self.pass_total: int | None = None
        self.judged: tuple | None = None  # the last pass reported complete (never twice)

    def update(self, summary, now: float) -> list[tuple[str, int, int]]:
        """Take a `state.sequencer` summary; the passes it completed: [(survey_id, pass_index, total)]."""
        if not isinstance(summary, dict) or not isinstance(summary.get("state"), str):
            return []
        completed = []
        survey_id, pass_index = summary.get("survey_id"), summary.get("pass_index")
        done_all = summary.get("done_all")
        old = self.position
        if old is not None and old[0] is not None and isinstance(old[1], int):
            moved_on = survey_id != old[0] or (isinstance(pass_index, int) and pass_index > old[1])
            if moved_on and old[2]:  # the old pass ended (something of it was measured)
                completed.append((old[0], old[1], self.pass_total or 0))
            elif summary["state"] in ENDED and self.state not in ENDED and survey_id == old[0]:
                done = summary.get("done")  # a stopped survey's last pass is as long as what it measured
                completed.append((old[0], old[1], done if isinstance(done, int) else self.pass_total or 0))
        completed = [c for c in completed if c[:2] != self.judged]
        if completed:
            self.judged = completed[-1][:2]
        if (survey_id, pass_index, done_all) != old or summary["state"] != self.state or self.moved_at is None:
            self.moved_at = now
        self.position = (survey_id, pass_index, done_all)
        self.state = summary["state"]
        self.failed = summary.get("failed") if isinstance(summary.get("failed"), int) else None
        self.pass_total = summary.get("total") if isinstance(summary.get("total"), int) else None
        return completed

    def values(self, now: float) -> dict:
        if self.state is None:
            return {}
        stalled = round(now - self.moved_at, 3) if self.state == "running" and self.moved_at is not None else 0.0
        return {
            "survey.state": self.state,
            "survey.failed": None if self.failed is None else float(self.failed),
            "survey.stalled_s": stalled,
        }
