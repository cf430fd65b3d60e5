"""The free-space floor on real filesystems: below it `low()` says how much is free, the message
names the fullest disk, a disk that cannot be read counts as full."""

from __future__ import annotations

import shutil

from ohmpi.disk_floor import MIB, DiskFloor


def test_no_floor_is_never_low(tmp_path):
    assert DiskFloor(0, [tmp_path]).low() is None


def test_a_floor_above_the_free_space_is_low_and_says_so(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    floor = DiskFloor(free * 4 + 10 * MIB, [tmp_path])
    low = floor.low()
    assert low is not None and abs(low - free) < 256 * MIB  # other writers may move it a little
    text = floor.describe(low)
    assert str(tmp_path) in text and "min_free_mb" in text and f"{floor.floor_bytes / MIB:g} MiB" in text


def test_an_unreadable_disk_counts_as_full_and_is_named(tmp_path):
    gone = tmp_path / "unmounted"
    floor = DiskFloor(1, [tmp_path, gone])
    assert floor.low() == 0
    assert f"on {gone}," in floor.describe(0)
    gone.mkdir()
    assert floor.low() is None and floor.lowest in (tmp_path, gone)
