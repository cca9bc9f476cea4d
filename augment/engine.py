"""Process many images: workers, outputs, manifest, summary, replay.

Output layout under the output directory::

    <rel dir>/<file name>.aug<copy>.<ext>   one augmented image per (input, copy)
    _augment/spec.yaml                      the canonical spec of the job
    _augment/manifest-<host>.jsonl          one JSON line per (input, copy)
    _augment/summary-<host>.json            counts, timings, versions, paths

The output name keeps the input's whole file name (extension included) and adds
``.aug<copy>.<ext>``, so it is a pure function of (relative path, copy, format):
``cats/chelsea.jpg`` -> ``cats/chelsea.jpg.aug0.jpg``. Reading a name from the right
recovers (path, copy, format), so two different outputs can never share a name, and
``chelsea.png`` and ``chelsea.jpg`` never overwrite each other.

Every image is written to a temporary file and renamed into place; its manifest
line is written only after the rename, so a line with ``"status": "ok"`` always points
at a complete file.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from augment.errors import JobFailed, UsageError
from augment.images import (
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    ImageError,
    atomic_write_bytes,
    decode,
    encode,
    list_images,
    output_format,
)
from augment.pipeline import Pipeline, derive_seed
from augment.progress import Progress
from augment.spec import Spec, dump_spec, load_spec

META_DIR = "_augment"
DEFAULT_MAX_ERROR_RATE = 0.01


def output_name(rel_path: str, copy: int, fmt: str) -> str:
    """The output path (relative to the output root) of one (input, copy)."""
    return f"{rel_path}.aug{copy}.{EXTENSIONS[fmt]}"


def default_workers() -> int:
    """One worker per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def versions() -> dict[str, str]:
    """Library versions an output's bytes depend on."""
    import PIL
    import torchvision

    from augment import __version__

    return {
        "augment": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


@dataclass
class Summary:
    """What a job did. Written to ``_augment/summary-<host>.json``.

    Attributes:
        status: ``running``, ``completed`` or ``failed``.
        inputs: files found under the input directory.
        copies: augmented variants per input.
        written: augmented images written.
        failed_inputs: inputs that produced no output, each recorded with a reason.
        seconds: wall time of the processing.
        images_per_s: ``written / seconds``.
    """

    host: str
    input_dir: str
    output_dir: str
    spec_digest: str
    workers: int
    status: str = "running"
    inputs: int = 0
    copies: int = 0
    written: int = 0
    failed_inputs: int = 0
    failed_records: int = 0
    seconds: float = 0.0
    images_per_s: float = 0.0
    manifest: str = ""
    spec_path: str = ""
    message: str = ""
    versions: dict[str, str] = field(default_factory=versions)

    def line(self) -> str:
        """The one-line summary printed at the end of a job."""
        return (f"augment: {self.inputs} inputs x {self.copies} copies -> {self.written} images, "
                f"{self.failed_inputs} failed inputs, in {self.seconds:.1f} s ({self.images_per_s:.1f} images/s)")


# ---------------------------------------------------------------------------
# The work of one input. Runs in a worker process (or in-process for 1 worker).


class _Worker:
    def __init__(self, spec: dict[str, Any], input_dir: str, output_dir: str, max_pixels: int) -> None:
        self.pipeline = Pipeline(spec)
        self.input_dir = Path(input_dir)
        self.output_dir = Path(output_dir)
        self.max_pixels = max_pixels

    def process(self, rel: str) -> list[dict[str, Any]]:
        """Augment every copy of one input; return its manifest records (never raises
        for a bad input: the reason goes into the records)."""
        spec = self.pipeline.spec
        base = {"source": rel, "source_sha256": None}
        try:
            data = (self.input_dir / rel).read_bytes()
            base["source_sha256"] = hashlib.sha256(data).hexdigest()
            decoded = decode(data, self.max_pixels)
        except (ImageError, OSError) as e:
            return [_failed(base, rel, spec.seed, k, f"{type(e).__name__}: {e}") for k in range(spec.copies)]
        fmt = output_format(spec.output.format, decoded.format)
        records = []
        for k in range(spec.copies):
            seed = derive_seed(spec.seed, rel, k)
            try:
                out, params = self.pipeline.apply(decoded.image, seed)
                blob = encode(out, fmt, spec.output.quality)
                name = output_name(rel, k, fmt)
                atomic_write_bytes(self.output_dir / name, blob)
            except Exception as e:  # recorded in the manifest and counted, never hidden
                records.append(_failed(base, rel, spec.seed, k, f"{type(e).__name__}: {e}"))
                continue
            records.append({
                **base, "copy": k, "output": name, "output_sha256": hashlib.sha256(blob).hexdigest(),
                "seed": seed, "params": params, "status": "ok", "error": None,
                "format": fmt, "size": [int(out.shape[-1]), int(out.shape[-2])],
            })  # fmt: skip
        return records


def _failed(base: dict[str, Any], rel: str, spec_seed: int, copy: int, error: str) -> dict[str, Any]:
    return {**base, "copy": copy, "output": None, "output_sha256": None, "seed": derive_seed(spec_seed, rel, copy),
            "params": None, "status": "failed", "error": error}


_WORKER: _Worker | None = None


def _init_worker(spec: dict[str, Any], input_dir: str, output_dir: str, max_pixels: int) -> None:
    global _WORKER
    torch.set_num_threads(1)
    _WORKER = _Worker(spec, input_dir, output_dir, max_pixels)


def _work(rel: str) -> list[dict[str, Any]]:
    assert _WORKER is not None
    return _WORKER.process(rel)


def _run_in_pool(args: tuple[Any, ...], items: list[str], workers: int) -> Iterator[list[dict[str, Any]]]:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["augment.engine"])
    window = workers * 4
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=args) as pool:
        todo = iter(items)
        pending: set[Future[list[dict[str, Any]]]] = set()
        while True:
            for rel in todo:
                pending.add(pool.submit(_work, rel))
                if len(pending) >= window:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()


