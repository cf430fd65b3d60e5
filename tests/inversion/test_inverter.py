"""The inverter over the real system (supervisord, bus, recorder, gateway): a repeated survey over a
vertical contact is inverted after each pass (the second as time-lapse), on request from the CLI
and the web with roles, exported as model CSV and VTK; bad requests are refused naming why; an
inversion is stopped while a survey measures (the controller's timing unaffected) and completes
after it, or runs beside it with `during_survey = "run"`; a worker stop ends a stopped inversion;
without pyGIMLi the worker bows out."""

import json
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bus.errors import BadRequest, Forbidden
from bus.events import Subscriber
from tests.support.procs import ROOT, wait_until
from tests.support.web import authed_client, make_app, start_web_system
from workers.recorder_inversions import unpack

pytestmark = pytest.mark.timeout(300)  # real-time surveys and inversions on a shared, busy machine
ELECTRODES = 12
MODEL = "contact:rho=100,20;x=5.5"
FAST = {"injection_ms": 60.0, "nb_stack": 1}  # ~0.3 s a quadrupole in real time


@pytest.fixture(scope="module")
def system():
    s = start_web_system(
        web_extra=f'\n[instrument.sim]\nmodel = "{MODEL}"\n\n[inverter]\npass_wait_s = 10.0\n',
        electrodes=ELECTRODES,
        time_scale=1.0,
        wait=("hub", "recorder", "controller", "sequencer", "inverter"),
    )
    yield s
    s.close()


@pytest.fixture(scope="module")
def app(system):
    a = make_app(system)
    yield a
    a.extensions["ohmpi_close"]()


def jobs_done(system, n):
    jobs = system.client.call("inverter", "jobs")
    done = [j for j in jobs if j["state"] in ("done", "failed")]
    return len(done) >= n and jobs


@pytest.fixture(scope="module")
def survey(system):
    """Two passes of Wenner on 12 electrodes (18 quadrupoles) in real time; both inverted as they end."""
    c = system.client
    c.call("sequencer", "generate", array="wenner", electrodes=ELECTRODES)
    started = c.call("sequencer", "start", name="inversion", settings=FAST, repeat=2)
    system.wait_survey(timeout=180)
    wait_until(lambda: jobs_done(system, 2), timeout=180, what="both passes inverted")
    return started["survey_id"]


def test_each_pass_is_inverted_when_it_ends_the_second_as_time_lapse(system, survey):
    jobs = system.client.call("inverter", "jobs")
    auto = sorted((j for j in jobs if j["auto"]), key=lambda j: j["pass_index"])
    assert [(j["pass_index"], j["baseline"], j["state"]) for j in auto] == [(0, None, "done"), (1, 0, "done")], auto
    summaries = system.client.call("recorder", "inversions", survey_id=survey)
    assert [(s["pass_index"], s["baseline_pass"]) for s in summaries] == [(0, None), (1, 0)]
    second = unpack(system.client.call("recorder", "inversion", survey_id=survey, pass_index=1)["result_z"])
    assert len(second["cells"]["change_pct"]) == second["n_cells"] > 30
    first = unpack(system.client.call("recorder", "inversion", survey_id=survey, pass_index=0)["result_z"])
    assert 0 < first["chi2"] < 20 and first["counts"]["used"] >= 10 and first["survey_id"] == survey
    state = system.client.call("inverter", "status")
    assert state["state"] == "idle" and state["done"] >= 2


