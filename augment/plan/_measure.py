"""Measurements: ``calibrate`` (the real pipeline on a sample, on this machine) and
``compare`` (a finished job's timings beside its estimate). Both store the measured
throughput per spec digest, where the next estimate finds it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from augment.errors import JobFailed, UsageError
from augment.plan import _model
from augment.plan._data import format_duration, instance_type, table
from augment.plan._estimate import Option, Plan, estimate, html_list, html_table, text_table
from augment.text import plain_html, plural


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


@dataclass
class Calibration:
    """What :func:`calibrate` measured."""

    spec_digest: str
    per_vcpu: float
    images_per_s: float
    workers: int
    images: int
    outputs: int
    seconds: float
    peak_worker_mb: float
    input: str
    method: str = ""
    recorded_to: str | None = None

    def line(self) -> str:
        return (f"calibrated spec {self.spec_digest[:12]}: {plural(self.outputs, 'output')} from "
                f"{plural(self.images, 'input')} of {self.input} in {self.seconds:.2f} s on "
                f"{plural(self.workers, 'worker')}: {self.images_per_s:,.1f} outputs/s "
                f"({self.method}), {self.per_vcpu:,.1f} per vCPU, peak {self.peak_worker_mb:,.0f} MB per worker")


def _sample(input: str | Path | None, count: int, dest: Path) -> str:
    """Copy ``count`` inputs, evenly spread over ``input`` (cycled when it has fewer), into ``dest``."""
    from augment.samples import samples_dir

    where = str(input) if input is not None else str(samples_dir())
    if where.startswith("s3://"):
        from augment.jobs.local import s3_client, split_s3_uri

        bucket, prefix = split_s3_uri(where)
        s3 = s3_client()
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        fetch = lambda key, target: s3.download_file(bucket, key, str(target))  # noqa: E731
    else:
        root = Path(where)
        if not root.is_dir():
            raise UsageError(f"--calibrate {where}: neither an s3:// prefix nor a local folder")
        keys = sorted(str(p) for p in root.rglob("*") if p.is_file())
        fetch = lambda key, target: shutil.copyfile(key, target)  # noqa: E731
    if not keys:
        raise UsageError(f"--calibrate {where}: no objects found")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        key = keys[(i * len(keys) // count) if count <= len(keys) else i % len(keys)]
        fetch(key, dest / f"{i:05d}-{Path(key).name}")
    return where


def _run_sample(spec_file: Path, input_dir: Path, output_dir: Path, workers: int) -> dict[str, Any]:
    """``augment process`` on one folder, in a fresh process (as a job runs it); its summary."""
    cmd = [sys.executable, "-m", "augment", "process", "--spec", str(spec_file), "--input-dir", str(input_dir),
           "--output-dir", str(output_dir), "--workers", str(workers), "--host", "calibrate", "--progress", "off"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise JobFailed(f"calibration failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return json.loads((output_dir / "_augment" / "summary-calibrate.json").read_text())


def calibrate(spec: Any = "light", input: str | Path | None = None, *, images: int = 200, workers: int | None = None,
              record: bool = True) -> Calibration:
    """Run the real pipeline on a small sample on this machine and cache its throughput.

    The sample runs as a job runs it: ``augment process`` (which calls
    :func:`augment.engine.run_job`) in a fresh process that forks its workers. It runs
    twice, on the sample and on its first fifth, and takes the images the second run did
    not have over the difference of the two jobs' clocks: a job's fixed cost (starting its
    workers, their first image), which dominates a small sample, cancels out, as it does
    against a start-up of minutes (``benchmarks/bench.py`` measures its ``kit`` row the same
    way). Where the difference is not positive, the whole run's own clock is used.

    Args:
        spec: preset name, spec file, spec data or :class:`~augment.spec.Spec`.
        input: a folder or ``s3://`` prefix to sample (default: the bundled samples).
        images: inputs in the sample (taken evenly from ``input``, repeated if it has fewer).
        workers: worker processes (default: one per CPU of this machine).
        record: store the figure for the spec's digest (see :func:`augment.plan._model.cache_file`).

    Returns:
        The :class:`Calibration`.

    Raises:
        UsageError: a bad input or count.
        JobFailed: the pipeline failed on the sample.
    """
    from augment.spec import dump_spec, load_spec

    if images < 1:
        raise UsageError(f"--calibrate: the sample needs >= 1 image, got {images}")
    workers = workers or _cpus()
    loaded = load_spec(spec)
    with tempfile.TemporaryDirectory(prefix="augment-calibrate-") as tmp:
        base = Path(tmp)
        where = _sample(input, images, base / "in")
        part = base / "part"
        part.mkdir()
        for f in sorted((base / "in").iterdir())[: max(1, images // 5)]:
            os.link(f, part / f.name)
        spec_file = dump_spec(loaded, base / "spec.yaml")
        whole = _run_sample(spec_file, base / "in", base / "out", workers)
        fifth = _run_sample(spec_file, part, base / "out-part", workers) if images >= 5 else None
    rate, method = whole["images_per_s"], "the job's clock"
    if fifth is not None and whole["seconds"] > fifth["seconds"] and whole["written"] > fifth["written"]:
        rate = (whole["written"] - fifth["written"]) / (whole["seconds"] - fifth["seconds"])
        method = "marginal: the sample less its first fifth, over the difference of the two jobs' clocks"
    result = Calibration(loaded.digest, rate / whole["workers"], rate, whole["workers"], whole["inputs"],
                         whole["written"], whole["seconds"], whole["peak_worker_rss_mb"], where, method)
    if record:
        result.recorded_to = str(_model.record(loaded.digest, result.per_vcpu, result.peak_worker_mb,
                                               f"calibrate on this machine ({workers} workers, {where})",
                                               images=images, method=method))
    return result


_PHASES = {"startup_s": "start-up", "work_s": "work", "total_s": "total"}


@dataclass
class Comparison:
    """A finished job's estimate beside what happened: start-up, work, total (seconds)."""

    job: str
    runtime: str
    option: Option | None
    estimated: dict[str, float | None]
    actual: dict[str, float | None]
    per_vcpu: float | None
    peak_worker_mb: float | None
    recorded_to: str | None = None
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, float | None, float | None]]:
        return [(k, self.estimated.get(k), self.actual.get(k)) for k in ("startup_s", "work_s", "total_s")]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["option"] = self.option.to_dict() if self.option else None
        return data

    def _cells(self) -> list[list[str]]:
        def show(v: float | None) -> str:
            return "-" if v is None else format_duration(v)

        out = [["phase", "estimated", "actual", "actual / estimated"]]
        for name, est, act in self.rows():
            ratio = f"{act / est:.2f}" if est and act is not None else "-"
            out.append([_PHASES[name], show(est), show(act), ratio])
        return out

    def lines(self) -> list[str]:
        head = f"job {self.job} ({self.runtime})"
        if self.option is not None:
            head += f" against the estimate for {self.option.label}"
        extra = []
        if self.per_vcpu is not None:
            extra.append(f"measured: {self.per_vcpu:,.1f} output images/s per vCPU, peak "
                         f"{self.peak_worker_mb or 0:,.0f} MB per worker")
        if self.recorded_to:
            extra.append(f"stored in {self.recorded_to}: the next estimate for this spec uses it")
        return [head, *extra, *self.notes]

    def __str__(self) -> str:
        return "\n".join([*self.lines(), "", text_table(self._cells())])

    def _repr_html_(self) -> str:
        return plain_html(html_list(self.lines()) + html_table(self._cells()))


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _as_summary(value: Any) -> dict[str, Any]:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else dict(value)