def _run_in_process(args: tuple[Any, ...], items: list[str]) -> Iterator[list[dict[str, Any]]]:
    worker = _Worker(*args)  # Pipeline.apply runs on one thread, as in a worker process
    for rel in items:
        yield worker.process(rel)


# ---------------------------------------------------------------------------


def _check_dirs(input_dir: Path, output_dir: Path) -> None:
    if not input_dir.is_dir():
        raise UsageError(f"--input-dir {input_dir}: not a directory")
    i, o = input_dir.resolve(), output_dir.resolve()
    if i == o or i in o.parents or o in i.parents:
        raise UsageError(f"--output-dir {output_dir} and --input-dir {input_dir} must not contain each other: "
                         "outputs would be read back as inputs")


def run_job(
    spec: Spec | str | dict[str, Any],
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    workers: int | None = None,
    host: str = "local",
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: str | None = None,
) -> Summary:
    """Augment every file under ``input_dir`` into ``output_dir``.

    Args:
        spec: a :class:`~augment.spec.Spec`, spec data, a spec file or a preset name.
        input_dir: read recursively; every regular file is an input.
        output_dir: created if missing; must not hold a manifest of this host yet.
        workers: worker processes (default: one per CPU); each uses one torch thread.
        host: names this host's manifest and summary, so hosts sharing an output
            prefix never overwrite each other.
        max_error_rate: the job fails when more than this fraction of inputs fail.
        max_pixels: inputs larger than this (from the header) are refused unread.
        progress: ``bar``, ``lines``, ``off`` or ``None`` (auto).

    Returns:
        The :class:`Summary`, also written to ``_augment/summary-<host>.json``.

    Raises:
        SpecError: invalid spec (before anything is read).
        UsageError: bad directories or arguments (before anything is written).
        JobFailed: more inputs failed than ``max_error_rate`` allows; outputs and
            manifest are complete for everything that succeeded.
    """
    spec = load_spec(spec)
    Pipeline(spec)  # build once here, so a spec torchvision refuses fails before any work
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    _check_dirs(input_dir, output_dir)
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    if not 0.0 <= max_error_rate <= 1.0:
        raise UsageError(f"--max-error-rate must be in [0, 1], got {max_error_rate}")
    meta = output_dir / META_DIR
    manifest_path = meta / f"manifest-{host}.jsonl"
    if manifest_path.exists():
        raise UsageError(f"{manifest_path} exists: this output directory already holds this host's job; "
                         "use a new --output-dir or delete the old one")
    items = list_images(input_dir)
    if not items:
        raise UsageError(f"--input-dir {input_dir}: no files found")

    meta.mkdir(parents=True, exist_ok=True)
    spec_path = dump_spec(spec, meta / "spec.yaml")
    summary = Summary(host=host, input_dir=str(input_dir.resolve()), output_dir=str(output_dir.resolve()),
                      spec_digest=spec.digest, workers=workers, inputs=len(items), copies=spec.copies,
                      manifest=str(manifest_path), spec_path=str(spec_path))
    summary_path = meta / f"summary-{host}.json"
    _write_summary(summary, summary_path)

    args = (spec.to_dict(), str(input_dir), str(output_dir), max_pixels)
    results = _run_in_process(args, items) if workers == 1 else _run_in_pool(args, items, workers)
    bar = Progress(len(items), mode=progress)
    start = time.monotonic()
    failures: list[str] = []
    with open(manifest_path, "a", encoding="utf-8") as manifest:
        for records in results:
            manifest.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
            ok = sum(r["status"] == "ok" for r in records)
            summary.written += ok
            summary.failed_records += len(records) - ok
            if not ok:
                summary.failed_inputs += 1
                failures.append(f"{records[0]['source']}: {records[0]['error']}")
            bar.update()
        manifest.flush()
        os.fsync(manifest.fileno())
    bar.close()
    summary.seconds = round(time.monotonic() - start, 3)
    summary.images_per_s = round(summary.written / summary.seconds, 2) if summary.seconds else 0.0
    rate = summary.failed_inputs / summary.inputs
    summary.status = "completed" if rate <= max_error_rate else "failed"
    if summary.status == "failed":
        shown = "; ".join(failures[:3]) + ("; ..." if len(failures) > 3 else "")
        summary.message = (f"{summary.failed_inputs} of {summary.inputs} inputs failed ({rate:.1%}), more than "
                           f"--max-error-rate {max_error_rate:.1%} allows. First: {shown}. Every reason is in "
                           f"{manifest_path}; fix or remove those files, or raise --max-error-rate.")
    _write_summary(summary, summary_path)
    if summary.status == "failed":
        raise JobFailed(summary.message)
    return summary


