"""``estimate``: every way of running a job, costed and timed, and a recommendation.

What it returns (:class:`Option`, :class:`Plan`) and how that is shown live in
:mod:`augment.plan._plan` and :mod:`augment.plan._plot`; their names answer here too."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.options import check_float
from augment.plan import _disk, _labels, _model
from augment.plan._data import (
    InstanceType,
    format_duration,
    instance_type,
    parse_duration,
    table,
)
from augment.plan._data import prices as lookup_prices
from augment.plan._model import MODES
from augment.plan._plan import (  # noqa: F401  (text_table...: augment.plan._estimate's names before the split)
    Option,
    Plan,
    html_list,
    html_table,
    percent,
    text_table,
    usd,
)
from augment.plan._plot import PLOT_FORMATS, check_plot_path  # noqa: F401  (as above)
from augment.text import brief

DEFAULT_TYPES = ("ml.t3.medium", "ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.c5.2xlarge")
DEFAULT_COUNTS = (1, 2, 4, 8)
STARTUP_SOURCE = ("users report 2-8 minutes from CreateProcessingJob to the script running; AWS documents no "
                  "figure (see the README's 'Plan before you pay'); startup_s (`augment plan --startup`) sets it")
BILLING_NOTE = ("start-up counted as billed: for training jobs AWS bills from TrainingStartTime, after the "
                "instances are launched but including the image and data download (DescribeTrainingJob, "
                "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html); "
                "for processing jobs AWS documents no such boundary (DescribeProcessingJob: ProcessingStartTime "
                "is only 'the time at which the processing job started', "
                "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeProcessingJob.html), so the "
                "conservative choice is to bill all of it; per-second billing, no minimum, assumed")


def _where(input: str | Path | None) -> str:
    from augment.samples import samples_dir

    return str(input) if input is not None else str(samples_dir())


def _count_input(input: str | Path | None, inputs: Any, labels: Any = None) -> tuple[_disk.Taken, str]:
    """What the job would take of ``input`` (by the spec's input filters ``inputs``, less
    the annotations' own files where ``labels`` are given), and how the plan says so;
    nothing is downloaded."""
    where = _where(input)
    got = _disk.taken(where, inputs)
    label = "the bundled samples" if input is None else where
    left = f", {len(got.excluded):,} excluded by the input filters" if got.excluded else ""
    if labels is not None:
        got.keys, own = _labels.without_own_files(labels, where, got.keys)
        got.excluded = [*got.excluded, *own]
        left += f", {len(own):,} the annotations' own files" if own else ""
    return got, f"counted under {label}{left}, mean {got.mean_bytes / 1024:,.0f} KiB"


def _check_counts(values: list[int], name: str) -> None:
    for v in values:
        check_float(name, v, min=1, integer=True)


def check_number(value: Any, name: str, *, low: float = 0.0, strict: bool = False, what: str = "") -> float:
    """``value`` as a finite number ``>= low`` (``> low`` when ``strict``): the one check
    of :func:`augment.options.check_float`.

    Raises:
        UsageError: naming the parameter ``name``: not a number, NaN, infinite, too large,
            or out of range.
    """
    if strict:
        return check_float(name, value, above=low, what=what)
    return check_float(name, value, min=low, what=what)


def _region(region: str | None) -> str:
    if region:
        return region
    if os.environ.get("AWS_DEFAULT_REGION"):  # the session reads it first too
        return os.environ["AWS_DEFAULT_REGION"]
    files = (os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config",
             os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
    if not any(Path(f).expanduser().is_file() for f in files):
        return "us-east-1"  # nowhere a session could find one: skip importing boto3 (0.2-0.4 s of a plan)
    import boto3

    return boto3.Session().region_name or "us-east-1"


def estimate(
    spec: Any = "light",
    input: str | Path | None = None,
    *,
    images: int | None = None,
    copies: int | None = None,
    modes: list[str] | tuple[str, ...] | None = None,
    instance_types: list[str] | tuple[str, ...] | None = None,
    instance_counts: list[int] | tuple[int, ...] | None = None,
    batch_size: int = 128,
    max_in_flight: int | None = None,
    startup_s: float | None = None,
    throughput: float | None = None,
    deadline: str | float | None = None,
    max_cost: float | None = None,
    quota: int | None = None,
    workers: int | None = None,
    region: str | None = None,
    prices: str = "auto",
    pricing_client: Any = None,
    consume_s: float = 0.0,
    digest: str | None = None,
    include: list[str] | tuple[str, ...] | None = None,
    exclude: list[str] | tuple[str, ...] | None = None,
    annotations: str | Path | None = None,
    annotation_format: str | None = None,
) -> Plan:
    """Time and cost of every way of running a job, before anything is launched.

    Args:
        spec: a preset name, a spec file, spec data or a :class:`~augment.spec.Spec`;
            its digest selects the measured throughput, its ``copies`` the outputs.
        input: a folder or ``s3://`` prefix to count (nothing downloaded): what the job
            would take of it, by the spec's ``input`` filters with ``include`` and
            ``exclude`` (junk and folder markers are never inputs); ``None``: the bundled
            samples. With ``images`` given, only its sizes count.
        images: the number of input images.
        copies: outputs per image (default: the spec's).
        modes: of ``standalone``, ``sharded``, ``batched``, ``prefetch`` (default all).
        instance_types: default :data:`DEFAULT_TYPES`.
        instance_counts: instances per sharded job, and jobs at once for batched and
            prefetch (default :data:`DEFAULT_COUNTS`).
        batch_size: images per batched or prefetch job.
        max_in_flight: batched and prefetch jobs at once (overrides ``instance_counts``
            for those modes).
        startup_s: seconds from request to script per job (default 300; range 120-480).
        throughput: output images/s per vCPU, by hand (default: measured, else the
            benchmark's figure).
        deadline: ``90m``, ``2h``, ``1h30m`` or seconds; slower options are not recommended.
        max_cost: USD; dearer options are not recommended.
        quota: instances of a type that may run at once; never exceeded (batched and
            prefetch run fewer jobs at once instead).
        workers: worker processes per instance (default: one per vCPU).
        region: AWS region of the jobs (default: the session's, else us-east-1).
        prices: ``offline``, ``api`` or ``auto`` (see :func:`augment.plan._data.prices`).
        pricing_client: a ``pricing`` client to use instead of a new one.
        consume_s: prefetch only: seconds the training loop spends on each batch.
        digest: the spec digest to look measurements up by, when ``spec`` is not at
            hand (as :func:`compare` uses it).
        include, exclude: globs added to the spec's ``input`` filters, as ``augment run
            --include/--exclude`` adds them.
        annotations, annotation_format: plan a labelled job (see
            :func:`augment.labels.open_annotations`; a YOLO tree's root is ``input``):
            opened and checked as the job does (see :mod:`augment.plan._labels`), its
            problems counted in ``assumptions["labels"]``, its own files in the input not
            counted, and the time and disk those of a labelled job.

    Returns:
        The :class:`Plan`.

    Raises:
        UsageError: a bad value, naming its parameter (a negative count, an unknown instance
            type, a deadline that cannot be read, a batch size of 0...); annotations that
            cannot be opened.
        SpecError: an invalid spec; with ``annotations``, an op that cannot carry labels.
    """
    from augment.spec import load_spec

    modes = list(modes or MODES)
    for m in modes:
        if m not in MODES:
            raise UsageError(f"modes=: {brief(m)} is not one of {', '.join(MODES)}")
    check_float("batch_size", batch_size, min=1, integer=True)
    counts = list(instance_counts or DEFAULT_COUNTS)
    _check_counts(counts, "instance_counts")
    for value, name in ((max_in_flight, "max_in_flight"), (quota, "quota"), (workers, "workers"), (copies, "copies")):
        if value is not None:
            _check_counts([value], name)
    types = [instance_type(t, "instance_types") for t in (instance_types or DEFAULT_TYPES)]
    deadline_s = parse_duration(deadline) if deadline is not None else None
    if max_cost is not None:
        max_cost = check_number(max_cost, "max_cost", what=" USD")
    if startup_s is not None:
        startup_s = check_number(startup_s, "startup_s", what=" seconds")
    if throughput is not None:
        throughput = check_number(throughput, "throughput", strict=True, what=" images/s per vCPU")
    consume_s = check_number(consume_s, "consume_s", what=" seconds")

    loaded = None
    if digest is None or copies is None or spec is not None:
        from augment.options import apply_overrides

        loaded = apply_overrides(load_spec(spec), {"include": include, "exclude": exclude})
        digest = digest or loaded.digest
        copies = copies or loaded.copies
    index = None
    if annotations is not None:
        if loaded is None:
            raise UsageError("annotations= needs the job's spec (spec=)")
        index = _labels.open_for_plan(loaded, annotations, annotation_format, _where(input))
    counted = None
    if images is not None:
        _check_counts([images], "images")
        if input is not None:
            counted = _count_input(input, loaded.input if loaded else None, index)[0]
        images_source = "given: images / --images"
    else:
        counted, images_source = _count_input(input, loaded.input if loaded else None, index)
        images = counted.images
    labels = None if index is None else _labels.plan_labels(index, counted.keys if counted else [], digest, images,
                                                            _where(input), counted.sizes if counted else None)
    mean_bytes = counted.mean_bytes if counted is not None else None
    sizes = counted.staged_sizes if counted is not None and images == counted.images else None
    if loaded is not None:
        ratio, ratio_source = _disk.output_ratio(loaded, _labels.labelled_key(digest, index.format) if index else None)
    else:  # compare's estimate: the spec is known by its digest only
        measured = _model.output_ratio(digest)
        ratio, ratio_source = (measured, f"measured for this spec: {measured:.2f}x its input") if measured else \
            (_disk.LOSSY_OUTPUT_RATIO, f"assumed {_disk.LOSSY_OUTPUT_RATIO:g}x its input")
    keep_original = bool(loaded and loaded.output.keep_original)

    def disk_for(mode: str, count: int) -> _disk.Disk:
        if sizes is not None:
            share = _disk.share_bytes(sizes, mode, count, batch_size)
        else:
            share = _disk.share_images(images, mode, count, batch_size) * (mean_bytes or _disk.DEFAULT_MEAN_INPUT_BYTES)
        label_bytes = 0.0 if labels is None else labels.bytes_per_output * _disk.share_images(
            images, mode, count, batch_size) * (copies + keep_original)
        return _disk.disk(share, copies, keep_original, ratio, label_bytes)

    rate = _model.throughput(digest, throughput, mean_bytes) if index is None else \
        _labels.throughput(digest, index.format, throughput, mean_bytes)
    startup = _model.STARTUP_S if startup_s is None else float(startup_s)
    s_low, s_high = min(_model.STARTUP_RANGE_S[0], startup), max(_model.STARTUP_RANGE_S[1], startup)
    where = _region(region)
    priced, price_line = lookup_prices(sorted({t.name for t in types}), where, prices, pricing_client)

    options: list[Option] = []
    for t in types:
        for mode in modes:
            for count in _counts_for(mode, counts, max_in_flight):
                options.append(_option(mode, t, count, images, copies, batch_size, rate, startup, (s_low, s_high),
                                       priced[t.name], workers, quota, deadline_s, max_cost, consume_s,
                                       disk_for(mode, count)))
    recommended, reason = _recommend(options, deadline, quota, max_cost)
    assumptions = {
        "images": images, "copies": copies, "outputs": images * copies, "images_source": images_source,
        "mean_input_bytes": mean_bytes, "spec_digest": digest, "region": where, "batch_size": batch_size,
        "throughput_per_vcpu": rate.per_vcpu, "throughput_per_vcpu_low": rate.low,
        "throughput_per_vcpu_high": rate.high, "throughput_source": rate.source,
        "throughput_scaling": ("images/s of an instance = images/s per vCPU x workers (one per vCPU); a measured "
                               f"core counts as one vCPU, the low figure as {_model.VCPU_SHARE_LOW} of one"),
        "peak_worker_mb": rate.peak_worker_mb, "memory_source": rate.memory_source,
        "memory_reserve_mb": _model.MEMORY_RESERVE_MB,
        "startup_s": startup, "startup_range_s": [s_low, s_high], "startup_source": STARTUP_SOURCE,
        "startup_billed": BILLING_NOTE,
        "price_source": price_line, "price_table_date": table()["date"],
        "disk": _disk_line(mean_bytes, ratio_source, keep_original, labels),
        "volume_price_usd_per_gb_month": table()["storage"]["usd_per_gb_month"],
        "volume_price_source": table()["storage"]["price_source"],
        "burstable": ("ml.t3 types are assumed to run at their CPU baseline (t3.medium 20%, t3.large 30%, "
                      "t3.xlarge 40% per vCPU, EC2 burstable-instance docs): SageMaker does not document their "
                      "credit mode, and a job that runs for long spends its credits; the expected and sustained "
                      "figures are the baseline, the high figure full speed"),
        "prefetch_model": ("the first `ahead` jobs start together; batch b's job is submitted when batch "
                           f"b - ahead is handed over; the consumer spends {consume_s:.0f} s per batch"),
        "deadline_s": deadline_s, "max_cost_usd": max_cost, "quota": quota,
        "not_modelled": ("polling delays between jobs; S3 transfer beyond what start-up covers; account "
                         "limits on job creation rate"),
    }  # fmt: skip
    if labels is not None:
        assumptions["labels"] = labels.to_json()
    return Plan(options, recommended, reason, assumptions)


def _disk_line(mean_bytes: float | None, ratio_source: str, keep_original: bool, labels: Any = None) -> str:
    """How the disk column is reckoned, and what its volume costs."""
    storage = table()["storage"]
    mean = f"inputs of {_disk.gb_text(mean_bytes)} on average" if mean_bytes is not None else \
        f"inputs assumed {_disk.gb_text(_disk.DEFAULT_MEAN_INPUT_BYTES)} each (name the input to count them)"
    keep = ", and each input again (keep_original)" if keep_original else ""
    if labels is not None:
        keep += f"; label files: {labels.bytes_source}"
    return (f"each instance downloads its share of the input to its volume and writes its outputs there before "
            f"the upload: {mean}; an output {ratio_source}{keep}; plus {_disk.MARGIN:.0%} and "
            f"{_disk.RESERVE_GB:g} GB; the volume asked for is that, at least {_disk.DEFAULT_VOLUME_GB} GB "
            f"(VolumeSizeInGB), in the cost at ${storage['usd_per_gb_month']}/GB-month "
            f"({storage['price_source']})")


def _counts_for(mode: str, counts: list[int], max_in_flight: int | None) -> list[int]:
    if mode == "standalone":
        return [1]
    if mode == "sharded":
        from augment.jobs.request import MAX_INSTANCES

        allowed = [c for c in counts if c <= MAX_INSTANCES]
        if not allowed:
            raise UsageError(f"instance_counts=: a sharded job has at most {MAX_INSTANCES} instances (SageMaker's "
                             f"limit), got {', '.join(map(str, counts))}")
        return [c for c in allowed if c > 1] or allowed  # sharded over one instance is standalone
    return [max_in_flight] if max_in_flight is not None else counts


def _option(mode: str, t: InstanceType, count: int, images: int, copies: int, batch_size: int,
            rate: _model.Throughput, startup: float, startup_range: tuple[float, float], price: Any,
            workers: int | None, quota: int | None, deadline_s: float | None, max_cost: float | None,
            consume_s: float, disk: _disk.Disk) -> Option:
    notes: list[str] = []
    planned = workers or t.vcpu
    available = t.memory_gib * 1024 - _model.MEMORY_RESERVE_MB
    fit = max(1, math.floor(available / rate.peak_worker_mb))
    need = planned * rate.peak_worker_mb
    used = min(planned, fit, t.vcpu)
    if need > available:
        notes.append(f"{planned} workers x {rate.peak_worker_mb:.0f} MB do not fit in {available:.0f} MB; "
                     f"estimated with {used} (--workers {used})")
    share = t.baseline if t.baseline is not None else 1.0
    instance_rate = rate.per_vcpu * used * share
    low_rate, high_rate = rate.low * used * share, rate.high * used  # high: a burstable type at full speed
    in_flight = count
    if mode in ("batched", "prefetch") and quota is not None and count > quota:
        in_flight = quota
        notes.append(f"{count} jobs at once capped to the quota {quota}")

    def timing(r: float, s: float) -> _model.Timing:
        if mode == "standalone":
            return _model.standalone(images, copies, r, s)
        if mode == "sharded":
            return _model.sharded(images, copies, count, r, s)
        if mode == "batched":
            return _model.batched(images, copies, batch_size, in_flight, r, s)
        return _model.prefetch(images, copies, batch_size, in_flight, r, s, consume_s)

    mid, fast, slow = timing(instance_rate, startup), timing(high_rate, startup_range[0]), \
        timing(low_rate, startup_range[1])
    storage = table()["storage"]
    # the volume of every instance is billed while the instance is: GB-month prorated per second
    per_s = price.usd_per_h / 3600 + disk.volume_gb * storage["usd_per_gb_month"] / (storage["hours_per_month"] * 3600)
    cost = mid.billed_instance_s * per_s
    volume_cost = mid.billed_instance_s * (per_s - price.usd_per_h / 3600)
    return Option(
        mode=mode, instance_type=t.name, instance_count=mid.instances, jobs=mid.jobs, wall_s=mid.wall_s,
        billed_instance_s=mid.billed_instance_s, cost_usd=cost,
        startup_share=mid.startup_instance_s / mid.billed_instance_s if mid.billed_instance_s else 0.0,
        throughput_img_s=instance_rate, throughput_source=rate.source, price_usd_per_h=price.usd_per_h,
        price_source=price.source, wall_s_low=fast.wall_s, wall_s_high=slow.wall_s,
        cost_usd_low=fast.billed_instance_s * per_s, cost_usd_high=slow.billed_instance_s * per_s,
        billed_startup_s=mid.startup_instance_s, sustained_img_s=rate.per_vcpu * used * share,
        burst_img_s=rate.per_vcpu * used, batch_size=batch_size if mode in ("batched", "prefetch") else None,
        stall_s=mid.stall_s if mode == "prefetch" else None, workers=used, memory_need_mb=need,
        memory_available_mb=available, memory_fits=need <= available, proposed_workers=min(fit, planned),
        disk_need_gb=disk.need_gb, volume_gb=disk.volume_gb, volume_cost_usd=volume_cost,
        within_quota=quota is None or mid.instances <= quota,
        meets_deadline=deadline_s is None or mid.wall_s <= deadline_s,
        within_max_cost=max_cost is None or cost <= max_cost, notes=notes,
    )  # fmt: skip


def _recommend(options: list[Option], deadline: Any, quota: int | None,
               max_cost: float | None) -> tuple[int | None, str]:
    """The cheapest option within the quota, the deadline and the cost limit (ties: the faster)."""
    limits = [f"the deadline {deadline}" if deadline is not None else "",
              f"the quota {quota}" if quota is not None else "",
              f"the cost limit ${max_cost:,.2f}" if max_cost is not None else ""]
    within = " and ".join(x for x in limits if x)
    feasible = [i for i, o in enumerate(options) if o.feasible]
    if not feasible:
        fastest = min(options, key=lambda o: o.wall_s)
        cheapest = min(options, key=lambda o: o.cost_usd)
        return None, (f"no option meets {within}: the fastest, {fastest.label}, takes "
                      f"{format_duration(fastest.wall_s)} for {usd(fastest.cost_usd)}; the cheapest, "
                      f"{cheapest.label}, costs {usd(cheapest.cost_usd)} in {format_duration(cheapest.wall_s)}")
    best = min(feasible, key=lambda i: (round(options[i].cost_usd, 6), options[i].wall_s))
    o = options[best]
    text = (f"{o.label}: the cheapest of {len(feasible)} option(s)" + (f" that meet {within}" if within else "")
            + f", {usd(o.cost_usd)} and {format_duration(o.wall_s)}, start-up {percent(o.startup_share)} of the bill")
    dearest = max(options, key=lambda x: x.cost_usd)
    if dearest.cost_usd > o.cost_usd * 1.5:
        text += (f"; the dearest, {dearest.label}, costs {usd(dearest.cost_usd)} "
                 f"({dearest.cost_usd / o.cost_usd:,.0f}x)")
    return best, text
