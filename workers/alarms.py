"""The alarm process: `python -m workers.alarms` (run by supervisord).

It watches what the system already publishes — heartbeats (`soh.#`), the survey
(`state.sequencer`), contact checks (`data.+.rs_check`) — plus the passes the recorder holds once a pass is
complete, evaluates the
rules of `[[alarms]]` (ohmpi.alarms) every `heartbeat_s` (at most 1 s), and publishes each
change of state on `alarm.<name>.<state>` (active, acknowledged, cleared) and the whole list on
`state.alarms`. Each change is first committed to a durable outbox (`alarms-outbox.db`, key
`alarm:<name>:<seq>`) that delivers it to the recorder's `alarm_put` with acknowledgement: the
history survives a recorder that is down or restarting. The recorder keeps the history and the
latest state of each alarm; a restarted alarm process reads them back before judging anything,
so an alarm already raised is not raised twice.

Actions on raising: the event and the page always; `mqtt` (a flag in the event, for the MQTT
bridge); `pause_survey` / `stop_survey` (the sequencer's commands); `command` (an argument
list run without a shell, with a timeout, its output logged). Actions run on their own
thread: a slow command never delays the evaluation.

Rules come from the config file, or from `$OHMPI_VAR/alarm-rules.json` once an admin set them
with `rules_set` (validated as a whole, replaced atomically, audited). A bad rule in the config
file is one line naming the field and exit status 2 (supervisord FATAL).
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time

from bus.commands import current_caller
from bus.config import ConfigError, load_file
from bus.errors import BadRequest, BusError, Unavailable
from bus.files import atomic_write
from bus.node import Node
from bus.outbox import Outbox
from bus.rpc import Client
from ohmpi.alarms import AckError, Alarm, RuleError, Transition, catalogue, parse_rules
from ohmpi.alarms.machine import plain_value
from ohmpi.alarms.metrics import CHANGE_METRICS
from ohmpi.alarms.values import pass_values, rhoa_change_pct, rs_check_values, soh_values
from ohmpi.alarms.watch import Liveness, SurveyWatch
from ohmpi.durable import set_aside
from ohmpi.store.alarms import KIND, check_item

from .common import follow_recorder, log_soon, var_path, worker_main

RULES_FILE = "alarm-rules.json"
RESTORE_WAIT_S = 15.0  # judge nothing until the recorder gave the saved states back, or this long
PASS_WAIT_S = 20.0  # a completed pass is judged once the recorder holds it all, or after this long
PAGE = 1000
MAX_OUTPUT = 4000  # characters of a command's output kept in the log
MAX_COMMENT = 500
STATE_EVERY_S = 5.0
CACHE_PASSES = 8  # (survey, pass) row sets kept for baselines
MAX_METRICS = 20_000  # distinct metric names kept (a storm of made-up processes cannot grow us further)


def config_rules() -> list:
    """The rules of the config file's `[[alarms]]` tables; ConfigError naming the field."""
    tables = load_file().get("alarms", [])
    try:
        return parse_rules(tables)
    except RuleError as exc:
        raise ConfigError(str(exc)) from None


class Lane:
    """One daemon thread running jobs in order (actions; pass evaluation)."""

    def __init__(self, name: str, log):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.log = log
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def put(self, fn, *args) -> None:
        self.jobs.put((fn, args))

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args = job
            try:
                fn(*args)
            except Exception as exc:
                self.log("error", f"{getattr(fn, '__name__', fn)} failed: {type(exc).__name__}: {exc}")


