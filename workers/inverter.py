"""The inverter process: `python -m workers.inverter` (run by supervisord; optional).

On only when pyGIMLi is installed (`pip install -e '.[inversion]'`): otherwise it says why in one
line and exits 0, which supervisord takes as a clean end (never restarted). It inverts a survey
when one of its passes ends (`state.sequencer`, once the recorder holds the pass) and on request
(`invert`, operator): one inversion at a time, the others queued (at most `max_queue`; the same
pass is never queued twice; queued and running jobs are kept in `$OHMPI_VAR/inverter-queue.json`
and queued again, re-checked, after a restart: ohmpi.inversion.queue_file). A pass after the baseline
(the first pass, or the one asked for) is inverted as time-lapse against it. Each inversion runs
in a child process at the lowest CPU
priority (nice 19, and SCHED_IDLE on Linux), with one thread, and — `during_survey = "pause"`, the
default — stopped (SIGSTOP to its process group) while the instrument measures: a survey running,
a manual measure, or the survey's state unseen (the hub down); resumed (SIGCONT) in the gaps,
such as a repeated survey waiting for its next pass (ohmpi.inversion.gate). A child that crashes
or runs longer than `timeout_s` (time stopped not counted) fails its job, never this process. Progress on
`state.inverter`; results
go to the recorder (`inversion_put`). Bad data (too few usable quadrupoles, all flagged) are
refused at once, naming why.

Config (`[inverter]` in ohmpi.toml, every key optional):
    auto = true          # invert every pass when it ends
    lambda = 20.0        # regularisation strength
    floor_pct = 2.0      # error floor added (in quadrature) to each datum's uncertainty
    nice = 19            # CPU priority of the inversions (0..19)
    threads = 1
    max_queue = 20
    timeout_s = 1800.0
    pass_wait_s = 30.0   # after a pass ends, how long to wait for the recorder to hold all of it
    during_survey = "pause"  # "pause": stopped while measuring; "run": beside it (lowest priority)
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import resource
import sys
import threading
import time
from collections import OrderedDict, deque

from bus.commands import current_caller
from bus.config import ConfigError, check_table, config_table, var_dir
from bus.errors import BadRequest, BusError, Busy
from bus.node import Node
from bus.rpc import Client
from ohmpi.alarms.watch import SurveyWatch
from ohmpi.inversion import InversionRefused, dataset, installed
from ohmpi.inversion.gate import MODES, MeasuringGate
from ohmpi.inversion.queue_file import MAX_RESTARTS, QueueFile
from ohmpi.inversion.suspend import Suspendable, detach

from .common import instrument, log_soon, positions, worker_main
from .recorder_inversions import pack

DEFAULTS = {
    "auto": True,
    "lambda": 20.0,
    "floor_pct": 2.0,
    "nice": 19,
    "threads": 1,
    "max_queue": 20,
    "timeout_s": 1800.0,
    "pass_wait_s": 30.0,
    "during_survey": "pause",
}
TYPES = {
    "auto": bool,
    "lambda": float,
    "floor_pct": float,
    "nice": int,
    "threads": int,
    "max_queue": int,
    "timeout_s": float,
    "pass_wait_s": float,
    "during_survey": str,
}
PAGE = 5000
MAX_LAMBDA = 1e6
JOBS_KEPT = 200
STATE_EVERY_S = 2.0


def load_settings(table: dict | None = None) -> dict:
    """The `[inverter]` table, checked; errors name the key and what is allowed."""
    table = config_table("inverter") if table is None else dict(table)
    out = {**DEFAULTS, **check_table("inverter", table, TYPES)}
    ranges = {
        "lambda": (1e-6, MAX_LAMBDA),
        "floor_pct": (0, 50),
        "nice": (0, 19),
        "threads": (1, 64),
        "max_queue": (1, 1000),
        "timeout_s": (1, 86400),
        "pass_wait_s": (0, 3600),
    }
    for key, (low, high) in ranges.items():
        value = out[key]
        if not (math.isfinite(value) and low <= value <= high):
            raise ConfigError(f"[inverter].{key} must be in {low:g}..{high:g}, got {value!r}")
    if out["during_survey"] not in MODES:
        raise ConfigError(
            f"[inverter].during_survey must be one of {', '.join(map(repr, MODES))}, got {out['during_survey'][:40]!r}"
        )
    return out


def check_lambda(lam) -> float | None:
    if lam is None:
        return None
    if (
        isinstance(lam, bool)
        or not isinstance(lam, (int, float))
        or not math.isfinite(lam)
        or not 0 < lam <= MAX_LAMBDA
    ):
        raise BadRequest(f"lam must be a number in (0, {MAX_LAMBDA:g}], got {lam!r}", arg="lam", reason="out of range")
    return float(lam)


def check_pass(name: str, value) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000):
        raise BadRequest(f"{name} must be an integer >= 0, got {value!r}", arg=name, reason="out of range")
    return value


def _child(out: multiprocessing.Queue, datasets, lam: float, nice: int, threads: int) -> None:
    """In the child process: lowest priority, one thread, the inversion, its result on `out`."""
    try:
        detach()  # its own process group (stopped while measuring), and it dies with the worker
        os.nice(max(0, nice - os.nice(0)))
        if nice >= 19 and hasattr(os, "SCHED_IDLE"):  # Linux: run only when nothing else wants the CPU
            try:
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            except OSError:
                pass
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # pyGIMLi's core prints progress on stdout: not for the process log (stderr stays)
        from ohmpi.inversion import solve

        solve.set_threads(threads)
        results = solve.run(datasets, lam=lam, progress=lambda phase, fraction: out.put(("progress", phase, fraction)))
        out.put(("done", results))
    except BaseException as exc:  # anything: the parent reports it as the job's failure
        out.put(("error", f"{type(exc).__name__}: {exc}"))


class Inverter:
    def __init__(self, node: Node, settings: dict):
        self.node = node
        self.settings = settings
        self.fallback_positions = positions(instrument())
        self._local = threading.local()  # a bus client per thread: sockets are not shared
        self.queue: deque = deque()
        self.jobs: OrderedDict = OrderedDict()  # job id -> job (queued, running, done, failed), newest kept
        self.current: dict | None = None
        self.cv = threading.Condition()
        self.store = QueueFile(var_dir())  # queued and running jobs outlive a restart
        self.next_id, saved, self.aside_line = self.store.load()
        self.restored = [self._restore_job(job) for job in saved]
        self.queue.extend(self.restored)  # ahead of anything asked for meanwhile; checked by the runner
        self.jobs.update((job["job_id"], job) for job in self.restored)
        if self.aside_line:
            log_soon(node, "error", self.aside_line)
        self.watch = SurveyWatch()
        self.gate = MeasuringGate(settings["during_survey"], node.cfg.heartbeat_s)
        self.paused: str | None = None  # why the running inversion is stopped now
        self.child: Suspendable | None = None  # the running inversion's process
        self.child_lock = threading.Lock()
        self.done = 0
        self.failed = 0
        self.last: dict | None = None
        self.quit = threading.Event()
        self.runner = threading.Thread(target=self._run, name="inverter-runner", daemon=True)
        self.ctx = multiprocessing.get_context("spawn")

    @property
    def client(self) -> Client:
        c = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = Client(
                self.node.address,
                cfg=self.node.cfg,
                timeout=10.0,
                retries=1,
                name=f"inverter-{threading.current_thread().name}",
            )
        return c

    # ---- commands -----------------------------------------------------------------------
    def register(self) -> None:
        self.node.command(self.invert, role="operator", background=True)
        self.node.command(self.job, role="viewer")
        self.node.command(self.jobs_cmd, name="jobs", role="viewer")
        self.node.status_providers.append(self.state)

    def invert(
        self, survey_id: str, lam: float | None = None, pass_index: int | None = None, baseline: int | None = None
    ) -> dict:
        """Queue an inversion of a survey's pass (the newest by default; time-lapse against `baseline`,
        default the first pass, when it comes after it): {job_id, position, survey_id, pass_index}.
        Bad data are refused now, naming why. Follow the job with `job`."""
        if not isinstance(survey_id, str) or not survey_id or len(survey_id) > 128:
            raise BadRequest(
                f"survey_id must be a survey id, got {str(survey_id)[:80]!r}", arg="survey_id", reason="not a survey id"
            )
        lam = check_lambda(lam)
        check_pass("pass_index", pass_index)
        check_pass("baseline", baseline)
        caller = current_caller.get()
        plan = self._plan(survey_id, pass_index, baseline)  # refuses bad data now
        job = self._enqueue(
            survey_id, plan["pass_index"], plan["baseline"], lam, by=caller.user if caller else None, auto=False
        )
        return {
            "job_id": job["job_id"],
            "position": self._position(job),
            "survey_id": survey_id,
            "pass_index": job["pass_index"],
            "baseline": job["baseline"],
            "state": job["state"],
        }

    def job(self, job_id: int) -> dict:
        """One job: state (queued, running, done, failed), phase and progress, summary or error."""
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise BadRequest(f"job_id must be an integer, got {job_id!r}", arg="job_id", reason="not an integer")
        with self.cv:
            job = self.jobs.get(job_id)
            if job is None:
                raise BadRequest(f"no job {job_id} (unknown, or too old)", arg="job_id", reason="unknown job")
            return {**job, "position": self._position(job)}

    def jobs_cmd(self) -> list:
        """The recent jobs, newest first."""
        with self.cv:
            return [{**j, "position": self._position(j)} for j in reversed(self.jobs.values())]

    # ---- planning and the queue ---------------------------------------------------------
    def _rows(self, survey_id: str, pass_index: int | None) -> list:
        rows, offset = [], 0
        while offset is not None:
            page = self.client.call(
                "recorder", "data", survey_id=survey_id, offset=offset, limit=PAGE, pass_index=pass_index
            )
            rows.extend(page["rows"])
            offset = page.get("next_offset")
        return rows

    def _datasets(self, survey_id: str, pass_index: int | None, baseline: int | None) -> tuple[int, int | None, list]:
        """(pass, baseline or None, datasets): what to invert; InversionRefused when it cannot be."""
        survey = self.client.call("recorder", "survey", survey_id=survey_id)
        passes = survey.get("passes") or 0  # only the passes used are fetched: a monitoring survey is long
        if not passes:
            raise InversionRefused(f"survey {survey_id!r} has no measurements: nothing to invert")
        pass_index = passes - 1 if pass_index is None else pass_index
        rows = self._rows(survey_id, pass_index)
        if not rows:
            raise InversionRefused(
                f"survey {survey_id!r} has no pass {pass_index} (passes 0..{passes - 1})", field="pass_index"
            )
        base = 0 if baseline is None else baseline
        kwargs = dict(floor_pct=self.settings["floor_pct"])
        monitor = dataset.from_survey(rows, survey, self.fallback_positions, pass_index=pass_index, **kwargs)
        if base == pass_index:
            return pass_index, None, [monitor]
        base_rows = self._rows(survey_id, base)
        if not base_rows:
            raise InversionRefused(f"survey {survey_id!r} has no pass {base} for a baseline", field="baseline")
        first = dataset.from_survey(base_rows, survey, self.fallback_positions, pass_index=base, **kwargs)
        dataset.common(first, monitor)  # refuses too few shared quadrupoles now
        return pass_index, base, [first, monitor]

    def _plan(self, survey_id, pass_index, baseline) -> dict:
        try:
            pass_index, baseline, _ = self._datasets(survey_id, pass_index, baseline)
        except InversionRefused as exc:
            raise BadRequest(f"cannot invert {survey_id!r}: {exc}", arg=exc.field, reason="cannot invert") from None
        return {"pass_index": pass_index, "baseline": baseline}

    def _position(self, job: dict) -> int | None:
        for i, queued in enumerate(self.queue):
            if queued is job:
                return i + 1
        return 0 if job["state"] == "running" else None

    def _enqueue(self, survey_id, pass_index, baseline, lam, *, by, auto) -> dict:
        with self.cv:
            for queued in self.queue:
                if (queued["survey_id"], queued["pass_index"], queued["baseline"]) == (survey_id, pass_index, baseline):
                    if lam is not None:
                        queued["lambda"] = lam
                        self._save()
                    return queued
            if len(self.queue) >= self.settings["max_queue"]:
                raise Busy(f"{len(self.queue)} inversions already queued (max_queue): try again later")
            job = {
                "job_id": self.next_id,
                "survey_id": survey_id,
                "pass_index": pass_index,
                "baseline": baseline,
                "lambda": lam if lam is not None else self.settings["lambda"],
                "state": "queued",
                "auto": auto,
                "by": by,
                "queued_at": time.time(),
                "phase": None,
                "progress": 0.0,
                "summary": None,
                "error": None,
                "restarts": 0,
            }
            self.next_id += 1
            self.queue.append(job)
            self.jobs[job["job_id"]] = job
            while len(self.jobs) > JOBS_KEPT:
                self.jobs.popitem(last=False)
            self._save()
            self.cv.notify_all()
        self.node.log(
            "info",
            f"inversion of {survey_id} pass {pass_index} queued"
            + (f" (time-lapse against pass {baseline})" if baseline is not None else "")
            + (" after the pass ended" if auto else f" by {by}"),
            job_id=job["job_id"],
        )
        self.publish()
        return job

    # ---- automatic runs -----------------------------------------------------------------
    def on_sequencer(self, msg) -> None:
        self.gate.sequencer(msg.body, time.monotonic())
        self.apply_gate()
        for survey_id, pass_index, total in self.watch.update(msg.body, time.monotonic()):
            if self.settings["auto"]:
                threading.Thread(
                    target=self._auto, args=(survey_id, pass_index, total), daemon=True, name="inverter-auto"
                ).start()

    def _auto(self, survey_id: str, pass_index: int, total: int) -> None:
        """Once the recorder holds the pass (or after pass_wait_s), queue it; bad data are logged."""
        deadline = time.monotonic() + self.settings["pass_wait_s"]
        while not self.quit.is_set():
            try:
                held = len(self.client.call("recorder", "indices", survey_id=survey_id, pass_index=pass_index))
            except BusError:
                held = -1
            if held >= total or time.monotonic() >= deadline:
                break
            self.quit.wait(1.0)
        try:
            plan = self._plan(survey_id, pass_index, None)
            self._enqueue(survey_id, plan["pass_index"], plan["baseline"], None, by=None, auto=True)
        except BusError as exc:
            self.node.log("warning", f"survey {survey_id} pass {pass_index} not inverted: {exc}")
        finally:
            self.client.close()  # this thread ends here

    # ---- stopped while measuring ------------------------------------------------------
    def on_heartbeat(self, msg) -> None:
        now = time.monotonic()
        if msg.topic == "soh.sequencer":
            self.gate.sequencer_alive(now)
        else:
            self.gate.controller(msg.body, now)
        self.apply_gate()

    def on_measured(self, msg) -> None:
        self.gate.measured(time.monotonic())
        self.apply_gate()

    def apply_gate(self) -> None:
        """Stop the running inversion while the gate is shut, resume it when it opens."""
        reason = self.gate.reason(time.monotonic())
        with self.child_lock:
            child = self.child
            if child is not None:
                child.stop() if reason else child.resume()
            reason = reason if child is not None else None
            changed, self.paused = reason != self.paused, reason
        if changed:
            self.node.log("info", f"inversion paused: {reason}" if reason else "inversion resumed")
            self.publish()

    def _end_child(self) -> None:
        with self.child_lock:
            child, self.child = self.child, None
        if child is not None:
            child.end()

    # ---- the queue on disk ----------------------------------------------------------------
    def _restore_job(self, saved: dict) -> dict:
        """A saved job as a queued one again (one that was running counts a restart)."""
        restarts = saved["restarts"] + (saved["state"] == "running")
        return {
            **{k: saved[k] for k in ("job_id", "survey_id", "pass_index", "baseline", "lambda", "auto", "by")},
            "state": "queued",
            "queued_at": time.time(),
            "phase": None,
            "progress": 0.0,
            "summary": None,
            "error": None,
            "restarts": restarts,
            "restored": True,
        }

    def _check_restored(self) -> None:
        """Before the first run: each restored job must still qualify, or it is refused (logged)."""
        if self.restored:
            self.quit.wait(2.0)  # the hub has our publisher's subscriptions by then: the lines reach the log
        for job in self.restored:
            what = f"restored inversion of {job['survey_id']} pass {job['pass_index']}"
            try:
                if job["restarts"] > MAX_RESTARTS:
                    raise BadRequest(f"it was running at {job['restarts']} restarts of the inverter")
                self._plan(job["survey_id"], job["pass_index"], job["baseline"])
            except BadRequest as exc:
                with self.cv:
                    self.queue.remove(job)
                    job.update(state="failed", error=f"refused after a restart: {exc}", finished_at=time.time())
                    self.failed += 1
                self.node.log("warning", f"{what} refused: {exc}", job_id=job["job_id"])
            except Exception as exc:  # the recorder not answering yet: the run checks again
                self.node.log("warning", f"{what} kept unchecked: {exc}", job_id=job["job_id"])
            else:
                self.node.log("info", f"{what} queued again after a restart", job_id=job["job_id"])
        with self.cv:
            self._save()
        self.publish()

    def _save(self) -> None:
        """The running and queued jobs to disk (caller holds `cv`). Not while stopping: the job
        ended by the stop is still owed."""
        if self.quit.is_set():
            return
        try:
            self.store.save(self.next_id, ([self.current] if self.current else []) + list(self.queue))
        except OSError as exc:
            self.node.log("error", f"inverter queue not saved ({exc}): a restart would lose it")

    # ---- the runner ---------------------------------------------------------------------
    def _run(self) -> None:
        self._check_restored()
        while not self.quit.is_set():
            with self.cv:
                while not self.queue and not self.quit.is_set():
                    self.cv.wait(1.0)
                if self.quit.is_set():
                    return
                job = self.current = self.queue.popleft()
                job.update(state="running", started_at=time.time(), phase="loading data")
                self._save()
            self.publish()
            try:
                summary = self._execute(job)
            except Exception as exc:  # a bus error, refused data, a crashed child: the job fails, we go on
                reason = str(exc) if isinstance(exc, (BusError, InversionRefused)) else f"{type(exc).__name__}: {exc}"
                with self.cv:
                    job.update(state="failed", error=reason, phase=None, finished_at=time.time())
                    self.failed += 1
                self.node.log(
                    "error",
                    f"inversion of {job['survey_id']} pass {job['pass_index']} failed: {reason}",
                    job_id=job["job_id"],
                )
            else:
                with self.cv:
                    job.update(state="done", summary=summary, phase=None, progress=1.0, finished_at=time.time())
                    self.done += 1
                    self.last = summary
                self.node.log(
                    "info",
                    f"inverted {job['survey_id']} pass {job['pass_index']}: chi2 "
                    f"{summary['chi2']:.2f}, RMS {summary['rms_pct']:.1f} %, "
                    f"{summary['iterations']} iterations, {summary['elapsed_s']:.1f} s",
                    job_id=job["job_id"],
                )
            finally:
                with self.cv:
                    self.current = None
                    self._save()
                self.publish()

    def _execute(self, job: dict) -> dict:
        pass_index, baseline, datasets = self._datasets(job["survey_id"], job["pass_index"], job["baseline"])
        started = time.monotonic()
        out = self.ctx.Queue()
        child = self.ctx.Process(
            target=_child,
            name="inversion",
            daemon=True,
            args=(out, datasets, job["lambda"], self.settings["nice"], self.settings["threads"]),
        )
        child.start()
        with self.child_lock:
            self.child = control = Suspendable(child)
        self.apply_gate()  # started during a survey: stopped at once
        job["pid"] = child.pid  # shown once the gate has had its say
        message = None
        try:
            while message is None:
                if self.quit.is_set():
                    raise RuntimeError("the inverter is stopping")
                try:
                    item = out.get(timeout=0.5)
                except queue.Empty:
                    self.apply_gate()  # a sequencer gone silent shuts the gate
                    if not child.is_alive() and out.empty():
                        raise RuntimeError(
                            f"the inversion process ended (exit status {child.exitcode}) without a result"
                        ) from None
                    if control.running_s() > self.settings["timeout_s"]:
                        raise TimeoutError(
                            f"the inversion took over {self.settings['timeout_s']:g} s ([inverter] timeout_s): stopped"
                        ) from None
                    continue
                if item[0] == "progress":
                    with self.cv:
                        job.update(phase=item[1], progress=round(float(item[2]), 3))
                    self.publish(throttle=True)
                else:
                    message = item
        finally:
            with self.child_lock:
                self.child = None
            control.resume()  # a result sent: let it end
            child.join(5.0)
            control.end()
            self.apply_gate()
        if message[0] == "error":
            raise RuntimeError(message[1])
        results = message[1]
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        stored = []
        for result in results:
            result.update(survey_id=job["survey_id"], peak_rss_mb=round(peak_mb, 1))
            if result is results[-1] or not self._stored(job["survey_id"], result["pass_index"]):
                stored.append(self.client.call("recorder", "inversion_put", result_z=pack(result), timeout=60.0))
        final = results[-1]
        return {
            "survey_id": job["survey_id"],
            "pass_index": pass_index,
            "baseline_pass": baseline,
            "chi2": final["chi2"],
            "rms_pct": final["rms_pct"],
            "iterations": final["iterations"],
            "n_data": final["n_data"],
            "n_cells": final["n_cells"],
            "lambda": final["lambda"],
            "counts": final["counts"],
            "error_source": final["error_source"],
            "elapsed_s": round(time.monotonic() - started, 3),
            "peak_rss_mb": round(peak_mb, 1),
        }

    def _stored(self, survey_id: str, pass_index: int) -> bool:
        """A baseline already inverted on its own is kept (not replaced by the time-lapse's)."""
        return any(
            s["pass_index"] == pass_index for s in self.client.call("recorder", "inversions", survey_id=survey_id)
        )

    # ---- state --------------------------------------------------------------------------
    def state(self) -> dict:
        with self.cv:
            current = self.current
            return {
                "state": "running" if current else "idle",
                "auto": self.settings["auto"],
                "during_survey": self.settings["during_survey"],
                "paused": self.paused,
                "job": None
                if current is None
                else {
                    k: current.get(k)
                    for k in (
                        "job_id",
                        "survey_id",
                        "pass_index",
                        "baseline",
                        "phase",
                        "progress",
                        "started_at",
                        "by",
                        "auto",
                        "pid",
                    )
                },
                "queue": [{k: j[k] for k in ("job_id", "survey_id", "pass_index", "baseline")} for j in self.queue],
                "done": self.done,
                "failed": self.failed,
                "last": self.last,
            }

    _last_publish = 0.0

    def publish(self, throttle: bool = False) -> None:
        now = time.monotonic()
        if throttle and now - self._last_publish < 0.5:
            return
        self._last_publish = now
        self.node.publish("state.inverter", self.state())

    def close(self) -> None:
        """Stopping: the inversion in progress ends too, stopped or not."""
        self.quit.set()
        with self.cv:
            self.cv.notify_all()
        self._end_child()


def run() -> int:
    settings = load_settings()
    reason = installed()
    if reason is not None:
        print(f"inverter: off: {reason}", file=sys.stderr, flush=True)
        return 0
    os.nice(max(0, min(settings["nice"], 10) - os.nice(0)))  # the bus side stays responsive, below measuring
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # inherited by the children
        os.environ[name] = str(settings["threads"])
    node = Node("inverter")
    inv = Inverter(node, settings)
    inv.register()
    node.subscribe("state.sequencer", inv.on_sequencer, snapshot=True)
    node.subscribe(["soh.sequencer", "soh.controller"], inv.on_heartbeat)
    node.subscribe(["data.+.measurement", "data.+.rs_check"], inv.on_measured)
    node.every(STATE_EVERY_S, inv.publish)
    node.stop_hooks.append(inv.close)
    inv.runner.start()
    node.log(
        "info",
        f"inverter ready (auto {'on' if settings['auto'] else 'off'}, lambda {settings['lambda']:g}, "
        f"nice {settings['nice']}, during a survey: {settings['during_survey']})",
    )
    node.run()
    return 0


def main() -> int:
    return worker_main("inverter", run)


if __name__ == "__main__":
    sys.exit(main())
