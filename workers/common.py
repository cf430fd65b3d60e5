"""What every worker needs: its `main()` wrapper, the instrument description, paths under
$OHMPI_VAR, the free-space floor and a watch on the wall clock."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from bus.config import ConfigError, config_table, var_dir
from ohmpi import config as instrument_config
from ohmpi.disk_floor import DiskFloor  # the recorder builds its own

CONFIG_EXIT = 2  # supervisor.conf: exit status 2 is never restarted (exitcodes=2), quick ones end FATAL


def worker_main(name: str, run: Callable[[], int | None]) -> int:
    """Run a worker's `run()`; a bad configuration is one line on stderr and exit status 2.

    supervisord restarts a worker that dies, which for a bad config table would only repeat
    the same error: status 2 tells it not to (see supervisor.conf), and the one line names
    the table, the key and what is allowed."""
    try:
        return run() or 0
    except (ConfigError, instrument_config.ConfigError) as exc:
        text = " ".join(str(exc).split())
        if isinstance(exc, instrument_config.ConfigError):
            text = f"[instrument].{text}"
        print(f"{name}: configuration error: {text}", file=sys.stderr, flush=True)
        return CONFIG_EXIT


def instrument() -> dict:
    """The validated `[instrument]` table of the config file (defaults for missing keys)."""
    return instrument_config.load(config_table("instrument"))


def positions(cfg: dict) -> list[list[float]]:
    """Electrode positions [x, y, z] from the instrument description (numpy imported here, not at
    module level: the web gateway imports this module and needs no numpy — 20 MB of its memory)."""
    from ohmpi.geometry import line_positions, positions_from_xyz

    if cfg.get("positions"):
        return positions_from_xyz(cfg["positions"]).tolist()
    return line_positions(cfg["n_electrodes"], cfg["spacing_m"]).tolist()


def var_path(name: str) -> Path:
    return var_dir() / name


def log_soon(node, level: str, message: str, delay: float = 2.0, **fields) -> None:
    """Log once, `delay` s after the node started: a line published at once, before the hub has
    passed our publisher the subscriptions (PUB/SUB's slow joiner), would reach nobody."""
    sent = []

    def once() -> None:
        if not sent:
            sent.append(True)
            node.log(level, message, **fields)

    node.every(delay, once)


def follow_recorder(node, outbox) -> None:
    """When the recorder announces a new database (`db_id` in `state.recorder`: the old one was
    damaged and set aside), the outbox delivers again everything it still keeps."""

    def seen(msg) -> None:
        outbox.receiver_epoch(msg.body.get("db_id") if isinstance(msg.body, dict) else None)

    node.subscribe("state.recorder", seen, snapshot=True)


def disk_floor(extra: list[Path] | None = None) -> DiskFloor:
    """The free-space floor of `[recorder] min_free_mb` on $OHMPI_VAR and the database's disk."""
    from workers.recorder import MIB, load_settings  # the [recorder] table owns the floor

    settings = load_settings()
    return DiskFloor(int(settings["min_free_mb"] * MIB), [var_dir(), Path(settings["db"]).parent, *(extra or [])])


class ClockWatch:
    """Notices the wall clock jumping (a Pi without a real-time clock when NTP or GPS arrives,
    an operator setting the date): wall time and monotonic time elapsed disagree. Intervals
    never use the wall clock; what records wall time (schedules shown to users) shifts."""

    def __init__(self, threshold_s: float = 5.0):
        self.threshold_s = threshold_s
        self.wall, self.mono = time.time(), time.monotonic()

    def check(self) -> float:
        """Seconds the wall clock jumped since the last check (0.0 when within the threshold)."""
        wall, mono = time.time(), time.monotonic()
        jump = (wall - self.wall) - (mono - self.mono)
        self.wall, self.mono = wall, mono
        return jump if abs(jump) >= self.threshold_s else 0.0


def describe_jump(jump: float) -> str:
    way = "forward" if jump > 0 else "back"
    size = abs(jump)
    unit = f" ({size / 86400:.2f} days)" if size >= 43200 else f" ({size / 3600:.2f} h)" if size >= 1800 else ""
    return f"wall clock jumped {way} by {size:.0f} s{unit}"