def test_cli_invert_json_and_exports(system, survey, tmp_path):
    out = system.ohmpi("invert", survey, "--pass", "0", "--lambda", "30", "--json", timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert {"survey_id", "chi2", "rms_pct", "iterations", "n_data", "n_cells"} <= set(summary)
    assert summary["survey_id"] == survey and summary["lambda"] == 30 and summary["pass_index"] == 0
    model = tmp_path / "model.csv"
    out = system.ohmpi("export", survey, "--format", "model", "--pass", "1", "-o", str(model))
    assert out.returncode == 0, out.stderr
    lines = model.read_text().splitlines()
    assert lines[0] == "x_m,depth_m,rho_ohmm,change_pct" and len(lines) > 30
    rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
    left = [r[2] for r in rows if r[0] < 3 and r[1] < 1.5]
    right = [r[2] for r in rows if r[0] > 8 and r[1] < 1.5]
    assert statistics.median(left) > 2 * statistics.median(right)  # the contact: 100 | 20 ohm.m
    out = system.ohmpi("export", survey, "--format", "vtk")
    assert out.returncode == 0 and out.stdout.startswith("# vtk DataFile") and "SCALARS rho_ohmm" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("S-none",), "unknown survey"),
        (("{survey}", "--lambda", "-1"), "lam must be a number"),
        (("{survey}", "--lambda", "nan"), "lam must be a number"),
        (("{survey}", "--pass", "9"), "has no pass 9"),
        (("{survey}", "--baseline", "5"), "no pass 5 for a baseline"),
        (("x' OR 1=1; --",), "survey"),
    ],
)
def test_bad_requests_are_refused_naming_why(system, survey, args, message):
    out = system.ohmpi("invert", *[a.format(survey=survey) for a in args], "--json")
    assert out.returncode != 0 and message in out.stderr, out.stderr


def test_a_survey_with_too_few_quadrupoles_is_refused(system, survey):
    c = system.client
    c.call("sequencer", "generate", array="wenner", electrodes=6)  # 3 quadrupoles
    small = c.call("sequencer", "start", name="tiny", settings=FAST)["survey_id"]
    system.wait_survey(timeout=60)
    wait_until(
        lambda: len(c.call("recorder", "indices", survey_id=small, pass_index=0)) == 3,
        timeout=30,
        what="tiny survey stored",
    )
    with pytest.raises(BadRequest, match=r"only 3 usable quadrupole\(s\).*at least 10"):
        c.call("inverter", "invert", survey_id=small)
    # the pass that ended was not queued: the refusal is logged instead
    logged = wait_until(
        lambda: [
            line for line in c.call("recorder", "logs", process="inverter", level="warning") if small in line["message"]
        ],
        timeout=60,
        what="the automatic refusal logged",
    )
    assert "only 3 usable quadrupole(s)" in logged[0]["message"]
    assert not [j for j in c.call("inverter", "jobs") if j["survey_id"] == small]


def test_roles_on_the_bus_and_the_web(system, survey, app):
    c = system.client
    with pytest.raises(Forbidden):
        c.call("inverter", "invert", survey_id=survey, on_behalf=("someone", "viewer"))
    assert c.call("recorder", "inversions", survey_id=survey, on_behalf=("someone", "viewer"))
    with pytest.raises(Forbidden):
        c.call("recorder", "inversion_put", result_z=b"", on_behalf=("someone", "admin"))
    viewer, operator = (authed_client(app, system.tokens[r]) for r in ("viewer", "operator"))
    assert viewer.post(f"/api/surveys/{survey}/invert", json={}).status_code == 403
    listed = viewer.get(f"/api/surveys/{survey}/inversions")
    assert listed.status_code == 200 and [s["pass_index"] for s in listed.get_json()] == [0, 1]
    one = viewer.get(f"/api/surveys/{survey}/inversion?pass=1").get_json()
    assert one["baseline_pass"] == 0 and len(one["data"]["misfit_pct"]) == one["n_data"]
    csv = viewer.get(f"/api/surveys/{survey}/inversion/export?format=model&pass=0")
    assert csv.status_code == 200 and csv.data.startswith(b"x_m,depth_m,rho_ohmm\n")
    assert "attachment" in csv.headers["Content-Disposition"]
    assert viewer.get(f"/api/surveys/{survey}/inversion/export?format=xlsx").status_code == 400
    bad = operator.post(f"/api/surveys/{survey}/invert", json={"lambda": -3})
    assert bad.status_code == 400 and "lambda" in bad.get_data(as_text=True)
    queued = operator.post(f"/api/surveys/{survey}/invert", json={"lambda": 12.5, "pass": 0})
    assert queued.status_code == 200, queued.get_data(as_text=True)
    job_id = queued.get_json()["job_id"]
    job = wait_until(
        lambda: (j := viewer.get(f"/api/inverter/job?job_id={job_id}").get_json())["state"] in ("done", "failed") and j,
        timeout=120,
        what="web job done",
    )
    assert job["state"] == "done" and job["summary"]["lambda"] == 12.5 and job["by"]
    assert viewer.get("/api/inverter/job?job_id=1x").status_code == 400
    assert viewer.get("/api/inverter/job?job_id=999999").status_code == 400


