"""Many jobs: batched launches done right, prefetching ahead of a training loop, and a
group handle with one progress bar across jobs.

**Batched.** The naive loop launches one job per 128 images with ``--input-dir``
arguments, and every job still downloads the whole prefix. Here each batch gets a
``ManifestFile`` that lists exactly its keys, written next to the outputs
(``<output>/_batches/batch-00000.json``), so each job downloads only its batch and
writes to its own prefix (``<output>/batch-00000/``). At most ``max_in_flight`` jobs
run at once (default account quotas are low); a failed batch is retried up to
``retries`` times under a new job name, unless its failure would repeat (more bad
inputs than ``--max-error-rate`` allows, a bad spec: see
:data:`augment.contract.NOT_RETRYABLE`), which is reported once with its reasons; the
report at the end (``<output>/_batches/report.json``) lists every attempt.

Each job pays the start-up (minutes on SageMaker) again: for one large dataset a
single sharded job is cheaper. Batches fit when the keys arrive over time, or to feed
a training loop (:func:`prefetch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from augment.contract import not_retryable
from augment.errors import JobFailed, UsageError
from augment.jobs.build import (
    IMAGES_PATH,
    UNSTAGED_PATH,
    build_request,
    check_locations,
    job_name,
    job_spec,
    put_json,
    reads_s3_only,
    spec_source,
)
from augment.jobs.dataset import AugmentedImages, class_of, classes_of  # noqa: F401  (documented here too)
from augment.jobs.handles import TERMINAL, Job
from augment.jobs.labels import check_labels, merged_batches
from augment.jobs.request import Input, JobRequest
from augment.options import JOB_OPTIONS, check_number, masks_as_annotations, process_arguments
from augment.progress import Progress
from augment.spec import Spec, load_spec
from augment.storage import is_s3, join
from augment.text import plural


@dataclass
class Batch:
    """One batch: its keys, its manifest, its output prefix, and every attempt.

    ``unstaged`` holds the keys of the batch that cannot be staged as files (see
    :mod:`augment.keys`), which its job records as failed inputs, listed in
    ``unstaged_uri``. ``not_retried`` holds the label of a failure that a retry would
    repeat (``bad inputs``, ``usage error``), for which the batch was not retried.
    """

    index: int
    keys: list[str]
    manifest_uri: str
    output_uri: str
    unstaged: list[str] = field(default_factory=list)
    unstaged_uri: str = ""
    attempts: list[str] = field(default_factory=list)
    status: str = "Pending"
    failures: list[str] = field(default_factory=list)
    not_retried: str = ""


def retry_blocker(error: JobFailed) -> str | None:
    """Why running the failed job again would fail the same way (a label of
    :data:`~augment.contract.NOT_RETRYABLE`), or ``None`` when a retry may pass: a host
    killed, a time-out, a stage or upload error."""
    description = error.summary if isinstance(error.summary, dict) else {}
    for text in (description.get("ExitMessage"), description.get("FailureReason")):
        label = not_retryable(text or "")
        if label:
            return label
    return None


@dataclass
class BatchReport:
    """What a batched launch did, batch by batch."""

    batches: list[Batch]
    seconds: float = 0.0
    jobs: list[Job] = field(default_factory=list, repr=False)  # every attempt's handle, for timelines
    labels: list[str] = field(default_factory=list)  # the batches' label files merged, relative to the output

    @property
    def completed(self) -> list[Batch]:
        return [b for b in self.batches if b.status == "Completed"]

    @property
    def failed(self) -> list[Batch]:
        return [b for b in self.batches if b.status != "Completed"]

    @property
    def retried(self) -> list[Batch]:
        return [b for b in self.batches if len(b.attempts) > 1]

    @property
    def classes(self) -> list[str]:
        """Every class of the batched input, in label order (see :class:`AugmentedImages`)."""
        return classes_of([k for b in self.batches for k in (*b.keys, *b.unstaged)])

    def line(self) -> str:
        kept = [b for b in self.failed if b.not_retried]
        why = ", ".join(sorted({b.not_retried for b in kept}))
        inputs = sum(len(b.keys) + len(b.unstaged) for b in self.batches)
        return (f"batched: {plural(len(self.batches), 'batch')} of {plural(inputs, 'input')}: "
                f"{len(self.completed)} completed, {len(self.failed)} failed"
                + (f" ({len(kept)} not retried: {why})" if kept else "")
                + f", {len(self.retried)} retried, in {self.seconds:.1f} s")

    def failure_message(self) -> str:
        """Why the failed batches failed: each failure that a retry would repeat once, with
        its reasons, and the others after their last retry."""
        kept = [b for b in self.failed if b.not_retried]
        retried = [b for b in self.failed if not b.not_retried]
        parts = []
        if kept:
            parts.append(f"{plural(len(kept), 'batch')} failed and not retried, since a "
                         "retry fails the same way: " + "; ".join(b.failures[-1] for b in kept[:3]))
        if retried:
            parts.append(f"{plural(len(retried), 'batch')} failed after every retry: "
                         + "; ".join(b.failures[-1] for b in retried[:3]))
        return ". ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.line(), "seconds": self.seconds, "labels": self.labels,
                "batches": [asdict(b) for b in self.batches]}


def plan_batches(input_uri: str, output_uri: str, batch_size: int, inputs: Any = None,
                 split: Any = None, annotations: str | None = None) -> list[Batch]:
    """Split the input's keys into batches and write each batch's ManifestFile.

    With ``inputs`` (a spec's ``input`` section), the keys it leaves out (operating-system
    junk, ``--exclude``...) are batched into no job, since a batch of nothing but those
    would fail; they are listed, with the pattern that left each out, in
    ``<output>/_batches/excluded.json``, as are folder markers (zero-byte keys ending in
    ``/``). Keys that cannot be staged as files (see :mod:`augment.keys`) are dealt to the
    batches round-robin, each batch's job recording its share as failed inputs.

    ``split`` is the input as :func:`augment.keys.list_input` lists it, when the caller
    has it (the input is then not listed again). With ``annotations="yolo"`` the input is
    a YOLO tree: its label files and dataset YAML are batched into no job of their own,
    each batch's manifest lists its images' label files and the YAML beside its images
    (see :func:`yolo_sidecars`), so each job reads its images' labels.
    """
    from augment.keys import input_root, list_input, select_inputs, unstaged_document

    check_number("batch_size", batch_size, min=1, integer=True)
    split = split or list_input(input_uri)
    keys, failed, excluded = select_inputs(split, inputs, input_uri)
    keys, sidecars = yolo_sidecars(keys, split.staged) if annotations == "yolo" else (keys, lambda chunk: [])
    if excluded:
        put_json(join(output_uri, "_batches", "excluded.json"), excluded)
    # the keys are relative to it, as SageMaker stages them; a local one named absolutely, for the runtime
    prefix = input_root(input_uri if is_s3(input_uri) else str(Path(input_uri).resolve()))
    batches = []
    for n, start in enumerate(range(0, len(keys), batch_size)):
        chunk = keys[start : start + batch_size]
        manifest = join(output_uri, "_batches", f"batch-{n:05d}.json")
        put_json(manifest, [{"prefix": prefix}, *chunk, *sidecars(chunk)])
        batches.append(Batch(n, chunk, manifest, join(output_uri, f"batch-{n:05d}") + "/"))
    for b in batches:
        share = failed[b.index :: len(batches)]
        if share:
            b.unstaged = [f["source"] for f in share]
            b.unstaged_uri = join(output_uri, "_batches", f"batch-{b.index:05d}.unstaged.json")
            put_json(b.unstaged_uri, unstaged_document(share, [], input_uri))
    return batches


def yolo_sidecars(keys: list[str], staged: list[str] | None = None
                  ) -> tuple[list[str], Callable[[list[str]], list[str]]]:
    """A YOLO tree's keys as its images, and what a batch of them takes along: the dataset
    YAML in the root and each image's label file (``images/train/a.jpg`` ->
    ``labels/train/a.txt``, Ultralytics' rule, as :func:`augment.labels.open_annotations`
    reads the tree).

    ``keys`` are the inputs the spec's filters kept; the tree's own files are found among
    ``staged``, every key of the tree (default: ``keys``), since filters that keep the
    images only (``include: ["images/**"]``) leave the labels out of ``keys`` but not of
    the job, as a standalone job reads them from its whole input."""
    from augment.labels.yolo import label_path, own_file

    owned = {k for k in (keys if staged is None else staged) if own_file(k)}
    yaml_files = sorted(k for k in owned if "/" not in k)

    def sidecars(chunk: list[str]) -> list[str]:
        return [*yaml_files, *(p for k in chunk if (p := label_path(k)) in owned)]

    return [k for k in keys if k not in owned], sidecars


def batch_request(spec: str, batch: Batch, base_name: str, **kwargs: Any) -> JobRequest:
    """The request of one attempt at one batch: its ManifestFile in, its prefix out."""
    request = build_request(spec, batch.manifest_uri, batch.output_uri,
                            name=f"{base_name}-b{batch.index:05d}-a{len(batch.attempts)}", **kwargs)
    from augment.keys import UNSTAGED_INPUT

    images = Input("images", batch.manifest_uri, IMAGES_PATH, data_type="ManifestFile")
    unstaged = (Input(UNSTAGED_INPUT, batch.unstaged_uri, UNSTAGED_PATH),) if batch.unstaged else ()
    return request.with_changes(inputs=(images, *request.inputs[1:], *unstaged),
                                tags=({"Key": "augment:mode", "Value": "batched"},))


def _ready(backend: Any, spec: str, loaded: Spec | None, input_uri: str, output_uri: str, batch_size: int,
           request_kwargs: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """What every batched launch checks and sizes before any batch manifest is written:
    the job options, the input and output locations (for ``backend``), and each job's
    ``VolumeSizeInGB``, sized for the largest batch's download and outputs (see
    :mod:`augment.plan._disk`; a ``volume_gb`` given in ``request_kwargs`` is refused when
    too small for it). ``spec`` is read here unless ``loaded`` holds it already, and
    with it a labelled job is checked as :func:`~augment.jobs.labels.check_labels`
    checks it (``loaded`` comes from :func:`~augment.jobs.launch.launch`, which did).

    Returns:
        The spec's ``input`` section as the jobs will apply it, the input as listed (for
        :func:`plan_batches`), and ``request_kwargs`` with the volume and the spec as
        loaded, so that no batch's request reads it again.
    """
    from augment.plan import _disk

    check_number("batch_size", batch_size, min=1, integer=True)
    if loaded is None:
        loaded = load_spec(spec)
        check_labels(loaded, input_uri, *masks_as_annotations(request_kwargs))
    options = process_arguments(loaded, **{k: request_kwargs[k] for k in JOB_OPTIONS if k in request_kwargs})
    arguments = (*options, *request_kwargs.get("extra_arguments", ()))
    sagemaker = reads_s3_only(backend)
    check_locations(loaded, input_uri, output_uri, arguments, s3_only=sagemaker)
    running = job_spec(loaded, arguments)
    got = _disk.taken(input_uri, running.input)
    share = _disk.share_bytes(got.staged_sizes, "batched", 1, batch_size)
    need = _disk.disk(share, running.copies, running.output.keep_original, _disk.output_ratio(running)[0])
    volume = _disk.check_volume(need, request_kwargs.get("volume_gb"), sagemaker=sagemaker)
    return running.input, got.split, {**request_kwargs, "volume_gb": volume, "loaded": loaded}


class JobGroup:
    """Runs many requests with at most ``max_in_flight`` at once and ``retries`` retries,
    with one progress bar across them.

    Args:
        backend: anything with ``submit(request) -> Job``.
        max_in_flight: jobs running at once.
        retries: extra attempts for a failed job, unless a retry would fail the same way
            (:func:`retry_blocker`).
        poll: seconds between status checks.
        progress: ``bar``, ``lines``, ``off`` or ``None`` (auto).
    """

    def __init__(self, backend: Any, max_in_flight: int = 4, retries: int = 2, poll: float = 5.0,
                 progress: str | None = None) -> None:
        if max_in_flight < 1 or retries < 0:
            raise UsageError("max_in_flight= must be >= 1 and retries= >= 0")
        self.backend, self.max_in_flight, self.retries = backend, max_in_flight, retries
        self.poll, self.progress = poll, progress
        self.jobs: list[Job] = []

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.jobs:
            s = job.status()
            counts[s] = counts.get(s, 0) + 1
        return counts

    def run(self, items: list[Batch], make_request: Callable[[Batch], JobRequest]) -> None:
        """Run one job per item until each completed or used up its retries; items get
        their attempts, status and failure reasons filled in."""
        todo = list(items)
        running: dict[int, tuple[Batch, Job]] = {}
        bar = Progress(len(items), unit="batch", mode=self.progress, interval=self.poll)
        try:
            while todo or running:
                while todo and len(running) < self.max_in_flight:
                    item = todo.pop(0)
                    request = make_request(item)
                    item.attempts.append(request.job_name)
                    job = self.backend.submit(request)
                    self.jobs.append(job)
                    running[id(job)] = (item, job)
                for key, (item, job) in list(running.items()):
                    if job.status() not in TERMINAL:
                        continue
                    del running[key]
                    try:
                        job.wait(timeout=0, poll=0)
                    except JobFailed as e:
                        item.failures.append(str(e))
                        item.not_retried = retry_blocker(e) or ""
                        if not item.not_retried and len(item.attempts) <= self.retries:
                            todo.insert(0, item)  # retried first, so batches finish roughly in order
                            continue
                        item.status = "Failed"
                        bar.update(errors=1)
                        continue
                    item.status = "Completed"
                    bar.update()
                if running:
                    time.sleep(self.poll)
        finally:
            bar.close()


def run_batched(backend: Any, spec: str | Spec | dict[str, Any], input_uri: str, output_uri: str, *,
                batch_size: int = 128, max_in_flight: int = 4, retries: int = 2, poll: float = 5.0,
                progress: str | None = None, loaded: Spec | None = None, **request_kwargs: Any) -> BatchReport:
    """The seed's batch loop done right (see module docs); returns the report, also
    written to ``<output>/_batches/report.json``. With ``annotations``, each batch has its
    own label files and the completed batches' are merged into the output folder
    (``report.labels``: see :func:`augment.jobs.labels.merge_batches`).

    ``request_kwargs`` go to :func:`~augment.jobs.build.build_request` for every batch;
    ``volume_gb`` (each job's ``VolumeSizeInGB``) is sized for the largest batch unless
    given, and a value too small for it is refused before anything is written. ``loaded``
    is ``spec`` as already read (by :func:`~augment.jobs.launch.launch`): the spec is read
    once, here when not given, and every batch's request is built from it."""
    start = time.monotonic()
    spec = spec_source(spec)
    inputs, split, request_kwargs = _ready(backend, spec, loaded, input_uri, output_uri, batch_size, request_kwargs)
    batches = plan_batches(input_uri, output_uri, batch_size, inputs, split, request_kwargs.get("annotations"))
    base = job_name("batched", f"{spec}{input_uri}{output_uri}")[:48]
    group = JobGroup(backend, max_in_flight, retries, poll, progress)
    group.run(batches, lambda b: batch_request(spec, b, base, **request_kwargs))
    report = BatchReport(batches, round(time.monotonic() - start, 2), jobs=group.jobs)
    where = join(output_uri, "_batches", "report.json")
    put_json(where, report.to_dict())  # first: a merge that fails loses no report
    if request_kwargs.get("annotations"):
        report.labels = merged_batches(output_uri, batches, "merge them again with "
                                       f"augment.jobs.labels.merge_report({output_uri!r})")
        put_json(where, report.to_dict())
    return report


class Prefetch:
    """Augment upcoming batches on cheap instances while a training loop consumes earlier ones.

    Iterating keeps up to ``ahead`` batch jobs in flight beyond the one being consumed
    and yields each :class:`Batch` (its ``output_uri`` holds the images) in order, as
    soon as it completes. The next job is submitted before a batch is handed over, so
    the consumer's work overlaps the jobs'. ``loaded`` is ``spec`` as already read (by
    :func:`~augment.jobs.launch.launch`): the spec is read once, here when not given.
    With ``annotations``, each batch has its own label files, and once the last batch is
    yielded the set's are merged into the output folder (``labels`` names them: see
    :func:`augment.jobs.labels.merge_batches`).

    Example:
        >>> for batch in Prefetch(backend, "light", "s3://data/train/", "s3://data/aug/", batch_size=512):
        ...     train_on(batch.output_uri)

    Raises:
        JobFailed: (while iterating) a batch failed ``retries + 1`` times, or once where a
            retry would fail the same way (too many bad inputs, a bad spec).
    """

    def __init__(self, backend: Any, spec: str | Spec | dict[str, Any], input_uri: str, output_uri: str, *,
                 batch_size: int = 128, ahead: int = 2, retries: int = 1, poll: float = 5.0, loaded: Spec | None = None,
                 **request_kwargs: Any) -> None:
        if ahead < 1:
            raise UsageError(f"ahead must be >= 1, got {ahead}")
        spec = spec_source(spec)
        self.backend, self.spec, self.ahead, self.retries, self.poll = backend, spec, ahead, retries, poll
        self.output_uri = output_uri
        self.labels: list[str] = []  # the batches' label files merged, once every batch was yielded
        inputs, split, self.request_kwargs = _ready(backend, spec, loaded, input_uri, output_uri, batch_size,
                                                    request_kwargs)
        self.batches = plan_batches(input_uri, output_uri, batch_size, inputs, split, request_kwargs.get("annotations"))
        self.base = job_name("prefetch", f"{spec}{input_uri}{output_uri}")[:48]
        self.jobs: dict[int, Job] = {}

    @property
    def classes(self) -> list[str]:
        """Every class of the input, in label order: pass it to each batch's
        :class:`AugmentedImages`, so that a label means the same class in every batch."""
        return classes_of([k for b in self.batches for k in (*b.keys, *b.unstaged)])

    def _submit(self, b: Batch) -> None:
        request = batch_request(self.spec, b, self.base, **self.request_kwargs)
        b.attempts.append(request.job_name)
        self.jobs[b.index] = self.backend.submit(request)

    def in_flight(self) -> list[int]:
        """Indexes of the batches whose jobs are still running."""
        return [i for i, job in self.jobs.items() if job.status() not in TERMINAL]

    def __iter__(self) -> Iterator[Batch]:
        for b in self.batches[: self.ahead]:
            self._submit(b)
        for b in self.batches:
            while True:
                try:
                    self.jobs[b.index].wait(poll=self.poll)
                    break
                except JobFailed as e:
                    b.failures.append(str(e))
                    b.not_retried = retry_blocker(e) or ""
                    if b.not_retried or len(b.attempts) > self.retries:
                        b.status = "Failed"
                        raise
                    self._submit(b)
            b.status = "Completed"
            following = b.index + self.ahead
            if following < len(self.batches):
                self._submit(self.batches[following])
            yield b
        if self.request_kwargs.get("annotations"):
            self.labels = merged_batches(self.output_uri, self.batches, "merge them again with "
                                         f"augment.jobs.labels.merge_batches({self.output_uri!r}, prefetch.batches)")
