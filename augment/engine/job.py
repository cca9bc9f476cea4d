"""A job: :func:`run_job` lists the inputs, claims the output folder, runs the workers
and records every outcome; :class:`JobOptions` holds how it runs."""

from __future__ import annotations

import signal
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from augment import __version__
from augment import manifest as mf
from augment.contract import check_host
from augment.cpus import default_workers
from augment.engine.claim import (
    _cannot_write,
    _check_dirs,
    _claim_output,
    _previous_work,
    _remove_stale_temps,
    _summary_field,
)
from augment.engine.labels import (
    append_lines,
    check_no_fragments,
    check_same_annotations,
    excluded_annotations,
    label_prefix,
    open_journal,
    open_labels,
    record_problems,
    write_labels,
)
from augment.engine.pool import _run_in_pool, _run_in_process, _Stop, frozen_heap
from augment.engine.summary import DEFAULT_MAX_ERROR_RATE, PACKAGE_DIR, Summary, Wording, _append_failed, _write_summary
from augment.engine.worker import _failed
from augment.errors import JobFailed, JobStopped, TooManyBadInputs, UsageError
from augment.images import DEFAULT_MAX_PIXELS, atomic_write_bytes, list_images
from augment.kernels import NATIVE
from augment.keys import UNSTAGEABLE, apply_filters, excluded_counts, host_share, read_unstaged
from augment.locations import META_DIR
from augment.logs import Log
from augment.manifest import ORIGINAL
from augment.options import check_max_error_rate, check_max_pixels, check_number
from augment.pipeline import Pipeline
from augment.progress import Progress
from augment.spec import Spec, load_spec
from augment.text import all_excluded, plural


@dataclass(frozen=True)
class JobOptions:
    """How a job runs: every option of :func:`run_job` but what it augments and where.

    Attributes:
        workers: worker processes (default: one per CPU); each uses one torch thread.
        host: names this host's manifest and summary, so hosts sharing an output
            prefix never overwrite each other.
        hosts, job_name: recorded in the summary (from the job's config files).
        resume: finish the job this host started in ``output_dir`` (see module docs):
            every (input, copy) without a record, or whose "ok" record's output is
            missing, or whose failure may pass now (a full disk, an unreadable file,
            memory: :data:`~augment.manifest.TRANSIENT_REASONS`) is done (again).
        verify: with ``resume``, also redo outputs whose SHA-256 is not the recorded one.
        retry_failed: with ``resume``, retry every failed record, not only transient ones.
        max_error_rate: the job fails when more than this share of inputs fail.
        max_pixels: inputs larger than this (from the header) are refused unread.
        progress: ``bar``, ``lines``, ``off`` or ``None`` (auto).
        progress_interval: seconds between plain progress lines.
        log: where events go (default: text lines on stderr).
        start_method: how worker processes start. ``forkserver`` (the default) is safe
            from any caller, a notebook that already ran torch in parallel included, and
            a plain script without an ``if __name__ == "__main__":`` guard or ``python -``
            (workers never re-run the caller's main script);
            ``fork`` starts workers in milliseconds instead of re-importing torch, and is
            what the CLI uses, since a fresh ``augment process`` has run nothing in
            parallel before it forks.
        input_uri: where ``input_dir``'s files came from (an ``s3://`` URI or a local
            folder), recorded in the summary so that :func:`~augment.replay.replay`
            finds the inputs after a staging folder is gone.
        wording: how failure messages name the output location and the flags (see
            :class:`Wording`; default: the folders and ``augment process``'s flags).
        unstaged: the file that lists the input's keys that could not be staged as files
            (the ``unstaged`` processing input a launcher adds, see :mod:`augment.keys`):
            this host records its share of them as failed inputs (``unstageable_key``),
            and folder markers as excluded.
        sharded: ``input_dir`` holds this host's share of an input split between the
            hosts (``ShardedByS3Key``): a share with no input in it (more hosts than
            inputs) completes with nothing to do instead of being refused.
        annotations: the inputs' labels (see :func:`augment.labels.open_annotations`: a
            COCO ``.json``, ``yolo`` for a YOLO tree in ``input_dir``, a VOC or masks
            folder, a Ground Truth manifest): indexed once here, each worker gets its
            inputs' labels only, and the outputs' labels are written in that format
            (see :mod:`augment.engine.labels`).
        annotation_format: the annotations' format, instead of detecting it.
    """

    workers: int | None = None
    host: str = "local"
    hosts: list[str] | None = None
    job_name: str | None = None
    resume: bool = False
    verify: bool = False
    retry_failed: bool = False
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_pixels: int = DEFAULT_MAX_PIXELS
    progress: str | None = None
    progress_interval: float = 10.0
    log: Log | None = None
    start_method: str = "forkserver"
    input_uri: str | None = None
    wording: Wording | None = None
    unstaged: str | Path | None = None
    sharded: bool = False
    annotations: str | Path | None = None
    annotation_format: str | None = None

    @classmethod
    def of(cls, options: JobOptions | None = None, overrides: dict[str, Any] | None = None) -> JobOptions:
        """``options`` (default: every default) with ``overrides`` by field name.

        Raises:
            TypeError: an override that names no option (as a call with an unknown keyword).
        """
        options = options if options is not None else cls()
        if not isinstance(options, cls):
            raise TypeError(f"run_job() options must be a JobOptions, not {type(options).__name__}")
        if not overrides:
            return options
        for name in overrides:
            if name not in _FIELDS:
                raise TypeError(f"run_job() got an unexpected keyword argument {name!r}")
        return replace(options, **overrides)


