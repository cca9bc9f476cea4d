"""What notebooks do with a job, in one call each: choose a backend, put the data where
it can reach it, follow the job while it runs, collect what it did, look at a sample of
its outputs, and plot the timelines of many jobs.

Everything here works the same on the local runtime and on SageMaker: it uses only the
job handle's interface (``describe``, ``logs``, ``outputs``) and the files every job
writes under ``<output>/_augment/`` (``summary-<host>.json``, ``manifest-<host>.jsonl``,
``spec.yaml``), read from a local folder or from S3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from augment.errors import UsageError
from augment.jobs.backend import BACKENDS, make_backend  # noqa: F401  (the notebooks' name, kept here too)
from augment.jobs.handles import TERMINAL, Job
from augment.jobs.launch import SPEC_PATH
from augment.locations import META_DIR, host_summaries
from augment.storage import expand, is_s3, join, list_location, s3_uri, upload_tree
from augment.text import plural

_LINE = re.compile(r"^\[(?P<host>[^\]]+)\] (?P<text>.*)$")
_PROGRESS = re.compile(r"progress: (?P<done>\d+)/(?P<total>\d+) ")
_TO_DO = re.compile(r"; (?P<todo>\d+) inputs? to do")


def _local(location: str) -> str:
    """``location`` with ``~`` expanded, unless it is an ``s3://`` URI."""
    return expand(location)


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def locations(backend: Any, input: str | None = None, output: str | None = None, *,
              name: str = "job") -> tuple[str, str]:
    """Where a job reads and writes, for ``backend``.

    The local runtime reads local folders or S3; SageMaker reads only S3, so a local
    folder (or the bundled samples, for ``input=None``) is uploaded once under the
    backend's bucket, at a prefix named by its content.

    Args:
        backend: from :func:`make_backend`.
        input: ``None`` (the bundled sample photos), a local folder (``~`` is your
            home), or ``s3://``.
        output: ``None`` (a new folder: under the temporary directory locally,
            ``s3://<bucket>/augment/outputs/<name>-<time>/`` on SageMaker), a local
            folder (local backend only) or ``s3://``.
        name: names the default output.

    Returns:
        ``(input_uri, output_uri)``.

    Raises:
        UsageError: a local ``output`` for SageMaker, or an ``input`` folder that does not exist.
    """
    from augment.samples import samples_dir

    source = str(samples_dir()) if input is None else _local(str(input))
    output = None if output is None else _local(str(output))
    if not is_s3(source) and not Path(source).is_dir():
        raise UsageError(f"input: {source} is neither a folder nor an s3:// prefix")
    if not getattr(backend, "reads_s3_only", False):  # the local runtime reads folders too
        if output is None:
            output = tempfile.mkdtemp(prefix=f"augment-{name}-")
        return source, str(output)
    if output is None:
        output = s3_uri(backend.bucket, f"{backend.prefix}/outputs/{name}-{_stamp()}/")
    elif not is_s3(output):
        raise UsageError(f"output: SageMaker writes only to S3; pass an s3:// prefix, not {output!r}")
    if not is_s3(source):  # SageMaker stages inputs from S3 only
        source = upload_folder(backend, Path(source))
    return source, str(output)


def request_options(backend: Any, *, image_uri: str | None = None, copies: int | None = None,
                    mode: str = "standalone") -> dict[str, Any]:
    """The request options of a notebook's parameters, for :func:`augment.jobs.launch`.

    Args:
        backend: from :func:`make_backend`.
        image_uri: SageMaker: the image built by notebook 01; ``None`` runs standalone and
            sharded jobs on the AWS PyTorch image with this package shipped as code.
        copies: override the spec's copies per input (``augment process --copies``).
        mode: the launch mode.

    Returns:
        Keyword arguments: ``image_uri``, ``role_arn`` and ``ship_code`` on SageMaker;
        ``copies`` when given (:func:`~augment.jobs.launch` checks it, counts it in the
        cost limit and passes it to the job).

    Raises:
        UsageError: batched or prefetch jobs on SageMaker without ``image_uri`` (they
            cannot ship code yet).
    """
    options: dict[str, Any] = {} if copies is None else {"copies": copies}
    return {**options, **backend.request_defaults(mode, image_uri=image_uri)}


