"""Alarm rules: one `[[alarms]]` table each, checked field by field.

    [[alarms]]
    name = "low_battery"
    when = "soh.controller.supply_V < 11.5"   # <metric> <op> <number or word>
    for_s = 60                                # the condition must hold this long (debounce)
    clear = 12.0                              # hysteresis: cleared once supply_V >= 12.0
    severity = "warning"                      # info | warning | critical
    actions = ["mqtt", "pause_survey"]        # an event and the page always

A bad rule raises RuleError naming the rule and the field; nothing of the set is used then."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from .metrics import CHANGE_METRICS, metric_kind

SEVERITIES = ("info", "warning", "critical")
ACTIONS = ("event", "page", "mqtt", "pause_survey", "stop_survey", "command")
NUMBER_OPS = ("<=", ">=", "==", "!=", "<", ">")
WORD_OPS = ("==", "!=")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
WORD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
SURVEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
WHEN_RE = re.compile(r"^\s*(\S+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")
MAX_RULES = 200
MAX_FOR_S = 7 * 86400.0
MAX_COMMAND_TIMEOUT_S = 600.0
KEYS = (
    "name",
    "when",
    "for_s",
    "clear",
    "clear_for_s",
    "severity",
    "actions",
    "command",
    "command_timeout_s",
    "baseline",
    "min_quadrupoles",
    "description",
)


class RuleError(ValueError):
    """A rule that cannot be used; `field` is e.g. `alarms[1].for_s` or `alarms["low_battery"].when`."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    op: str
    threshold: float | str
    for_s: float = 0.0
    severity: str = "warning"
    actions: tuple[str, ...] = ()
    clear: float | None = None
    clear_for_s: float | None = None  # None: as for_s
    command: tuple[str, ...] = ()
    command_timeout_s: float = 10.0
    baseline: str | None = None
    min_quadrupoles: int = 1
    description: str = ""
    when: str = field(default="", compare=False)

    def holds(self, value) -> bool | None:
        """Is the condition true for `value`? None when the value is unknown."""
        if value is None:
            return None
        if isinstance(self.threshold, str):
            return (str(value) == self.threshold) == (self.op == "==")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            return None
        return _compare(float(value), self.op, self.threshold)

    def clears(self, value) -> bool | None:
        """Is the value back on the good side (past `clear` when hysteresis is set)? None when unknown."""
        holds = self.holds(value)
        if holds is None or self.clear is None:
            return None if holds is None else not holds
        return float(value) >= self.clear if self.op in ("<", "<=") else float(value) <= self.clear

    @property
    def clear_after_s(self) -> float:
        return self.for_s if self.clear_for_s is None else self.clear_for_s

    def to_table(self) -> dict:
        """The rule as its `[[alarms]]` table (what `rules_get` returns and `rules_set` accepts)."""
        out = {
            "name": self.name,
            "when": self.when,
            "for_s": self.for_s,
            "severity": self.severity,
            "actions": list(self.actions),
        }
        for key in ("clear", "clear_for_s", "baseline", "description"):
            if getattr(self, key) not in (None, ""):
                out[key] = getattr(self, key)
        if self.command:
            out["command"] = list(self.command)
            out["command_timeout_s"] = self.command_timeout_s
        if self.metric in CHANGE_METRICS:
            out["min_quadrupoles"] = self.min_quadrupoles
        return out


def _compare(value: float, op: str, limit: float) -> bool:
    return {
        "<": value < limit,
        "<=": value <= limit,
        ">": value > limit,
        ">=": value >= limit,
        "==": value == limit,
        "!=": value != limit,
    }[op]


