"""The ``augment`` command.

Exit status: 0 success, 1 the job ran but failed (too many bad inputs, a replay that
is not bit-exact, a launched job that failed), 2 a usage or spec error found before any
work, 130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence
from typing import Any

from augment import __version__
from augment.errors import AugmentError, JobFailed, UsageError
from augment.options import MAX_COPIES, MAX_SEED, add_job_options, number
from augment.text import brief, escape_surrogates, plural

_EPILOG = """\
examples:
  augment presets                                 list the shipped presets
  augment validate my_spec.yaml                   check a spec (exit 2 if invalid)
  augment process --spec light --input-dir photos/ --output-dir out/
  augment replay out/_augment/manifest-local.jsonl --source cats/chelsea.jpg --copy 1 --out again.jpg
  augment run --mode sharded --instance-count 2 --input photos/ --output out/ --spec light
  augment local-run my-processing-job             run a SageMaker job's request locally
  augment ops ColorJitter                         parameters of one op
  augment sweep notebooks/03_standalone_job.ipynb --grid grid.yaml --out runs/jitter
                                                  run a notebook over a parameter grid
  augment preview light --input photos/ --out grid.png   see what a spec does, before any job
  augment plan --images 1000000 --instance-type ml.t3.medium --mode batched --mode sharded
                                                  time and cost of each way to run it, before launch
