"""What a process says about its own health on `soh.<process>` every few seconds."""

from __future__ import annotations

import os
import time
from collections import Counter

import psutil


class ProcessHealth:
    """Samples pid, uptime, memory and CPU of this process, plus the bus counters."""

    def __init__(self, name: str, stats: Counter):
        self.name = name
        self.stats = stats
        self.started = time.time()  # when, for people; uptime counts on the monotonic clock (wall time jumps)
        self.started_mono = time.monotonic()
        self._proc = psutil.Process(os.getpid())
        self._proc.cpu_percent(None)  # the first call only primes the counter

    def sample(self) -> dict:
        with self._proc.oneshot():
            rss = self._proc.memory_info().rss
            cpu = self._proc.cpu_percent(None)
            threads = self._proc.num_threads()
        dropped = {k.split(":", 1)[1]: v for k, v in self.stats.items() if k.startswith("dropped:")}
        return {
            "name": self.name,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started_mono, 3),
            "rss_mb": round(rss / 2**20, 2),
            "cpu_pct": round(cpu, 1),
            "threads": threads,
            "msgs_in": self.stats["msgs_in"],
            "msgs_out": self.stats["msgs_out"],
            "requests": self.stats["requests"],
            "errors": self.stats["errors"],
            "dropped": self.stats["dropped"],
            "dropped_by_reason": dropped,
            "missed": self.stats["missed"],
            "seq_anomalies": self.stats["seq_anomalies"],
        }