def _number(where: str, value, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise RuleError(where, f"must be a number in {low:g}..{high:g}, got {value!r}")
    return float(value)


def parse_when(where: str, text) -> tuple[str, str, float | str]:
    """`<metric> <op> <number or word>` → (metric, op, threshold)."""
    if not isinstance(text, str) or len(text) > 300:
        raise RuleError(where, f"must be a text '<metric> <op> <number or word>', got {text!r}")
    match = WHEN_RE.match(text)
    if not match:
        raise RuleError(
            where, f"expected '<metric> <op> <number or word>' with op one of {' '.join(NUMBER_OPS)}, got {text!r}"
        )
    metric, op, raw = match.groups()
    try:
        kind = metric_kind(metric)
    except ValueError as exc:
        raise RuleError(where, str(exc)) from None
    if kind == "word":
        if op not in WORD_OPS or not WORD_RE.match(raw):
            raise RuleError(where, f"{metric} is a word: compare it with == or != to a word, got {op} {raw!r}")
        return metric, op, raw
    try:
        threshold = float(raw)
    except ValueError:
        raise RuleError(where, f"{metric} is a number: the threshold must be a number, got {raw!r}") from None
    if not math.isfinite(threshold):
        raise RuleError(where, f"the threshold must be finite, got {raw!r}")
    return metric, op, threshold


def parse_rule(table, index: int = 0) -> Rule:
    """One `[[alarms]]` table → Rule; RuleError naming the field otherwise."""
    where = f"alarms[{index}]"
    if not isinstance(table, dict):
        raise RuleError(where, f"must be a table, got {type(table).__name__}")
    name = table.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RuleError(
            f"{where}.name",
            f"required: lower-case letters, digits, _ or - (1-64, starting with a letter or digit), got {name!r}",
        )
    where = f"alarms[{name!r}]"
    unknown = sorted(set(table) - set(KEYS), key=str)
    if unknown:
        raise RuleError(f"{where}.{unknown[0]}", f"unknown key; known: {', '.join(KEYS)}")
    if "when" not in table:
        raise RuleError(f"{where}.when", "required: '<metric> <op> <number or word>'")
    metric, op, threshold = parse_when(f"{where}.when", table["when"])
    for_s = _number(f"{where}.for_s", table.get("for_s", 0.0), 0.0, MAX_FOR_S)
    clear_for_s = table.get("clear_for_s")
    if clear_for_s is not None:
        clear_for_s = _number(f"{where}.clear_for_s", clear_for_s, 0.0, MAX_FOR_S)
    severity = table.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    actions = table.get("actions", [])
    if not isinstance(actions, list) or len(actions) > len(ACTIONS):
        raise RuleError(f"{where}.actions", f"must be a list of {', '.join(ACTIONS)}, got {actions!r}")
    for action in actions:
        if action not in ACTIONS:
            raise RuleError(f"{where}.actions", f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    if "pause_survey" in actions and "stop_survey" in actions:
        raise RuleError(f"{where}.actions", "pause_survey and stop_survey exclude each other")
    clear = table.get("clear")
    if clear is not None:
        if isinstance(threshold, str) or op in ("==", "!="):
            raise RuleError(f"{where}.clear", f"hysteresis needs a threshold with < <= > >=, not {op}")
        clear = _number(f"{where}.clear", clear, -1e300, 1e300)
        side = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}[op]
        if not _compare(clear, side, threshold):
            raise RuleError(
                f"{where}.clear", f"must be {side} the threshold {threshold:g} (the good side of '{op}'), got {clear:g}"
            )
    command = table.get("command")
    if "command" in actions:
        if (
            not isinstance(command, list)
            or not command
            or len(command) > 64
            or not all(isinstance(a, str) and a and len(a) <= 4096 and "\0" not in a for a in command)
        ):
            raise RuleError(
                f"{where}.command",
                "the `command` action needs an argument list of non-empty "
                f'texts, e.g. ["/usr/local/bin/sms", "alarm"], got {command!r}',
            )
    elif command is not None:
        raise RuleError(f"{where}.command", 'given without "command" in actions')
    timeout = _number(f"{where}.command_timeout_s", table.get("command_timeout_s", 10.0), 0.1, MAX_COMMAND_TIMEOUT_S)
    baseline, min_quads = table.get("baseline"), table.get("min_quadrupoles")
    if metric in CHANGE_METRICS:
        baseline = "previous" if baseline is None else baseline
        if not isinstance(baseline, str) or not (baseline == "previous" or SURVEY_ID_RE.match(baseline)):
            raise RuleError(f"{where}.baseline", f'must be "previous" or a survey id, got {baseline!r}')
        min_quads = 1 if min_quads is None else min_quads
        if isinstance(min_quads, bool) or not isinstance(min_quads, int) or not 1 <= min_quads <= 1_000_000:
            raise RuleError(f"{where}.min_quadrupoles", f"must be an integer in 1..1000000, got {min_quads!r}")
    else:
        for key in ("baseline", "min_quadrupoles"):
            if table.get(key) is not None:
                raise RuleError(f"{where}.{key}", f"only for {', '.join(CHANGE_METRICS)}, not {metric}")
        min_quads = 1
    description = table.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise RuleError(f"{where}.description", "must be a text of at most 500 characters")
    return Rule(
        name=name,
        metric=metric,
        op=op,
        threshold=threshold,
        for_s=for_s,
        severity=severity,
        actions=tuple(dict.fromkeys(actions)),
        clear=clear,
        clear_for_s=clear_for_s,
        command=tuple(command or ()),
        command_timeout_s=timeout,
        baseline=baseline,
        min_quadrupoles=min_quads,
        description=description,
        when=" ".join(table["when"].split()),
    )


def parse_rules(tables) -> list[Rule]:
    """Every rule of a list of tables; the first bad one raises (names must be unique)."""
    if not isinstance(tables, list):
        raise RuleError("alarms", f"must be a list of tables ([[alarms]]), got {type(tables).__name__}")
    if len(tables) > MAX_RULES:
        raise RuleError("alarms", f"at most {MAX_RULES} rules, got {len(tables)}")
    rules, seen = [], set()
    for index, table in enumerate(tables):
        rule = parse_rule(table, index)
        if rule.name in seen:
            raise RuleError(f"alarms[{index}].name", f"{rule.name!r} is used by another rule")
        seen.add(rule.name)
        rules.append(rule)
    return rules


__all__ = ["Rule", "RuleError", "parse_rule", "parse_rules", "parse_when", "SEVERITIES", "ACTIONS", "asdict"]
