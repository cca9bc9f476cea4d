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
from pathlib import Path
from typing import Any, TextIO

ORIGINAL = -1
"""The ``copy`` index of a kept original."""


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record of a manifest, in file order; a torn last line is ignored."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            records.append(json.loads(line))
    return records


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


def tally(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over records: outputs written, failed records, failed inputs by reason.

    An input counts as failed when any of its records failed; it is counted once,
    under the reason of its first failure.
    """
    written = sum(r["status"] == "ok" and r["copy"] != ORIGINAL for r in records)
    failed = [r for r in records if r["status"] != "ok"]
    first: dict[str, dict[str, Any]] = {}
    for r in failed:
        first.setdefault(r["source"], r)
    return {
        "written": written,
        "originals": sum(r["copy"] == ORIGINAL and r["status"] == "ok" for r in records),
        "failed_records": len(failed),
        "failed_inputs": len(first),
        "failures_by_reason": dict(sorted(Counter(r.get("reason") or "error" for r in first.values()).items())),
        "first_failures": [f"{source}: {r['error']}" for source, r in list(first.items())[:3]],
    }
