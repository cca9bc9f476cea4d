"""What a job says of itself: its summary (``_augment/summary-<host>.json``), the
library versions it records, and how its messages name what the user can act on.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from augment import __version__
from augment.images import DEFAULT_MAX_PIXELS, PARTIAL_JPEG, atomic_write_bytes
from augment.kernels import NATIVE
from augment.locations import META_DIR
from augment.text import plural

PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""The ``augment`` package a job runs, named in its log."""
DEFAULT_MAX_ERROR_RATE = 0.01
"""Default share of inputs that may fail before the job fails: a few corrupt files in
a large bucket are normal, one in a hundred says something is systematically wrong
(a wrong prefix, a format the decoder lacks, a spec that does not fit the images)."""


def versions() -> dict[str, str]:
    """Library versions an output's bytes depend on, and the build of the compiled
    kernels and whether a JPEG's crop can be decoded alone, which change only the
    speed."""
    import PIL
    import torchvision

    return {
        "augment": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "compiled_kernels": NATIVE or "none",  # speed only: the same bytes without them
        "partial_jpeg_decoding": "yes" if PARTIAL_JPEG else "no",  # speed only, likewise
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


@dataclass(frozen=True)
class Wording:
    """How a job's messages name what the user can act on, set by the caller.

    Attributes:
        output: the output location as the user knows it, e.g. the ``s3://`` URI a
            processing job uploads to (default: the output folder); the manifest is
            named under it.
        max_error_rate: what raises the limit on failed inputs.
        resume: how to finish a job that stopped or lost a worker, or ``None`` where a
            job cannot be resumed (a processing job starts with an empty output folder).
    """

    output: str | None = None
    max_error_rate: str = "max_error_rate="
    resume: str | None = "re-run with resume=True to finish"

    def manifest(self, manifest_path: Path) -> str:
        if self.output is None:
            return str(manifest_path)
        return "/".join([self.output.rstrip("/"), META_DIR, manifest_path.name])

    def intact(self, what: str) -> str:
        return f"{what} is intact" + (f": {self.resume}" if self.resume else "")


@dataclass
class Summary:
    """What a job did. Written to ``_augment/summary-<host>.json`` at the start (status
    ``running``) and at the end.

    Attributes:
        status: ``running``, ``completed``, ``failed`` or ``stopped``.
        inputs: files found under the input directory, less the excluded ones.
        excluded: files under the input directory that are not inputs, each listed
            with its reason in ``excluded_list`` (``excluded-<host>.jsonl``).
        include, exclude: the input filters the job chose its inputs by (the spec's
            ``input`` section with ``--include``/``--exclude``); a resume must name the
            same ones.
        input_uri: where the input came from before it was staged into ``input_dir``
            (an ``s3://`` URI or a local folder; set by ``augment run``), or ``None``.
        copies: augmented variants per input.
        written: augmented images recorded as written (this run and earlier ones).
        failed_inputs: inputs with a failed record, each with a reason in the manifest.
        failures_by_reason: ``{reason code: inputs}``.
        resumed_records: records already in the manifest when this run started.
        seconds, images_per_s: wall time of this run, and its augmented images per second.
        peak_worker_rss_mb: the largest resident memory of any worker (MiB).
        labels: a labelled job's annotations: format, file, problems (counted by
            reason, listed in ``problems_list``) and the label files merged.
    """

    host: str
    input_dir: str
    output_dir: str
    spec_digest: str
    workers: int
    hosts: list[str] = field(default_factory=list)
    job_name: str | None = None
    input_uri: str | None = None
    status: str = "running"
    inputs: int = 0
    excluded: int = 0
    copies: int = 0
    written: int = 0
    originals: int = 0
    failed_inputs: int = 0
    failed_records: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    resumed_records: int = 0
    processed_inputs: int = 0
    seconds: float = 0.0
    images_per_s: float = 0.0
    peak_worker_rss_mb: float = 0.0
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_pixels: int = DEFAULT_MAX_PIXELS
    manifest: str = ""
    excluded_list: str = ""
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    spec_path: str = ""
    message: str = ""
    labels: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=versions)

    def line(self) -> str:
        """The one-line summary printed at the end of a job."""
        resumed = f", {plural(self.resumed_records, 'record')} from before" if self.resumed_records else ""
        excluded = f", {plural(self.excluded, 'file')} excluded" if self.excluded else ""
        return (f"augment: {plural(self.inputs, 'input')} x {plural(self.copies, 'copy')} -> "
                f"{plural(self.written, 'output')}, {plural(self.failed_inputs, 'failed input')}{excluded}{resumed}, "
                f"in {self.seconds:.1f} s ({self.images_per_s:.1f} outputs/s)")


def _append_failed(summary: Summary, wording: Wording, manifest_path: Path, e: OSError) -> None:
    """The job fails when its records cannot be appended (a full disk): those are lost,
    the earlier ones intact."""
    summary.status = "failed"
    summary.message = (f"cannot append to {wording.manifest(manifest_path)}: {e.strerror or e}; "
                       + wording.intact("everything recorded before"))


def _write_summary(summary: Summary, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(asdict(summary), indent=2) + "\n").encode())