class Measuring:
    """Follows a survey's measurements in real time; at each one, samples the inversion child
    (`pid`, once known): its process status and CPU time."""

    def __init__(self, system):
        self.system = system
        self.pid: int | None = None
        self.arrivals: list[float] = []
        self.samples: list[tuple[str, float]] = []  # (status, cpu seconds) of the child per measurement
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        time.sleep(0.5)  # the subscription reaches the hub

    def _listen(self):
        sub = Subscriber(["data.+.measurement"], address=self.system.address, cfg=self.system.cfg, key=self.system.key)
        try:
            while not self.stop.is_set():
                msg = sub.recv(timeout=0.2)
                if msg is None:
                    continue
                self.arrivals.append(time.monotonic())
                if self.pid is not None:
                    try:
                        child = psutil.Process(self.pid)
                        self.samples.append((child.status(), sum(child.cpu_times()[:2])))
                    except psutil.NoSuchProcess:
                        self.samples.append(("gone", 0.0))
        finally:
            sub.close()

    def survey(self, c, **start) -> str:
        """Start a survey (one pass of the loaded sequence): its id."""
        self.arrivals.clear()
        self.samples.clear()
        return c.call("sequencer", "start", name="timing", settings=FAST, **start)["survey_id"]

    def cadence(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:])]

    def close(self):
        self.stop.set()
        self.thread.join(5)


def settle(c, survey_id: str) -> None:
    """The survey just ended has had its automatic inversion: the inverter is free again."""
    wait_until(
        lambda: (
            any(j["survey_id"] == survey_id and j["state"] in ("done", "failed") for j in c.call("inverter", "jobs"))
            and c.call("inverter", "status")["state"] == "idle"
        ),
        timeout=180,
        what=f"{survey_id} inverted after it ended",
    )


def child_of(c, job_id) -> int:
    return wait_until(
        lambda: c.call("inverter", "job", job_id=job_id).get("pid"), timeout=60, what="the inversion's process started"
    )


def test_an_inversion_is_stopped_while_a_survey_measures_and_ends_after_it(system, survey):
    """By design, not by priority: the inversion's process is stopped (state T) for every
    measurement of the survey, uses no CPU meanwhile, then completes; the cadence is the idle one."""
    c = system.client
    c.call("sequencer", "generate", array="wenner", electrodes=ELECTRODES)
    watch = Measuring(system)
    try:
        settle(c, watch.survey(c))
        idle = watch.cadence()
        watch.survey(c)
        job = c.call("inverter", "invert", survey_id=survey, pass_index=1, baseline=0, lam=7.0)
        watch.pid = child_of(c, job["job_id"])
        status = c.call("inverter", "status")
        assert status["paused"] == "survey running" and status["job"]["pid"] == watch.pid, (
            status,
            c.call("sequencer", "status"),
            len(watch.arrivals),
        )
        system.wait_survey(timeout=120)
        samples, busy = list(watch.samples), watch.cadence()
        watch.pid = None
        done = wait_until(
            lambda: (j := c.call("inverter", "job", job_id=job["job_id"]))["state"] in ("done", "failed") and j,
            timeout=180,
            what="the inversion done after the survey",
        )
    finally:
        watch.close()
    assert done["state"] == "done", done
    assert done["summary"]["elapsed_s"] > 0 and c.call("inverter", "status")["paused"] is None
    assert len(samples) >= 5, samples  # measurements made while the child existed
    assert {s for s, _ in samples} == {psutil.STATUS_STOPPED}, samples
    assert samples[0][1] == samples[-1][1], samples  # not one tick of CPU while measuring
    assert len(idle) >= 10 and len(busy) >= 10
    # same cadence within the noise of a shared machine (other work comes and goes)
    assert statistics.median(busy) < 1.25 * statistics.median(idle) + 0.05, (idle, busy)


