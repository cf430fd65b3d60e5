"""When an inversion may use the CPU: not while the instrument measures (`[inverter] during_survey`).

Even at nice 19 and SCHED_IDLE an inversion slows measuring on a machine whose vCPUs share a core
(caches, the core's other hyperthread), so by default it is stopped while the instrument measures
and resumed in the gaps (the instrument idle, a survey paused, held or waiting for its next pass).
The gate is told the time by its caller (monotonic seconds) and follows:

* the sequencer's state (`state.sequencer`): "running" means measuring;
* signs of the sequencer's life (its state and heartbeat): unseen for three heartbeats (the hub or
  the sequencer down) the gate stays shut — it errs on the side of pausing;
* the controller measuring on its own (a manual measure, a contact check): its heartbeat's
  `activity`/`injecting` and each measurement it makes keep the gate shut for three heartbeats.
  A controller not heard from measures nothing, so its silence alone does not shut the gate."""

from __future__ import annotations

MODES = ("pause", "run")
MISSED_BEATS = 3  # as the alarm worker: three heartbeats unseen is down (docs/protocol.md §6)
SURVEY_RUNNING = "survey running"
UNSEEN = "survey state unknown (sequencer or hub not heard from)"
MEASURING = "measuring"


class MeasuringGate:
    """`reason(now)`: why an inversion must wait now (a short phrase), or None when it may run."""

    def __init__(self, mode: str, heartbeat_s: float):
        if mode not in MODES:
            raise ValueError(f"during_survey must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.window = MISSED_BEATS * heartbeat_s
        self.survey_state: str | None = None
        self.sequencer_seen: float | None = None
        self.busy_until = float("-inf")

    def sequencer(self, summary, now: float) -> None:
        """A `state.sequencer` summary."""
        if isinstance(summary, dict) and isinstance(summary.get("state"), str):
            self.survey_state = summary["state"]
            self.sequencer_seen = now

    def sequencer_alive(self, now: float) -> None:
        """The sequencer's heartbeat."""
        self.sequencer_seen = now

    def controller(self, soh, now: float) -> None:
        """The controller's heartbeat: busy while it has an activity or injects."""
        if isinstance(soh, dict) and (soh.get("activity") or soh.get("injecting")):
            self.measured(now)

    def measured(self, now: float) -> None:
        """The controller just measured (a measurement or a contact check event)."""
        self.busy_until = max(self.busy_until, now + self.window)

    def reason(self, now: float) -> str | None:
        if self.mode == "run":
            return None
        if self.sequencer_seen is None or now - self.sequencer_seen > self.window:
            return UNSEEN
        if self.survey_state == "running":
            return SURVEY_RUNNING
        if now < self.busy_until:
            return MEASURING
        return None
