"""Alarm rules over what the system already knows (SOH, processes, surveys, contact checks,
time-lapse change), and the state each alarm is in. Pure domain: no bus, no clock of its own
(callers pass the time), so every transition is testable with made-up times."""

from .machine import AckError, Alarm, Transition
from .metrics import CATALOGUE, catalogue, metric_kind
from .rules import ACTIONS, SEVERITIES, Rule, RuleError, parse_rule, parse_rules

__all__ = [
    "ACTIONS",
    "SEVERITIES",
    "Rule",
    "RuleError",
    "parse_rule",
    "parse_rules",
    "AckError",
    "Alarm",
    "Transition",
    "CATALOGUE",
    "catalogue",
    "metric_kind",
]