def set_during_survey(system, mode: str) -> None:
    text = system.config.read_text()
    text = re.sub(r"(?m)^during_survey = .*\n", "", text).replace(
        "[inverter]\n", f'[inverter]\nduring_survey = "{mode}"\n'
    )
    system.config.write_text(text)


def test_a_stop_ends_a_stopped_inversion_and_run_mode_inverts_beside_a_survey(system, survey):
    c = system.client
    c.call("sequencer", "generate", array="wenner", electrodes=ELECTRODES)
    watch = Measuring(system)
    try:
        watch.survey(c)
        c.call("inverter", "invert", survey_id=survey, pass_index=0, baseline=0, lam=11.0)
        # this one, or the previous survey's automatic inversion ahead of it: stopped either way
        pid = wait_until(
            lambda: (s := c.call("inverter", "status"))["paused"] == "survey running" and s["job"].get("pid"),
            timeout=60,
            what="an inversion stopped for the survey",
        )
        wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, timeout=10, what="stopped")
        began = time.monotonic()
        system.ctl("stop", "inverter")  # SIGTERM while its child is stopped
        assert time.monotonic() - began < 8.0  # it ended by itself, not killed by supervisord after 10 s
        wait_until(
            lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
            timeout=10,
            what="the stopped child ended with its worker",
        )
        c.call("sequencer", "stop")
        system.wait_survey(("stopped",), timeout=60)

        set_during_survey(system, "run")
        system.ctl("start", "inverter")
        system.client.wait_for("inverter", timeout=60)
        assert c.call("inverter", "status")["during_survey"] == "run"
        watch.survey(c)
        job = c.call("inverter", "invert", survey_id=survey, pass_index=0, baseline=0, lam=13.0)
        watch.pid = child_of(c, job["job_id"])
        system.wait_survey(timeout=120)
        samples = list(watch.samples)
        watch.pid = None
        assert c.call("inverter", "status")["paused"] is None
        wait_until(
            lambda: c.call("inverter", "job", job_id=job["job_id"])["state"] == "done",
            timeout=180,
            what="the inversion done",
        )
    finally:
        watch.close()
        set_during_survey(system, "pause")
        system.ctl("restart", "inverter")
        system.client.wait_for("inverter", timeout=60)
    live = [sample for sample in samples if sample[0] != "gone"]  # it may even end before the survey
    assert len(live) >= 3, samples
    assert psutil.STATUS_STOPPED not in {s for s, _ in live}, samples  # never stopped: beside the survey
    assert live[-1][1] > live[0][1], samples  # and it used CPU while the survey measured


def test_a_scheduled_survey_s_pass_is_inverted_in_the_gap_before_the_next(system):
    """`every`: pass 0 ends, the survey waits for pass 1, and pass 0's inversion runs meanwhile."""
    c = system.client
    c.call("sequencer", "generate", array="wenner", electrodes=10)  # 12 quadrupoles: ~4 s a pass
    survey_id = c.call("sequencer", "start", name="gaps", settings=FAST, repeat=2, every_s=60.0)["survey_id"]
    try:
        system.wait_survey(("waiting",), timeout=60)

        def running_in_the_gap():
            status = c.call("inverter", "status")
            job = status["job"] or {}
            if job.get("survey_id") != survey_id or not job.get("pid"):
                return None
            assert c.call("sequencer", "status")["state"] == "waiting"
            return status["paused"] is None and psutil.Process(job["pid"]).status() != psutil.STATUS_STOPPED and job

        job = wait_until(running_in_the_gap, timeout=50, what="pass 0 inverted while the survey waits")
        assert job["pass_index"] == 0 and job["auto"]
    finally:
        c.call("sequencer", "stop")
        system.wait_survey(("stopped",), timeout=60)