def _describe_by_name(name: str) -> dict[str, Any]:
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    if name.endswith(".json"):
        raise UsageError(f"--compare {name}: no such file")
    try:
        client = boto3.client("sagemaker", config=Config(connect_timeout=5, read_timeout=10,
                                                         retries={"max_attempts": 2}))
        return client.describe_processing_job(ProcessingJobName=name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise UsageError(f"--compare {name}: neither a description file nor a processing job SageMaker "
                         f"describes: {e}") from None


def _s3_summaries(description: dict[str, Any]) -> list[dict[str, Any]]:
    """The hosts' ``_augment/summary-<host>.json`` under the job's S3 outputs."""
    import botocore.exceptions

    from augment.jobs.local import s3_client, split_s3_uri

    found = []
    try:
        s3 = s3_client()
        for out in description.get("ProcessingOutputConfig", {}).get("Outputs", []):
            uri = out.get("S3Output", {}).get("S3Uri", "")
            if not uri.startswith("s3://"):
                continue
            bucket, prefix = split_s3_uri(uri.rstrip("/") + "/_augment/summary-")
            for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
                found.append(json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return []
    return found


def _read_description(path: Path) -> Any:
    """The JSON object a file starts with: ``augment run --json > job.json`` writes the description
    (earlier versions printed summary lines after it)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.JSONDecoder().raw_decode(text.lstrip())[0]
    except ValueError as e:
        raise UsageError(f"--compare {path}: does not start with a JSON job description ({e}); write one with "
                         "`augment run --json ... > job.json`") from None


def _normalise(job: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(description, summaries) from a handle, a description, a file, a job name or summaries."""
    if hasattr(job, "describe") and callable(job.describe):
        job = job.describe()
    elif isinstance(job, str | Path):
        path = Path(job)
        job = _read_description(path) if path.is_file() else _describe_by_name(str(job))
    if isinstance(job, dict) and "ProcessingJobName" in job:
        status = job.get("ProcessingJobStatus")
        if status not in ("Completed", "Failed", "Stopped"):
            raise UsageError(f"--compare {job['ProcessingJobName']}: the job is {status}; compare it when it ends")
        hosts = job.get("LocalRuntime", {}).get("hosts", {})
        summaries = [h["summary"] for h in hosts.values() if "summary" in h] if hosts else _s3_summaries(job)
        return job, summaries
    items = job if isinstance(job, list | tuple) else [job]
    summaries = [_as_summary(s) for s in items]
    if not summaries or not all("images_per_s" in s and "seconds" in s for s in summaries):
        raise UsageError("--compare: expected a job handle, a DescribeProcessingJob answer (or a JSON file of one), "
                         "a SageMaker job name, or augment job summaries")
    return {}, summaries


def compare(job: Any, plan: Plan | None = None, *, record: bool = True, prices: str = "offline") -> Comparison:
    """A finished job's estimate beside what it took: start-up, work and total.

    Args:
        job: a job handle (``LocalJob``, ``SageMakerJob``), the local runtime's or
            SageMaker's ``DescribeProcessingJob`` answer (or a JSON file of one), a
            SageMaker job name, or the hosts' :class:`~augment.engine.Summary` objects.
        plan: the plan made before the launch (default: a new estimate for the job's
            images, copies, mode, type and count, made before this job's figures are stored).
        record: store the measured throughput for the spec's digest.
        prices: for the default estimate.

    Returns:
        The :class:`Comparison`.

    Raises:
        UsageError: something that is not a finished job.
    """
    description, summaries = _normalise(job)
    name = description.get("ProcessingJobName", "(summaries)")
    local = "LocalRuntime" in description
    runtime = "local runtime" if local else "SageMaker" if description else "summaries"
    notes: list[str] = []
    cluster = description.get("ProcessingResources", {}).get("ClusterConfig", {})
    hosts = max(len(summaries), int(cluster.get("InstanceCount", 1)))
    type_name = cluster.get("InstanceType")
    tags = {t.get("Key"): t.get("Value") for t in description.get("Tags", [])}
    mode = tags.get("augment:mode") or ("sharded" if hosts > 1 else "standalone")
    mode = "standalone" if mode in ("batched", "prefetch") else mode  # one job of a batch runs like a standalone one

    work = max((s["seconds"] for s in summaries), default=None)
    images = sum(s["inputs"] for s in summaries)
    copies = summaries[0]["copies"] if summaries else None
    digest = summaries[0].get("spec_digest") if summaries else None
    new_images = sum(s["images_per_s"] * s["seconds"] for s in summaries)
    peak = max((s.get("peak_worker_rss_mb", 0.0) for s in summaries), default=None)
    if local or type_name not in table()["instances"]:
        vcpus = sum(s.get("workers", 1) for s in summaries)
        vcpus = min(vcpus, _cpus()) if local else vcpus  # local hosts share this machine's cores
    else:
        vcpus = instance_type(type_name).vcpu * hosts
    per_vcpu = new_images / work / vcpus if work and vcpus and new_images else None

    created, ended = _time(description.get("CreationTime")), _time(description.get("ProcessingEndTime"))
    total = (ended - created).total_seconds() if created and ended else None
    actual = {"startup_s": total - work if total is not None and work is not None else None, "work_s": work,
              "total_s": total}
    if local:
        notes.append("local runtime: its start-up is staging files and starting Python here, not SageMaker's "
                     "provisioning; only the throughput carries over")

    option = None
    if plan is not None:
        try:
            option = plan.option(mode, type_name, hosts)
        except KeyError:
            option = plan.best
    elif images and copies and digest and type_name in table()["instances"]:
        plan = estimate(None, images=images, copies=copies, digest=digest, modes=[mode], instance_types=[type_name],
                        instance_counts=[hosts], prices=prices)
        option = plan.options[0]
    elif type_name not in table()["instances"]:
        notes.append(f"no estimate: instance type {type_name!r} is not in the planner's table")
    estimated: dict[str, float | None] = {"startup_s": None, "work_s": None, "total_s": None}
    if option is not None and plan is not None:
        startup = plan.assumptions["startup_s"]
        estimated = {"startup_s": startup, "work_s": option.wall_s - startup, "total_s": option.wall_s}

    recorded = None
    if record and per_vcpu and digest:
        recorded = str(_model.record(digest, per_vcpu, peak or 0.0, f"job {name} ({runtime}, {vcpus} vCPUs)",
                                     images=images, instance_type=type_name))
    return Comparison(name, runtime, option, estimated, actual, per_vcpu, peak, recorded, notes)
