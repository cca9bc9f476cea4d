"""The manifest: one JSON line per (input, copy), appended as work finishes.

A record::

    {"source": "cats/chelsea.jpg", "source_sha256": "...", "copy": 0,
     "output": "cats/chelsea.jpg.aug0.jpg", "output_sha256": "...", "seed": 4185032768127542,
     "params": [...], "status": "ok", "error": null, "reason": null,
     "format": "jpeg", "size": [224, 224]}

``copy`` is -1 for a kept original (``--keep-original``). A failed record has
``"status": "failed"``, ``output`` null, a human ``error`` and a short ``reason`` code.

Durability: a line is appended only after its output file was renamed into place.
A process killed mid-write can leave a torn last line (no newline): readers ignore
it and :func:`open_for_append` cuts it off before a resumed job appends, so a torn
line is never taken for a good one, and never ends up in the middle of the file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from augment.errors import UsageError

ORIGINAL = -1
"""The ``copy`` index of a kept original."""


RECORD_KEYS = ("source", "copy", "status")
"""Fields every record has; a line without them is not a record."""


def iter_manifest(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a manifest, in file order, one at a time; a torn last
    line is ignored.

    Raises:
        UsageError: a complete line (one that ends in a newline) that is not a record:
            empty, not JSON, not UTF-8, or without a record's fields. It names the file
            and the line; nothing after it is guessed at.
    """
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return
            yield _parse(line, path, number)


def _parse(line: bytes, path: str | Path, number: int) -> dict[str, Any]:
    if not line.strip():
        problem = "an empty line"
    else:
        try:
            rec = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            problem = "not UTF-8"
        except ValueError as e:
            problem = f"not JSON ({e})"
        else:
            if isinstance(rec, dict) and all(k in rec for k in RECORD_KEYS):
                return rec
            problem = f"not a record (a record has {', '.join(RECORD_KEYS)})"
    shown = line[:80].decode("utf-8", "replace").rstrip("\n") + ("..." if len(line) > 80 else "")
    raise UsageError(f"{path} line {number} is damaged: {problem}: {shown!r}. A manifest is only ever appended "
                     "whole lines; restore it, or move that line out of it (its input is then done again), and "
                     "run again.")


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record of a manifest, in file order; a torn last line is ignored."""
    return list(iter_manifest(path))


def open_for_append(path: Path) -> TextIO:
    """Open a manifest to append, first cutting off a torn last line if there is one."""
    if path.exists():
        with open(path, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                f.truncate(keep)
    return open(path, "a", encoding="utf-8")


def write_records(f: TextIO, records: list[dict[str, Any]]) -> None:
    """Append records (one ``write`` for all, then a flush to the kernel).

    After a flush, a SIGKILL of this process loses nothing already written.
    """
    f.write("".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records))
    f.flush()


def sync(f: TextIO) -> None:
    """Flush and fsync, so the manifest survives a machine failure too."""
    f.flush()
    os.fsync(f.fileno())


class Tally:
    """Running counts over records, so a job of any size keeps O(1) of them in memory
    (plus one entry per failed input).

    An input counts as failed when any of its records failed; it is counted once,
    under the reason of its first failure.
    """

    def __init__(self) -> None:
        self.written = 0
        self.originals = 0
        self.failed_records = 0
        self._first_failure: dict[str, dict[str, Any]] = {}

    @property
    def records(self) -> int:
        return self.written + self.originals + self.failed_records

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            if r["status"] == "ok":
                if r["copy"] == ORIGINAL:
                    self.originals += 1
                else:
                    self.written += 1
            else:
                self.failed_records += 1
                self._first_failure.setdefault(r["source"], r)

    @property
    def failed_inputs(self) -> int:
        return len(self._first_failure)

    @property
    def failures_by_reason(self) -> dict[str, int]:
        counts = Counter(r.get("reason") or "error" for r in self._first_failure.values())
        return dict(sorted(counts.items()))

    def first_failures(self, n: int = 3) -> list[str]:
        """``source: error`` of the first ``n`` failed inputs."""
        return [f"{source}: {r['error']}" for source, r in list(self._first_failure.items())[:n]]