def idle(c) -> bool:
    status = c.call("inverter", "status")
    return status["state"] == "idle" and not status["queue"]


def test_queued_inversions_outlive_a_kill_9_of_the_inverter(system, survey):
    """Two inversions asked for during a survey (one stopped, one queued); the inverter killed
    with SIGKILL and restarted by supervisord: both come back, the running one first, ids go on,
    and both complete once after the survey, stored once."""
    c = system.client
    wait_until(lambda: idle(c), timeout=180, what="the inverter idle")
    c.call("sequencer", "generate", array="wenner", electrodes=10)
    c.call("sequencer", "start", name="restart", settings=FAST, repeat=20)
    try:
        system.wait_survey(("running",), timeout=60)
        first = c.call("inverter", "invert", survey_id=survey, pass_index=1, baseline=0, lam=3.5)["job_id"]
        second = c.call("inverter", "invert", survey_id=survey, pass_index=0, lam=4.5)["job_id"]
        pid = child_of(c, first)
        status = c.call("inverter", "status")
        assert status["paused"] == "survey running" and [j["job_id"] for j in status["queue"]] == [second]
        saved = json.loads((system.var / "inverter-queue.json").read_text())
        assert [(j["job_id"], j["state"]) for j in saved["jobs"]] == [(first, "running"), (second, "queued")]
        system.kill9("inverter")
        wait_until(lambda: not psutil.pid_exists(pid), timeout=10, what="the orphaned child gone")
        # just after the restart it may not have heard the sequencer yet ("survey state unknown"): wait
        # for it to see the survey, never a moment where the child runs
        status = wait_until(
            lambda: (s := c.call("inverter", "status"))["job"] and s["paused"] == "survey running" and s,
            timeout=60,
            what="the restored job, stopped for the survey",
        )
        assert status["job"]["job_id"] == first and [j["job_id"] for j in status["queue"]] == [second], status
        restored = {j["job_id"]: j for j in c.call("inverter", "jobs")}
        assert restored[first]["restarts"] == 1 and restored[second]["restarts"] == 0
        assert restored[first]["restored"] and restored[second]["lambda"] == 4.5
        assert json.loads((system.var / "inverter-queue.json").read_text())["next_id"] > second
    finally:
        c.call("sequencer", "stop")
        system.wait_survey(("stopped",), timeout=60)
    done = [
        wait_until(
            lambda job_id=job_id: (j := c.call("inverter", "job", job_id=job_id))["state"] in ("done", "failed") and j,
            timeout=180,
            what=f"job {job_id} done after the restart",
        )
        for job_id in (first, second)
    ]
    assert [(j["state"], j["summary"]["lambda"]) for j in done] == [("done", 3.5), ("done", 4.5)], done
    assert sorted(j["job_id"] for j in c.call("inverter", "jobs")).count(first) == 1
    summaries = c.call("recorder", "inversions", survey_id=survey)
    assert sorted(s["pass_index"] for s in summaries) == [0, 1]  # once each
    wait_until(lambda: idle(c), timeout=180, what="the inverter idle")
    assert json.loads((system.var / "inverter-queue.json").read_text())["jobs"] == []


def inverter_logs(c, text):
    return [
        line["message"]
        for line in c.call("recorder", "logs", process="inverter", level="warning")
        if text in line["message"]
    ]


