"""``augment run`` and ``augment local-run``: launch processing jobs through
:func:`augment.jobs.launch` (locally or on SageMaker) and show what they did; run a job
that plain SageMaker SDK code created, by name, with the local runtime."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from augment.cli._numbers import COUNT, INSTANCES, USD, WORKERS
from augment.cli._output import as_json, show
from augment.errors import JobFailed, UsageError
from augment.options import add_job_options, number
from augment.text import plural


def add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="launch augment as processing jobs: locally or on SageMaker",
        description="Build the CreateProcessingJob request of a launch mode and run it. --backend local runs it "
                    "on this machine without AWS or Docker: each simulated instance gets its own /opt/ml root, "
                    "inputs are staged from S3 (AWS_ENDPOINT_URL is honoured) or a local folder, outputs are "
                    "uploaded at the end. --backend sagemaker submits the same request to SageMaker Processing. "
                    "Modes: standalone (one instance), sharded (N instances, ShardedByS3Key: the cheap way to fan "
                    "out), batched (one job per --batch-size keys, each reading only its own ManifestFile).",
    )  # fmt: skip
    p.add_argument("--backend", choices=("local", "sagemaker"), default="local", help="where jobs run")
    p.add_argument("--mode", choices=("standalone", "sharded", "batched"), default="standalone", help="launch mode")
    p.add_argument("--input", required=True, help="images: s3://bucket/prefix/ (or a local folder, local backend)")
    p.add_argument("--output", required=True, help="outputs: s3://bucket/prefix/ (or a local folder, local backend)")
    p.add_argument("--spec", required=True, help="spec file or preset name")
    p.add_argument("--instance-count", type=INSTANCES, default=None,
                   help="instances per job (sharded: default 2; otherwise 1)")
    p.add_argument("--instance-type", default="ml.m5.large", help="instance type (default ml.m5.large)")
    p.add_argument("--workers", type=WORKERS, default=None, help="worker processes per instance")
    p.add_argument("--job-name", default=None, help="job name (default: augment-<mode>-<time>-<hash>)")
    p.add_argument("--batch-size", type=COUNT, default=128, help="batched: keys per job (default 128)")
    p.add_argument("--max-in-flight", type=number(min=1, max=1000, integer=True), default=4,
                   help="batched: jobs running at once (default 4; account quotas are low by default)")
    p.add_argument("--retries", type=number(min=0, max=100, integer=True), default=2,
                   help="batched: extra attempts for a failed batch (default 2)")
    p.add_argument("--workdir", default=None, help="local: keep the instances' /opt/ml roots here for inspection")
    p.add_argument("--max-cost", type=USD, default=None, metavar="USD",
                   help="estimate first (see `augment plan`) and refuse, before any request, when it costs more")
    p.add_argument("--quota", type=number(min=1, max=10_000, integer=True), default=None, metavar="N",
                   help="instances of the type allowed at once: never exceeded (batched runs fewer jobs at once)")
    p.add_argument("--json", action="store_true",
                   help="print the job's description (shaped like DescribeProcessingJob; batched: the report) as "
                        "JSON on stdout, and the short summary on stderr")
    g = p.add_argument_group("job options", "passed to every job's `augment process` as container arguments, "
                                            "and checked before any request is sent")
    add_job_options(g)
    p.add_argument("--image", "--image-uri", dest="image_uri", default=None, metavar="IMAGE",
                   help="the processing image. sagemaker: its ECR URI (see `augment image uri`). local: run each "
                        "instance in a container of this image (built with `augment image build`), as SageMaker "
                        "would, instead of as a process of this Python: test the exact image before paying")
    p.add_argument("--engine", choices=("auto", "docker", "podman"), default=None,
                   help="local with --image: the container engine that runs it (default auto: Docker, else podman)")
    g = p.add_argument_group("SageMaker backend")
    g.add_argument("--role", default=None, help="IAM role ARN (default: the Studio execution role)")
    g.add_argument("--bucket", default=None, help="bucket for the spec and shipped code (default: session default)")
    g.add_argument("--region", default=None, help="AWS region (default: the session's)")
    g.add_argument("--ship-code", action="store_true",
                   help="upload this package's source and run it instead of the image's (no rebuild after an edit)")
    g.add_argument("--no-wait", action="store_true", help="submit and print the job name without waiting")
    p.set_defaults(func=_cmd_run)


def add_local_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "local-run", help="run a job created with plain SageMaker SDK code, by name, on this machine",
        description="Read a processing job from DescribeProcessingJob on the configured endpoint "
                    "(AWS_ENDPOINT_URL) and execute it with the local runtime: a dry run of existing "
                    "ScriptProcessor/Processor code, no kit code involved.",
    )  # fmt: skip
    p.add_argument("job_name", help="the processing job's name")
    p.add_argument("--instance-count", type=INSTANCES, default=None,
                   help="override InstanceCount (some endpoints, like moto, do not describe it)")
    p.add_argument("--workdir", default=None, help="keep the instances' /opt/ml roots here for inspection")
    p.set_defaults(func=_cmd_local_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from augment.jobs import launch, make_backend
    from augment.options import JOB_OPTIONS

    # connected by launch(), once the options, locations and limits passed: nothing is asked of AWS before
    backend = make_backend(args.backend, role=args.role, bucket=args.bucket, region=args.region,
                           workdir=args.workdir, image_uri=args.image_uri, connect=False,
                           # --image on the local backend: its instances run in containers of it
                           engine=args.engine or ("auto" if args.backend == "local" and args.image_uri else None))
    if args.backend == "sagemaker" and not args.image_uri:  # the command ships no code unless asked to
        raise UsageError("--image is required with --backend sagemaker: the image's ECR URI (`augment image uri` "
                         "prints it; `augment image uri --dlc` names one that needs no build, with --ship-code)")
    options: dict[str, Any] = {k: getattr(args, k) for k in JOB_OPTIONS if getattr(args, k) is not None}
    if args.mode == "batched":
        options.update(retries=args.retries)
    else:
        options.update(instance_count=args.instance_count, name=args.job_name)
        if args.backend == "local":
            options.update(attached=True)  # the hosts run here, their lines on stderr, as the job's own output
    if args.backend == "sagemaker":
        options.update(ship_code=args.ship_code)  # batched refuses it, in launch()
    result = launch(backend, args.spec, args.input, args.output, mode=args.mode, instance_type=args.instance_type,
                    max_cost=args.max_cost, quota=args.quota, batch_size=args.batch_size,
                    max_in_flight=args.max_in_flight, workers=args.workers, region=args.region, **options)
    if args.mode == "batched":
        report = result
        base, last = args.output.rstrip("/"), len(report.batches) - 1
        lines = [report.line(), f"outputs:   {base}/ (a folder per batch: batch-00000/ to batch-{last:05d}/, "
                                f"each with its _augment/ manifests)", *_label_lines(report.labels, args.output),
                 f"report:    {base}/_batches/report.json"]
        show(lines, as_json(report.to_dict()) if args.json else None)
        if report.failed:
            raise JobFailed(report.failure_message())
        return 0
    job = result
    if args.backend == "sagemaker":
        print(f"submitted {job.name}", file=sys.stderr)
        if args.no_wait:
            if getattr(job, "finish", None) is not None:  # a sharded, labelled job: nobody waits to merge
                print(f"its hosts' labels are merged into {args.output} by whoever waits on it: "
                      f"augment.jobs.sagemaker.SageMakerBackend().attach({job.name!r}).wait(), or, once it "
                      f"completed, augment.engine.labels.merge_parts({args.output!r})", file=sys.stderr)
            print(job.name)
            return 0
        try:
            description = job.wait()
        except Exception as e:  # the job runs on whatever became of this machine's connection
            from augment.aws import aws_error

            error = aws_error(e)
            if error is None:
                raise
            raise UsageError(f"{error}. Job {job.name} was created and may still be running: follow it with "
                             f"`aws sagemaker describe-processing-job --processing-job-name {job.name}`; do not "
                             "launch it again into the same output", transient=True) from None
        summaries, note = _output_summaries(args.output)
    else:  # attached: it has ended
        description = job.describe()
        summaries = {h: info["summary"] for h, info in description["LocalRuntime"]["hosts"].items()
                     if "summary" in info}
        note = None
    lines = _job_lines(description, summaries, args.output) + _label_lines(getattr(job, "labels", []), args.output)
    show(lines if note is None else [*lines, note], _description_json(description) if args.json else None)
    _check_completed(description)
    return 0


def _label_lines(merged: list[str], output: str) -> list[str]:
    """Where the label files launch() merged are (a sharded job's hosts', a set of batches'), if any."""
    return [f"labels:    {', '.join(output.rstrip('/') + '/' + name for name in merged)}"] if merged else []


def _output_summaries(output: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The hosts' summaries under a SageMaker job's output, and why there are none when unreadable."""
    import botocore.exceptions

    from augment.jobs.follow import host_summaries

    try:
        return host_summaries(output), None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        return {}, f"totals:    cannot read the hosts' summaries under {output.rstrip('/')}/_augment/: {e}"


def _job_lines(description: dict[str, Any], summaries: dict[str, dict[str, Any]], output: str) -> list[str]:
    """What `augment run` prints of a finished job: its name, status and time, the totals of its
    hosts' summaries (inputs, outputs, failed inputs, excluded files, instances, rate), and where its
    outputs are."""
    created, ended = description.get("CreationTime"), description.get("ProcessingEndTime")
    took = f" in {(ended - created).total_seconds():.1f} s" if hasattr(ended, "__sub__") and created else ""
    lines = [f"job:       {description['ProcessingJobName']} {description['ProcessingJobStatus']}{took}"]
    engine = description.get("LocalRuntime", {}).get("engine")
    if engine:
        lines.append(f"image:     {description['AppSpecification']['ImageUri']}, each instance a container ({engine})")
    if summaries:
        found = list(summaries.values())
        written = sum(s["written"] for s in found)
        seconds = max(s["seconds"] for s in found)
        rate = written / seconds if seconds else 0.0
        failed = sum(s["failed_inputs"] for s in found)
        excluded = sum(s.get("excluded", 0) for s in found)
        lines.append(f"augment: {plural(sum(s['inputs'] for s in found), 'input')} x "
                     f"{plural(found[0]['copies'], 'copy')} -> {plural(written, 'output')} on "
                     f"{plural(len(found), 'instance')}, {plural(failed, 'failed input')}"
                     + (f", {plural(excluded, 'file')} excluded" if excluded else "")
                     + f", in {seconds:.1f} s ({rate:.1f} outputs/s)")
    hosts = list(description.get("LocalRuntime", {}).get("hosts", {})) or sorted(summaries)
    base = output.rstrip("/")
    lines.append(f"outputs:   {output}")
    if hosts:
        lines.append("manifests: " + ", ".join(f"{base}/_augment/manifest-{h}.jsonl" for h in hosts))
    return lines


def _cmd_local_run(args: argparse.Namespace) -> int:
    import botocore.exceptions

    from augment import aws
    from augment.jobs import JobRequest, run_local

    what = "DescribeProcessingJob"
    session = aws.session()
    aws.require_credentials(what, session)
    aws.require_region(what, session)
    try:
        with aws.translated(what):
            described = session.client("sagemaker").describe_processing_job(ProcessingJobName=args.job_name)
    except botocore.exceptions.ClientError as e:
        raise UsageError(f"cannot describe processing job {args.job_name!r}: {e}") from None
    except botocore.exceptions.BotoCoreError as e:
        raise UsageError(f"cannot reach the SageMaker endpoint (AWS_ENDPOINT_URL names another): {e}") from None
    request = JobRequest.from_request(described)
    if args.instance_count:
        request = request.with_changes(instance_count=args.instance_count)
    return _print_description(run_local(request, workdir=args.workdir))


def _print_description(description: dict[str, Any]) -> int:
    """Print the DescribeProcessingJob-shaped result as JSON; fail when the job did."""
    print(_description_json(description))
    _check_completed(description)
    return 0


def _description_json(description: dict[str, Any]) -> str:
    shown = {k: v for k, v in description.items() if k != "ResponseMetadata"}
    return as_json(shown)


def _check_completed(description: dict[str, Any]) -> None:
    status = description["ProcessingJobStatus"]
    if status != "Completed":
        raise JobFailed(f"job {description['ProcessingJobName']} {status}: {description.get('FailureReason', '')}")
