"""A lifetime counter per relay: how often each coil switched, kept across restarts.

Relays wear by operations, not by hours: a monitoring installation measuring every hour
reaches a signal relay's rated life in months if every quadrupole clicks all four. The
counts are written atomically at most once a minute (an SD card wears by writes too) and
when the instrument closes; a power cut loses at most that minute. A relay at or beyond its
rated life is named in the state of health so it is replaced before it fails in the field.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ohmpi import durable

FLUSH_S = 60.0
DEFAULT_RATED_OPS = 1_000_000


class RelayWear:
    def __init__(
        self,
        names: dict[tuple[int, int], str],
        path=None,
        rated_ops: float = DEFAULT_RATED_OPS,
        flush_s: float = FLUSH_S,
        clock=time.monotonic,
    ):
        """`names`: (chip index, pin) → the relay's name ("12M": electrode 12, role M)."""
        self.names = dict(names)
        self.path = Path(path) if path is not None else None
        self.rated_ops = rated_ops
        self.flush_s = flush_s
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.set_aside = None  # where an unreadable counter file went
        self._dirty = False
        self._flushed = clock()
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_bytes())
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for k, v in data.items()
            ):
                raise ValueError("not a table of counts")
            self.counts = data
        except (OSError, ValueError):
            self.set_aside = str(durable.set_aside(self.path))  # kept for a person; counting restarts

    def switched(self, chip: int, old: int, new: int) -> None:
        """A chip's outputs went from `old` to `new`: every differing pin is one operation."""
        changed, pin = old ^ new, 0
        while changed:
            if changed & 1:
                name = self.names.get((chip, pin), f"chip{chip}.{pin}")
                self.counts[name] = self.counts.get(name, 0) + 1
                self._dirty = True
            changed >>= 1
            pin += 1
        if self._dirty and self.clock() - self._flushed >= self.flush_s:
            try:
                self.flush()
            except OSError:  # a full or read-only card: counted in memory, written later
                self._flushed = self.clock()

    def flush(self) -> None:
        """Write the counts now (atomically) if they changed."""
        if self.path is None or not self._dirty:
            return
        durable.write_atomic(self.path, json.dumps(self.counts, sort_keys=True).encode())
        self._dirty = False
        self._flushed = self.clock()

    def soh(self) -> dict:
        worn = sorted(
            (name for name, count in self.counts.items() if count >= self.rated_ops),
            key=lambda name: -self.counts[name],
        )
        most = max(self.counts, key=self.counts.get, default=None)
        return {
            "relay_ops_total": sum(self.counts.values()),
            "relay_ops_max": self.counts.get(most, 0),
            "relay_most_worn": most,
            "relay_rated_ops": self.rated_ops,
            "relays_worn": worn,
        }
