"""One alarm's state: ok → active → acknowledged → cleared (→ active again), without flapping.

The condition must hold for `for_s` before the alarm is raised (debounce), and the value must
be back on the good side — past `clear` when the rule has hysteresis — for `clear_for_s`
before it clears. An unknown value (no heartbeat yet, no pass yet) moves nothing. Times are
the caller's: `now` a monotonic clock for the durations, `wall` epoch seconds for `since`."""

from __future__ import annotations

from dataclasses import dataclass, field

from .rules import Rule

STATES = ("ok", "active", "acknowledged", "cleared")
RAISED = ("active", "acknowledged")


class AckError(ValueError):
    """Acknowledging an alarm that is not active."""


@dataclass(frozen=True)
class Transition:
    """A change of state: what is published as `alarm.<name>.<state>` and kept in the history."""

    name: str
    state: str
    previous: str
    severity: str
    value: object
    since: float
    when: str
    actions: tuple[str, ...] = ()
    user: str | None = None
    comment: str | None = None
    details: dict = field(default_factory=dict)

    def event(self) -> dict:
        return {
            "name": self.name,
            "state": self.state,
            "previous": self.previous,
            "severity": self.severity,
            "value": plain_value(self.value),
            "since": self.since,
            "when": self.when,
            "actions": list(self.actions),
            "mqtt": "mqtt" in self.actions,
            "user": self.user,
            "comment": self.comment,
            **self.details,
        }


def plain_value(value):
    """A value JSON can carry: an infinite number (an open electrode) becomes the text "inf"."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return value


class Alarm:
    def __init__(
        self,
        rule: Rule,
        state: str = "ok",
        since: float | None = None,
        value=None,
        user: str | None = None,
        comment: str | None = None,
    ):
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        self.rule = rule
        self.state, self.since, self.value = state, since, value
        self.user, self.comment = user, comment
        self.raise_from: float | None = None  # when the condition started holding (while not raised)
        self.clear_from: float | None = None  # when the value came back to the good side (while raised)

    @property
    def raised(self) -> bool:
        return self.state in RAISED

    def update(self, value, now: float, wall: float) -> Transition | None:
        """Feed the metric's current value; the transition it causes, if any."""
        self.value = value
        rule = self.rule
        if not self.raised:
            if not rule.holds(value):
                self.raise_from = None
                return None
            if self.raise_from is None:
                self.raise_from = now
            if now - self.raise_from < rule.for_s:
                return None
            return self._move("active", wall, actions=rule.actions, user=None, comment=None)
        if not rule.clears(value):
            self.clear_from = None
            return None
        if self.clear_from is None:
            self.clear_from = now
        if now - self.clear_from < rule.clear_after_s:
            return None
        return self._move("cleared", wall, user=None, comment=None)

    def acknowledge(self, user: str, comment: str, wall: float) -> Transition:
        """An operator has seen it: active → acknowledged (stays until the condition clears)."""
        if self.state != "active":
            raise AckError(f"alarm {self.rule.name!r} is {self.state}: only an active alarm can be acknowledged")
        return self._move("acknowledged", wall, user=user, comment=comment)

    def retire(self, wall: float, why: str) -> Transition | None:
        """The rule is gone (edited away): a raised alarm clears, saying why."""
        if not self.raised:
            return None
        return self._move("cleared", wall, user=None, comment=why)

    def _move(self, state: str, wall: float, actions: tuple = (), user=None, comment=None) -> Transition:
        previous = self.state
        self.state, self.since = state, wall
        self.raise_from = self.clear_from = None
        if state != "acknowledged":
            self.user, self.comment = (user, comment) if state == "cleared" and comment else (None, None)
        else:
            self.user, self.comment = user, comment
        return Transition(
            self.rule.name,
            state,
            previous,
            self.rule.severity,
            self.value,
            wall,
            self.rule.when,
            actions,
            user,
            comment,
        )

    def summary(self, now: float | None = None) -> dict:
        """What `alarms` lists: {name, state, severity, since, value, …}."""
        pending = None
        if now is not None and self.raise_from is not None and not self.raised:
            pending = round(now - self.raise_from, 3)
        return {
            "name": self.rule.name,
            "state": self.state,
            "severity": self.rule.severity,
            "since": self.since,
            "value": plain_value(self.value),
            "when": self.rule.when,
            "for_s": self.rule.for_s,
            "pending_s": pending,
            "user": self.user,
            "comment": self.comment,
            "actions": list(self.rule.actions),
            "description": self.rule.description,
        }
