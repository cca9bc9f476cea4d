"""Launch a job in any mode.

* ``standalone``: one job, one instance.
* ``sharded``: one job, N instances, the images input ``ShardedByS3Key``, so each
  instance gets a disjoint share and the start-up is paid once.
* ``batched`` and ``prefetch``: many jobs, one per batch (:mod:`augment.jobs.batch`).

:func:`launch` runs any mode after :func:`check_limits`: the estimate against ``max_cost``
and the ``quota``, before any request is sent. The request of one job is built and checked
in :mod:`augment.jobs.build` (its names are answered here too, where callers found them).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from augment.errors import UsageError
from augment.jobs.batch import Prefetch, run_batched
from augment.jobs.build import (  # noqa: F401  (the names callers import from here)
    ANNOTATIONS_PATH,
    IMAGES_PATH,
    LOCAL_IMAGE,
    LOCAL_ROLE,
    MODES,
    OUTPUT_PATH,
    SPEC_NAMES,
    SPEC_PATH,
    UNSTAGED_PATH,
    build_request,
    check_locations,
    check_s3_locations,
    job_name,
    job_spec,
    put_json,
    reads_s3_only,
    replicated_tree,
    shipped_spec,
    spec_source,
    yolo_labels_only,
)
from augment.jobs.labels import annotated, check_labels, finish_sharded
from augment.jobs.request import Input, JobRequest
from augment.locations import META_DIR
from augment.options import JOB_OPTIONS, check_number, masks_as_annotations, process_arguments
from augment.spec import Spec
from augment.storage import delete, is_s3, join


@contextlib.contextmanager
def removed_unless_created(uris: Sequence[str]) -> Iterator[None]:
    """Around the call that creates a job: when it raises, the job was never created, and
    the files its launch wrote (``uris``) are removed, best effort, so the output is left
    as it was."""
    try:
        yield
    except BaseException:
        for uri in uris:
            try:
                delete(uri)
            except Exception:  # the creation's error is the one to show
                pass
        raise


def with_unstaged(request: JobRequest, split: Any, input_uri: str, where: str) -> tuple[JobRequest, list[str]]:
    """``request`` with the keys of ``split`` (of the ``s3://`` input ``input_uri``) that
    cannot be staged left out of its images input and handed to its hosts to record (see
    :mod:`augment.keys`), and the files written for that under ``where`` (a prefix or folder
    of the output), to remove if the job is never created."""
    from augment.keys import UNSTAGED_FILE, UNSTAGED_INPUT, input_root, unstaged_document

    if not split.failed and not split.markers:
        return request, []
    written = []
    inputs = list(request.inputs)
    if split.failed:  # only what can be staged is staged: a ManifestFile of those keys
        manifest = f"{where}/images.manifest.json"
        put_json(manifest, [{"prefix": input_root(input_uri)}, *split.staged])
        written.append(manifest)
        inputs = [replace(i, source=manifest, data_type="ManifestFile") if i.name == "images" else i
                  for i in inputs]
    unstaged = f"{where}/{UNSTAGED_FILE}"
    put_json(unstaged, unstaged_document(split.failed, split.markers, input_uri))
    written.append(unstaged)
    inputs.append(Input(UNSTAGED_INPUT, unstaged, UNSTAGED_PATH))
    return request.with_changes(inputs=tuple(inputs)), written


def route_keys(request: JobRequest, input_uri: str, output_uri: str,
               inputs: Any = None, taken: Any = None) -> tuple[JobRequest, list[str]]:
    """List the input before the job is sent: refuse one that holds no input (empty, or
    everything left out by the spec's input filters ``inputs``), and for an ``s3://``
    input, route keys that cannot be staged as files (``a//b.jpg``, ``c.jpg`` beside
    ``c.jpg/x.jpg``...) to be recorded as failed inputs instead of staged onto other
    objects' paths (see :mod:`augment.keys`). The files this takes go under
    ``<output>/_augment/launch/<job name>/``.

    ``taken`` is the input as :func:`augment.plan._disk.taken` listed it, when the caller
    has it (the input is then not listed again).

    Returns:
        The request to send, and the files written (remove them if it is never created).

    Raises:
        UsageError: nothing in the input is an input, or none of it can be staged
            (naming why, for the first ones).
    """
    from augment.plan._disk import taken as take

    # the hosts apply the filters; here only to refuse a job of nothing
    split = (taken or take(input_uri, inputs)).split
    if not is_s3(input_uri):
        return request, []  # a folder holds no key it cannot stage
    where = join(output_uri, META_DIR, "launch", request.job_name)
    return with_unstaged(request, split, input_uri, where)


def ready_request(spec: str, input_uri: str, output_uri: str, request: JobRequest, *,
                  s3_only: bool = False, volume_gb: int | None = None) -> tuple[JobRequest, list[str]]:
    """What a standalone or sharded launch does between building its request and sending
    it: :func:`check_locations`, the volume sized for what each instance downloads and
    writes (see :mod:`augment.plan._disk`), then :func:`route_keys`.

    Args:
        s3_only: the job runs on SageMaker (see :func:`reads_s3_only`): its input and output
            must be ``s3://``, and a disk need above its volume limit is refused.
        volume_gb: the user's ``VolumeSizeInGB``, refused when too small; ``None``: sized.

    A sharded job of a YOLO tree gets the tree's labels alone replicated to every
    instance (see :func:`~augment.jobs.build.yolo_labels_only`).

    Returns:
        The request to send, and the files written for it (see
        :func:`removed_unless_created`).

    Raises:
        UsageError: as :func:`check_locations` and :func:`route_keys`; ``volume_gb``
            too small for the input (naming the need), before anything is written.
    """
    from augment.plan import _disk

    check_locations(spec, input_uri, output_uri, request.arguments, s3_only=s3_only)
    running = job_spec(spec, request.arguments)
    got = _disk.taken(input_uri, running.input)
    sharded = any(i.name == "images" and i.distribution == "ShardedByS3Key" for i in request.inputs)
    share = _disk.share_bytes(got.staged_sizes, "sharded" if sharded else "standalone", request.instance_count, 1)
    replicated = 0  # a sharded YOLO tree's labels, on every instance besides its share
    if replicated_tree(request) is not None:
        from augment.labels.yolo import own_file

        replicated = sum(got.sizes.get(k, 0) for k in got.split.staged if own_file(k))
    need = _disk.disk(share, running.copies, running.output.keep_original, _disk.output_ratio(running)[0],
                      label_bytes=replicated)
    request = request.with_changes(volume_gb=_disk.check_volume(need, volume_gb, sagemaker=s3_only))
    where = join(output_uri, META_DIR, "launch", request.job_name)
    request, labels = yolo_labels_only(request, got.split.staged, where)
    with removed_unless_created(labels):
        request, written = route_keys(request, input_uri, output_uri, running.input, taken=got)
    return request, [*labels, *written]


LAUNCH_MODES = ("standalone", "sharded", "batched", "prefetch")


def check_limits(spec: str, input_uri: str, *, mode: str = "standalone", instance_count: int | None = None,
                 instance_type: str = "ml.m5.large", max_cost: float | None = None, quota: int | None = None,
                 batch_size: int = 128, max_in_flight: int = 4, workers: int | None = None,
                 copies: int | None = None, prices: str = "auto", region: str | None = None,
                 include: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
                 annotations: str | None = None, annotation_format: str | None = None) -> int:
    """The guard rails of a launch, checked before any request is sent.

    Args:
        spec, input_uri: the job's spec and input (counted, not downloaded, for the estimate).
        mode: ``standalone``, ``sharded``, ``batched`` or ``prefetch``.
        instance_count: instances of a standalone or sharded job.
        max_cost: refuse when the estimated cost (USD) exceeds it.
        quota: instances of the type that may run at once; never exceeded.
        batch_size, max_in_flight: batched and prefetch (``max_in_flight`` is ``ahead``).
        workers: worker processes per instance, for the memory check of the estimate.
        copies: copies per input when the job overrides the spec's (``--copies``).
        prices: ``offline``, ``api`` or ``auto`` (see :func:`augment.plan.estimate`).
        region: the jobs' region, whose prices count (default: the session's).
        include, exclude: the job's ``--include``/``--exclude`` globs: the estimate counts
            only what the job would take.
        annotations, annotation_format: the job's labels: the estimate costs a labelled
            job (labels take time and disk of their own; see :func:`augment.plan.estimate`).
            A YOLO tree on ``s3://`` is costed without them (the estimate reads a tree
            from a local input only).

    Returns:
        The jobs that may run at once: ``max_in_flight``, lowered to the quota.

    Raises:
        UsageError: over the cost limit (with the estimate's figures), over the quota,
            or a bad argument.
    """
    if mode not in LAUNCH_MODES:
        raise UsageError(f"mode={mode!r}: must be one of {', '.join(LAUNCH_MODES)}")
    # every limit is a finite number in range: nan compares false with any cost, which let every launch pass
    if max_cost is not None:
        check_number("max_cost", max_cost, min=0)
    if quota is not None:
        check_number("quota", quota, min=1, integer=True)
    for flag, value in (("instance_count", instance_count), ("batch_size", batch_size),
                        ("max_in_flight", max_in_flight), ("workers", workers)):
        if value is not None:
            check_number(flag, value, min=1, integer=True)
    count = instance_count if instance_count is not None else (2 if mode == "sharded" else 1)
    if mode in ("standalone", "sharded") and quota is not None and count > quota:
        raise UsageError(f"instance_count={count} exceeds quota={quota} (instances of {instance_type} at once)")
    in_flight = min(max_in_flight, quota) if quota is not None else max_in_flight
    if max_cost is not None:
        from augment.plan import estimate, format_duration

        at_once = in_flight if mode in ("batched", "prefetch") else count
        plan = estimate(spec, input_uri, modes=[mode], instance_types=[instance_type], instance_counts=[at_once],
                        batch_size=batch_size, max_in_flight=at_once if mode in ("batched", "prefetch") else None,
                        quota=quota, workers=workers, copies=copies, prices=prices, region=region,
                        include=include, exclude=exclude, annotations=annotations,
                        annotation_format=annotation_format)
        o = plan.options[0]
        if o.cost_usd > max_cost:
            raise UsageError(
                f"max_cost={max_cost:g}: the estimate for {o.label} is ${o.cost_usd:,.2f} (range "
                f"${o.cost_usd_low:,.2f}-${o.cost_usd_high:,.2f}) for {o.jobs:,} job(s), "
                f"{o.billed_instance_s / 3600:,.2f} billed instance-hours at ${o.price_usd_per_h}/h "
                f"({o.price_source}), wall {format_duration(o.wall_s)}, start-up {o.startup_share:.0%} of the "
                f"bill; nothing was launched. See `augment plan` for cheaper ways")
    return in_flight


def launch(backend: Any, spec: str | os.PathLike[str] | dict[str, Any] | Spec, input: str, output: str, *,
           mode: str = "standalone", instance_count: int | None = None, instance_type: str = "ml.m5.large",
           max_cost: float | None = None, quota: int | None = None, batch_size: int = 128, max_in_flight: int = 4,
           copies: int | None = None,
           **request_kwargs: Any) -> Any:
    """Launch a job in any mode, after checking the cost limit and the quota (see :func:`check_limits`).

    Args:
        backend: from :func:`~augment.jobs.make_backend` (a
            :class:`~augment.jobs.backend.Backend`; anything with ``submit`` will do). One
            made with ``connect=False`` is connected only once the checks pass; its
            ``request_defaults`` for ``mode`` (the image, the role, shipping code) fill in
            what ``request_kwargs`` leave out, and its ``poll`` is batched and prefetch's.
        spec, input, output: as for :func:`build_request`.
        mode: ``standalone``, ``sharded``, ``batched`` or ``prefetch``.
        instance_count: instances of a standalone or sharded job.
        instance_type: the instance type of every job.
        max_cost: refuse, before any request is sent, when the estimate exceeds it (USD).
        quota: instances of the type that may run at once: a sharded job may not have
            more, and batched or prefetch jobs run at most that many at once.
        batch_size, max_in_flight: batched and prefetch (``max_in_flight`` is ``ahead``).
        copies: override the spec's copies per input (``augment process --copies``); the
            estimate counts them.
        request_kwargs: for :func:`build_request` (``image_uri``, ``role_arn``, ``workers``,
            and the job options ``seed``, ``format``, ``quality``, ``kernels``,
            ``keep_original``, ``max_pixels``, ``max_error_rate``, ``include``, ``exclude``,
            checked before anything is sent); ``volume_gb``, each instance's
            ``VolumeSizeInGB`` (default: sized from the input share and the outputs; a value
            too small for them is refused before anything is sent); batched also takes
            ``retries``, ``poll``, ``progress``;
            standalone and sharded take ``ship_code`` (for ``SageMakerBackend.submit``) and
            ``attached`` (for ``LocalBackend.submit``: run here, return when it ended);
            ``prices`` and ``region`` are for the cost estimate (see :func:`check_limits`).

    Returns:
        standalone and sharded: the job handle (a sharded job with ``annotations`` merges
        its hosts' labels into the one file a standalone job writes when it completes:
        at once where ``attached``, else when its ``wait()`` sees it completed; see
        :mod:`augment.jobs.labels`); batched: the
        :class:`~augment.jobs.batch.BatchReport` (when every batch ended, their labels
        merged); prefetch: a :class:`~augment.jobs.batch.Prefetch` to iterate (their
        labels merged once it has yielded every batch).

    Raises:
        UsageError: over the cost limit or the quota, an output that holds an earlier
            job or overlaps the input (see :func:`check_locations`), ``spec`` of none of
            the forms :func:`~augment.spec.load_spec` reads, or ``annotations`` with a spec
            whose ops cannot carry labels or (a local file) that cannot be opened (see
            :func:`~augment.jobs.labels.check_labels`), before anything is created.
    """
    from augment.spec import load_spec

    spec = spec_source(spec)  # spec data or a Spec object travel as a spec file
    prices = request_kwargs.pop("prices", "auto")
    region = request_kwargs.pop("region", None)
    if copies is not None:
        request_kwargs["copies"] = copies
    loaded = load_spec(spec)  # read once; the path (or preset name) still names what the job is sent
    # the job options first: nothing is counted, listed or sent when one is refused
    process_arguments(loaded, **{k: request_kwargs[k] for k in JOB_OPTIONS if k in request_kwargs})
    annotations, annotation_format = masks_as_annotations(request_kwargs)
    check_labels(loaded, input, annotations, annotation_format)  # not minutes into a paid job
    if reads_s3_only(backend):
        check_s3_locations(input, output)
    in_flight = check_limits(loaded, input, mode=mode, instance_count=instance_count, instance_type=instance_type,
                             max_cost=max_cost, quota=quota, batch_size=batch_size, max_in_flight=max_in_flight,
                             workers=request_kwargs.get("workers"), copies=copies, prices=prices, region=region,
                             include=request_kwargs.get("include"), exclude=request_kwargs.get("exclude"),
                             annotations=annotations, annotation_format=annotation_format)
    if hasattr(backend, "connect"):  # AWS or the engine, asked only now that nothing above refused
        backend.connect()
    if hasattr(backend, "request_defaults"):
        if request_kwargs.get("image_uri") is None:  # the backend's (or none): a notebook's image_uri=None
            request_kwargs.pop("image_uri", None)
        request_kwargs = {**backend.request_defaults(mode, image_uri=request_kwargs.get("image_uri")),
                          **request_kwargs}
    if mode in ("batched", "prefetch"):
        if request_kwargs.pop("ship_code", False):
            raise UsageError("ship_code=True is not supported with mode=batched yet")
        request_kwargs.pop("attached", None)  # batches run side by side
        request_kwargs.setdefault("poll", getattr(backend, "poll", 5.0))
    if mode == "batched":  # run_batched and Prefetch size the batches' volume themselves
        return run_batched(backend, spec, input, output, batch_size=batch_size, max_in_flight=in_flight,
                           instance_type=instance_type, loaded=loaded, **request_kwargs)
    if mode == "prefetch":
        return Prefetch(backend, spec, input, output, batch_size=batch_size, ahead=in_flight,
                        instance_type=instance_type, loaded=loaded, **request_kwargs)
    submit_kwargs = {k: request_kwargs.pop(k) for k in ("ship_code", "attached") if k in request_kwargs}
    volume_gb = request_kwargs.pop("volume_gb", None)
    request = build_request(spec, input, output, mode=mode, instance_count=instance_count,
                            instance_type=instance_type, loaded=loaded, **request_kwargs)
    request, written = ready_request(loaded, input, output, request, s3_only=reads_s3_only(backend),
                                     volume_gb=volume_gb)
    with removed_unless_created(written):
        job = backend.submit(request, **submit_kwargs)
    if request.instance_count > 1 and annotated(request.arguments):
        return finish_sharded(job, output)  # the hosts' label parts, merged once it completes
    return job

