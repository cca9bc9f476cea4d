"""One run of a sweep and its record, ``<run>.json`` in the sweep's folder: its parameters,
status, papermill's metadata and the results its notebook wrote (:func:`write_results`), written
when the run ends (:func:`_finish`) and read back by a resume (:func:`_restored`). Locations are
recorded with the account id taken out, and compared so."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = "_results"  # where each run's notebook writes its own results, before the sweep merges them


@dataclass
class Run:
    """One run of a sweep and what came of it."""

    name: str
    parameters: dict[str, Any]
    status: str = "pending"
    duration_s: float | None = None
    error: str | None = None
    failed_cell: int | None = None
    failed_source: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    notebook: str = ""
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "parameters": self.parameters,
                "papermill": {"duration_s": self.duration_s, "exception": self.error,
                              "failed_cell": self.failed_cell, "failed_source": self.failed_source,
                              "notebook": self.notebook},
                "results": self.results}


def write_results(path: str | os.PathLike[str] | None, results: Mapping[str, Any] | None = None,
                  **fields: Any) -> Path | None:
    """Write a run's results as JSON, for a sweep to collect (a notebook's last cell).

    Args:
        path: the notebook's ``results_path`` parameter; ``None`` writes nothing.
        results: a mapping of results (e.g. :func:`augment.jobs.results`).
        fields: more fields, added to ``results``.

    Returns:
        The path written, or ``None``.
    """
    if not path:
        return None
    from augment.files import write_output

    text = json.dumps(_locations_redacted({**(results or {}), **fields}), indent=2, default=str)
    return write_output(path, text, flag="results_path")


def _locations_redacted(value: Any) -> Any:
    """``value`` with the account id taken out of every S3 URI, ARN and AWS host in it (Studio's
    default bucket is named after the account); digests and other numbers are left alone."""
    from augment.redact import redact

    if isinstance(value, str):
        return redact(value) if value.startswith(("s3://", "arn:")) or ".amazonaws.com" in value else value
    if isinstance(value, Mapping):
        return {k: _locations_redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_locations_redacted(v) for v in value]
    return value


def _as_recorded(value: Any) -> Any:
    """``value`` as a run's record holds it (:func:`_finish`): locations redacted, JSON's types."""
    return json.loads(json.dumps(_locations_redacted(value), default=str))


def _restored(run: Run, path: Path) -> bool:
    """Take a completed run's outcome from its record; ``False`` (run it again) for a
    record that is missing, damaged, of another run, or of a run that did not complete."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("status") != "completed" \
            or record.get("parameters") != _as_recorded(run.parameters):
        return False
    meta = record.get("papermill") if isinstance(record.get("papermill"), dict) else {}
    results = record.get("results") if isinstance(record.get("results"), dict) else {}
    run.status, run.results, run.skipped = "completed", dict(results), True
    run.duration_s, run.error = meta.get("duration_s"), meta.get("exception")
    run.failed_cell, run.failed_source, run.notebook = meta.get("failed_cell"), meta.get("failed_source"), \
        meta.get("notebook", "")
    return True


def _finish(run: Run, outcome: Mapping[str, Any], out: Path) -> None:
    run.status, run.duration_s, run.error = outcome["status"], outcome["duration_s"], outcome["error"]
    run.failed_cell, run.failed_source = outcome["failed_cell"], outcome["failed_source"]
    run.notebook = str(out / f"{run.name}.ipynb")
    written = out / RESULTS / f"{run.name}.json"
    run.results = {}
    if written.is_file():
        try:
            results = json.loads(written.read_text(encoding="utf-8"))
            if not isinstance(results, dict):
                raise ValueError(f"a JSON {type(results).__name__}, not an object")
            run.results = results
        except (OSError, ValueError) as e:  # the run's fault, not the sweep's: recorded, and the others go on
            if run.status == "completed":
                run.status = "failed"
                run.error = f"its results_path {written} is not a JSON object ({e}); write it with " \
                            "augment.sweep.write_results"
    from augment.files import write_output

    write_output(out / f"{run.name}.json", json.dumps(_locations_redacted(run.to_dict()), indent=2, default=str),
                 flag="out=")
