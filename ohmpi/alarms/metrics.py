"""The metric catalogue: the named paths a rule's `when` may watch (`ohmpi alarms metrics`).

A metric is a number or a word. Numbers compare with < <= > >= == !=, words with == and !=.
Families with a placeholder (`soh.<process>.<field>`) accept any name in that place."""

from __future__ import annotations

import re

SEGMENT = r"[a-z0-9][a-z0-9_-]{0,63}"
FIELD = r"[A-Za-z_][A-Za-z0-9_]{0,63}"

# (pattern shown to users — its regex is derived from it —, kind, what it is)
CATALOGUE: tuple[tuple[str, str, str], ...] = (
    (
        "soh.<process>.<field>",
        "number",
        "a numeric field of a process's heartbeat, e.g. soh.controller.supply_V, soh.controller.cpu_temp_C, "
        "soh.recorder.free_disk_bytes",
    ),
    (
        "process.<name>.dead_s",
        "number",
        "seconds since the process's last heartbeat once it missed 3 (0 while alive)",
    ),
    ("disk.free_mb", "number", "free MiB on the disk of $OHMPI_VAR (the database, the outboxes)"),
    (
        "survey.state",
        "word",
        "the survey: idle, running, paused, waiting, finished, stopped or failed",
    ),
    (
        "survey.stalled_s",
        "number",
        "seconds a running survey has measured nothing (0 when not running)",
    ),
    ("survey.failed", "number", "quadrupoles of the current survey that failed"),
    ("survey.flagged_pct", "number", "share of flagged quadrupoles in the last pass"),
    (
        "survey.reciprocal_error_pct",
        "number",
        "median reciprocal error of the last pass (needs reciprocals)",
    ),
    (
        "rs_check.max_kohm",
        "number",
        "highest contact resistance of the latest contact check (an open electrode is infinite)",
    ),
    ("rs_check.open", "number", "open electrodes in the latest contact check"),
    ("rs_check.bad", "number", "electrodes above the check's threshold in the latest contact check"),
    (
        "change.rhoa_pct",
        "number",
        "time-lapse change of apparent resistivity: the largest X such that at least `min_quadrupoles` "
        'quadrupoles changed by X % or more against `baseline` ("previous" pass or a survey id)',
    ),
)

PLACEHOLDERS = {"<process>": SEGMENT, "<name>": SEGMENT, "<field>": FIELD}


def _regex(pattern: str) -> str:
    """The literal parts of a shown pattern escaped, each placeholder the names it stands for."""
    return "".join(PLACEHOLDERS.get(part) or re.escape(part) for part in re.split(r"(<[a-z]+>)", pattern))


_COMPILED = [(re.compile(rf"^{_regex(pattern)}$"), kind) for pattern, kind, _ in CATALOGUE]
CHANGE_METRICS = ("change.rhoa_pct",)


def metric_kind(name: str) -> str:
    """'number' or 'word'; ValueError naming the metric when it is not in the catalogue."""
    for regex, kind in _COMPILED:
        if regex.match(name):
            return kind
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(p for p, *_ in CATALOGUE)}")


def catalogue() -> list[dict]:
    """The catalogue as `ohmpi alarms metrics` lists it."""
    return [{"metric": pattern, "kind": kind, "description": text} for pattern, kind, text in CATALOGUE]
