"""``augment process``: what a processing job's container runs, on this host's share of the
images. Inside a job the defaults come from /opt/ml (augment.contract); the work is
:func:`augment.engine.run_job`'s."""

from __future__ import annotations

import argparse
from typing import Any

from augment.cli._numbers import WORKERS
from augment.errors import JobFailed, UsageError
from augment.options import add_job_options, number


def add_process(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--workers", type=WORKERS, default=None,
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


def _cmd_process(args: argparse.Namespace) -> int:
    import multiprocessing
    from pathlib import Path

    from augment import contract
    from augment.engine import DEFAULT_MAX_ERROR_RATE, Wording, run_job, started_input_dir
    from augment.images import DEFAULT_MAX_PIXELS
    from augment.logs import Log
    from augment.options import apply_overrides, masks_as_annotations

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
    annotations, annotation_format = masks_as_annotations(vars(args))
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
            annotations=annotations, annotation_format=annotation_format,
        )  # fmt: skip
    except JobFailed as e:
        if e.summary is not None:
            _log_summary(log, e.summary)
        raise
    _log_summary(log, summary)
    if args.log_format == "text":
        print(f"outputs:  {wording.output or summary.output_dir}")
        print(f"manifest: {wording.manifest(Path(summary.manifest))}")
        if summary.labels is not None:
            labels = summary.labels
            print(f"labels:   {labels['format']}: {', '.join(labels['files']) or 'beside each output'}"
                  + (f"; {labels['problems']} annotation problems in {labels['problems_list']}"
                     if labels["problems"] else ""))
        print(summary.line())
    return 0


def _log_summary(log: Any, summary: Any) -> None:
    """The summary as one structured event (JSON logs); text logs print the line instead."""
    from dataclasses import asdict

    if log.fmt == "json":
        fields = {k: v for k, v in asdict(summary).items() if k not in ("message",)}
        log.event("summary", summary.line(), level="info" if summary.status == "completed" else "error",
                  reason=summary.message or None, **fields)
