"""Progress reporting: a tqdm bar on a terminal or in a notebook, plain periodic lines
elsewhere (inside a container, where CloudWatch keeps one line per write)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Counts finished inputs.

    Args:
        total: inputs to process.
        unit: what is counted.
        mode: ``"bar"`` (tqdm), ``"lines"`` (a plain line every ``interval`` seconds),
            ``"off"``, or ``None`` to pick ``bar`` on a TTY or in Jupyter and ``lines`` otherwise.
        interval: seconds between plain lines.
        stream: where lines go (default stderr).
    """

    def __init__(self, total: int, unit: str = "img", mode: str | None = None, interval: float = 10.0,
                 stream: TextIO | None = None) -> None:
        self.total, self.unit, self.interval = total, unit, interval
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = self._last = time.monotonic()
        if mode is None:
            mode = "bar" if _interactive(self.stream) else "lines"
        self.mode = mode
        self._bar = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit=unit, file=self.stream, smoothing=0.1)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines":
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def line(self) -> str:
        """One plain progress line: done/total, percent, rate, ETA."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = _fmt_seconds((self.total - self.done) / rate) if rate > 0 else "?"
        return f"progress: {self.done}/{self.total} {self.unit} ({pct:.1f}%), {rate:.1f} {self.unit}/s, ETA {eta}"

    def close(self) -> None:
        """Finish the bar, or write the final plain line."""
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines":
            self.stream.write(self.line() + "\n")
            self.stream.flush()


def _interactive(stream: TextIO) -> bool:
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
