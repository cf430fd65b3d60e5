"""The free-space floor (`[recorder] min_free_mb`) of the disks holding the instrument's files.

Below it nothing new is measured: a survey holds (`ohmpi.survey_machine`: paused, `hold:
"disk_full"`) and resumes by itself once space returns, so what is already measured always has
room to reach the database. One `statvfs` per disk and check: cheap enough before every
quadrupole. Bus-free; the workers build it from their configuration (`workers.common.disk_floor`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

MIB = 2**20


class DiskFloor:
    def __init__(self, floor_bytes: int, paths: list[Path]):
        self.floor_bytes = floor_bytes
        self.paths = list(dict.fromkeys(Path(p) for p in paths))
        self.lowest = self.paths[0]  # the disk with the least free space at the last check

    def free_bytes(self) -> int:
        """The least free space among the watched disks (0 for one that cannot be read)."""
        free = {}
        for path in self.paths:
            try:
                free[path] = shutil.disk_usage(path).free
            except OSError:
                free[path] = 0
        self.lowest = min(free, key=free.get)
        return free[self.lowest]

    def low(self) -> int | None:
        """The free bytes when below the floor, else None."""
        free = self.free_bytes()
        return free if free < self.floor_bytes else None

    def describe(self, free: int) -> str:
        """The log line and survey message: how much is free, on which disk, against which floor."""
        return (
            f"disk full: {free / MIB:.1f} MiB free on {self.lowest}, below the floor of "
            f"{self.floor_bytes / MIB:g} MiB ([recorder] min_free_mb)"
        )
