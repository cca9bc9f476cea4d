"""Job logs: one line per event on stderr, as text or as JSON (``--log-format json``).

Inside a container every line becomes one CloudWatch event, so each event is one
line; JSON lines carry the same fields for log queries.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

FORMATS = ("text", "json")


class Log:
    """Writes events.

    Args:
        fmt: ``text`` (``augment: message``) or ``json`` (one object per line with
            ``time``, ``level``, ``event``, ``message`` and the event's fields).
        stream: where lines go (default: stderr at the time of each write).
    """

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {FORMATS}, got {fmt!r}")
        self.fmt = fmt
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def event(self, event: str, message: str, /, level: str = "info", **fields: Any) -> None:
        """Write one event; ``fields`` must not be named time, level, event or message."""
        if self.fmt == "json":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
            line = json.dumps({"time": stamp, "level": level, "event": event, "message": message, **fields},
                              default=str)
        else:
            line = f"augment: {message}"
        self.stream.write(line + "\n")
        self.stream.flush()