_FIELDS = frozenset(f.name for f in fields(JobOptions))


def _values(options: JobOptions) -> tuple[Any, ...]:
    """The options' values in field order (not copied, as :func:`dataclasses.astuple` would)."""
    return tuple(getattr(options, f.name) for f in fields(options))


def run_job(
    spec: Spec | str | dict[str, Any],
    input_dir: str | Path,
    output_dir: str | Path,
    options: JobOptions | None = None,
    **kwargs: Any,
) -> Summary:
    """Augment every file under ``input_dir`` into ``output_dir``.

    Args:
        spec: a :class:`~augment.spec.Spec`, spec data, a spec file or a preset name.
        input_dir: read recursively; every regular file is an input, except those the
            spec's ``input`` section or :data:`~augment.spec.DEFAULT_EXCLUDES` excludes
            (listed in ``_augment/excluded-<host>.jsonl``).
        output_dir: created if missing.
        options: the job's :class:`JobOptions` (default: each one's default).
        **kwargs: any :class:`JobOptions` field by name, over ``options`` (``workers=4``,
            ``resume=True``...): the keywords ``run_job`` always took.

    Returns:
        The :class:`Summary`, also written to ``_augment/summary-<host>.json``.

    Raises:
        SpecError: invalid spec (before anything is read).
        UsageError: bad directories or arguments, or an output directory that holds
            another job (before anything is written).
        JobFailed: more inputs failed than ``max_error_rate`` allows (``TooManyBadInputs``), or a worker
            died; everything recorded so far is intact.
        JobStopped: SIGTERM or SIGINT; re-run with ``resume=True`` to finish.
    """
    opts = JobOptions.of(options, kwargs)
    (workers, host, hosts, job_name, resume, verify, retry_failed, max_error_rate, max_pixels, progress,
     progress_interval, log, start_method, input_uri, wording, unstaged, sharded, annotations,
     annotation_format) = _values(opts)
    wording = wording or Wording()
    spec = load_spec(spec)
    Pipeline(spec)  # build once here, so a spec torchvision refuses fails before any work
    log = log or Log()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    _check_dirs(input_dir, output_dir)
    workers = default_workers() if workers is None else check_number("workers", workers, min=1, integer=True)
    check_number("progress_interval", progress_interval, min=0)  # nan, inf: no line ever; 0: one per update
    check_max_error_rate(max_error_rate)
    check_max_pixels(max_pixels)  # the CLI refuses it too; 0 would refuse every input as too large
    check_host(host, "host=")  # it names files under _augment/: never a path
    meta = output_dir / META_DIR
    manifest_path = meta / f"manifest-{host}.jsonl"
    summary_path = meta / f"summary-{host}.json"
    if (verify or retry_failed) and not resume:
        raise UsageError(f"{'verify=True' if verify else 'retry_failed=True'} checks the work of an earlier run: "
                         "pass it with resume=True")
    manifest_size = manifest_path.stat().st_size if manifest_path.exists() else -1
    if resume and input_uri is None:  # a resume run by hand keeps where the inputs came from
        input_uri = _summary_field(summary_path, "input_uri")
    labels = None if annotations is None else open_labels(spec, annotations, annotation_format, input_dir, input_uri)
    if resume:
        check_same_annotations(summary_path, labels)
        if labels is not None:
            check_no_fragments(meta)
    before = _previous_work(spec, meta, manifest_path, summary_path, resume, input_dir, verify, retry_failed)
    tally = before.tally()
    previous = tally.records
    files = list_images(input_dir)
    not_staged, markers = read_unstaged(unstaged) if unstaged is not None else ([], [])
    not_staged, markers = host_share(not_staged, host, hosts or [host]), host_share(markers, host, hosts or [host])
    if not files and not not_staged and not sharded:
        raise UsageError(f"input_dir={input_dir}: no files found")
    items, excluded = apply_filters(files, spec.input)
    if labels is not None:
        items, own = excluded_annotations(labels, input_dir, items)
        excluded += own
    unstageable, left_out = apply_filters([f["source"] for f in not_staged], spec.input)  # junk is junk, staged or not
    excluded += left_out + markers
    if not items and not unstageable and sharded:
        log.event("empty_share", f"this host's share of the input holds no input ({plural(len(files), 'file')} "
                  f"staged, {len(excluded)} excluded): {len(hosts or [])} hosts share it; nothing to do here",
                  host=host)
    elif not items and not unstageable:
        raise UsageError(f"input_dir={input_dir}: no inputs: "
                         f"{all_excluded(len(files) + len(not_staged))} ({excluded_counts(excluded)}); change the "
                         "spec's input.include/input.exclude "
                         "(include= or exclude=)")

    wanted = tuple(range(spec.copies)) + ((ORIGINAL,) if spec.output.keep_original else ())
    done = before.done
    tasks = [(rel, missing, None if labels is None else labels.image(rel)) for rel in items
             if (missing := tuple(k for k in wanted if not done.get(rel, 0) & (1 << (k + 1))))]
    redo = before.redo  # what this run does again, by (input, copy): their new records say why
    before_counts = before.redo_counts()
    why_not_staged = {f["source"]: f for f in not_staged}
    not_staged_records = [
        {**_failed({"source": rel, "source_sha256": None}, spec.seed, k, why_not_staged[rel]["error"],
                   why_not_staged[rel]["reason"]), **({"redone": redo[(rel, k)]} if (rel, k) in redo else {})}
        for rel in unstageable for k in wanted if not done.get(rel, 0) & (1 << (k + 1))]
    del done, before  # from here on memory does not grow with the number of inputs done
    claim = _claim_output(spec, meta, manifest_path, resume, manifest_size)
    # The claim is held until the last summary is written (no other run of this host starts
    # before), and released on every path; the records go through its file.
    with claim as manifest:
        if resume:
            _remove_stale_temps(output_dir)  # a kill can leave them before the first record, too
        excluded_path = meta / f"excluded-{host}.jsonl"
        summary = Summary(host=host, hosts=hosts or [host], job_name=job_name, input_dir=str(input_dir.resolve()),
                          output_dir=str(output_dir.resolve()), spec_digest=spec.digest, workers=workers,
                          inputs=len(items) + len(unstageable), copies=spec.copies, resumed_records=previous,
                          max_error_rate=max_error_rate, max_pixels=max_pixels, manifest=str(manifest_path),
                          spec_path=str(meta / "spec.yaml"), input_uri=input_uri, excluded=len(excluded),
                          excluded_list=str(excluded_path), include=list(spec.input.include),
                          exclude=list(spec.input.exclude))
        try:  # before any output: a full disk here is a clear refusal, and nothing was done
            atomic_write_bytes(excluded_path, mf.json_lines(excluded))  # a name not UTF-8: as in the manifest
            if labels is not None:  # in the first summary: a job killed after it resumes with these annotations
                record_problems(labels, meta / f"label-problems-{host}.jsonl", summary, log,
                                unlabelled=sum(task[2] is None for task in tasks))
            _write_summary(summary, summary_path)
        except OSError as e:
            raise _cannot_write(output_dir, e) from None
        todo = len(tasks) + len({r["source"] for r in not_staged_records})
        log.event("start", f"{plural(summary.inputs, 'input')} x {plural(spec.copies, 'copy')} on "
                  f"{plural(workers, 'worker')}, host {host}; {plural(todo, 'input')} to do"
                  + (f" ({plural(previous, 'record')} from before)" if previous else "")
                  + f" (augment {__version__} from {PACKAGE_DIR})",
                  inputs=summary.inputs, copies=spec.copies, workers=workers, host=host, todo=todo,
                  resumed_records=previous, spec_digest=spec.digest, package=str(PACKAGE_DIR))
        if redo:
            log.event("redo", f"{plural(len(redo), 'recorded output')} to do again ({before_counts}); their new "
                      "records say why (\"redone\")", redo=len(redo), redo_by_reason=dict(Counter(redo.values())))
        if unstageable:
            log.event("unstageable", f"{plural(len(unstageable), 'input')} could not be staged as files (keys such "
                      f"as {unstageable[0]!r}): recorded as failed ({UNSTAGEABLE})", unstageable=len(unstageable))
        if excluded:
            log.event("excluded", f"{plural(len(excluded), 'file')} {'is' if len(excluded) == 1 else 'are'} "
                      f"not inputs ({excluded_counts(excluded)}); "
                      f"listed in {excluded_path}", excluded=len(excluded), excluded_list=str(excluded_path))
        if spec.kernels == "fast" and NATIVE is None:
            log.event("slow_kernels", "augment was installed without its compiled kernels (no C compiler at the "
                      "time): ColorJitter runs torchvision's tensor kernel, which gives the same bytes several times "
                      "slower. Reinstall with a C compiler (gcc or clang) to get them.", level="warning")

        args = (spec.to_dict(), str(input_dir), str(output_dir), max_pixels,
                None if labels is None else labels.writer(label_prefix(output_dir, wording.output)))
        written_before = tally.written
        try:
            journal = open_journal(labels, meta, host, resume)
        except OSError as e:
            raise _cannot_write(output_dir, e) from None
        bar = Progress(todo, mode=progress, interval=progress_interval,
                       emit=lambda text, fields: log.event("progress", text, **fields))
        start = time.monotonic()
        interrupted = announced = False
        with _Stop() as stop, frozen_heap():
            if not_staged_records:  # recorded, never read: there is no file of theirs to read
                try:
                    mf.write_records(manifest, not_staged_records)
                except OSError as e:
                    _append_failed(summary, wording, manifest_path, e)
                    tasks = []
                else:
                    tally.add(not_staged_records)
                    recorded = len({r["source"] for r in not_staged_records})
                    summary.processed_inputs += recorded
                    bar.update(recorded, errors=recorded)
            results = (_run_in_process(args, tasks, stop) if workers == 1
                       else _run_in_pool(args, tasks, workers, stop, start_method))
            try:
                for new, rss in results:
                    if labels is not None and new and (lost := labels.problems_of(new[0]["source"])):
                        for r in new:  # what the annotations lost of this input, said where its outputs are
                            r["label_problems"] = lost
                    if redo:
                        for r in new:
                            if (why := redo.pop((r["source"], r["copy"]), None)) is not None:
                                r["redone"] = why
                    try:
                        if journal is not None:  # first: an output with a record has its line
                            append_lines(journal, new)
                        mf.write_records(manifest, new)
                    except OSError as e:  # a full disk, say: these records are lost, the earlier ones intact
                        _append_failed(summary, wording, manifest_path, e)
                        results.close()  # stops the workers; their outputs without a record are redone on resume
                        break
                    tally.add(new)
                    summary.processed_inputs += 1
                    summary.peak_worker_rss_mb = max(summary.peak_worker_rss_mb, round(rss, 1))
                    bar.update(errors=int(any(r["status"] != "ok" for r in new)))
                    if stop.signum and not announced:
                        announced = True
                        log.event("stopping", f"{signal.Signals(stop.signum).name}: finishing the inputs in flight "
                                  "(Ctrl-C again interrupts at once)"
                                  + (f"; {wording.resume}" if wording.resume else ""))
            except BrokenProcessPool:
                summary.status = "failed"
                summary.message = ("a worker process died (killed for memory? see the logs); "
                                   + wording.intact(f"everything recorded in {wording.manifest(manifest_path)}"))
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, abandoning the inputs in flight
                interrupted = True
                results.close()  # kills the workers, when the interrupt came between two results
            finally:
                if journal is not None:
                    journal.close()
                try:
                    mf.sync(manifest)
                except OSError as e:
                    if summary.status != "failed":
                        summary.status = "failed"
                        summary.message = (f"cannot sync {wording.manifest(manifest_path)}: {e.strerror or e}; "
                                           + wording.intact("what it holds"))
                bar.close()
        summary.seconds = round(time.monotonic() - start, 3)
        summary.written, summary.originals = tally.written, tally.originals
        summary.failed_records = tally.failed_records
        summary.failed_inputs, summary.failures_by_reason = tally.failed_inputs, tally.failures_by_reason
        first_failures = tally.first_failures()
        new_images = tally.written - written_before
        summary.images_per_s = round(new_images / summary.seconds, 2) if summary.seconds else 0.0
        rate = summary.failed_inputs / summary.inputs if summary.inputs else 0.0  # a sharded host may get none
        bad_inputs = summary.status == "running" and not stop.signum and not interrupted and rate > max_error_rate
        if interrupted:
            summary.status = "stopped"
            summary.message = (f"interrupted by a second SIGINT after {summary.processed_inputs} of "
                               f"{plural(todo, 'input')}; the inputs in flight were abandoned, "
                               + wording.intact("everything recorded"))
        elif stop.signum and summary.status == "running":
            summary.status = "stopped"
            summary.message = (f"stopped by {signal.Signals(stop.signum).name} after {summary.processed_inputs} of "
                               f"{plural(todo, 'input')}; " + wording.intact("everything recorded"))
        elif summary.status == "running" and rate > max_error_rate:
            summary.status = "failed"
            shown = "; ".join(first_failures) + ("; ..." if summary.failed_inputs > len(first_failures) else "")
            summary.message = (f"{summary.failed_inputs} of {plural(summary.inputs, 'input')} failed ({rate:.1%}), "
                               f"more than {wording.max_error_rate} {max_error_rate:.1%} allows. First: {shown}. "
                               f"Every reason is in {wording.manifest(manifest_path)}; fix or remove those files, "
                               f"or raise {wording.max_error_rate}.")
        elif summary.status == "running":
            summary.status = "completed"
        if labels is not None and summary.status == "completed":
            write_labels(labels, output_dir, host, standalone=not sharded and len(hosts or [host]) == 1,
                         summary=summary)
        try:
            _write_summary(summary, summary_path)
        except OSError as e:  # a full disk: the manifest has the outcome, say so rather than raise a traceback
            if summary.status in ("completed", "failed"):
                summary.status = "failed"
                summary.message = (summary.message + "; " if summary.message else "") + (
                    f"cannot write {summary_path.name}: {e.strerror or e}; the manifest has every outcome")
    if interrupted:
        raise KeyboardInterrupt(summary.message)
    if summary.status == "stopped":
        raise JobStopped(summary.message, stop.signum or signal.SIGTERM, summary=summary)
    if summary.status == "failed":
        raise (TooManyBadInputs if bad_inputs else JobFailed)(summary.message, summary=summary)
    return summary

