"""Peak resident memory of a block of code, whatever library allocates it (numpy, torch).

A sampling thread reads the process's resident set size (``/proc/self/statm``) every few
milliseconds; the peak minus the value before the block is reported. tracemalloc would miss
torch's allocator, and ``ru_maxrss`` is a whole-process maximum that never goes down.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from types import TracebackType

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size in bytes (Linux ``/proc``; ``ru_maxrss`` elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Context manager: ``with PeakMemory() as m: ...`` then ``m.peak_bytes`` (absolute peak RSS)
    and ``m.delta_bytes`` (peak above the RSS at entry)."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.start_bytes = self.peak_bytes = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, rss_bytes())
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self.start_bytes = self.peak_bytes = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, et: type | None, ev: BaseException | None, tb: TracebackType | None):
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, rss_bytes())

    @property
    def delta_bytes(self) -> int:
        return self.peak_bytes - self.start_bytes
