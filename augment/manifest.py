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
it and :func:`cut_torn_line` cuts it off before a resumed job appends, so a torn
line is never taken for a good one, and never ends up in the middle of the file.

A resumed job appends a new record for an (input, copy) that it redoes (an output that
went missing, or a failure worth retrying), with ``"redone"`` saying why: the latest
record of an (input, copy) is the one that counts (:func:`read_manifest` returns only
those).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from augment.errors import UsageError

ORIGINAL = -1
"""The ``copy`` index of a kept original."""
TRANSIENT_REASONS = frozenset({"write_failed", "unreadable", "out_of_memory"})
"""Failure reasons that may pass on a later try (space freed on a full disk, a file made
readable, more memory): ``--resume`` retries them; ``--retry-failed`` retries every failure."""


RECORD_KEYS = ("source", "copy", "status")
"""Fields every record has; a line without them is not a record."""


def iter_manifest(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a manifest, in file order, one at a time; a torn last
    line is ignored. A record redone by a resume follows the one it replaces.

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
    """The latest complete record of each (input, copy), in the order each was first
    recorded; a torn last line is ignored."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in iter_manifest(path):
        latest[(rec["source"], rec["copy"])] = rec  # a redone record replaces the earlier one, in its place
    return list(latest.values())


_TAIL_BLOCK = 1 << 16


def cut_torn_line(f: BinaryIO) -> None:
    """Cut a torn last line (one without a newline) off a manifest open to append and
    read (``ab+``), so that the next record starts a line of its own. Only the tail is
    read (a manifest can be gigabytes)."""
    end = f.seek(0, os.SEEK_END)
    pos = end
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        f.seek(start)
        newline = f.read(pos - start).rfind(b"\n")
        if newline >= 0:
            pos = start + newline + 1
            break
        pos = start
    if pos != end:
        f.truncate(pos)


def json_lines(records: Any, **dumps: Any) -> bytes:
    """Records as JSON lines in UTF-8, a name that is not UTF-8 included (see
    :func:`write_records`)."""
    return "".join(json.dumps(r, ensure_ascii=False, **dumps) + "\n"
                   for r in records).encode("utf-8", errors="backslashreplace")


def write_records(f: BinaryIO, records: list[dict[str, Any]]) -> None:
    """Append records, straight to the kernel: after it returns, a SIGKILL of this
    process loses nothing written. A full disk raises ``OSError``, and leaves at most a
    torn last line, which readers ignore and a resume cuts off."""
    # A name that is not valid UTF-8 (Linux file names are bytes) is held by Python as
    # lone surrogates (surrogateescape); written as JSON escapes (``"\\udcff"``) the line
    # stays UTF-8 and reads back as the same name, which os.fsencode turns into its bytes.
    view = memoryview(json_lines(records, separators=(",", ":")))
    while view:
        view = view[f.write(view):]


def sync(f: BinaryIO) -> None:
    """Fsync, so the manifest survives a machine failure too."""
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
        """``source: error`` of the first ``n`` failed inputs by path: the same on every run of
        a job, whatever order its workers finished in (the exit message quotes them)."""
        return [f"{source}: {r['error']}" for source, r in sorted(self._first_failure.items())[:n]]
