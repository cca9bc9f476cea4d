"""The command's parser: every subcommand, each added by the module that runs it, in the
order ``augment --help`` lists them."""

from __future__ import annotations

import argparse

from augment import __version__
from augment.cli import _image, _plan, _preview, _process, _run, _spec, _sweep

EPILOG = """\
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

COMMANDS = (_process.add_process, _run.add_run, _plan.add_plan, _run.add_local_run, _image.add_image,
            _spec.add_validate, _preview.add_preview, _preview.add_replay, _spec.add_presets, _spec.add_ops,
            _spec.add_samples, _sweep.add_sweep)
"""Each adds its subcommand (its options, and ``func``: what runs it)."""


def parser() -> argparse.ArgumentParser:
    """The ``augment`` command's parser."""
    parser = argparse.ArgumentParser(
        prog="augment",
        description="torchvision v2 image augmentation, run as a SageMaker Processing job or on this machine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"augment {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def command_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand: the options a message about it may name."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]
