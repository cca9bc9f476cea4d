"""``augment sweep``: run a notebook over a parameter grid with papermill (:mod:`augment.sweep`)."""

from __future__ import annotations

import argparse
import sys

from augment.errors import UsageError
from augment.options import number


def add_sweep(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("notebook", metavar="NOTEBOOK", help="the notebook, e.g. notebooks/03_standalone_job.ipynb")
    p.add_argument("--grid", required=True, help="grid YAML file")
    p.add_argument("--out", required=True, help="the sweep's folder, e.g. runs/jitter")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter for every run (repeatable; VALUE is read as YAML: 2, true, null, text)")
    p.add_argument("--parallel", type=number(min=1, max=64, integer=True), default=1,
                   help="notebooks running at once (default 1)")
    p.add_argument("--resume", action="store_true",
                   help="finish the sweep --out holds (same notebook, grid and -p): completed runs are kept")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from augment.sweep import parse_value, run_sweep

    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {item}: expected KEY=VALUE")
        params[key] = parse_value(value, f"-p {key}")
    sweep = run_sweep(args.notebook, args.grid, args.out, params=params, parallel=args.parallel, resume=args.resume)
    for run in sweep.failed:
        print(f"failed: {run.name}: cell {run.failed_cell}: {run.error}", file=sys.stderr)
    print(sweep.text(), end="")
    return 1 if sweep.failed else 0