def test_a_saved_queue_that_no_longer_qualifies_or_is_garbage_never_stops_the_inverter(system, survey):
    c = system.client
    wait_until(lambda: idle(c), timeout=180, what="the inverter idle")
    path = system.var / "inverter-queue.json"
    job = {"survey_id": survey, "baseline": None, "lambda": 5.0, "auto": False, "by": "x", "restarts": 0}
    jobs = [
        {**job, "job_id": 900, "pass_index": 7, "state": "running"},
        {**job, "job_id": 901, "survey_id": "S-gone", "pass_index": 0, "state": "queued"},
    ]
    path.write_text(json.dumps({"next_id": 902, "jobs": jobs}))
    system.kill9("inverter")
    for text in (f"restored inversion of {survey} pass 7 refused", "restored inversion of S-gone pass 0 refused"):
        wait_until(lambda text=text: inverter_logs(c, text), timeout=60, what=text)
    assert idle(c) and {j["job_id"]: j["state"] for j in c.call("inverter", "jobs")} == {900: "failed", 901: "failed"}
    assert json.loads(path.read_text()) == {"next_id": 902, "jobs": []}

    path.write_bytes(b"\x00{garbage")
    system.kill9("inverter")
    line = wait_until(lambda: inverter_logs(c, "set aside"), timeout=60, what="the set-aside line")
    aside = list(system.var.glob("inverter-queue.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"\x00{garbage" and aside[0].name in line[0]
    assert idle(c) and c.call("inverter", "jobs") == []
    assert json.loads(path.read_text()) == {"next_id": 1, "jobs": []}  # a fresh queue in its place


def test_without_pygimli_the_worker_says_why_and_exits_cleanly(system):
    code = (
        "import sys; sys.modules['pygimli'] = None; sys.modules['pgcore'] = None\n"
        "from workers.inverter import main; sys.exit(main())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=system.env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "inverter: off:" in out.stderr and "pip install -e '.[inversion]'" in out.stderr
    conf = (ROOT / "supervisor.conf").read_text().split("[program:inverter]")[1].split("[program:")[0]
    assert "startsecs=0" in conf and "exitcodes=0,2" in conf  # a clean exit is expected: never restarted


def test_the_page_shows_the_inverted_section_fit_misfit_change_and_passes(system, survey):
    """Real chromium: the section under the pseudo-section, χ²/RMS, the misfit pseudo-section, the
    change of the second pass on a diverging scale, the slider back to the first; no CSP violation."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.support.browser import ARGS, ARTIFACTS, CHROMIUM, Account, Watch, log_in, new_page

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        watch = Watch()
        watch.system = system
        ctx, page = new_page(browser, watch)
        try:
            log_in(page, system.web_url, Account(*system.passwords["operator"]), watch)
            item = page.locator(f"#surveys li[data-survey='{survey}']")
            item.wait_for()
            item.get_by_role("button", name="view").click()
            wait_until(
                lambda: (
                    "χ²" in (page.text_content("#inv-fit") or "")
                    and "pass 2 of 2" in (page.text_content("#inv-pass-label") or "")
                ),
                timeout=30,
                what="the newest pass's section shown",
            )
            section = page.locator("#inv-section")
            assert int(section.get_attribute("data-cells")) > 30
            assert "against pass 1" in page.text_content("#inv-fit")
            assert page.locator("#inv-misfit").is_visible() and page.locator("#inv-exports").is_visible()
            page.select_option("#inv-view", "change")
            wait_until(lambda: section.get_attribute("data-view") == "change", timeout=10, what="change shown")
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator("#card-inversion").screenshot(path=str(ARTIFACTS / "inversion-change.png"))
            page.eval_on_selector("#inv-pass", "(el) => { el.value = '0'; el.dispatchEvent(new Event('input')); }")
            wait_until(
                lambda: "pass 1 of 2" in (page.text_content("#inv-pass-label") or ""),
                timeout=30,
                what="the slider went back to the first pass",
            )
            assert section.get_attribute("data-view") == "rho"  # the first pass has no change
            assert page.locator("#inv-go").is_visible()  # an operator may invert
            page.locator("#card-inversion").screenshot(path=str(ARTIFACTS / "inversion.png"))
            watch.check()
        finally:
            ctx.close()
            browser.close()
