"""`make install-service` / `uninstall-service` in a temporary root, and the unit they write
checked by systemd itself (`systemd-analyze verify`, `systemd-analyze security --offline`)."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from ohmpi import config as instrument_config
from tests.support.procs import ROOT

ANALYZE = shutil.which("systemd-analyze")
UNIT = "etc/systemd/system/ohmpi.service"
WRAPPER = "usr/local/bin/ohmpi"
CONFIG = "etc/ohmpi/ohmpi.toml"
WATCHDOG = "etc/systemd/system.conf.d/ohmpi-watchdog.conf"
JOURNALD = "etc/systemd/journald.conf.d/ohmpi.conf"


@pytest.fixture
def trap(tmp_path):
    """PATH entries that record any call to the commands a DESTDIR install must never run."""
    bin_dir, calls = tmp_path / "trap", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("systemctl", "useradd", "usermod", "runuser", "sudo"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n')
        script.chmod(0o755)
    return bin_dir, calls


def make(target: str, root: Path, trap, *extra: str) -> subprocess.CompletedProcess:
    bin_dir, _ = trap
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("MAKEFLAGS", None)
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target, f"DESTDIR={root}", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_install_writes_the_unit_wrapper_config_and_drop_ins_then_uninstall_removes_them(tmp_path, trap):
    root = tmp_path / "root"
    out = make("install-service", root, trap).stdout
    assert f"wrote {root}/{CONFIG}" in out
    for rel, mode in ((UNIT, 0o644), (WRAPPER, 0o755), (CONFIG, 0o644), (WATCHDOG, 0o644), (JOURNALD, 0o644)):
        assert stat.S_IMODE((root / rel).stat().st_mode) == mode, rel
    unit = unit_settings(root / UNIT)
    assert unit["ExecStart"] == [f"{ROOT}/.venv/bin/supervisord -c {ROOT}/supervisor.conf"]
    assert unit["User"] == ["ohmpi"] and unit["WorkingDirectory"] == [str(ROOT)]
    assert unit["Restart"] == ["always"] and unit["StartLimitIntervalSec"] == ["0"]
    assert unit["UMask"] == ["0077"] and unit["StateDirectory"] == ["ohmpi ohmpi/log"]
    assert set(unit["Environment"]) >= {"OHMPI_VAR=/var/lib/ohmpi", "OHMPI_CONFIG=/etc/ohmpi/ohmpi.toml"}
    # the devices stay reachable: nothing that hides /dev or the user's groups
    assert not {"PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock", "PrivateUsers"} & set(unit)
    for rel in (UNIT, WRAPPER, WATCHDOG):
        assert not re.findall(r"@[A-Z_]+@", (root / rel).read_text()), f"a placeholder was left in {rel}"
    assert "RuntimeWatchdogSec=15s" in (root / WATCHDOG).read_text()
    assert (root / CONFIG).read_bytes() == (ROOT / "deploy" / "ohmpi.toml").read_bytes()
    wrapper = (root / WRAPPER).read_text()
    assert f'"{ROOT}/.venv/bin/ohmpi"' in wrapper and "OHMPI_VAR=/var/lib/ohmpi" in wrapper

    (root / CONFIG).write_text("# edited by the user\n")  # a second install keeps the user's config
    assert f"kept {root}/{CONFIG}" in make("install-service", root, trap).stdout
    assert (root / CONFIG).read_text() == "# edited by the user\n"

    out = make("uninstall-service", root, trap).stdout
    assert "kept" in out
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == [CONFIG], "uninstall removes what install wrote, and only keeps the config"
    assert not trap[1].exists(), f"DESTDIR install ran: {trap[1].read_text()}"


def test_variables_rename_the_service_and_relocate_every_file(tmp_path, trap):
    root = tmp_path / "root"
    make(
        "install-service",
        root,
        trap,
        "SERVICE=erti",
        "SERVICE_USER=ert",
        "PREFIX=/usr",
        "SYSCONFDIR=/etc/x",
        "APPDIR=/home/ert/ohmpi-bus",
        "HW_WATCHDOG=",
    )
    unit = unit_settings(root / "etc/x/systemd/system/erti.service")
    assert unit["User"] == ["ert"] and unit["StateDirectory"] == ["erti erti/log"]
    assert unit["ProtectHome"] == ["read-only"], "a checkout under /home must stay readable"
    assert "OHMPI_CONFIG=/etc/x/erti/ohmpi.toml" in unit["Environment"]
    assert (root / "usr/bin/erti").exists() and (root / "etc/x/erti/ohmpi.toml").exists()
    assert not (root / "etc/x/systemd/system.conf.d").exists(), "HW_WATCHDOG= skips the watchdog"
    make("uninstall-service", root, trap, "SERVICE=erti", "PREFIX=/usr", "SYSCONFDIR=/etc/x")
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == ["etc/x/erti/ohmpi.toml"]


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit_and_rates_its_sandbox_ok(tmp_path, trap):
    root = tmp_path / "root"
    make("install-service", root, trap)
    unit = root / UNIT
    # verify checks the syntax of every directive and that ExecStart is an executable
    # (this checkout's venv); the ohmpi user need not exist here
    done = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ohmpi.service" not in done.stderr, done.stderr
    # exposure on systemd's 0..10 scale (threshold in tenths): "OK" is below 3
    done = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--threshold=30", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout[-500:] + done.stderr
    assert re.search(r"Overall exposure level for ohmpi.service: [0-2]\.\d OK", done.stdout)


def test_the_field_config_and_the_docs_examples_load(tmp_path, monkeypatch):
    """Every TOML block of docs/deploy.md and deploy/ohmpi.toml is accepted by the workers' checks."""
    from bus.config import load_bus_config
    from workers.controller import controller_config
    from workers.recorder import load_settings
    from workers.web import web_config

    docs = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", docs, re.S)
    assert blocks, "docs/deploy.md shows its configuration examples in ```toml blocks"
    monkeypatch.setenv("OHMPI_VAR", str(tmp_path))
    for i, text in enumerate([(ROOT / "deploy" / "ohmpi.toml").read_text(), *blocks]):
        path = tmp_path / f"example{i}.toml"
        path.write_text(text)
        monkeypatch.setenv("OHMPI_CONFIG", str(path))
        table = tomllib.loads(text)
        load_bus_config()
        controller_config()
        load_settings()
        if "certfile" not in table.get("web", {}):  # the pair is made on the instrument
            web_config()
        if "instrument" in table:
            cfg = instrument_config.load(table["instrument"])
            assert len(instrument_config.cabling(cfg)) == 4 * cfg["n_electrodes"]


def test_the_wrapper_runs_the_checkout_cli_as_the_service_user(tmp_path, trap):
    """As the service user it runs the CLI directly; anyone else goes through sudo -u."""
    root = tmp_path / "root"
    me = getpass.getuser()
    make("install-service", root, trap, f"SERVICE_USER={me}")
    done = subprocess.run(
        [str(root / WRAPPER), "sequence", "generate", "wenner", "--electrodes", "8"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "1 4 2 3" in done.stdout, done.stderr
    make("install-service", root, trap, "SERVICE_USER=somebody-else")
    env = {**os.environ, "PATH": f"{trap[0]}:{os.environ['PATH']}"}
    subprocess.run([str(root / WRAPPER), "status"], env=env, timeout=60, check=True)
    assert trap[1].read_text().split() == [
        "sudo",
        "-u",
        "somebody-else",
        "env",
        "OHMPI_VAR=/var/lib/ohmpi",
        "OHMPI_CONFIG=/etc/ohmpi/ohmpi.toml",
        f"{ROOT}/.venv/bin/ohmpi",
        "status",
    ]
