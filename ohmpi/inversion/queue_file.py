"""The inverter's queue on disk (`$OHMPI_VAR/inverter-queue.json`): queued and running inversions
outlive a restart of the inverter (kill -9, power cut, supervisorctl restart).

One small JSON object, replaced atomically at every change: `next_id` (job ids keep increasing
across restarts) and `jobs`, the running one first. A file that cannot be read is set aside
(`.corrupt-<time>`, never deleted) and the queue starts empty: never a crash.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ohmpi.durable import set_aside, write_atomic

NAME = "inverter-queue.json"
KEPT = ("job_id", "survey_id", "pass_index", "baseline", "lambda", "auto", "by", "state", "restarts")
MAX_JOBS = 1001  # max_queue is at most 1000, plus the running one
MAX_RESTARTS = 3  # a job running at that many restarts is refused: it may be what kills the process


def _pass(value, nullable: bool) -> bool:
    if value is None:
        return nullable
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000


def _check_job(job) -> dict:
    """One saved job, checked field by field; ValueError names the first bad one."""
    if not isinstance(job, dict):
        raise ValueError("a job is not an object")
    checks = {
        "job_id": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "survey_id": lambda v: isinstance(v, str) and 0 < len(v) <= 128,
        "pass_index": lambda v: _pass(v, False),
        "baseline": lambda v: _pass(v, True),
        "lambda": lambda v: (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= 1e6
        ),
        "auto": lambda v: isinstance(v, bool),
        "by": lambda v: v is None or (isinstance(v, str) and len(v) <= 200),
        "state": lambda v: v in ("queued", "running"),
        "restarts": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000,
    }
    for key, ok in checks.items():
        if key not in job or not ok(job[key]):
            raise ValueError(f"job field {key!r} missing or bad: {str(job.get(key))[:40]!r}")
    return {key: job[key] for key in KEPT}


class QueueFile:
    def __init__(self, var: Path):
        self.path = Path(var) / NAME

    def load(self) -> tuple[int, list[dict], str | None]:
        """(next job id, saved jobs with the one that was running first, the set-aside line or None)."""
        try:
            saved = json.loads(self.path.read_bytes())
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
            next_id, jobs = saved.get("next_id"), saved.get("jobs")
            if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id < 1:
                raise ValueError(f"next_id must be an integer >= 1, got {str(next_id)[:40]!r}")
            if not isinstance(jobs, list) or len(jobs) > MAX_JOBS:
                raise ValueError(f"jobs must be a list of at most {MAX_JOBS}")
            jobs = [_check_job(job) for job in jobs]
        except FileNotFoundError:
            return 1, [], None
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            aside = set_aside(self.path)
            return 1, [], f"saved queue {NAME} unusable ({exc}); set aside as {aside.name}, the queue starts empty"
        jobs.sort(key=lambda job: (job["state"] != "running", job["job_id"]))
        return max([next_id] + [job["job_id"] + 1 for job in jobs]), jobs, None

    def save(self, next_id: int, jobs: list[dict]) -> None:
        body = {"next_id": next_id, "jobs": [{key: job.get(key, 0) for key in KEPT} for job in jobs]}
        write_atomic(self.path, json.dumps(body, separators=(",", ":")).encode())