def instance_choice(plan: Any, instance_type: str | None = None, *, out: TextIO | None = None) -> str:
    """The instance type to launch on, said in one line: ``instance_type`` when given,
    else the plan's recommendation, so that a notebook never plans one type and runs another.

    Args:
        plan: an :class:`~augment.plan.Plan` over the launch's mode.
        instance_type: the notebook's parameter (``None``: the recommendation).
        out: where the line goes (default stdout).

    Returns:
        The instance type.

    Raises:
        UsageError: ``instance_type`` is ``None`` and the plan recommends nothing.
    """
    best = plan.best
    mode = best.mode if best is not None else "the job"
    if instance_type is None:
        if best is None:
            raise UsageError(f"instance_type: the plan recommends nothing ({plan.reason}); set one")
        line = f"{mode}: launching on {best.instance_type}, as the plan recommends: {plan.reason}"
        chosen = best.instance_type
    elif best is None or best.instance_type == instance_type:
        line, chosen = f"{mode}: launching on {instance_type}, as instance_type asks", instance_type
    else:
        line = (f"{mode}: launching on {instance_type}, as instance_type asks (instance_type = None takes the "
                f"plan's recommendation: {plan.reason})")
        chosen = instance_type
    print(line, file=out or sys.stdout)
    return chosen