def _write_summary(summary: Summary, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(asdict(summary), indent=2) + "\n").encode())


# ---------------------------------------------------------------------------
# Manifest reading and replay.


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record of a manifest. A last line cut short by a crash is ignored."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # a write interrupted by a kill: not a record
            records.append(json.loads(line))
    return records


@dataclass
class ReplayResult:
    """Outcome of :func:`replay`.

    Attributes:
        record: the manifest record replayed.
        out: where the re-created image was written.
        sha256: SHA-256 of the re-created bytes.
        bit_exact: the bytes equal the original output's (by recorded SHA-256).
        params_match: torchvision drew the same parameters as recorded.
    """

    record: dict[str, Any]
    out: Path
    sha256: str
    bit_exact: bool
    params_match: bool


def replay(
    manifest: str | Path,
    record: int,
    out: str | Path,
    *,
    input_dir: str | Path | None = None,
    spec: Spec | str | Path | None = None,
) -> ReplayResult:
    """Re-create one output of a job from its manifest record.

    Args:
        manifest: a ``manifest-<host>.jsonl``.
        record: the record's line number in the manifest, from 1.
        out: where to write the re-created image.
        input_dir: the job's input root (default: the one in the job's summary).
        spec: the job's spec (default: ``spec.yaml`` beside the manifest).

    Raises:
        UsageError: no such record, a failed record, missing input or spec, or an
            input whose bytes changed since the job ran.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise UsageError(f"manifest {manifest}: no such file")
    records = read_manifest(manifest)
    if not 1 <= record <= len(records):
        raise UsageError(f"--record {record}: the manifest has records 1 to {len(records)}")
    rec = records[record - 1]
    if rec["status"] != "ok":
        raise UsageError(f"record {record} ({rec['source']}, copy {rec['copy']}) failed in the job, "
                         f"so there is no output to re-create: {rec['error']}")
    spec = load_spec(spec if spec is not None else manifest.parent / "spec.yaml")
    if input_dir is None:
        summary_path = manifest.parent / manifest.name.replace("manifest-", "summary-").replace(".jsonl", ".json")
        if not summary_path.is_file():
            raise UsageError(f"no {summary_path.name} beside the manifest; pass --input-dir")
        input_dir = json.loads(summary_path.read_text())["input_dir"]
    source = Path(input_dir) / rec["source"]
    if not source.is_file():
        raise UsageError(f"input {source} not found; pass --input-dir with the job's input root")
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != rec["source_sha256"]:
        raise UsageError(f"input {source} changed since the job ran (SHA-256 differs)")
    seed = derive_seed(spec.seed, rec["source"], rec["copy"])
    if seed != rec["seed"]:
        raise UsageError(f"record {record}: seed {rec['seed']} does not match this spec (expected {seed}); "
                         "is this the job's spec?")
    decoded = decode(data, max_pixels=sys.maxsize)  # the job already accepted this input
    image, params = Pipeline(spec).apply(decoded.image, seed)
    blob = encode(image, rec["format"], spec.output.quality)
    out = Path(out)
    atomic_write_bytes(out, blob)
    digest = hashlib.sha256(blob).hexdigest()
    return ReplayResult(rec, out, digest, digest == rec["output_sha256"], params == rec["params"])
