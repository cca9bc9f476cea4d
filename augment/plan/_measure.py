"""Measurements: ``calibrate`` (the real pipeline on a sample, on this machine) and
``compare`` (a finished job's timings beside its estimate). Both store the measured
throughput per spec digest, where the next estimate finds it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from augment.cpus import default_workers
from augment.errors import JobFailed, UsageError
from augment.options import check_float
from augment.plan import _labels, _model
from augment.plan._data import format_duration, instance_type, table
from augment.plan._estimate import Option, Plan, estimate, html_list, html_table, text_table
from augment.text import plain_html, plural


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
    output_ratio: float | None = None
    not_stored: str | None = None
    labels: str | None = None
    label_bytes_per_output: float | None = None

    def line(self) -> str:
        ratio = f"; an output {self.output_ratio:.2f}x its input in bytes" if self.output_ratio else ""
        if self.labels:
            ratio += (f"; with {self.labels} labels, {self.label_bytes_per_output or 0:,.0f} bytes of label files "
                      "per output")
        stored = f"; stored in {self.recorded_to}" if self.recorded_to else \
            f"; not stored: {self.not_stored}" if self.not_stored else ""
        return (f"calibrated spec {self.spec_digest[:12]}: {plural(self.outputs, 'output')} from "
                f"{plural(self.images, 'input')} of {self.input} in {self.seconds:.2f} s on "
                f"{plural(self.workers, 'worker')}: {self.images_per_s:,.1f} outputs/s "
                f"({self.method}), {self.per_vcpu:,.1f} per vCPU, peak {self.peak_worker_mb:,.0f} MB per worker"
                f"{ratio}{stored}")


def _sample(input: str | Path | None, count: int, dest: Path, inputs: Any,
            labels: Any = None) -> tuple[str, dict[str, str]]:
    """Copy ``count`` of what a job would take of ``input`` (by the spec's input filters
    ``inputs``, less the annotations' own files where ``labels`` are given), evenly spread
    over it, into ``dest`` at their paths relative to the input (so the filters and the
    junk list see what a job sees); when it has fewer, it is taken again under
    ``again-N/``. Returns the input as named to the user, and the paths written, each
    with the input's key it is a copy of."""
    from augment.keys import input_root
    from augment.plan._disk import taken
    from augment.samples import samples_dir
    from augment.storage import handler

    where = str(input) if input is not None else str(samples_dir())
    keys = taken(where, inputs, "calibrate").keys  # what a job takes: no junk, no folder marker, filters applied
    if labels is not None:
        keys = _labels.without_own_files(labels, where, keys)[0]
    base, store = input_root(where), handler(where)  # one client for every key
    written = {}
    for i in range(count):
        if count <= len(keys):
            rel = key = keys[i * len(keys) // count]
        else:
            key, again = keys[i % len(keys)], i // len(keys)
            rel = f"again-{again}/{key}" if again else key
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        store.download(base + key, target)
        written[rel] = key
    return where, written


def _run_sample(spec_file: Path, input_dir: Path, output_dir: Path, workers: int, where: str,
                names: dict[str, str], labels: tuple[str, ...] = ()) -> dict[str, Any]:
    """``augment process`` on one folder, in a fresh process (as a job runs it); its summary.
    ``labels``: the job's ``--annotations`` arguments, for a labelled sample.

    Raises:
        JobFailed: the job failed; its message names the user's input ``where``, not the
            sample's temporary copy (``names`` maps one to the other).
    """
    cmd = [sys.executable, "-m", "augment", "process", "--spec", str(spec_file), "--input-dir", str(input_dir),
           "--output-dir", str(output_dir), "--workers", str(workers), "--host", "calibrate", "--progress", "off",
           *labels]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        failed = _failed_inputs(output_dir, where)
        if failed:  # the inputs, by the user's paths: the sample's manifest goes with its folder
            raise JobFailed(f"calibration failed on a sample of {where}: {failed}; fix or remove those files, "
                            "or leave them out with exclude=")
        message = done.stderr.strip()[-800:]
        for temporary, shown in names.items():
            message = message.replace(temporary, shown)
        raise JobFailed(f"calibration failed (exit {done.returncode}) on a sample of {where}: {message}")
    return json.loads((output_dir / "_augment" / "summary-calibrate.json").read_text())


def _failed_inputs(output_dir: Path, where: str, limit: int = 3) -> str:
    """``<input>/<path>: <error>`` of the sample's first failed inputs (a repeated one under
    ``again-N/`` named by its own path), or ``""``."""
    failed: dict[str, str] = {}
    for path in sorted((output_dir / "_augment").glob("manifest-*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("status") == "failed" and isinstance(record.get("source"), str):
                source = record["source"]
                source = source.split("/", 1)[1] if source.startswith("again-") else source
                failed.setdefault(source, str(record.get("error") or record.get("reason")))
    from augment.keys import input_root

    base = input_root(where)  # where a job's keys are relative to
    shown = [f"{base}{source}: {error}" for source, error in sorted(failed.items())[:limit]]
    return "; ".join(shown) + (f"; and {len(failed) - limit} more" if len(failed) > limit else "")


def _output_ratio(input_dir: Path, output_dir: Path, images: list[str] | None = None) -> float | None:
    """Bytes of an augmented output per byte of its input, over the whole sample;
    ``images``: the outputs' paths (a labelled sample's folder holds its label files too)."""
    inputs = [p.stat().st_size for p in input_dir.rglob("*")
              if p.is_file() and (images is None or not _labels.sample_own(p, input_dir))]
    if images is not None:
        outputs = [(output_dir / rel).stat().st_size for rel in images if ".orig." not in rel]
    else:
        outputs = [p.stat().st_size for p in output_dir.rglob("*")
                   if p.is_file() and "_augment" not in p.relative_to(output_dir).parts and ".orig." not in p.name]
    if not inputs or not outputs or not sum(inputs):
        return None
    return (sum(outputs) / len(outputs)) / (sum(inputs) / len(inputs))


def calibrate(spec: Any = "light", input: str | Path | None = None, *, images: int = 200, workers: int | None = None,
              record: bool = True, include: list[str] | None = None, exclude: list[str] | None = None,
              annotations: str | Path | None = None, annotation_format: str | None = None) -> Calibration:
    """Run the real pipeline on a small sample on this machine and cache its throughput.

    The sample is taken from what a job would take of ``input``: the spec's input filters
    (with ``include`` and ``exclude``), the junk list and folder markers apply, and each
    file keeps its path relative to the input. It runs as a job runs it: ``augment process``
    (which calls :func:`augment.engine.run_job`) in a fresh process that forks its workers.
    It runs twice, on the sample and on its first fifth, and takes the images the second run
    did not have over the difference of the two jobs' clocks: a job's fixed cost (starting
    its workers, their first image), which dominates a small sample, cancels out, as it does
    against a start-up of minutes (``benchmarks/bench.py`` measures its ``kit`` row the same
    way). Where the difference is not positive, the whole run's own clock is used. The
    bytes of an output per byte of its input are measured too, for the plan's disk.

    Args:
        spec: preset name, spec file, spec data or :class:`~augment.spec.Spec`.
        input: a folder or ``s3://`` prefix to sample (default: the bundled samples).
        images: inputs in the sample (taken evenly from ``input``, repeated if it has fewer).
        workers: worker processes (default: one per CPU of this machine).
        record: store the figure for the spec's digest (see :func:`augment.plan._model.cache_file`).
        include, exclude: globs added to the spec's input filters (``--include``/``--exclude``).
        annotations, annotation_format: the input's labels (see
            :func:`augment.labels.open_annotations`): the sample is run as a labelled job,
            each sample file with its input's labels, and its figures (throughput, bytes of
            label files per output) are stored apart from the spec's plain ones
            (:func:`augment.plan._labels.labelled_key`).

    Returns:
        The :class:`Calibration`.

    Raises:
        UsageError: a bad input or count, or (with ``record``) a cache that cannot be
            written, said before anything runs; annotations that cannot be opened.
        SpecError: with ``annotations``, an op that cannot carry labels.
        JobFailed: the pipeline failed on the sample.
    """
    from augment.options import apply_overrides
    from augment.spec import dump_spec, load_spec

    check_float("images", images, min=1, integer=True)  # the sample's size
    if workers is not None:
        check_float("workers", workers, min=1, integer=True)
    workers = workers or default_workers()
    loaded = apply_overrides(load_spec(spec), {"include": include, "exclude": exclude})
    index = None
    if annotations is not None:
        from augment.samples import samples_dir

        index = _labels.open_for_plan(loaded, annotations, annotation_format,
                                      str(input) if input is not None else str(samples_dir()))
    if record:
        _model.check_cache_writable()  # before the run: a measurement is never made only to be lost
    with tempfile.TemporaryDirectory(prefix="augment-calibrate-") as tmp:
        base = Path(tmp)
        where, written = _sample(input, images, base / "in", loaded.input, index)
        part = base / "part"
        firsts = dict(list(written.items())[: max(1, images // 5)])
        for rel in firsts:
            (part / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(base / "in" / rel, part / rel)
        # the sample holds only inputs already chosen by the filters: the job takes it all
        spec_file = dump_spec(loaded.replace(input={"include": [], "exclude": []}), base / "spec.yaml")
        names = {str(base / "in"): where.rstrip("/"), str(part): where.rstrip("/"), str(base): "the sample"}
        labelled = () if index is None else ("--annotations", _labels.sample_annotations(
            index, where, written, base / "in", base / "labels"), "--annotation-format", index.format)
        whole = _run_sample(spec_file, base / "in", base / "out", workers, where, names, labelled)
        per_output, outputs = (None, None) if index is None else _labels.label_bytes(base / "out")
        ratio = _output_ratio(base / "in", base / "out", outputs)
        labelled_part = () if index is None else ("--annotations", _labels.sample_annotations(
            index, where, firsts, part, base / "labels-part"), "--annotation-format", index.format)
        fifth = _run_sample(spec_file, part, base / "out-part", workers, where, names,
                            labelled_part) if images >= 5 else None
    rate, method = whole["images_per_s"], "the job's clock"
    if fifth is not None and whole["seconds"] > fifth["seconds"] and whole["written"] > fifth["written"]:
        rate = (whole["written"] - fifth["written"]) / (whole["seconds"] - fifth["seconds"])
        method = "marginal: the sample less its first fifth, over the difference of the two jobs' clocks"
    result = Calibration(loaded.digest, rate / whole["workers"], rate, whole["workers"], whole["inputs"],
                         whole["written"], whole["seconds"], whole["peak_worker_rss_mb"], where, method,
                         output_ratio=ratio, labels=index.format if index is not None else None,
                         label_bytes_per_output=per_output)
    if record:
        details: dict[str, Any] = {"images": images, "method": method}
        if ratio is not None:
            details["output_ratio"] = round(ratio, 4)
        key = loaded.digest
        if index is not None:
            key = _labels.labelled_key(loaded.digest, index.format)
            details["label_bytes_per_output"] = round(per_output or 0.0, 1)
        try:
            result.recorded_to = str(_model.record(key, result.per_vcpu, result.peak_worker_mb,
                                                   f"calibrate on this machine ({workers} workers, {where})",
                                                   **details))
        except OSError as e:  # made unwritable since the check: keep the measurement, say so
            result.not_stored = f"cannot write {_model.cache_file()}: {e.strerror or e}"
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


MIN_MEASURED_OUTPUTS = 200
MIN_MEASURED_WORK_S = 2.0
"""A job whose hosts wrote fewer outputs, or worked less, measures its own fixed costs
(starting workers, the first image) more than its throughput: it is compared, not stored."""
_EXPECTED = ("expected a job handle, a DescribeProcessingJob answer (or a JSON file of one, as "
             "`augment run --json ... > job.json` writes it), a SageMaker job name, or augment job summaries")


def _time(value: Any, field: str, label: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{label}: {field} must be a date and time, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _number(value: Any, field: str, label: str, integer: bool = False) -> float:
    """A finite number >= 0 (a whole one with ``integer``), or a UsageError naming ``field``
    (see :func:`augment.options.check_float`)."""
    return check_float(f"{label}: {field}", value, min=0, integer=integer)


def _as_summary(value: Any, n: int, label: str) -> dict[str, Any]:
    """A host's summary, its figures checked (a hand-edited or foreign file is named, not a crash)."""
    data = asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
    if not isinstance(data, dict):
        raise UsageError(f"{label}: {_EXPECTED}; got {type(data).__name__} {str(data)[:60]!r}")
    if not {"images_per_s", "seconds"} <= set(data):
        raise UsageError(f"{label}: {_EXPECTED}")
    for key in ("images_per_s", "seconds", "peak_worker_rss_mb"):
        if key in data:
            _number(data[key], f"summary {n} {key}", label)
    for key in ("inputs", "copies", "written", "workers"):
        if key in data:
            _number(data[key], f"summary {n} {key}", label, integer=True)
    return data


def _describe_by_name(name: str) -> dict[str, Any]:
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    if name.endswith(".json"):
        raise UsageError(f"job={name}: no such file")
    try:
        client = boto3.client("sagemaker", config=Config(connect_timeout=5, read_timeout=10,
                                                         retries={"max_attempts": 2}))
        return client.describe_processing_job(ProcessingJobName=name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise UsageError(f"job={name}: neither a description file nor a processing job SageMaker "
                         f"describes: {e}") from None


def _output_summaries(description: dict[str, Any]) -> list[dict[str, Any]]:
    """The hosts' ``_augment/summary-<host>.json`` under the job's outputs (on S3, for a
    SageMaker job), every one of them; none when they cannot be read."""
    import botocore.exceptions

    from augment.locations import host_summaries

    found = []
    try:
        for out in description.get("ProcessingOutputConfig", {}).get("Outputs", []):
            uri = out.get("S3Output", {}).get("S3Uri", "")
            if uri:
                found += host_summaries(uri).values()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return []
    return found


def _read_description(path: Path) -> Any:
    """The JSON object a file starts with: ``augment run --json > job.json`` writes the description
    (earlier versions printed summary lines after it)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise UsageError(f"job={path}: cannot read it: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"job={path}: not a text file; write a job description with "
                         "`augment run --json ... > job.json`") from None
    try:
        data = json.JSONDecoder().raw_decode(text.lstrip())[0]
    except ValueError as e:
        raise UsageError(f"job={path}: does not start with a JSON job description ({e}); write one with "
                         "`augment run --json ... > job.json`") from None
    if not isinstance(data, dict | list):
        raise UsageError(f"job={path}: holds JSON {json.dumps(data)[:40]}, not a job description; write one "
                         "with `augment run --json ... > job.json`")
    return data


def _check_description(job: dict[str, Any], label: str) -> None:
    """The fields compare reads, of the types DescribeProcessingJob gives them."""
    if not isinstance(job["ProcessingJobName"], str):
        raise UsageError(f"{label}: ProcessingJobName must be a string, got {job['ProcessingJobName']!r}")
    resources = job.get("ProcessingResources", {})
    cluster = resources.get("ClusterConfig", {}) if isinstance(resources, dict) else None
    if not isinstance(cluster, dict):
        raise UsageError(f"{label}: ProcessingResources.ClusterConfig must be an object, got {resources!r}")
    count = cluster.get("InstanceCount", 1)
    check_float(f"{label}: ProcessingResources.ClusterConfig.InstanceCount", count, min=1, max=100,
                integer=True)
    if not isinstance(cluster.get("InstanceType", ""), str):
        raise UsageError(f"{label}: ProcessingResources.ClusterConfig.InstanceType must be a string, "
                         f"got {cluster['InstanceType']!r}")
    tags = job.get("Tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
        raise UsageError(f"{label}: Tags must be a list of {{'Key': ..., 'Value': ...}}, got {tags!r}")
    hosts = job.get("LocalRuntime", {}).get("hosts", {}) if isinstance(job.get("LocalRuntime"), dict) else {}
    if not isinstance(hosts, dict) or not all(isinstance(h, dict) for h in hosts.values()):
        raise UsageError(f"{label}: LocalRuntime.hosts must map host names to objects")


def _normalise(job: Any) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """(description, summaries, how to name the job in a message) from a handle, a
    description, a file, a job name or summaries."""
    label = "job"
    if hasattr(job, "describe") and callable(job.describe):
        job = job.describe()
    elif isinstance(job, str | Path):
        path, label = Path(job), f"job={job}"
        job = _read_description(path) if path.is_file() else _describe_by_name(str(job))
    if isinstance(job, dict) and "ProcessingJobName" in job:
        _check_description(job, label)
        label = label if label != "job" else f"job {job['ProcessingJobName']}"
        status = job.get("ProcessingJobStatus")
        if status not in ("Completed", "Failed", "Stopped"):
            raise UsageError(f"{label}: the job is {status}; compare it when it ends")
        hosts = job.get("LocalRuntime", {}).get("hosts", {}) if isinstance(job.get("LocalRuntime"), dict) else {}
        summaries = [h["summary"] for h in hosts.values() if "summary" in h] if hosts else _output_summaries(job)
        return job, [_as_summary(s, n, label) for n, s in enumerate(summaries)], label
    items = job if isinstance(job, list | tuple) else [job]
    if not items:
        raise UsageError(f"{label}: {_EXPECTED}")
    return {}, [_as_summary(s, n, label) for n, s in enumerate(items)], label


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
    description, summaries, label = _normalise(job)
    name = description.get("ProcessingJobName") or next(
        (s["job_name"] for s in summaries if isinstance(s.get("job_name"), str)), "(summaries)")
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
    images = sum(s.get("inputs", 0) for s in summaries)
    copies = summaries[0].get("copies") if summaries else None
    digest = summaries[0].get("spec_digest") if summaries else None
    labelled = summaries[0].get("labels") if summaries else None
    if digest and isinstance(labelled, dict) and isinstance(labelled.get("format"), str):
        digest = _labels.labelled_key(digest, labelled["format"])  # labels take time of their own
    new_images = sum(s["images_per_s"] * s["seconds"] for s in summaries)
    peak = max((s.get("peak_worker_rss_mb", 0.0) for s in summaries), default=None)
    if local or type_name not in table()["instances"]:
        vcpus = sum(s.get("workers", 1) for s in summaries)
        vcpus = min(vcpus, default_workers()) if local else vcpus  # local hosts share this machine's cores
    else:
        vcpus = instance_type(type_name).vcpu * hosts
    per_vcpu = new_images / work / vcpus if work and vcpus and new_images else None

    created = _time(description.get("CreationTime"), "CreationTime", label)
    started = _time(description.get("ProcessingStartTime"), "ProcessingStartTime", label)
    ended = _time(description.get("ProcessingEndTime"), "ProcessingEndTime", label)
    for early, late, a, b in ((created, ended, "CreationTime", "ProcessingEndTime"),
                              (created, started, "CreationTime", "ProcessingStartTime"),
                              (started, ended, "ProcessingStartTime", "ProcessingEndTime")):
        if early and late and late < early:
            raise UsageError(f"{label}: {b} {late.isoformat()} is before {a} {early.isoformat()}: these "
                             "are not the times of a job that ran; compare the description SageMaker gives")
    total = (ended - created).total_seconds() if created and ended else None
    if total is not None and work is not None and work > total * 1.05 + 5:  # clocks of two machines: a little slack
        raise UsageError(f"{label}: its hosts report {work:,.1f} s of work, more than the job's "
                         f"{total:,.1f} s from CreationTime to ProcessingEndTime: these are not one job's times")
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
    why_not = _not_measurable(description, summaries, work)
    if record and per_vcpu and digest and why_not is None:
        # a job is stored once: by its name, or (summaries alone, which may name none) by their content
        job_id = name if name != "(summaries)" else "summaries " + hashlib.sha256(
            json.dumps(summaries, sort_keys=True, default=str).encode()).hexdigest()[:16]
        try:
            recorded = str(_model.record(digest, per_vcpu, peak or 0.0, f"job {name} ({runtime}, {vcpus} vCPUs)",
                                         images=images, instance_type=type_name, job=job_id))
        except OSError as e:
            notes.append(f"not stored: cannot write {_model.cache_file()}: {e.strerror or e}; set AUGMENT_CACHE_DIR "
                         "to a writable folder")
    elif record and why_not is not None:
        notes.append(f"not stored for the next plan: {why_not}")
    return Comparison(name, runtime, option, estimated, actual, per_vcpu, peak, recorded, notes)


def _not_measurable(description: dict[str, Any], summaries: list[dict[str, Any]], work: float | None) -> str | None:
    """Why a job's throughput is no measurement to store (``None``: it is one)."""
    status = description.get("ProcessingJobStatus")
    if description and status != "Completed":
        return f"the job {status.lower() if isinstance(status, str) else status}; only completed jobs are measured"
    unfinished = [s.get("host", str(n)) for n, s in enumerate(summaries) if s.get("status", "completed") != "completed"]
    if unfinished:
        return f"host {', '.join(unfinished[:3])} did not complete"
    if not summaries:
        return "no host summary was found"
    written = sum(s.get("written", round(s["images_per_s"] * s["seconds"])) for s in summaries)
    if written < MIN_MEASURED_OUTPUTS or (work or 0) < MIN_MEASURED_WORK_S:
        return (f"{plural(written, 'output')} in {work or 0:.1f} s is too little work to measure (at least "
                f"{MIN_MEASURED_OUTPUTS} outputs and {MIN_MEASURED_WORK_S:g} s of work; `augment plan --calibrate` "
                "measures a sample)")
    return None