def upload_folder(backend: Any, folder: Path) -> str:
    """Upload a local folder under ``s3://<bucket>/<prefix>/inputs/<content digest>/`` (once: an
    upload of the same files finds them there); return the prefix."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    uri = s3_uri(backend.bucket, f"{backend.prefix}/inputs/{digest.hexdigest()[:16]}/")
    upload_tree(((f, f.relative_to(folder).as_posix()) for f in files), uri, only_missing=True, s3=backend.s3)
    return uri


class RequestView:
    """A job's ``CreateProcessingJob`` request as a notebook shows it: a short table of what
    matters (image, command, instances, inputs, output, role), the whole request folded
    below it; account ids redacted, text in JupyterLab (no LaTeX)."""

    def __init__(self, request: Any) -> None:
        self.request = request.to_request() if hasattr(request, "to_request") else dict(request)

    def rows(self) -> list[tuple[str, str]]:
        from augment.redact import redact

        r = self.request
        app, cluster = r.get("AppSpecification", {}), r.get("ProcessingResources", {}).get("ClusterConfig", {})
        rows = [("job", r.get("ProcessingJobName", "")), ("image", app.get("ImageUri", "")),
                ("command", " ".join([*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])])),
                ("instances", f"{cluster.get('InstanceCount')} x {cluster.get('InstanceType')}, "
                              f"{cluster.get('VolumeSizeInGB')} GB of disk each")]
        for i in r.get("ProcessingInputs", []):
            s3 = i.get("S3Input", {})
            rows.append((f"input {i.get('InputName')}", f"{s3.get('S3Uri')} -> {s3.get('LocalPath')} ("
                         f"{s3.get('S3DataType')}, {s3.get('S3DataDistributionType')}, {s3.get('S3InputMode')})"))
        for o in r.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3 = o.get("S3Output", {})
            rows.append((f"output {o.get('OutputName')}",
                         f"{s3.get('LocalPath')} -> {s3.get('S3Uri')} ({s3.get('S3UploadMode')})"))
        limit = r.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        rows += [("role", r.get("RoleArn", "")), ("stops after", f"{limit / 3600:g} h" if limit else "-")]
        if r.get("Tags"):
            rows.append(("tags", ", ".join(f"{t['Key']}={t['Value']}" for t in r["Tags"])))
        return [(k, redact(str(v))) for k, v in rows]

    def full(self) -> str:
        """The whole request, as SageMaker receives it (JSON), account ids redacted."""
        from augment.redact import redact

        return redact(json.dumps(self.request, indent=1, default=str))

    def _repr_html_(self) -> str:
        import html

        from augment.text import plain_html

        body = "".join(f'<tr><th style="text-align:left">{html.escape(k)}</th><td style="text-align:left">'
                       f"{html.escape(v)}</td></tr>" for k, v in self.rows())
        full = self.full()
        return plain_html(f'<table class="augment-request">{body}</table><details><summary>the whole '
                          f"CreateProcessingJob request ({len(full.splitlines())} lines of JSON)</summary>"
                          f"<pre>{html.escape(full)}</pre></details>")

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self.rows()) + 1
        return "\n".join(f"{k + ':':<{width}} {v}" for k, v in self.rows())


def show_request(request: Any) -> RequestView:
    """What a job asks SageMaker for, to show in a notebook (see :class:`RequestView`)."""
    return RequestView(request)


# --- following a running job ---------------------------------------------------------------


def follow(job: Job, *, poll: float | None = None, timeout: float | None = None, out: TextIO | None = None,
           bar: bool = True) -> dict[str, Any]:
    """Follow a job until it ends: a progress bar over every host's inputs (from the
    hosts' ``progress`` log lines) and the other log lines as they arrive.

    Args:
        job: a local or SageMaker job handle.
        poll: seconds between looks (default 0.5 locally, 15 on SageMaker, where
            every look reads CloudWatch).
        timeout: give up waiting after this many seconds (the job goes on).
        out: where log lines go (default stdout).
        bar: show the ``tqdm.auto`` bar (a widget in Jupyter).

    Returns:
        The job's ``DescribeProcessingJob`` answer.

    Log lines are shown with account ids redacted.

    Raises:
        JobFailed: the job failed or was stopped (with SageMaker's reason).
        TimeoutError: still running after ``timeout``.
    """
    from tqdm.auto import tqdm

    from augment.redact import redact

    poll = poll if poll is not None else getattr(getattr(job, "backend", None), "poll", 0.5)  # the backend's
    out = out or sys.stdout
    deadline = None if timeout is None else time.monotonic() + timeout
    hosts: dict[str, list[int]] = {}  # host -> [done, total]
    shown = 0
    progress = tqdm(total=0, unit="inputs", desc=job.name, disable=not bar, file=sys.stderr)
    try:
        while True:
            status = job.status()
            lines = job.logs()
            for line in lines[shown:]:
                if not _track(line, hosts):
                    progress.write(redact(line), file=out)
            shown = len(lines)
            progress.total = sum(t for _, t in hosts.values())
            progress.n = sum(d for d, _ in hosts.values())
            progress.set_postfix_str(f"{status}, {plural(len(hosts), 'host')} reporting", refresh=True)
            if status in TERMINAL:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job.name} still {status} after {timeout} s")
            time.sleep(poll)
    finally:
        progress.close()
    return job.wait(timeout=0, poll=0)


def _track(line: str, hosts: dict[str, list[int]]) -> bool:
    """Count a host's progress from one log line; True when the line was a progress line."""
    m = _LINE.match(line)
    host, text = (m["host"], m["text"]) if m else ("?", line)
    if p := _PROGRESS.search(text):
        hosts[host] = [int(p["done"]), int(p["total"])]
        return True
    if t := _TO_DO.search(text):
        hosts.setdefault(host, [0, int(t["todo"])])
    return False


# --- what a job did -------------------------------------------------------------------------


def _seconds(a: Any, b: Any) -> float | None:
    return round((b - a).total_seconds(), 2) if isinstance(a, dt.datetime) and isinstance(b, dt.datetime) else None


def spec_of(job: Job) -> str:
    """The spec a job runs: the preset named in its arguments, or its spec input's location."""
    args = list(job.request.arguments)
    if "--spec" in args and args.index("--spec") + 1 < len(args):
        return args[args.index("--spec") + 1]
    return next((i.source for i in job.request.inputs if i.destination == SPEC_PATH), "")


class JobResults(dict):  # type: ignore[type-arg]
    """A job's results: a plain, JSON-ready dict that shows itself as a table of text (no
    JSON quotes, and no LaTeX: JupyterLab typesets ``$...$`` in HTML and Markdown output),
    with account ids (in an ARN, an image URI, Studio's default bucket) redacted."""

    def rows(self) -> list[tuple[str, str]]:
        """``(field, value)`` as the table shows them: strings as they are, a mapping as
        ``key: value`` pairs (``none`` when empty), ``None`` as ``-``."""
        from augment.redact import redact

        def shown(value: Any) -> str:
            if value is None:
                return "-"
            if isinstance(value, Mapping):
                return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
            return str(value)

        return [(key, redact(shown(value))) for key, value in self.items()]

    def _repr_html_(self) -> str:
        import html

        from augment.text import plain_html

        body = "".join(f"<tr><th style=\"text-align:left\">{html.escape(k)}</th><td style=\"text-align:left\">"
                       f"{html.escape(v)}</td></tr>" for k, v in self.rows())
        return plain_html(f'<table class="augment-results"><tbody>{body}</tbody></table>')

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from pprint import pformat

        from augment.redact import redact

        printer.text(redact(pformat(dict(self), sort_dicts=False)))


def results(job: Job, description: Mapping[str, Any] | None = None) -> JobResults:
    """What a finished job did, from its hosts' summaries: a flat, JSON-ready dict.

    Args:
        job: the job handle.
        description: its ``DescribeProcessingJob`` answer (default: described now).

    Returns:
        ``job_name``, ``status``, ``backend``, ``instance_type``, ``instance_count``,
        ``spec`` and ``spec_digest``, ``inputs``, ``copies``, ``written``,
        ``failed_inputs``, ``failures_by_reason``, ``hosts_reported``, ``work_s`` (the
        slowest host's processing time), ``images_per_s`` (images written per second
        of it), ``startup_s`` (creation to start of processing), ``wall_s`` (creation
        to end) and ``output``.
    """
    description = description if description is not None else job.describe()
    output = job.outputs()[0]
    summaries = host_summaries(output)
    failures: dict[str, int] = {}
    for s in summaries.values():
        for reason, n in s.get("failures_by_reason", {}).items():
            failures[reason] = failures.get(reason, 0) + n
    written = sum(s.get("written", 0) for s in summaries.values())
    work_s = max((s.get("seconds", 0.0) for s in summaries.values()), default=0.0)
    digests = sorted({s.get("spec_digest", "") for s in summaries.values()})
    created = description.get("CreationTime")
    return JobResults({
        "job_name": job.name,
        "status": description.get("ProcessingJobStatus"),
        "backend": "sagemaker" if getattr(job, "backend", None) is not None else "local",
        "instance_type": job.request.instance_type,
        "instance_count": job.request.instance_count,
        "spec": spec_of(job),
        "spec_digest": digests[0] if len(digests) == 1 else ",".join(digests),
        "inputs": sum(s.get("inputs", 0) for s in summaries.values()),
        "copies": max((s.get("copies", 0) for s in summaries.values()), default=0),
        "written": written,
        "failed_inputs": sum(s.get("failed_inputs", 0) for s in summaries.values()),
        "failures_by_reason": failures,
        "hosts_reported": len(summaries),
        "work_s": round(work_s, 2),
        "images_per_s": round(written / work_s, 2) if work_s else 0.0,
        "startup_s": _seconds(created, description.get("ProcessingStartTime")),
        "wall_s": _seconds(created, description.get("ProcessingEndTime")),
        "output": output,
    })  # fmt: skip


# --- a look at the outputs -----------------------------------------------------------------


def preview(job: Job, *, n: int = 4, pick_seed: int = 0) -> Any:
    """Inputs beside their outputs, with the sampled parameters, for a finished job
    (:func:`augment.preview.from_job` on its output, a folder or ``s3://``).

    Returns:
        The :class:`~augment.preview.Preview` (it displays itself in a notebook), or
        ``None`` after saying so when the output holds no manifest.
    """
    from augment.preview import from_job
    from augment.redact import redact

    output = job.outputs()[0]
    if not any(rel.startswith("manifest-") for rel, _ in list_location(join(expand(output), META_DIR))):
        print(redact(f"no manifest under {output}: the job wrote no outputs there (yet)"))
        return None
    images = next(i.source for i in job.request.inputs if i.name == "images")
    return from_job(output, images, n=n, pick_seed=pick_seed)


# --- timelines ------------------------------------------------------------------------------


def _times(job: Any) -> tuple[dt.datetime, dt.datetime, dt.datetime, int] | None:
    """A finished job's creation, start and end times, and its instance count."""
    d = job if isinstance(job, Mapping) else job.describe()
    created, started, ended = d.get("CreationTime"), d.get("ProcessingStartTime"), d.get("ProcessingEndTime")
    if not all(isinstance(t, dt.datetime) for t in (created, started, ended)):
        return None
    count = d.get("ProcessingResources", {}).get("ClusterConfig", {}).get("InstanceCount", 1)
    return created, started, ended, count


def _schedule(durations: Sequence[float], slots: int) -> list[float]:
    """Start times of jobs submitted in order to ``slots`` parallel places (list scheduling)."""
    free = [0.0] * max(slots, 1)
    starts = []
    for d in durations:
        i = min(range(len(free)), key=free.__getitem__)
        starts.append(free[i])
        free[i] += d
    return starts


def _overlap(spans: Sequence[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def timelines(groups: Mapping[str, Sequence[Any]], *, startup_s: float | None = None) -> Any:
    """Job timelines, start-up against work: one bar per job, grouped (e.g. ``sharded``,
    ``batched``), from each job's ``CreationTime``, ``ProcessingStartTime`` and
    ``ProcessingEndTime``.

    Args:
        groups: label -> jobs (handles or ``DescribeProcessingJob`` answers).
        startup_s: also draw the same jobs as SageMaker would run them: each job's
            measured work after ``startup_s`` of start-up (provisioning, image pull),
            as many at once as ran at once here. The local runtime starts a job in
            about a second, so this panel shows what the same launch pattern costs on AWS.

    Returns:
        A matplotlib ``Figure``.

    Raises:
        UsageError: no job has all three times (none has finished).
    """
    import matplotlib
    import matplotlib.pyplot as plt

    measured = {label: [t for t in map(_times, jobs) if t] for label, jobs in groups.items()}
    if not any(measured.values()):
        raise UsageError("timelines: no finished job with CreationTime, ProcessingStartTime and ProcessingEndTime")
    panels = 2 if startup_s is not None else 1
    rows = sum(len(v) for v in measured.values())
    fig, axes = plt.subplots(panels, 1, figsize=(12, 1.2 + 0.32 * rows * panels + 0.6 * panels), squeeze=False)
    plt.close(fig)  # shown once, when a notebook cell returns it (pyplot would show it again)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for g, (label, spans) in enumerate(measured.items()):
        if not spans:
            continue
        t0 = min(c for c, _, _, _ in spans)
        bars = [((c - t0).total_seconds(), (s - c).total_seconds(), (e - s).total_seconds()) for c, s, e, _ in spans]
        _draw(axes[0][0], bars, label, colors[g % len(colors)], g, measured)
        if startup_s is not None:
            slots = _overlap([(a, a + b + w) for a, b, w in bars])
            works = [w for _, _, w in bars]
            starts = _schedule([startup_s + w for w in works], slots)
            billed = sum(n for _, _, _, n in spans) * startup_s / 60  # every instance is billed while it starts
            jobs = f"{len(spans)} job{'s' * (len(spans) != 1)}"
            _draw(axes[1][0], [(s, startup_s, w) for s, w in zip(starts, works, strict=True)],
                  f"{label}: {jobs}, {billed:.0f} instance-min of start-up billed", colors[g % len(colors)], g,
                  measured)
    axes[0][0].set_title("measured here: start-up (hatched) against work (solid)")
    if startup_s is not None:
        axes[1][0].set_title(f"the same jobs on SageMaker, at {startup_s:.0f} s start-up each (projected)")
    for ax in axes[:, 0]:
        ax.set_xlabel("seconds since the first job of its group was created")
        ax.invert_yaxis()
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside, never over, the bars
    fig.tight_layout()
    return fig


def _draw(ax: Any, bars: list[tuple[float, float, float]], label: str, color: str, group: int,
          measured: Mapping[str, Sequence[Any]]) -> None:
    offset = sum(len(v) for v in list(measured.values())[:group])
    for i, (start, startup, work) in enumerate(bars):
        y = offset + i
        ax.barh(y, startup, left=start, color="white", edgecolor=color, hatch="///", height=0.7)
        ax.barh(y, work, left=start + startup, color=color, height=0.7, label=label if i == 0 else None)
        ax.text(start + startup + work, y, f" {startup + work:.1f} s", va="center", fontsize="x-small")
    ax.set_yticks([])