"""


# Every number option takes its value through augment.options.number: finite, in range, the
# flag and the range named when refused (nan compared false with every limit, switching it off).
_positive_int = number(min=1, integer=True)
_WORKERS = number(min=1, max=1024, integer=True)
_INSTANCES = number(min=1, max=100, integer=True)  # SageMaker Processing's most instances per job
_COPIES = number(min=1, max=MAX_COPIES, integer=True)
_SEED = number(min=0, max=MAX_SEED, integer=True)
_COUNT = number(min=1, max=10**12, integer=True)  # images, batch sizes: large, but never past a float's exactness
_LINE = number(min=-10**12, max=10**12, integer=True)  # a manifest line: replay says which there are
_USD = number(min=0)


def job_options(arguments: Sequence[str]) -> dict[str, Any]:
    """Kept for callers of the old name: :func:`augment.options.parse_job_arguments`."""
    from augment.options import parse_job_arguments

    return parse_job_arguments(arguments)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augment",
        description="torchvision v2 image augmentation, run as a SageMaker Processing job or on this machine.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"augment {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "process", help="augment every image under a directory (what a processing job runs)",
        description="Augment every file under --input-dir (recursively) with a pipeline spec. Writes "
                    "<name>.aug<copy>.<ext> in the same relative layout under --output-dir, plus "
                    "_augment/spec.yaml, _augment/manifest-<host>.jsonl (one line per input and copy) and "
                    "_augment/summary-<host>.json. Bad inputs are recorded with a reason, never dropped. "
                    "Inside a SageMaker Processing job the defaults come from /opt/ml (its config files); "
                    "AUGMENT_OPT_ML moves that root. Exit status: 0 done, 1 job failed, 2 usage or spec "
                    "error, 130/143 stopped by SIGINT/SIGTERM (re-run with --resume to finish).",
    )  # fmt: skip
    p.add_argument("--spec", default=None,
                   help="spec file (.yaml/.yml/.json) or preset name (see `augment presets`); default: the file "
                        "in the job's 'spec' processing input")
    p.add_argument("--input-dir", default=None,
                   help="folder of input images, read recursively (default: with --resume, the folder the job "
                        "started with; else the job's images input, else /opt/ml/processing/input)")
    p.add_argument("--output-dir", default=None,
                   help="folder for outputs, created if missing; must not contain the input (default: the "
                        "job's output, else /opt/ml/processing/output)")
    p.add_argument("--workers", type=_WORKERS, default=None,
                   help="worker processes, one torch thread each (default: one per CPU)")
    p.add_argument("--host", default=None,
                   help="names this host's manifest and summary (default: current_host from "
                        "/opt/ml/config/resourceconfig.json, else 'local')")
    p.add_argument("--resume", action="store_true",
                   help="finish a job this host started in --output-dir (after a crash, a kill or a stop): "
                        "does what has no record, redoes recorded outputs that are missing, and retries "
                        "failures that may pass now (write_failed, unreadable, out_of_memory); does nothing "
                        "when it is complete")
    p.add_argument("--verify", action="store_true",
                   help="with --resume: also check every recorded output's SHA-256, and redo those that differ")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --resume: retry every failed input, not only the failures that may pass now")
    add_job_options(p)
    p.add_argument("--input-uri", default=None, metavar="URI",
                   help="where --input-dir's files came from (s3:// or a folder), recorded in the summary for "
                        "`augment replay`; set by the runtimes")
    p.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                   help="progress display: a bar on a terminal or in Jupyter, plain lines in logs (default: auto)")
    p.add_argument("--progress-interval", type=number(min=0, max=86_400), default=5.0,
                   help="seconds between plain progress lines (default: 5)")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="log lines on stderr as text or as one JSON object per line (default: text)")
    p.set_defaults(func=_cmd_process)

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
    p.add_argument("--instance-count", type=_INSTANCES, default=None,
                   help="instances per job (sharded: default 2; otherwise 1)")
    p.add_argument("--instance-type", default="ml.m5.large", help="instance type (default ml.m5.large)")
    p.add_argument("--workers", type=_WORKERS, default=None, help="worker processes per instance")
    p.add_argument("--job-name", default=None, help="job name (default: augment-<mode>-<time>-<hash>)")
    p.add_argument("--batch-size", type=_COUNT, default=128, help="batched: keys per job (default 128)")
    p.add_argument("--max-in-flight", type=number(min=1, max=1000, integer=True), default=4,
                   help="batched: jobs running at once (default 4; account quotas are low by default)")
    p.add_argument("--retries", type=number(min=0, max=100, integer=True), default=2,
                   help="batched: extra attempts for a failed batch (default 2)")
    p.add_argument("--workdir", default=None, help="local: keep the instances' /opt/ml roots here for inspection")
    p.add_argument("--max-cost", type=_USD, default=None, metavar="USD",
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

    p = sub.add_parser(
        "plan", help="time and cost of every way to run a job, before launch; estimate against actual after",
        description="One row per (mode, instance type, count): jobs, wall time, billed instance-hours, cost, the "
                    "share of the bill spent starting up, and where the throughput and price come from; the "
                    "cheapest row within --deadline, --quota and --max-cost is recommended. --calibrate measures "
                    "this spec's throughput on a sample first; --compare JOB shows a finished job's estimate "
                    "beside its timings and stores its throughput for the next plan.",
    )  # fmt: skip
    work = p.add_mutually_exclusive_group()
    work.add_argument("--images", type=_COUNT, default=None, metavar="N", help="input images")
    work.add_argument("--input", default=None, metavar="DIR|s3://",
                      help="count the objects (and their mean size) of a folder or S3 prefix, downloading nothing "
                           "(default: the bundled samples)")
    p.add_argument("--spec", default="light", help="spec file or preset name (default light)")
    p.add_argument("--copies", type=_COPIES, default=None, help="outputs per image (default: the spec's)")
    p.add_argument("--instance-type", action="append", default=None, metavar="T",
                   help="repeatable (default: ml.t3.medium, ml.m5.large, ml.m5.xlarge, ml.c5.xlarge, ml.c5.2xlarge)")
    p.add_argument("--instance-count", action="append", type=_positive_int, default=None, metavar="K",
                   help="repeatable: instances of a sharded job, jobs at once when batched (default 1 2 4 8)")
    p.add_argument("--mode", action="append", default=None, choices=("standalone", "sharded", "batched", "prefetch"),
                   help="repeatable (default: all four)")
    p.add_argument("--batch-size", type=_COUNT, default=128, help="images per batched or prefetch job (default 128)")
    p.add_argument("--max-in-flight", type=_positive_int, default=None,
                   help="batched and prefetch jobs at once (default: each --instance-count)")
    p.add_argument("--startup", type=number(min=0, max=86_400), default=None, metavar="SECONDS",
                   help="start-up per job (default 300; the plan also shows 120-480, the range users report)")
    p.add_argument("--throughput", type=number(above=0, max=1e9), default=None, metavar="IMG_PER_S_PER_VCPU",
                   help="output images/s per vCPU (default: measured for this spec, else the benchmark's)")
    p.add_argument("--deadline", default=None, metavar="DURATION", help="e.g. 90m, 2h, 1h30m, 3600")
    p.add_argument("--max-cost", type=_USD, default=None, metavar="USD", help="do not recommend dearer options")
    p.add_argument("--quota", type=_positive_int, default=None, metavar="N", help="instances of a type allowed at once")
    p.add_argument("--workers", type=_WORKERS, default=None,
                   help="worker processes per instance (default: one per vCPU)")
    p.add_argument("--region", default=None, help="AWS region of the jobs (default: the session's, else us-east-1)")
    p.add_argument("--prices", choices=("auto", "offline", "api"), default="auto",
                   help="auto: the AWS Price List API where credentials exist, else the shipped dated table")
    p.add_argument("--json", action="store_true", help='print {"options": [...], "recommended": i, "assumptions"}')
    p.add_argument("--plot", default=None, metavar="OUT.png",
                   help="draw cost and wall time against instance count (.png, .svg, .pdf...: by the extension)")
    p.add_argument("--include", action="append", default=None, metavar="GLOB",
                   help="count (and calibrate on) only files that match, as `augment run --include` takes them "
                        "(repeatable; added to the spec's input.include)")
    p.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                   help="do not count files that match, as `augment run --exclude` leaves them out (repeatable; "
                        "operating-system junk is never counted)")
    p.add_argument("--calibrate", nargs="?", const="", default=None, metavar="DIR",
                   help="first measure this spec's throughput on a sample of DIR or s3:// (default: the bundled "
                        "samples) on this machine, and cache it")
    p.add_argument("--compare", default=None, metavar="JOB",
                   help="a finished job: a local run's description (JSON file) or a SageMaker job name")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser(
        "local-run", help="run a job created with plain SageMaker SDK code, by name, on this machine",
        description="Read a processing job from DescribeProcessingJob on the configured endpoint "
                    "(AWS_ENDPOINT_URL) and execute it with the local runtime: a dry run of existing "
                    "ScriptProcessor/Processor code, no kit code involved.",
    )  # fmt: skip
    p.add_argument("job_name", help="the processing job's name")
    p.add_argument("--instance-count", type=_INSTANCES, default=None,
                   help="override InstanceCount (some endpoints, like moto, do not describe it)")
    p.add_argument("--workdir", default=None, help="keep the instances' /opt/ml roots here for inspection")
    p.set_defaults(func=_cmd_local_run)

    p = sub.add_parser(
        "image", help="build, push or name the processing image",
        description="build: build container/Dockerfile here with Docker, or podman where Docker is absent (in "
                    "SageMaker Studio with --network sagemaker); try the image with `augment run --backend local "
                    "--image NAME`. push: create the ECR repository if missing, log in (the password goes to the "
                    "engine on stdin, never printed), tag and push. uri: print the image URI for the launcher. "
                    "--codebuild builds "
                    "and pushes with AWS CodeBuild instead, for Studio without Docker; --dlc prints the AWS "
                    "PyTorch Deep Learning Container for the region (no build; run jobs with --ship-code). "
                    "Tags: <version>-<git revision>[-gpu] and <version>[-gpu], never 'latest'.",
    )  # fmt: skip
    p.add_argument("action", choices=("build", "push", "uri"), help="what to do")
    p.add_argument("--variant", choices=("cpu", "gpu"), default="cpu", help="CPU (default) or CUDA wheels")
    p.add_argument("--repository", default="augment", help="ECR repository name (default: augment)")
    p.add_argument("--account", default=None, help="AWS account (default: from STS for the session; <account> in a "
                                                    "dry run)")
    p.add_argument("--region", default=None, help="AWS region (default: the session's)")
    p.add_argument("--dry-run", action="store_true",
                   help="print every step (AWS calls as AWS CLI commands) and send no request; <account> and "
                        "<region> stand where AWS would supply them")
    p.add_argument("--codebuild", action="store_true",
                   help="build and push with AWS CodeBuild (needs --bucket and --role)")
    p.add_argument("--bucket", default=None, help="CodeBuild: bucket for the zipped build context")
    p.add_argument("--role", default=None, help="CodeBuild: the project's service role ARN")
    p.add_argument("--dlc", action="store_true", help="uri: the AWS PyTorch Deep Learning Container instead")
    p.add_argument("--engine", choices=("auto", "docker", "podman"), default="auto",
                   help="build and push: the container engine (default auto: Docker, else podman)")
    p.add_argument("--network", default=None,
                   help="build: the build's network (default: the engine's; sagemaker in SageMaker Studio)")
    p.add_argument("--torch-index-url", default=None, metavar="URL",
                   help="build: the index torch and torchvision come from (default: PyTorch's CPU or CUDA index for "
                        "--variant), e.g. a mirror")
    p.add_argument("--base-image", default=None, metavar="IMAGE",
                   help="build: the Python 3.11 image the stages start from (default python:3.11-slim-bookworm)")
    p.set_defaults(func=_cmd_image)

    p = sub.add_parser("validate", help="check a spec; exit 0 if valid, 2 if not",
                       description="Validate a spec file or preset without touching any image. Every problem is "
                                   "listed with its field path.")
    p.add_argument("spec", help="spec file or preset name")
    p.add_argument("--print", action="store_true", help="print the canonical spec (all defaults filled in)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "preview", help="render a spec on a few images, as the job would write them, into one grid",
        description="Render SPEC on a few images (picked at random with --pick-seed, or named with --paths) "
                    "exactly as `augment process` would write them: the same decoding, pipeline, seeds and output "
                    "encoding. Writes a grid (a row per image: the original, then each copy, captioned with what "
                    "was drawn) and, with --json, every variant's sampled parameters. A bad image becomes a tile "
                    "with its reason. In a notebook, augment.preview.Previewer is the interactive form.",
    )  # fmt: skip
    p.add_argument("spec", help="spec file (.yaml/.yml/.json) or preset name")
    p.add_argument("--input", default=None,
                   help="images: a folder, one image file, or s3://bucket/prefix/ (only the shown images are "
                        "downloaded); default: the bundled samples. Images are picked among the inputs the job "
                        "would take: the spec's input filters and --include/--exclude apply")
    p.add_argument("--n", type=_positive_int, default=4, help="images to pick at random (default 4)")
    p.add_argument("--copies", type=_COPIES, default=None, help="variants per image (default: the spec's)")
    p.add_argument("--paths", nargs="+", default=None, metavar="PATH",
                   help="show these images (paths relative to --input) instead of a random pick")
    p.add_argument("--pick-seed", type=_SEED, default=0, help="seed of the random pick (default 0)")
    p.add_argument("--out", default="preview.png", help="where to write the grid (PNG or JPEG; default preview.png)")
    p.add_argument("--max-side", type=number(min=16, max=4096, integer=True), default=256,
                   help="largest side of a tile, from 16 to 4096 pixels (default 256)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every variant's sampled parameters here")
    g = p.add_argument_group("job options", "as `augment process` and `augment run` take them: the grid shows "
                                            "what the job writes with them (pixels, parameters, SHA-256)")
    g.add_argument("--seed", type=_SEED, default=None, help="override the spec's seed")
    g.add_argument("--format", choices=("same", "jpeg", "png", "webp"), default=None,
                   help="override the spec's output format (same: JPEG/PNG/WebP keep theirs, others become PNG)")
    g.add_argument("--quality", type=number(min=1, max=100, integer=True), default=None,
                   help="override the spec's JPEG/WebP quality (1-100)")
    g.add_argument("--kernels", choices=("fast", "torchvision"), default=None, help="override the spec's kernels")
    g.add_argument("--max-pixels", type=_positive_int, default=None,
                   help="refuse inputs whose header claims more pixels than this (default: 100000000)")
    g.add_argument("--include", action="append", default=None, metavar="GLOB",
                   help="only files whose path relative to the input matches are inputs (repeatable; added to the "
                        "spec's input.include)")
    g.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                   help="files that match are not inputs (repeatable; added to the spec's input.exclude)")
    p.set_defaults(func=_cmd_preview)

    p = sub.add_parser("replay", help="re-create one output, bit-exactly, from its manifest record",
                       description="Re-run the pipeline for one manifest record with its recorded seed and check "
                                   "that the bytes (and the sampled parameters) equal the original's. Choose the "
                                   "record by input and copy (--source, --copy: the same output in every run) or "
                                   "by line (--record: lines follow the order workers finished in). Exit 0 when "
                                   "bit-exact, 1 when not.")
    p.add_argument("manifest", help="a _augment/manifest-<host>.jsonl file")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--source", default=None, metavar="REL_PATH",
                       help="the input's path relative to the job's input root (the manifest's \"source\")")
    which.add_argument("--record", type=_LINE, default=None, help="line number of the record in the manifest, from 1")
    p.add_argument("--copy", type=number(min=-1, max=MAX_COPIES - 1, integer=True), default=None,
                   help="with --source: the copy index (default 0; -1: a kept original)")
    p.add_argument("--out", required=True, help="where to write the re-created image")
    p.add_argument("--input-dir", default=None,
                   help="the job's input root (default: the summary's input_dir, else its input_uri: the folder or "
                        "s3:// prefix `augment run` staged from)")
    p.add_argument("--spec", default=None, help="the job's spec (default: spec.yaml beside the manifest)")
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser("presets", help="list the shipped presets, or print one",
                       description="Without NAME, list the presets with their first comment line; with NAME, "
                                   "print that preset's YAML (a good start for your own spec).")
    p.add_argument("name", nargs="?", help="preset to print")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("ops", help="list the registered ops, or show one op's parameters",
                       description="The op registry: torchvision v2 transforms with their parameter schema.")
    p.add_argument("name", nargs="?", help="op to describe")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_ops)

    p = sub.add_parser("samples", help="list the bundled sample photos",
                       description="The sample photos that ship inside the package, with their licences.")
    p.add_argument("--dir", action="store_true", help="print only the folder that holds them")
    p.set_defaults(func=_cmd_samples)

    p = sub.add_parser(
        "sweep", help="run a notebook over a parameter grid with papermill and collect the results",
        description="Run NOTEBOOK once per point of --grid (a YAML mapping of parameter names to lists of values, "
                    "whose product is run, or a list of runs), each with papermill in a fresh python3 kernel. "
                    "Writes <run>.ipynb and <run>.json (parameters, papermill's metadata, the notebook's results "
                    "from its results_path) per run, each run's images under outputs/<run>/ (a local run whose "
                    "output is left at None), and summary.csv, summary.md and figure.png, under --out. "
                    "Unknown parameter names are refused before any run, and so is an --out that holds another "
                    "sweep. Exit status 1 when a run failed (the others still ran).",
    )  # fmt: skip
    p.add_argument("notebook", help="the notebook, e.g. notebooks/03_standalone_job.ipynb")
    p.add_argument("--grid", required=True, help="grid YAML file")
    p.add_argument("--out", required=True, help="the sweep's folder, e.g. runs/jitter")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter for every run (repeatable; VALUE is read as YAML: 2, true, null, text)")
    p.add_argument("--parallel", type=number(min=1, max=64, integer=True), default=1,
                   help="notebooks running at once (default 1)")
    p.add_argument("--resume", action="store_true",
                   help="finish the sweep --out holds (same notebook, grid and -p): completed runs are kept")
    p.set_defaults(func=_cmd_sweep)
    return parser


def _cmd_process(args: argparse.Namespace) -> int:
    import multiprocessing
    from pathlib import Path

    from augment import contract
    from augment.engine import DEFAULT_MAX_ERROR_RATE, Wording, run_job, started_input_dir
    from augment.images import DEFAULT_MAX_PIXELS
    from augment.logs import Log
    from augment.options import apply_overrides

    log = Log(args.log_format)
    ctx = contract.read_context()
    if ctx.job_name or ctx.current_host != "local":
        log.event("job", f"job {ctx.job_name} on {ctx.instance_type}, host {ctx.current_host} of "
                  f"{', '.join(ctx.hosts)}", job_name=ctx.job_name, current_host=ctx.current_host,
                  hosts=list(ctx.hosts), instance_type=ctx.instance_type)
    spec_arg = args.spec or ctx.spec_path()
    if spec_arg is None:
        raise UsageError("--spec is required (a spec file or a preset name) outside a job with a 'spec' input")
    for flag, value in (("--input-dir", args.input_dir), ("--output-dir", args.output_dir)):
        if value is not None and not value.strip():  # not the container's default folder, silently
            raise UsageError(f"{flag}: empty; name a folder")
    spec = apply_overrides(spec_arg, vars(args))
    input_dir = args.input_dir or (ctx.image_input() if ctx.inputs else contract.default_input_dir())
    output_dir = args.output_dir or (ctx.image_output() if ctx.outputs else contract.default_output_dir())
    host = args.host or ctx.current_host
    if args.resume and args.input_dir is None and not ctx.inputs:
        input_dir = started_input_dir(output_dir, host) or input_dir  # a resume reads what the job started with
    # In a processing job this host's folders are gone when it ends, and it cannot be resumed
    # (the next job starts with an empty output folder): name where the outputs end up.
    output_uri = ctx.output_uri(Path(output_dir)) if ctx.job_name else None
    wording = Wording() if output_uri is None else Wording(
        output=output_uri, max_error_rate="the job's --max-error-rate argument", resume=None)
    try:
        summary = run_job(
            spec, input_dir, output_dir, workers=args.workers, host=host,
            hosts=list(ctx.hosts), job_name=ctx.job_name, resume=args.resume,
            verify=args.verify, retry_failed=args.retry_failed,
            max_error_rate=DEFAULT_MAX_ERROR_RATE if args.max_error_rate is None else args.max_error_rate,
            max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
            progress=None if args.progress == "auto" else args.progress,
            progress_interval=args.progress_interval, log=log,
            # a fresh process has run nothing in parallel yet: forking is safe, and saves
            # every worker a torch import (seconds per job)
            start_method="fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn",
            input_uri=args.input_uri,
            wording=wording,
            unstaged=ctx.unstaged_path(),
            sharded=args.input_dir is None and ctx.image_input_sharded(),
        )  # fmt: skip
    except JobFailed as e:
        if e.summary is not None:
            _log_summary(log, e.summary)
        raise
    _log_summary(log, summary)
    if args.log_format == "text":
        print(f"outputs:  {wording.output or summary.output_dir}")
        print(f"manifest: {wording.manifest(Path(summary.manifest))}")
        print(summary.line())
    return 0


def _log_summary(log: Any, summary: Any) -> None:
    """The summary as one structured event (JSON logs); text logs print the line instead."""
    from dataclasses import asdict

    if log.fmt == "json":
        fields = {k: v for k, v in asdict(summary).items() if k not in ("message",)}
        log.event("summary", summary.line(), level="info" if summary.status == "completed" else "error",
                  reason=summary.message or None, **fields)


def _print_description(description: dict[str, Any]) -> int:
    """Print the DescribeProcessingJob-shaped result as JSON; fail when the job did."""
    print(_description_json(description))
    _check_completed(description)
    return 0


def _description_json(description: dict[str, Any]) -> str:
    shown = {k: v for k, v in description.items() if k != "ResponseMetadata"}
    return _json(shown)


def _json(data: Any) -> str:
    """``--json`` output: strict JSON (no NaN or Infinity, which strict readers refuse; the
    number options are finite, so none should reach here), dates and paths as text."""
    return json.dumps(data, indent=2, default=str, allow_nan=False)


def _check_completed(description: dict[str, Any]) -> None:
    status = description["ProcessingJobStatus"]
    if status != "Completed":
        raise JobFailed(f"job {description['ProcessingJobName']} {status}: {description.get('FailureReason', '')}")


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
                                f"each with its _augment/ manifests)", f"report:    {base}/_batches/report.json"]
        _show(lines, _json(report.to_dict()) if args.json else None)
        if report.failed:
            raise JobFailed(report.failure_message())
        return 0
    job = result
    if args.backend == "sagemaker":
        print(f"submitted {job.name}", file=sys.stderr)
        if args.no_wait:
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
    lines = _job_lines(description, summaries, args.output)
    _show(lines if note is None else [*lines, note], _description_json(description) if args.json else None)
    _check_completed(description)
    return 0


def _show(lines: list[str], json_text: str | None) -> None:
    """The short summary on stdout; with --json, the JSON on stdout and the summary on stderr."""
    if json_text is not None:
        print(json_text)
    for line in lines:
        print(line, file=sys.stderr if json_text is not None else sys.stdout)


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


def _cmd_plan(args: argparse.Namespace) -> int:
    from augment import plan as planner

    if args.plot:  # before any work: a plot that cannot be written is said at once
        planner.check_plot_path(args.plot)
    if args.compare is not None:
        comparison = planner.compare(args.compare, prices=args.prices)
        print(_json(comparison.to_dict()) if args.json else comparison)
        return 0
    throughput = args.throughput
    if args.calibrate is not None:
        calibration = planner.calibrate(args.spec, args.calibrate or None, include=args.include,
                                        exclude=args.exclude)
        print(calibration.line(), file=sys.stderr if args.json else sys.stdout)
        if calibration.recorded_to is None and throughput is None:
            throughput = calibration.per_vcpu  # not stored: this plan still uses it
    plan = planner.estimate(
        args.spec, args.input, images=args.images, copies=args.copies, modes=args.mode,
        instance_types=args.instance_type, instance_counts=args.instance_count, batch_size=args.batch_size,
        max_in_flight=args.max_in_flight, startup_s=args.startup, throughput=throughput, deadline=args.deadline,
        max_cost=args.max_cost, quota=args.quota, workers=args.workers, region=args.region, prices=args.prices,
        include=args.include, exclude=args.exclude)
    print(_json(plan.to_dict()) if args.json else plan)
    if args.plot:
        plan.plot(args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


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


def _cmd_image(args: argparse.Namespace) -> int:
    from augment import container

    here_only = [f for f, v in (("--torch-index-url", args.torch_index_url), ("--base-image", args.base_image),
                                ("--network", args.network)) if v]
    if here_only and (args.codebuild or args.action != "build"):
        raise UsageError(f"{here_only[0]} applies to `augment image build` here; CodeBuild builds with the "
                         "Dockerfile's defaults")
    if args.action == "build" and not args.codebuild:
        from augment import engines

        if not args.dry_run:
            engines.require(args.engine, "augment image build", hint="Or use --codebuild (SageMaker Studio without "
                            "Docker), --dry-run to see the commands, or `augment image uri --dlc` to skip the build")
        run = container.Runner(dry_run=args.dry_run)
        for name in container.build(args.repository, args.variant, run, args.network, engine=args.engine,
                                    torch_index_url=args.torch_index_url, base_image=args.base_image):
            print(name)
        return 0
    if args.dlc:
        from augment import aws

        print(container.dlc_image_uri(args.region or aws.session().region_name or "us-east-1"))
        return 0
    # a dry run asks no AWS service: <account> (and <region>) stand where STS would answer
    dry_run = args.dry_run
    target = container.ImageTarget.from_session(repository=args.repository, account=args.account,
                                                region=args.region, dry_run=dry_run)
    if args.action == "uri":
        print(target.uri(container.image_tags(args.variant)[0]))
        return 0
    if args.codebuild:
        if not dry_run and not (args.bucket and args.role):
            raise UsageError("--codebuild needs --bucket (for the build context) and --role (the project's role)")
        print(container.codebuild(target, args.bucket or "<bucket>", args.role or "<role>", args.variant,
                                  dry_run=dry_run))
        return 0
    print(container.push(target, args.variant, container.Runner(dry_run=args.dry_run), engine=args.engine))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from augment.spec import load_spec

    # The schema checks every value torchvision's constructors check (tests/test_ops.py
    # builds every value it accepts), so no torch import is needed to say "ok".
    spec = load_spec(args.spec)
    if args.print:
        sys.stdout.write(spec.to_yaml())
    else:
        print(f"ok: {args.spec}: {plural(len(spec.ops), 'op')}, {plural(spec.copies, 'copy')}, seed {spec.seed}, "
              f"digest {spec.digest[:12]}")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from augment.files import write_output
    from augment.images import DEFAULT_MAX_PIXELS
    from augment.options import apply_overrides
    from augment.preview import png_bytes, render

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"--out {args.out}: must end in .png, .jpg or .jpeg")
    # the job options, applied by the function `augment process` applies them with
    spec = apply_overrides(args.spec, {k: getattr(args, k) for k in
                                       ("seed", "copies", "format", "quality", "kernels", "include", "exclude")})
    paths = args.paths
    if paths and len(set(paths)) < len(paths):
        twice = sorted(p for p in set(paths) if paths.count(p) > 1)
        print(f"augment preview: --paths names {', '.join(twice)} more than once; each is shown once",
              file=sys.stderr)
        paths = list(dict.fromkeys(paths))
    preview = render(spec, args.input, n=args.n, pick_seed=args.pick_seed, paths=paths,
                     max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
    grid = preview.grid(args.max_side)
    if out.suffix.lower() == ".png":
        data = png_bytes(grid)
    else:
        import io

        buf = io.BytesIO()
        grid.save(buf, "JPEG", quality=90)
        data = buf.getvalue()
    write_output(args.out, data, flag="--out")
    failed = [i for i in preview.items if i.error]
    reasons = f" ({', '.join(sorted({i.reason or '' for i in failed}))})" if failed else ""
    print(f"preview: {plural(len(preview.originals), 'image')} x {plural(preview.spec.copies, 'copy')} of "
          f"{args.spec} from {preview.source}, {len(failed)} failed{reasons}")
    if preview.excluded:
        from augment.keys import excluded_counts

        print(f"  not shown: {plural(len(preview.excluded), 'file')} the job excludes "
              f"({excluded_counts(preview.excluded)})")
    for item in preview.items:
        print(f"  {item.rel_path} {item.caption}")
    print(f"grid: {out}")
    if args.json:
        write_output(args.json, preview.to_json() + "\n", flag="--json")
        print(f"params: {args.json}")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from augment.replay import replay

    if args.record is not None and args.copy is not None:
        raise UsageError("--copy goes with --source; --record already names one copy")
    copy = 0 if args.copy is None else args.copy
    if copy < -1:
        raise UsageError(f"--copy must be >= 0 (or -1 for a kept original), got {copy}")
    result = replay(args.manifest, args.record, args.out, source=args.source, copy=copy,
                    input_dir=args.input_dir, spec=args.spec)
    rec = result.record
    print(f"record {result.line}: {rec['source']} copy {rec['copy']} -> {result.out}")
    print(f"bytes: {'bit-exact' if result.bit_exact else 'DIFFERENT'} (sha256 {result.sha256[:16]})")
    print(f"sampled parameters: {'same as recorded' if result.params_match else 'DIFFERENT'}")
    if result.spec_differs and not (result.bit_exact and result.params_match):
        print(f"the spec differs from the job's: this spec's digest is {result.spec_digest[:12]}, the job's "
              f"{result.job_spec_digest[:12]} (its summary-<host>.json); replay with the job's spec "
              "(_augment/spec.yaml beside the manifest, the default)", file=sys.stderr)
    elif not result.bit_exact:
        print("the library versions may differ from the job's; see versions in its summary-<host>.json",
              file=sys.stderr)
    return 0 if result.bit_exact and result.params_match else 1


def _cmd_presets(args: argparse.Namespace) -> int:
    from augment.spec import list_presets, preset_text

    if args.name:
        sys.stdout.write(preset_text(args.name))
        return 0
    for name in list_presets():
        first = preset_text(name).splitlines()[0].lstrip("# ").strip()
        print(f"{name:10s} {first.removeprefix(name + ':').strip()}")
    return 0


def _cmd_ops(args: argparse.Namespace) -> int:
    from augment.ops import REGISTRY, get_op

    if args.name:
        op = get_op(args.name)
        if args.json:
            print(_json(_op_json(op)))
            return 0
        print(f"{op.name} ({op.category}): {op.help}")
        print(f"  torchvision: {op.path}")
        for prm in op.params:
            req = " (required)" if prm.required else f" (default {json.dumps(prm.default)})"
            print(f"  {prm.name}: {prm.help}{req}")
            print(textwrap.indent(f"allowed: {prm.describe()}", "      "))
        return 0
    if args.json:
        print(_json([_op_json(op) for op in REGISTRY.values()]))
        return 0
    for op in REGISTRY.values():
        print(f"{op.name:22s} {op.category:12s} {op.help}")
    return 0


def _op_json(op: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {"name": op.name, "category": op.category, "help": op.help,
            "params": [asdict(p) for p in op.params]}


def _cmd_samples(args: argparse.Namespace) -> int:
    from augment.samples import list_samples, samples_dir

    if args.dir:
        print(samples_dir())
        return 0
    for name in list_samples():
        print(samples_dir() / name)
    print(f"licences: {samples_dir().parent / 'LICENSES.md'}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from augment.sweep import cli_terms, parse_value, run_sweep

    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {item}: expected KEY=VALUE")
        params[key] = parse_value(value, f"-p {key}")
    with cli_terms():  # the sweep's refusals name these flags (--out), not notebook 05's parameters (out)
        sweep = run_sweep(args.notebook, args.grid, args.out, params=params, parallel=args.parallel,
                          resume=args.resume)
    for run in sweep.failed:
        print(f"failed: {run.name}: cell {run.failed_cell}: {run.error}", file=sys.stderr)
    print(sweep.text(), end="")
    return 1 if sweep.failed else 0


def _in_run_terms(message: str) -> str:
    """A job's message in the terms of ``augment run``: "the job's --X argument" (what a job's
    host says, not knowing what launched it) becomes ``--X`` where ``run`` has that flag."""
    import re

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {f for action in sub.choices["run"]._actions for f in action.option_strings}
    return re.sub(r"the job's (--[a-z][a-z-]*) argument", lambda m: m[1] if m[1] in flags else m[0], message)


# what the operating system may say of a path an argument named (the wording: augment.files.path_reason)
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOTDIR})


# the options whose value is a file or folder: only these may be blamed for a path's error
_PATH_DESTS = frozenset({"spec", "input_dir", "output_dir", "input", "output", "workdir", "plot", "calibrate",
                         "compare", "paths", "out", "json", "manifest", "notebook", "grid"})


def _names(value: str, failed: str) -> bool:
    """Whether the path ``failed`` is the argument ``value`` or lies under it. A folder that
    holds far more than the argument means (``/``, the current folder as ``.``) names only
    itself: else an error in the cache or /opt/ml would be blamed on ``--input-dir .``."""
    absolute = os.path.abspath(value)
    if failed in (value, absolute) or os.path.abspath(failed) == absolute:
        return True
    if absolute in ("/", os.getcwd()):
        return False
    return os.path.abspath(failed).startswith(absolute.rstrip("/") + "/")


def _path_error(args: argparse.Namespace, e: BaseException) -> UsageError | None:
    """An :class:`OSError` on a path an argument named (a name too long for any file system,
    which ``Path.is_file()`` raises rather than answers, wherever it was first used), as a
    refusal that names the argument; ``None`` for any other error."""
    if not isinstance(e, OSError) or e.errno not in _PATH_ERRNOS or e.filename is None:
        return None
    from augment.files import path_reason

    failed = os.fsdecode(e.filename)
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    named = []
    for action in sub.choices[args.command]._actions:
        if action.dest not in _PATH_DESTS:
            continue
        values = getattr(args, action.dest, None)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and value and _names(value, failed):
                flag = max(action.option_strings, key=len) if action.option_strings else action.dest.upper()
                named.append((len(value), flag, value))
    if not named:
        return None
    _, flag, value = max(named)
    return UsageError(f"{flag} {brief(value)}: {path_reason(e, failed) or e.strerror or e}")


def _internal_error(e: BaseException) -> str:
    """A bug's message; its traceback goes to stderr first, for us."""
    traceback.print_exc()
    return (f"internal error: {type(e).__name__}: {e}. This is a bug in augment {__version__}; the traceback "
            "above has the details")


