"""``augment plan``: the time and cost of every way to run a job, before launch
(:func:`augment.plan.estimate`), and a finished job's estimate beside its timings."""

from __future__ import annotations

import argparse
import sys

from augment.cli._labels import add_label_arguments
from augment.cli._numbers import COPIES, COUNT, USD, WORKERS, positive_int
from augment.cli._output import as_json
from augment.options import number
from augment.text import plural


def add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan", help="time and cost of every way to run a job, before launch; estimate against actual after",
        description="One row per (mode, instance type, count): jobs, wall time, billed instance-hours, cost, the "
                    "share of the bill spent starting up, and where the throughput and price come from; the "
                    "cheapest row within --deadline, --quota and --max-cost is recommended. --calibrate measures "
                    "this spec's throughput on a sample first; --compare JOB shows a finished job's estimate "
                    "beside its timings and stores its throughput for the next plan.",
    )  # fmt: skip
    work = p.add_mutually_exclusive_group()
    work.add_argument("--images", type=COUNT, default=None, metavar="N", help="input images")
    work.add_argument("--input", default=None, metavar="DIR|s3://",
                      help="count the objects (and their mean size) of a folder or S3 prefix, downloading nothing "
                           "(default: the bundled samples)")
    p.add_argument("--spec", default="light", help="spec file or preset name (default light)")
    p.add_argument("--copies", type=COPIES, default=None, help="outputs per image (default: the spec's)")
    p.add_argument("--instance-type", action="append", default=None, metavar="T",
                   help="repeatable (default: ml.t3.medium, ml.m5.large, ml.m5.xlarge, ml.c5.xlarge, ml.c5.2xlarge)")
    p.add_argument("--instance-count", action="append", type=positive_int, default=None, metavar="K",
                   help="repeatable: instances of a sharded job, jobs at once when batched (default 1 2 4 8)")
    p.add_argument("--mode", action="append", default=None, choices=("standalone", "sharded", "batched", "prefetch"),
                   help="repeatable (default: all four)")
    p.add_argument("--batch-size", type=COUNT, default=128, help="images per batched or prefetch job (default 128)")
    p.add_argument("--max-in-flight", type=positive_int, default=None,
                   help="batched and prefetch jobs at once (default: each --instance-count)")
    p.add_argument("--startup", type=number(min=0, max=86_400), default=None, metavar="SECONDS",
                   help="start-up per job (default 300; the plan also shows 120-480, the range users report)")
    p.add_argument("--throughput", type=number(above=0, max=1e9), default=None, metavar="IMG_PER_S_PER_VCPU",
                   help="output images/s per vCPU (default: measured for this spec, else the benchmark's)")
    p.add_argument("--deadline", default=None, metavar="DURATION", help="e.g. 90m, 2h, 1h30m, 3600")
    p.add_argument("--max-cost", type=USD, default=None, metavar="USD", help="do not recommend dearer options")
    p.add_argument("--quota", type=positive_int, default=None, metavar="N", help="instances of a type allowed at once")
    p.add_argument("--workers", type=WORKERS, default=None,
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
    add_label_arguments(p, "plan a labelled job: its labels (COCO .json, 'yolo' for a YOLO tree in --input, VOC "
                           "folder, Ground Truth .manifest, masks folder), checked as the job checks them (ops that "
                           "cannot carry labels are refused, problems counted); time and disk are a labelled job's, "
                           "and --calibrate measures the spec with them")
    p.add_argument("--compare", default=None, metavar="JOB",
                   help="a finished job: a local run's description (JSON file) or a SageMaker job name")
    p.set_defaults(func=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    from augment import plan as planner
    from augment.options import masks_as_annotations

    args.annotations, args.annotation_format = masks_as_annotations(vars(args))
    if args.plot:  # before any work: a plot that cannot be written is said at once
        planner.check_plot_path(args.plot)
    if args.compare is not None:
        comparison = planner.compare(args.compare, prices=args.prices)
        print(as_json(comparison.to_dict()) if args.json else comparison)
        return 0
    throughput = args.throughput
    if args.calibrate is not None:
        calibration = planner.calibrate(args.spec, args.calibrate or None, include=args.include,
                                        exclude=args.exclude, annotations=args.annotations,
                                        annotation_format=args.annotation_format)
        print(calibration.line(), file=sys.stderr if args.json else sys.stdout)
        if calibration.recorded_to is None and throughput is None:
            throughput = calibration.per_vcpu  # not stored: this plan still uses it
    plan = planner.estimate(
        args.spec, args.input, images=args.images, copies=args.copies, modes=args.mode,
        instance_types=args.instance_type, instance_counts=args.instance_count, batch_size=args.batch_size,
        max_in_flight=args.max_in_flight, startup_s=args.startup, throughput=throughput, deadline=args.deadline,
        max_cost=args.max_cost, quota=args.quota, workers=args.workers, region=args.region, prices=args.prices,
        include=args.include, exclude=args.exclude, annotations=args.annotations,
        annotation_format=args.annotation_format)
    labels = plan.assumptions.get("labels")
    if labels and labels["problems"]:
        print(f"augment plan: {args.annotations}: {plural(labels['problems'], 'annotation problem')}, each left out "
              f"of its image's labels (augment validate {args.spec} --annotations {args.annotations} names them)",
              file=sys.stderr)
    print(as_json(plan.to_dict()) if args.json else plan)
    if args.plot:
        plan.plot(args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0
