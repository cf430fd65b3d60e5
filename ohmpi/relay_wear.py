"""A lifetime counter per relay: how often each coil switched, kept across restarts.

Relays wear by operations, not by hours: a monitoring installation measuring every hour
reaches a signal relay's rated life in months if every quadrupole clicks all four. The
counts are written atomically at most once a minute (an SD card wears by writes too) and
when the instrument closes; a power cut loses at most that minute. A relay at or beyond its
rated life is named in the state of health so it is replaced before it fails in the field.
"""

from __future__ import annotations

import time

from ohmpi import durable

FLUSH_S = 60.0
DEFAULT_RATED_OPS = 1_000_000


def _counts(data) -> bool:
    """A saved file holds {relay name: non-negative count}."""
    return isinstance(data, dict) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in data.items()
    )


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
        self.rated_ops = rated_ops
        self.saved = durable.SavedJson(path, flush_s=flush_s, clock=clock)
        self.counts: dict[str, int] = self.saved.load(_counts) or {}

    @property
    def set_aside(self) -> str | None:
        """Where an unreadable counter file went (counting restarted), or None."""
        return self.saved.set_aside

    def switched(self, chip: int, old: int, new: int) -> None:
        """A chip's outputs went from `old` to `new`: every differing pin is one operation."""
        changed, pin = old ^ new, 0
        while changed:
            if changed & 1:
                name = self.names.get((chip, pin), f"chip{chip}.{pin}")
                self.counts[name] = self.counts.get(name, 0) + 1
                self.saved.dirty = True
            changed >>= 1
            pin += 1
        self.saved.flush_if_due(self.counts)

    def flush(self) -> None:
        """Write the counts now (atomically) if they changed."""
        self.saved.flush(self.counts)

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