# What a terminal or log that cannot show a character gets instead: ASCII for the punctuation
# the kit prints (a caption's '·'), the escape for anything else; a file name's undecodable
# bytes (os.fsdecode's surrogates) as \xff escapes: readers that decode the output (logs,
# CloudWatch, a test's capture) get valid text.
_ASCII = {"\u00b7": "-", "\u00d7": "x", "\u2192": "->", "\u2190": "<-", "\u2014": "--", "\u2013": "-",
          "\u2026": "...", "\u2264": "<=", "\u2265": ">=", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u00b0": " deg", "\u00b5": "u", "\u2212": "-", "\u00b1": "+/-", "\u2248": "~"}


def _tolerant(error: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start:error.end]
    return "".join(escape_surrogates(c) if 0xD800 <= ord(c) <= 0xDFFF
                   else _ASCII.get(c, c.encode("ascii", "backslashreplace").decode("ascii")) for c in text), error.end


def _usable_std_streams() -> None:
    """Make stdin, stdout and stderr safe to use, whatever the caller left them as.

    A closed descriptor (``2>&-``) gets the null device: else Python's ``sys.stderr`` is
    ``None`` (the first log line crashed the job after its summary said ``running``), and
    the first file opened would take descriptor 2 and receive whatever a worker writes to
    its stderr. Text streams get an error handler that never fails on a character the
    encoding lacks (``LC_ALL=C`` has no ``·``).
    """
    import codecs

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            closed = False
        except OSError:
            closed = True
        if closed:  # the null device takes the lowest free descriptor: this one
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:  # on the null device: fd itself, or a new one if fd was taken since
            target = fd if closed else os.open(os.devnull, os.O_RDWR)
            setattr(sys, name, open(target, "r" if fd == 0 else "w", encoding="utf-8", closefd=not closed))
    try:
        codecs.lookup_error("augment.tolerant")
    except LookupError:
        codecs.register_error("augment.tolerant", _tolerant)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a TextIOWrapper; Jupyter's streams write text as it is
            try:
                reconfigure(errors="augment.tolerant")
            except (ValueError, OSError):  # a stream that cannot change now: keep its own handler
                pass


def _pipe_closed(stream: Any) -> bool:
    """Whether ``stream`` is a pipe whose reader has gone (``augment ops | head -1``)."""
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _reader_gone() -> int:
    """Leave quietly, as Unix tools do when the reader of their output has gone: what was
    still buffered goes nowhere (not to a traceback at exit). The status is the shell's
    for a command stopped by SIGPIPE."""
    for fd in (1, 2):
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except OSError:
            pass
    return 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Errors are one readable line (or a list of spec problems), never a bare
    traceback. Inside a container the reason also goes to ``/opt/ml/output/message``,
    which SageMaker shows as the job's exit message.
    """
    _usable_std_streams()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a refused argument (argparse said why, exit status 2)
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    except BrokenPipeError:  # `augment --help | head -1`
        return _reader_gone()
    error: BaseException
    interrupted = False
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a reader that left is seen, not in the interpreter's teardown
        return code
    except AugmentError as e:
        error, message, code = e, str(e), e.exit_code
    except KeyboardInterrupt as e:  # a second Ctrl-C (the first one stops gracefully)
        error, message, code, interrupted = e, str(e) or "interrupted", 130, True
        if args.command == "process" and not str(e):
            message += "; everything recorded is intact: re-run with --resume to finish"
    except Exception as e:
        if isinstance(e, BrokenPipeError) and (_pipe_closed(sys.stdout) or _pipe_closed(sys.stderr)):
            return _reader_gone()  # `augment ops | head -1`
        from augment.aws import aws_error

        # missing or refused credentials wherever AWS was first asked, or no AWS to ask; a
        # path the user named that the operating system refused, wherever it was first used
        error = aws_error(e) or _path_error(args, e) or e
        if isinstance(error, AugmentError):
            message, code = str(error), error.exit_code
        else:  # a bug: keep the traceback for us, and a reason for the user
            message, code = _internal_error(e), 1
    if args.command == "run":
        message = _in_run_terms(message)
    try:
        print(f"augment {args.command}: error: {message}", file=sys.stderr, flush=True)
    except BrokenPipeError:  # `augment ... 2>&1 | head -1`: the reader left; the exit status still tells
        _reader_gone()
    if args.command == "process":
        from augment.contract import failure_message, write_failure_message

        write_failure_message(failure_message(error, message))  # labelled where a retry cannot pass
    if interrupted and argv is None:  # the command itself, not a caller of main(): leave at once, as asked
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the interpreter's teardown (torch's modules) takes seconds, even with no work left
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
