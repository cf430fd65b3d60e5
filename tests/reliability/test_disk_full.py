"""A full disk: $OHMPI_VAR on a small tmpfs made by the test fills up in the middle of a survey.
The survey holds with a clear state and a log line naming the cause, no file is corrupted,
nothing measured is lost (the outboxes keep it), and it resumes by itself when space returns;
`resume` while the disk is still full holds it again."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bus.events import Subscriber
from tests.support.procs import short_tmpdir, wait_until
from tests.support.system import FieldSystem, check_files

SIZE_MB = 48
FLOOR_MB = 4


def _small_filesystem() -> Path:
    """An empty tmpfs of SIZE_MB (the tests run as root); skip, saying why, where it cannot be made."""
    var = Path(short_tmpdir())
    if os.geteuid() != 0:
        var.rmdir()
        pytest.skip("mounting a size-limited tmpfs needs root (the test suite runs as root in CI)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m,mode=0700", "tmpfs", str(var)], capture_output=True, text=True
    )
    if done.returncode != 0:
        var.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    return var


def _unmount(var: Path) -> None:
    subprocess.run(["umount", "-l", str(var)], capture_output=True)
    shutil.rmtree(var, ignore_errors=True)


def _fill(path: Path, leave: int = 0) -> None:
    """Write `path` until the disk has at most `leave` bytes free (0: until it refuses)."""
    block = b"\0" * (1 << 16)
    with open(path, "ab") as fh:
        while shutil.disk_usage(path.parent).free > leave:
            try:
                fh.write(block[: max(4096, min(len(block), shutil.disk_usage(path.parent).free - leave))])
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break


@pytest.fixture
def small_disk():
    var = _small_filesystem()
    yield var
    _unmount(var)


@pytest.mark.timeout(300)
def test_a_full_disk_holds_the_survey_loses_nothing_and_it_resumes_by_itself(small_disk):
    system = FieldSystem(
        electrodes=24, time_scale=4.0, var=small_disk, extra=f"\n[recorder]\nmin_free_mb = {FLOOR_MB}\n"
    )
    logs = Subscriber(["log.#"], address=system.address, cfg=system.cfg, snapshot=False)
    filler = small_disk / "filler"
    try:
        status = system.client.call("recorder", "stats")
        assert status["min_free_bytes"] == FLOOR_MB << 20 and status["disk_low"] is False
        system.client.call("sequencer", "generate", array="wenner")
        started = system.client.call("sequencer", "start", settings={"nb_stack": 1})
        sid, total = started["survey_id"], started["total"]
        wait_until(lambda: system.survey()["done"] >= total // 4, timeout=120, what="a quarter of the survey")

        _fill(filler, leave=(FLOOR_MB << 20) // 2)  # below the floor: what is measured still has room
        held = system.wait_survey(("paused",), timeout=60)
        assert held["hold"] == "disk_full" and "disk full" in held["message"] and "resumes by itself" in held["message"]
        done_at_hold = held["done"]
        words = []
        wait_until(
            lambda: {w.split(":")[0] for w in _drain(logs, words) if "disk full" in w} >= {"recorder", "sequencer"},
            timeout=30,
            what="disk-full log lines of the recorder and the sequencer",
        )
        wait_until(
            lambda: system.client.call("controller", "status")["outbox_pending"] == 0,
            timeout=60,
            what="what was measured stored, in the room the floor kept",
        )
        _fill(filler)  # now really full: not a byte left
        assert system.client.call("recorder", "stats")["disk_low"] is True
        # `ohmpi status` shows the recorder's last heartbeat the hub received: a beat or more behind
        # on a loaded machine, so it says LOW soon, not at once
        wait_until(
            lambda: "LOW: surveys hold until space returns" in system.ohmpi("status").stdout,
            timeout=30,
            what="ohmpi status saying the disk is low",
        )
        refused = system.ohmpi("measure", "1", "4", "2", "3")  # a manual measurement too: nothing moves
        assert refused.returncode != 0 and "disk full" in refused.stderr
        assert system.survey()["done"] == done_at_hold  # held: no quadrupole measured meanwhile

        resumed = system.ohmpi("survey", "resume", "--json")  # a person insists: it holds again
        assert resumed.returncode == 0, resumed.stderr
        wait_until(
            lambda: (s := system.survey())["state"] == "paused" and s["hold"] == "disk_full",
            timeout=30,
            what="held again while the disk is full",
        )

        filler.unlink()  # space returns: nobody asks, it goes on
        final = system.wait_survey(timeout=180)
        assert final["done"] == total and final["hold"] is None
        rows = system.wait_stored(sid, total)
        assert len({r[0] for r in rows}) == total and sorted(r[2] for r in rows) == list(range(total))
        wait_until(lambda: not system.client.call("recorder", "stats")["disk_low"], timeout=30, what="disk ok")
        wait_until(
            lambda: system.client.call("controller", "status")["outbox_pending"] == 0,
            timeout=60,
            what="the controller's outbox delivered",
        )
        assert system.client.call("recorder", "survey", survey_id=sid)["state"] == "finished"
        stored_logs = system.client.call("recorder", "logs", level="error", limit=200)
        assert any("disk full" in row["message"] for row in stored_logs), "the cause was not kept in the logs"
        check_files(system.var)
        for log in (system.var / "log").glob("*.log"):
            assert "Traceback" not in log.read_text(errors="replace"), f"{log.name} holds a traceback"
    finally:
        logs.close()
        system.close()


def _drain(sub: Subscriber, into: list) -> list:
    while (msg := sub.recv(timeout=0.1)) is not None:
        body = msg.body if isinstance(msg.body, dict) else {}
        into.append(f"{msg.topic.split('.')[1]}: {body.get('message')}")
    return into
