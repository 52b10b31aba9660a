"""Progress lines on stderr for the steps of a long command (reading, estimation, fusion, ...).

A step that ends within ``delay`` seconds prints nothing; a longer one prints
``mossfuse: <step>...`` once it passes ``delay``, then ``mossfuse: <step>... <t> s`` every
``every`` seconds, and ``mossfuse: <step>: done in <t> s`` at its end. Plain lines, so logs of
runs without a TTY (batch jobs, CI) show them too. The ticker is a daemon thread: the work runs
in the calling thread, so Ctrl-C still interrupts it at once.

>>> p = Progress(enabled=False)
>>> with p.step("reading"):
...     pass
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO


class Progress:
    """Announces the steps that take longer than ``delay`` seconds (see module docstring)."""

    def __init__(self, enabled: bool = True, *, delay: float = 2.0, every: float = 10.0,
                 stream: TextIO | None = None, prefix: str = "mossfuse"):
        self.enabled, self.delay, self.every = enabled, delay, every
        self.stream, self.prefix = stream, prefix

    def _say(self, text: str) -> None:
        out = self.stream if self.stream is not None else sys.stderr
        print(f"{self.prefix}: {text}", file=out, flush=True)

    def note(self, text: str) -> None:
        """One line now (e.g. "tiling: the whole image would need 9 GB")."""
        if self.enabled:
            self._say(text)

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Run the ``with`` body as the step ``label``."""
        if not self.enabled:
            yield
            return
        t0 = time.perf_counter()
        done = threading.Event()
        announced = threading.Event()

        def tick() -> None:
            if done.wait(self.delay):
                return
            announced.set()
            self._say(f"{label}...")
            while not done.wait(self.every):
                self._say(f"{label}... {time.perf_counter() - t0:.0f} s")

        ticker = threading.Thread(target=tick, name=f"progress-{label}", daemon=True)
        ticker.start()
        ok = False
        try:
            yield
            ok = True
        finally:
            done.set()
            ticker.join(timeout=1.0)
            if ok and announced.is_set():
                self._say(f"{label}: done in {time.perf_counter() - t0:.1f} s")


NO_PROGRESS = Progress(enabled=False)
