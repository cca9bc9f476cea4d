"""A spec's outputs outside a job: ``augment preview`` renders them before one, exactly as
the job would write them; ``augment replay`` re-creates one output of a job after it,
bit-exactly, from its manifest record."""

from __future__ import annotations

import argparse
import sys

from augment.cli._labels import add_label_arguments
from augment.cli._numbers import COPIES, LINE, SEED, positive_int
from augment.errors import UsageError
from augment.options import MAX_COPIES, number
from augment.text import plural


def add_preview(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--n", type=positive_int, default=4, help="images to pick at random (default 4)")
    p.add_argument("--copies", type=COPIES, default=None, help="variants per image (default: the spec's)")
    p.add_argument("--paths", nargs="+", default=None, metavar="PATH",
                   help="show these images (paths relative to --input) instead of a random pick")
    p.add_argument("--pick-seed", type=SEED, default=0, help="seed of the random pick (default 0)")
    p.add_argument("--out", default="preview.png", help="where to write the grid (PNG or JPEG; default preview.png)")
    p.add_argument("--max-side", type=number(min=16, max=4096, integer=True), default=256,
                   help="largest side of a tile, from 16 to 4096 pixels (default 256)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every variant's sampled parameters here")
    add_label_arguments(p, "the images' labels, as the job takes them (a COCO .json or a Ground Truth manifest, "
                           "local or s3://; a folder of VOC XML or of PNG masks; a YOLO tree, or yolo when --input is "
                           "one): every tile shows its boxes, masks and keypoints as the job writes them beside that "
                           "output")
    g = p.add_argument_group("job options", "as `augment process` and `augment run` take them: the grid shows "
                                            "what the job writes with them (pixels, parameters, SHA-256)")
    g.add_argument("--seed", type=SEED, default=None, help="override the spec's seed")
    g.add_argument("--format", choices=("same", "jpeg", "png", "webp"), default=None,
                   help="override the spec's output format (same: JPEG/PNG/WebP keep theirs, others become PNG)")
    g.add_argument("--quality", type=number(min=1, max=100, integer=True), default=None,
                   help="override the spec's JPEG/WebP quality (1-100)")
    g.add_argument("--kernels", choices=("fast", "torchvision"), default=None, help="override the spec's kernels")
    g.add_argument("--max-pixels", type=positive_int, default=None,
                   help="refuse inputs whose header claims more pixels than this (default: 100000000)")
    g.add_argument("--include", action="append", default=None, metavar="GLOB",
                   help="only files whose path relative to the input matches are inputs (repeatable; added to the "
                        "spec's input.include)")
    g.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                   help="files that match are not inputs (repeatable; added to the spec's input.exclude)")
    p.set_defaults(func=_cmd_preview)


def add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="re-create one output, bit-exactly, from its manifest record",
                       description="Re-run the pipeline for one manifest record with its recorded seed and check "
                                   "that the bytes (and the sampled parameters) equal the original's. Choose the "
                                   "record by input and copy (--source, --copy: the same output in every run) or "
                                   "by line (--record: lines follow the order workers finished in). A labelled "
                                   "job's output gets its labels re-created too, compared with the label files the "
                                   "job wrote for it. Exit 0 when bit-exact (and the labels match), 1 when not.")
    p.add_argument("manifest", help="a _augment/manifest-<host>.jsonl file")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--source", default=None, metavar="REL_PATH",
                       help="the input's path relative to the job's input root (the manifest's \"source\")")
    which.add_argument("--record", type=LINE, default=None, help="line number of the record in the manifest, from 1")
    p.add_argument("--copy", type=number(min=-1, max=MAX_COPIES - 1, integer=True), default=None,
                   help="with --source: the copy index (default 0; -1: a kept original)")
    p.add_argument("--out", required=True, help="where to write the re-created image")
    p.add_argument("--input-dir", default=None,
                   help="the job's input root (default: the summary's input_dir, else its input_uri: the folder or "
                        "s3:// prefix `augment run` staged from)")
    p.add_argument("--spec", default=None, help="the job's spec (default: spec.yaml beside the manifest)")
    add_label_arguments(p, "a labelled job's annotations, where the file its summary names cannot be read from "
                           "here (default: the summary's); the output's labels are re-created and compared with the "
                           "ones the job wrote", format_help="the annotations' format (default: the job's)",
                        masks=False)
    p.set_defaults(func=_cmd_replay)


def _cmd_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from augment.files import write_output
    from augment.images import DEFAULT_MAX_PIXELS
    from augment.options import apply_overrides, masks_as_annotations
    from augment.preview import png_bytes, render

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"--out {args.out}: must end in .png, .jpg or .jpeg")
    # the job options, applied by the function `augment process` applies them with
    spec = apply_overrides(args.spec, {k: getattr(args, k) for k in
                                       ("seed", "copies", "format", "quality", "kernels", "include", "exclude")})
    args.annotations, args.annotation_format = masks_as_annotations(vars(args))
    paths = args.paths
    if paths and len(set(paths)) < len(paths):
        twice = sorted(p for p in set(paths) if paths.count(p) > 1)
        print(f"augment preview: --paths names {', '.join(twice)} more than once; each is shown once",
              file=sys.stderr)
        paths = list(dict.fromkeys(paths))
    preview = render(spec, args.input, n=args.n, pick_seed=args.pick_seed, paths=paths,
                     max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, annotations=args.annotations,
                     annotation_format=args.annotation_format)
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
    problems = getattr(preview.annotations, "problems", None) or []
    if problems:
        print(f"  {args.annotations}: {plural(len(problems), 'annotation problem')}, each left out (augment validate "
              f"{args.spec} --annotations {args.annotations} names them)", file=sys.stderr)
    for rel, why in preview.label_errors.items():
        print(f"  {rel}: {why}", file=sys.stderr)
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
                    input_dir=args.input_dir, spec=args.spec, annotations=args.annotations,
                    annotation_format=args.annotation_format)
    rec = result.record
    print(f"record {result.line}: {rec['source']} copy {rec['copy']} -> {result.out}")
    print(f"bytes: {'bit-exact' if result.bit_exact else 'DIFFERENT'} (sha256 {result.sha256[:16]})")
    print(f"sampled parameters: {'same as recorded' if result.params_match else 'DIFFERENT'}")
    if result.labels_match is not None:
        files = ", ".join(sorted(result.label_files)) or "none written for this output"
        objects = plural(len(result.labels), "object")
        print(f"labels: {'same as written' if result.labels_match else 'DIFFERENT'} ({objects} from "
              f"{result.annotations}; {files})")
        for mismatch in result.label_mismatches:
            print(f"  {mismatch}", file=sys.stderr)
    if result.spec_differs and not (result.bit_exact and result.params_match):
        print(f"the spec differs from the job's: this spec's digest is {result.spec_digest[:12]}, the job's "
              f"{result.job_spec_digest[:12]} (its summary-<host>.json); replay with the job's spec "
              "(_augment/spec.yaml beside the manifest, the default)", file=sys.stderr)
    elif not result.bit_exact:
        print("the library versions may differ from the job's; see versions in its summary-<host>.json",
              file=sys.stderr)
    return 0 if result.bit_exact and result.params_match and result.labels_match is not False else 1
