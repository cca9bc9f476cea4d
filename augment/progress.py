"""Progress reporting: a tqdm bar on a terminal or in a notebook, plain periodic lines
elsewhere (inside a container, where CloudWatch keeps one line per write)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from augment.text import plural, plural_of


def _fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Counts finished inputs.

    Args:
        total: inputs to process.
        unit: what is counted, in the singular (``input``, ``batch``): lines and the bar
            say ``3/7 inputs``, ``2.5 inputs/s``.
        mode: ``"bar"`` (tqdm), ``"lines"`` (a plain line every ``interval`` seconds),
            ``"off"``, or ``None`` to pick ``bar`` on a TTY or in Jupyter and ``lines`` otherwise.
        interval: seconds between plain lines.
        stream: where the bar or lines go (default stderr).
        emit: writes one plain line with its fields (default: to ``stream``); the job
            passes its logger so ``--log-format json`` applies to progress too.
    """

    def __init__(self, total: int, unit: str = "input", mode: str | None = None, interval: float = 10.0,
                 stream: TextIO | None = None, emit: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.total, self.unit, self.interval = total, unit, interval
        self.stream = stream or sys.stderr
        self.emit = emit or self._write
        self.done = 0
        self.errors = 0
        self.start = self._last = time.monotonic()
        if mode is None:
            mode = "bar" if _interactive(self.stream) else "lines"
        self.mode = mode
        self._bar = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit=plural_of(unit), file=self.stream, smoothing=0.1)

    def _write(self, line: str, fields: dict[str, Any]) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def update(self, n: int = 1, errors: int = 0) -> None:
        """Count ``n`` finished inputs, ``errors`` of which failed."""
        self.done += n
        self.errors += errors
        if self._bar is not None:
            self._bar.update(n)
            if errors:
                self._bar.set_postfix(errors=self.errors, refresh=False)
        elif self.mode == "lines":
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self.emit(*self.line())

    def line(self) -> tuple[str, dict[str, Any]]:
        """One plain progress line (done/total, percent, rate, ETA, errors) and its fields."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta_s = (self.total - self.done) / rate if rate > 0 else None
        eta = "?" if eta_s is None else _fmt_seconds(eta_s)
        many = plural_of(self.unit)
        text = (f"progress: {self.done}/{plural(self.total, self.unit)} ({pct:.1f}%), {rate:.1f} {many}/s, "
                f"ETA {eta}, {plural(self.errors, 'error')}")
        fields = {"done": self.done, "total": self.total, "rate": round(rate, 2),
                  "eta_s": None if eta_s is None else round(eta_s), "errors": self.errors}
        return text, fields

    def close(self) -> None:
        """Finish the bar, or write the final plain line."""
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines":
            self.emit(*self.line())


def _interactive(stream: TextIO) -> bool:
    if _in_jupyter():
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel: ipykernel imported is not enough (ipywidgets and
    papermill import it in plain scripts too); its shell must be running."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"
