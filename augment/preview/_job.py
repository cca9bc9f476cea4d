"""The preview's grid from a finished job: the inputs beside the outputs it wrote.

Nothing is rendered: the outputs are read as written, and captioned from the manifests
(the parameters each output drew, or why it failed). Only ``_augment/`` is listed, never
the whole output, which may hold millions of images.

A job that wrote labels (its summary names their format) has them drawn on its outputs,
read back from the files it wrote by :func:`augment.labels.open_annotations`, the job's
own reader: COCO's ``annotations.json`` (Ground Truth's ``output.manifest``), or the
hosts' parts where no one merged them; a YOLO tree's ``labels/``, VOC's XML, the
``masks/`` from the output folder (from ``s3://``, only the outputs shown are read).
The originals show the labels of the annotations the job was given, where they are
still there to read.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.images import ImageError, open_image
from augment.labels.follow import Counts
from augment.labels.model import LabelError
from augment.preview._inputs import DEFAULT_N, Images
from augment.preview._labels import input_labels, label_object, open_index
from augment.preview._render import Item, Preview, decode_output
from augment.replay import job_input
from augment.spec import load_spec
from augment.storage import is_s3, join


def from_job(output: str | os.PathLike[str], input: str | os.PathLike[str] | None = None, *, n: int = DEFAULT_N,
             pick_seed: int = 0, paths: list[str] | None = None) -> Preview:
    """Inputs beside the outputs a finished job wrote, captioned from its manifests, with
    the labels it wrote drawn on each output where it wrote any.

    Args:
        output: the job's output folder or ``s3://`` prefix (its ``_augment/`` holds
            the spec and the manifests).
        input: the job's input (folder or ``s3://`` prefix), for the originals;
            default: the input folder the job recorded, where it still exists, else
            the folder or ``s3://`` prefix it was staged from (:func:`augment.replay.job_input`).
        n, pick_seed, paths: which inputs to show, as in :func:`~augment.preview.render`.

    Returns:
        The :class:`Preview`; a labelled job's items carry the labels read back from
        its files (``Item.labels``) and what the job recorded of them (``Item.counts``).

    Raises:
        UsageError: no job there, or a labelled job whose label files cannot be read
            (the message names the file).
    """
    output = os.fspath(output)
    if is_s3(output) and not output.endswith("/"):
        output += "/"  # the job's prefix itself, not its parent: keys are relative to it
    out = Images(output)
    meta = out.keys_under("_augment/")  # not the whole output, which may be millions of images
    manifests = [k for k in meta if k.startswith("_augment/manifest-") and k.endswith(".jsonl")]
    if "_augment/spec.yaml" not in meta or not manifests:
        raise UsageError(f"{output}: no finished job here (no _augment/spec.yaml and manifests)")
    spec = load_spec(_yaml(out.read("_augment/spec.yaml")))
    summary = _summary(out, meta)
    records: dict[str, list[dict[str, Any]]] = {}
    for key in manifests:
        for line in out.read(key).decode().splitlines():
            rec = json.loads(line)
            if rec["copy"] >= 0:
                records.setdefault(rec["source"], []).append(rec)
    if input is None:
        input = job_input(summary)
    inputs = Images(input) if input is not None else None
    if paths:
        missing = [p for p in paths if p not in records]
        if missing:
            raise UsageError(f"paths=: {', '.join(missing)} not in the job's manifests")
        chosen = list(paths)
    else:
        chosen = sorted(random.Random(pick_seed).sample(sorted(records), min(n, len(records))))
    items, originals, errors, names = [], {}, {}, {}
    for rel in chosen:
        for rec in sorted(records[rel], key=lambda r: r["copy"]):
            image = decode_output(out.read(rec["output"])) if rec["status"] == "ok" else None
            counts = Counts(**rec["labels"]) if rec.get("labels") else None
            items.append(Item(rel, rec["copy"], rec["seed"], image, rec["params"], rec["error"], rec["reason"],
                              rec.get("output_sha256"), counts=counts))
            names[id(items[-1])] = rec["output"]
        originals[rel] = None
        if inputs is None:
            errors[rel] = "original not available (pass input=)"
            continue
        try:
            originals[rel] = open_image(inputs.read(rel), sys.maxsize).load()  # the job accepted it
        except (ImageError, OSError) as e:
            errors[rel] = str(e)
    preview = Preview(spec, items, originals, inputs.source if inputs else "", errors)
    if summary.get("labels"):
        _add_labels(preview, out, meta, summary["labels"], names)
    return preview


def _add_labels(preview: Preview, out: Images, meta: list[str], written: dict[str, Any],
                names: dict[int, str]) -> None:
    """Give the preview's outputs the labels the job wrote beside them (read back from its
    files), and its originals those of the annotations the job was given, where they can
    still be read (else the original's caption says why)."""
    shown = [i for i in preview.items if i.image is not None]
    with _opened(out, meta, written["format"], [names[id(i)] for i in shown]) as indexes:
        for item in shown:
            assert item.image is not None
            entry = next((e for e in (index.image(names[id(item)]) for index in indexes) if e is not None), None)
            try:
                item.labels = None if entry is None else entry.labels(item.image.size)
            except LabelError as e:  # the job wrote them for this size: a file changed since
                raise UsageError(f"{names[id(item)]}: its labels in {out.source}: {e}") from None
    given, problem = None, "labels: the job's input is not available here"
    if preview.source:
        try:
            given = open_index(written["annotations"], written["format"], preview.source)
        except UsageError as e:
            problem = f"labels: {e}"
    preview.annotations = given if given is not None else indexes[0]
    for rel, original in preview.originals.items():
        if original is None:
            continue
        if given is None:
            preview.labels[rel], preview.label_errors[rel] = None, problem
            continue
        preview.labels[rel], error = input_labels(label_object(given, rel), original.size)
        if error is not None:
            preview.label_errors[rel] = error


@contextmanager
def _opened(out: Images, meta: list[str], fmt: str, outputs: list[str]) -> Iterator[list[Any]]:
    """The job's own label files opened by :func:`augment.labels.open_annotations`: the
    one file of a COCO or Ground Truth job (its hosts' parts where no one merged them),
    or the output folder of the other formats (from ``s3://``: ``outputs`` alone with
    their label files, a small tree in a scratch folder while the labels are read)."""
    from augment.labels.formats import COCO_OUTPUT, GROUND_TRUTH_OUTPUT, open_annotations
    from augment.storage import exists

    output = out.source
    if fmt in ("coco", "groundtruth"):
        own, suffix = (COCO_OUTPUT, ".json") if fmt == "coco" else (GROUND_TRUTH_OUTPUT, ".manifest")
        files = [own] if exists(join(output, own)) else sorted(
            k for k in meta if k.startswith("_augment/labels-") and k.endswith(suffix))
        if not files:
            raise UsageError(f"{output}: the job wrote {fmt} labels, but neither {own} nor its hosts' parts "
                             f"(_augment/labels-<host>{suffix}) are there")
        yield [open_annotations(join(output, f), format=fmt, input_dir=output) for f in files]
    elif not out.is_s3:
        yield [_open_tree(fmt, output)]
    else:
        with tempfile.TemporaryDirectory(prefix="augment-labels-") as scratch:
            for key in [*outputs, *_files_of(fmt, outputs)]:  # a YOLO label file needs its image
                try:
                    data = out.read(key)
                except OSError:
                    continue  # none written for it: as a local tree without it
                Path(scratch, key).parent.mkdir(parents=True, exist_ok=True)
                Path(scratch, key).write_bytes(data)
            yield [_open_tree(fmt, scratch)]


def _open_tree(fmt: str, root: str) -> Any:
    """The labels of the outputs under the folder ``root`` in a per-output format."""
    from augment.labels.formats import MASKS_FOLDER, open_annotations

    if fmt == "yolo":
        return open_annotations("yolo", format="yolo", input_dir=root)
    if fmt == "masks":
        return open_annotations(os.path.join(root, MASKS_FOLDER), format="masks")
    return open_annotations(root, format=fmt)


def _files_of(fmt: str, outputs: list[str]) -> list[str]:
    """The files the job wrote for ``outputs``' labels, relative to the output folder."""
    from augment.labels.formats import MASKS_FOLDER

    if fmt == "yolo":
        from augment.labels.yolo import YAML_NAMES, label_path

        return [*YAML_NAMES, *(p for p in map(label_path, outputs) if p is not None)]
    if fmt == "masks":
        from augment.labels.masks import mask_path

        return [f"{MASKS_FOLDER}/{mask_path(o)}" for o in outputs]
    from augment.labels.voc import xml_path

    return [xml_path(o) for o in outputs]


def _yaml(data: bytes) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(data)


def _summary(out: Images, meta: list[str]) -> dict[str, Any]:
    """The first host's summary (``{}``: none)."""
    for key in sorted(meta):
        if key.startswith("_augment/summary-") and key.endswith(".json"):
            return json.loads(out.read(key))
    return {}
