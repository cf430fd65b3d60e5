"""Failed-login limits: at most `limit` failures per key in any `window_s` seconds.

Keys are `user:NAME` and `addr:ADDRESS`: guessing one account's password from many places,
or many accounts' from one place, is slowed to 5 tries a minute either way. Bounded in keys
(the least recently failed are forgotten first), so a flood of made-up names costs nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque


class FailureLimit:
    def __init__(self, limit: int = 5, window_s: float = 60.0, max_keys: int = 4096):
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until any of `keys` may try again, or None if none is limited."""
        now = time.monotonic()
        worst = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limit:
                    worst = max(worst, times[-self.limit] + self.window_s - now)
        return max(1, math.ceil(worst)) if worst > 0 else None

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is None:
                    times = self._failures[key] = deque(maxlen=self.limit)
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is not None:
            while times and times[0] <= now - self.window_s:
                times.popleft()
        return times
