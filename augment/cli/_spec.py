"""What ships with the package, looked up without any job: ``augment validate`` (a spec),
``presets``, ``ops`` (the op registry and its schema) and ``samples`` (the bundled photos)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from augment.cli._labels import add_label_arguments
from augment.cli._output import as_json
from augment.text import plural


def add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a spec; exit 0 if valid, 2 if not",
                       description="Validate a spec file or preset without touching any image. Every problem is "
                                   "listed with its field path.")
    p.add_argument("spec", help="spec file or preset name")
    p.add_argument("--print", action="store_true", help="print the canonical spec (all defaults filled in)")
    add_label_arguments(p, "labels the spec must carry (COCO .json, YOLO tree or 'yolo', VOC folder, Ground Truth "
                           ".manifest, masks folder): refuse ops that cannot carry them, and check the file")
    p.add_argument("--input-dir", metavar="DIR", help="the input folder (a YOLO tree's root for --annotations yolo)")
    p.set_defaults(func=_cmd_validate)


def add_presets(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list the shipped presets, or print one",
                       description="Without NAME, list the presets with their first comment line; with NAME, "
                                   "print that preset's YAML (a good start for your own spec).")
    p.add_argument("name", nargs="?", help="preset to print")
    p.set_defaults(func=_cmd_presets)


def add_ops(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ops", help="list the registered ops, or show one op's parameters",
                       description="The op registry: torchvision v2 transforms with their parameter schema.")
    p.add_argument("name", nargs="?", help="op to describe")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_ops)


def add_samples(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("samples", help="list the bundled sample photos",
                       description="The sample photos that ship inside the package, with their licences.")
    p.add_argument("--dir", action="store_true", help="print only the folder that holds them")
    p.set_defaults(func=_cmd_samples)


def _cmd_validate(args: argparse.Namespace) -> int:
    from augment.options import masks_as_annotations
    from augment.spec import load_spec

    # The schema checks every value torchvision's constructors check (tests/test_ops.py
    # builds every value it accepts), so no torch import is needed to say "ok".
    spec = load_spec(args.spec)
    args.annotations, args.annotation_format = masks_as_annotations(vars(args))
    if args.annotations is not None and not _labels_carried(spec, args):
        return 2
    if args.print:
        sys.stdout.write(spec.to_yaml())
    else:
        print(f"ok: {args.spec}: {plural(len(spec.ops), 'op')}, {plural(spec.copies, 'copy')}, seed {spec.seed}, "
              f"digest {spec.digest[:12]}")
    return 0


def _labels_carried(spec: Any, args: argparse.Namespace) -> bool:
    """Report what ``--annotations`` holds (its problems counted and named) and whether
    every op of ``spec`` carries labels; ``False``: some op cannot (each named, on stderr)."""
    from collections import Counter

    from augment.labels import open_annotations
    from augment.labels.refuse import refusal_message, refusals

    index = open_annotations(args.annotations, format=args.annotation_format, input_dir=args.input_dir)
    problems = index.problems
    if problems:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(Counter(p.reason for p in problems).items()))
        print(f"{args.annotations}: {plural(len(problems), 'annotation problem')} ({reasons}); each is left out "
              "of its image's labels:", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
    found = refusals(spec)
    if found:
        print(f"augment validate: error: {args.spec}: {refusal_message(found)}", file=sys.stderr)
        return False
    print(f"labels: {index.format} ({args.annotations}), {plural(len(index.categories), 'category')}, "
          f"{plural(len(problems), 'problem')}")
    return True


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
            print(as_json(_op_json(op)))
            return 0
        print(f"{op.name} ({op.category}): {op.help}")
        print(f"  torchvision: {op.path}")
        for prm in op.params:
            req = " (required)" if prm.required else f" (default {json.dumps(prm.default)})"
            print(f"  {prm.name}: {prm.help}{req}")
            print(textwrap.indent(f"allowed: {prm.describe()}", "      "))
        return 0
    if args.json:
        print(as_json([_op_json(op) for op in REGISTRY.values()]))
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