class Alarms:
    def __init__(self, node: Node, rules: list):
        self.node = node
        self.lock = threading.RLock()
        self.rules_path = var_path(RULES_FILE)
        self.source = "config"
        saved = self._load_saved()
        if saved is not None:
            rules, self.source = saved, "saved"
        self.alarms: dict[str, Alarm] = {r.name: Alarm(r) for r in rules}
        now = time.monotonic()
        self.started = now
        self.values: dict[str, object] = {}  # metric → latest value
        self.rule_values: dict[str, object] = {}  # change rules: rule name → value of the last pass
        self.live = Liveness(node.cfg.heartbeat_s, now)
        self.survey = SurveyWatch()
        self.passes: list[list] = []  # [survey_id, pass_index, expected, first_seen]
        self.rows_cache: dict[tuple, list] = {}
        self.restored = False
        self.last_state_at = 0.0
        self.client = Client(node.address, cfg=node.cfg, name="alarms-cli", timeout=3.0, retries=1)
        self.acting = Client(node.address, cfg=node.cfg, name="alarms-act", timeout=3.0, retries=1)
        self.actions = Lane("alarm-actions", node.log)
        self.judge = Lane("alarm-passes", node.log)
        self.outbox = Outbox(
            var_path("alarms-outbox.db"),
            "recorder",
            "alarm_put",
            client_factory=lambda: Client(node.address, cfg=node.cfg, name="alarms-out"),
            stats=node.stats,
            check=check_item,
            log=node.log,
        )
        self.last_seq = 0
        node.command(self.list_alarms, name="alarms", role="viewer")
        node.command(self.metrics, role="viewer")
        node.command(self.ack, role="operator")
        node.command(self.rules_get, role="admin")
        node.command(self.rules_set, role="admin")
        node.status_providers.append(self._status)
        node.soh_providers.append(self._soh)
        node.stop_hooks.append(self.close)

    # ---- rules ------------------------------------------------------------------------------
    def _load_saved(self) -> list | None:
        try:
            tables = json.loads(self.rules_path.read_bytes())
            return parse_rules(tables)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # RuleError is a ValueError
            aside = set_aside(self.rules_path)
            log_soon(
                self.node,
                "error",
                f"saved alarm rules {self.rules_path.name} unusable ({exc}); set aside "
                f"as {aside.name}, using the config file's rules",
            )
            return None

    def rules_get(self) -> dict:
        """The alarm rules as `[[alarms]]` tables, and where they come from (config or saved)."""
        with self.lock:
            return {"rules": [a.rule.to_table() for a in self.alarms.values()], "source": self.source}

    def rules_set(self, rules: list) -> dict:
        """Replace every rule (validated as a whole: one bad field and nothing changes). Alarms of the
        same name keep their state; a raised alarm whose rule is gone clears."""
        try:
            parsed = parse_rules(rules)
        except RuleError as exc:
            raise BadRequest(f"rules refused: {exc}", arg=exc.field, reason=exc.reason) from None
        tables = [r.to_table() for r in parsed]
        try:
            atomic_write(self.rules_path, json.dumps(tables, indent=1))
        except OSError as exc:
            raise Unavailable(f"rules not saved: {exc.strerror or exc}; nothing changed", reason="storage") from None
        wall = time.time()
        with self.lock:
            old = self.alarms
            self.alarms = {}
            for rule in parsed:
                alarm = old.get(rule.name)
                if alarm is not None:
                    alarm.rule = rule
                    alarm.raise_from = alarm.clear_from = None
                self.alarms[rule.name] = alarm or Alarm(rule)
            gone = [a.retire(wall, "rule removed") for name, a in old.items() if name not in self.alarms]
            self.source = "saved"
        for transition in filter(None, gone):
            self._announce(transition)
        self.node.audit(
            "alarm_rules_set", rules=[r.name for r in parsed], removed=[n for n in old if n not in self.alarms]
        )
        self.node.log("info", f"alarm rules replaced: {len(parsed)} rule(s)")
        self.publish_state(force=True)
        return self.rules_get()

    # ---- commands ---------------------------------------------------------------------------
    def list_alarms(self) -> list:
        """Every alarm: {name, state, severity, since, value, when, for_s, pending_s, user, comment},
        raised ones first, then by severity."""
        now = time.monotonic()
        rank = {"critical": 0, "warning": 1, "info": 2}
        with self.lock:
            rows = [a.summary(now) for a in self.alarms.values()]
        return sorted(
            rows, key=lambda r: (r["state"] not in ("active", "acknowledged"), rank[r["severity"]], r["name"])
        )

    def ack(self, name: str, comment: str = "") -> dict:
        """Acknowledge an active alarm, with a comment (who and when are kept in the history)."""
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise BadRequest(
                f"comment must be a text of at most {MAX_COMMENT} characters", arg="comment", reason="too long"
            )
        caller = current_caller.get()
        user = caller.user if caller else "?"
        with self.lock:
            alarm = self.alarms.get(name)
            if alarm is None:
                raise BadRequest(
                    f"no alarm named {name[:80]!r}", arg="name", reason="unknown alarm", known=sorted(self.alarms)
                )
            try:
                transition = alarm.acknowledge(user, comment, time.time())
            except AckError as exc:
                raise BadRequest(str(exc), arg="name", reason=f"alarm is {alarm.state}") from None
        self._announce(transition)
        self.node.audit("alarm_ack", alarm=name, comment=comment)
        return alarm.summary(time.monotonic())

    def metrics(self) -> dict:
        """The metric catalogue, and the current value of every metric seen so far."""
        now = time.monotonic()
        with self.lock:
            values = {k: plain_value(v) for k, v in sorted(self._values(now).items())}
            for name in sorted(self.live.last):
                values[f"process.{name}.dead_s"] = self.live.dead_s(name, now)
            changes = {name: plain_value(v) for name, v in self.rule_values.items()}
        return {"catalogue": catalogue(), "values": values, "change_by_rule": changes}

    # ---- what we watch ------------------------------------------------------------------------
    def on_soh(self, msg) -> None:
        process = msg.topic.split(".", 1)[1] if "." in msg.topic else ""
        now = time.monotonic()
        age = max(0.0, time.time() - msg.ts) if msg.replayed else 0.0  # a cached beat is as old as it is
        with self.lock:
            self.live.beat(process, now - age)
            for metric, value in soh_values(process, msg.body).items():
                if metric in self.values or len(self.values) < MAX_METRICS:  # bounded: made-up names
                    self.values[metric] = value

    def on_survey(self, msg) -> None:
        now = time.monotonic()
        with self.lock:
            completed = self.survey.update(msg.body, now)
            for survey_id, pass_index, expected in completed:
                self.passes.append([survey_id, pass_index, expected, now])
        if completed:
            self.judge.put(self.judge_passes)

    def on_rs_check(self, msg) -> None:
        body = msg.body if isinstance(msg.body, dict) else {}
        with self.lock:
            self.values.update(rs_check_values(body))

    def _values(self, now: float) -> dict:
        values = dict(self.values)
        values.update(self.survey.values(now))
        try:
            disk = os.statvfs(var_path("."))
            values["disk.free_mb"] = round(disk.f_bavail * disk.f_frsize / 2**20, 3)
        except OSError:
            values["disk.free_mb"] = None
        return values

    def value_for(self, rule, values: dict, now: float):
        if rule.metric in CHANGE_METRICS:
            return self.rule_values.get(rule.name)
        if rule.metric.startswith("process.") and rule.metric.endswith(".dead_s"):
            return self.live.dead_s(rule.metric[len("process.") : -len(".dead_s")], now)
        return values.get(rule.metric)

    # ---- passes -----------------------------------------------------------------------------
    def _rows(self, survey_id: str, pass_index: int, cache: bool = True) -> list:
        key = (survey_id, pass_index)
        if cache and key in self.rows_cache:
            return self.rows_cache[key]
        rows, offset = [], 0
        while offset is not None:
            page = self.client.call(
                "recorder", "data", survey_id=survey_id, pass_index=pass_index, offset=offset, limit=PAGE
            )
            rows.extend(
                {k: r.get(k) for k in ("a", "b", "m", "n", "rhoa_ohmm", "r_ohm", "flags")} for r in page["rows"]
            )
            offset = page.get("next_offset")
        self.rows_cache[key] = rows
        while len(self.rows_cache) > CACHE_PASSES:
            self.rows_cache.pop(next(iter(self.rows_cache)))
        return rows

    def _previous(self, survey_id: str, pass_index: int) -> tuple | None:
        """The pass before this one: of the same survey, else the last pass of the survey before."""
        if pass_index > 0:
            return survey_id, pass_index - 1
        surveys = self.client.call("recorder", "surveys")
        ids = [s["survey_id"] for s in surveys]
        if survey_id not in ids:
            return None
        for older in surveys[ids.index(survey_id) + 1 :]:  # newest first
            if older.get("measurements"):
                return older["survey_id"], max(0, int(older.get("passes") or 1) - 1)
        return None

    def judge_passes(self) -> None:
        """Compute the pass metrics of every completed pass the recorder now holds whole (or after
        PASS_WAIT_S with what it holds); runs on its own thread."""
        while True:
            with self.lock:
                if not self.passes:
                    return
                survey_id, pass_index, expected, seen = self.passes[0]
            try:
                total = self.client.call("recorder", "data", survey_id=survey_id, pass_index=pass_index, limit=1)[
                    "total"
                ]
                if total < expected and time.monotonic() - seen < PASS_WAIT_S:
                    time.sleep(0.5)
                    continue
                rows = self._rows(survey_id, pass_index, cache=False)
                values = pass_values(rows)
                changes = {}
                for rule in [a.rule for a in list(self.alarms.values()) if a.rule.metric in CHANGE_METRICS]:
                    base = self._previous(survey_id, pass_index) if rule.baseline == "previous" else (rule.baseline, 0)
                    baseline = self._rows(*base) if base is not None and base != (survey_id, pass_index) else []
                    changes[rule.name] = rhoa_change_pct(rows, baseline, rule.min_quadrupoles)
            except BusError as exc:
                self.node.log("warning", f"pass {pass_index} of {survey_id} not judged yet: {exc}")
                time.sleep(1.0)
                with self.lock:
                    if time.monotonic() - seen < 10 * PASS_WAIT_S:
                        continue
                    self.passes.pop(0)
                continue
            with self.lock:
                self.values.update(values)
                self.rule_values.update(changes)
                self.passes.pop(0)
            self.node.log(
                "info",
                f"pass {pass_index} of {survey_id} judged: {len(rows)} quadrupoles",
                **{k.replace(".", "_"): v for k, v in values.items()},
                change=changes or None,
            )

    # ---- evaluation -------------------------------------------------------------------------
    def restore(self) -> None:
        """Read the saved states back from the recorder, then the changes still in our outbox on top
        (runs on the pass thread at start)."""
        deadline = time.monotonic() + RESTORE_WAIT_S
        while time.monotonic() < deadline:
            try:
                saved = self.client.call("recorder", "alarm_states", timeout=1.0, retries=0)
                break
            except BusError:
                time.sleep(0.5)
        else:
            self.node.log(
                "warning",
                f"the recorder did not give the alarm states back within {RESTORE_WAIT_S:g} s: "
                "starting with every alarm ok",
            )
            saved = []
        # changes the recorder has not received yet (it was down) are newer than what it gave back
        unsent = [body for _, body in self.outbox.undelivered(KIND) if isinstance(body, dict)]
        if unsent:
            self.node.log("info", f"{len(unsent)} alarm changes not yet in the recorder applied on top of its states")
        with self.lock:
            for row in [*saved, *unsent]:
                alarm = self.alarms.get(row.get("name"))
                if alarm is not None and row.get("state") in ("active", "acknowledged", "cleared"):
                    alarm.state, alarm.since, alarm.value = (
                        row["state"],
                        row.get("since") or row.get("ts"),
                        row.get("value"),
                    )
                    if row["state"] == "acknowledged":
                        alarm.user, alarm.comment = row.get("user"), row.get("comment")
            self.restored = True
        self.publish_state(force=True)

    def evaluate(self) -> None:
        if not self.restored:
            return
        now, wall = time.monotonic(), time.time()
        transitions: list[Transition] = []
        with self.lock:
            values = self._values(now)
            for alarm in self.alarms.values():
                transition = alarm.update(self.value_for(alarm.rule, values, now), now, wall)
                if transition is not None:
                    transitions.append(transition)
        for transition in transitions:
            self._announce(transition)
        self.publish_state(force=bool(transitions))

    def _key(self, name: str) -> str:
        """A key no other change has: nanoseconds of the wall clock, always increasing here."""
        with self.lock:
            self.last_seq = max(self.last_seq + 1, time.time_ns())
            return f"alarm:{name}:{self.last_seq}"

    def _announce(self, t: Transition) -> None:
        """Commit a change of state to the outbox (the history), publish it, log it, and run the
        rule's actions when it is raised."""
        event = t.event()
        try:
            self.outbox.put(self._key(t.name), KIND, event)
        except (ValueError, OSError, sqlite3.Error) as exc:  # a full disk; a change our own check refuses
            self.node.log("error", f"alarm {t.name} {t.state}: not kept for the history: {exc}", alarm=t.name)
        self.node.publish(f"alarm.{t.name}.{t.state}", event)
        level = (
            {"critical": "critical", "warning": "warning"}.get(t.severity, "info") if t.state == "active" else "info"
        )
        who = f" by {t.user}" if t.user else ""
        self.node.log(
            level,
            f"alarm {t.name} {t.state}{who}: {t.when} (value {plain_value(t.value)})",
            alarm=t.name,
            state=t.state,
            severity=t.severity,
        )
        if t.state == "active":
            rule = self.alarms[t.name].rule if t.name in self.alarms else None
            if rule is not None:
                for action in rule.actions:
                    if action in ("pause_survey", "stop_survey", "command"):
                        self.actions.put(self._act, action, rule, t)

    def _act(self, action: str, rule, t: Transition) -> None:
        if action in ("pause_survey", "stop_survey"):
            cmd = action.split("_")[0]
            try:
                result = self.acting.call("sequencer", cmd)
                self.node.log(
                    "warning",
                    f"alarm {t.name}: survey {result.get('survey_id')} {cmd} ({result.get('state')})",
                    alarm=t.name,
                )
                self.node.audit(f"alarm_{cmd}_survey", alarm=t.name, survey_id=result.get("survey_id"))
            except BadRequest as exc:
                self.node.log("info", f"alarm {t.name}: {cmd} not needed: {exc.message}", alarm=t.name)
            except BusError as exc:
                self.node.log("error", f"alarm {t.name}: could not {cmd} the survey: {exc}", alarm=t.name)
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ALARM_NAME": t.name,
            "ALARM_STATE": t.state,
            "ALARM_SEVERITY": t.severity,
            "ALARM_VALUE": str(plain_value(t.value)),
            "ALARM_WHEN": t.when,
        }
        try:
            done = subprocess.run(
                list(rule.command),
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=rule.command_timeout_s,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            output = (exc.stdout or b"") + (exc.stderr or b"")
            self.node.log(
                "error",
                f"alarm {t.name}: command {rule.command[0]} killed after {rule.command_timeout_s:g} s",
                alarm=t.name,
                output=output.decode("utf-8", "replace")[-MAX_OUTPUT:],
            )
            return
        except OSError as exc:
            self.node.log("error", f"alarm {t.name}: command {rule.command[0]} could not start: {exc}", alarm=t.name)
            return
        output = (done.stdout + done.stderr).decode("utf-8", "replace")[-MAX_OUTPUT:]
        self.node.log(
            "info" if done.returncode == 0 else "error",
            f"alarm {t.name}: command {rule.command[0]} exited {done.returncode}",
            alarm=t.name,
            returncode=done.returncode,
            output=output,
        )

    # ---- state ------------------------------------------------------------------------------
    def publish_state(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_state_at < STATE_EVERY_S:
            return
        self.last_state_at = now
        alarms = self.list_alarms()
        self.node.publish(
            "state.alarms", {"alarms": alarms, "raised": sum(a["state"] in ("active", "acknowledged") for a in alarms)}
        )

    def _soh(self) -> dict:
        with self.lock:
            raised = [a.rule.name for a in self.alarms.values() if a.raised]
            return {"rules": len(self.alarms), "raised": len(raised), "passes_pending": len(self.passes)}

    def _status(self) -> dict:
        return {
            **self._soh(),
            "restored": self.restored,
            "source": self.source,
            "outbox_pending": self.outbox.pending(),
            "outbox_refused": self.outbox.refused_count(),
            "outbox_error": self.outbox.last_error,
        }

    def close(self) -> None:
        self.actions.jobs.put(None)
        self.judge.jobs.put(None)
        self.client.close()
        self.acting.close()
        self.outbox.close()


def run() -> None:
    rules = config_rules()  # a bad rule ends here: one line naming the field, exit status 2
    node = Node("alarms")
    alarms = Alarms(node, rules)
    node.subscribe("soh.#", alarms.on_soh, snapshot=True)
    node.subscribe("state.sequencer", alarms.on_survey, snapshot=True)
    node.subscribe("data.+.rs_check", alarms.on_rs_check)
    alarms.outbox.start()
    follow_recorder(node, alarms.outbox)
    alarms.judge.put(alarms.restore)
    node.every(min(1.0, node.cfg.heartbeat_s), alarms.evaluate)
    node.every(STATE_EVERY_S, alarms.publish_state)
    node.run()


def main() -> int:
    return worker_main("alarms", run)


if __name__ == "__main__":
    sys.exit(main())
