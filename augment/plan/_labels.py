"""A labelled job planned: its annotations opened and checked as the job opens them, the
inputs counted as it takes them, and its labels in the time and the disk.

**Checked as the job checks them.** :func:`open_for_plan` calls the job's own
:func:`augment.engine.labels.open_labels`: a spec with ops that cannot carry labels is
refused naming each op (as ``augment validate --annotations`` names them), and the file's
problems are counted by reason in the plan's ``assumptions["labels"]``. The annotations'
own files inside a local input are not counted as inputs (the job excludes them, rule
``annotations``), and the inputs the annotations do not name are counted (valid, but a
file name that does not match looks the same).

**Time.** Moving labels costs time of its own, so measurements of a labelled job are kept
apart from the spec's plain ones, under :func:`labelled_key` (``calibrate(...,
annotations=)`` and ``compare`` of a labelled job store them there). Where none was
measured with labels, the spec's plain figure is used and the plan says so.

**Disk.** An output's label files (a YOLO ``.txt``, a VOC XML, a mask, or COCO's and
Ground Truth's journal line, host part and job file) sit beside the outputs until the upload:
bytes per output as measured by a labelled calibration, else the annotations' own bytes
per input they label (three times over for COCO and Ground Truth: the host's journal
line, the host's part and the job's file), on the instance's volume too.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from augment.plan import _model
from augment.storage import is_s3

COPIES_ON_DISK = {"coco": 3, "groundtruth": 3}
"""Times an output's labels are on disk: COCO and Ground Truth write a line per output to
the host's label journal, then merge the journal into the host's part and the job's file."""


def labelled_key(digest: str, format: str) -> str:
    """Where measurements of the spec ``digest`` with labels in ``format`` are cached."""
    return f"{digest}+labels-{format}"


@dataclass
class PlanLabels:
    """A labelled job's annotations, as a plan counts them.

    Attributes:
        index: the annotations, opened (:class:`~augment.labels.formats.AnnotationIndex`).
        unlabelled: counted inputs the annotations do not name.
        bytes_per_output: bytes of an output's label files on disk.
        bytes_source: where that figure comes from.
    """

    index: Any
    unlabelled: int = 0
    bytes_per_output: float = 0.0
    bytes_source: str = ""

    def to_json(self) -> dict[str, Any]:
        """The plan's ``assumptions["labels"]`` (``problems_counted`` false: a YOLO tree on
        S3, whose label files a plan does not read)."""
        problems = self.index.problems
        return {"format": self.index.format, "annotations": self.index.where,
                "categories": len(self.index.categories), "problems": len(problems),
                "problems_counted": not s3_tree(self.index),
                "problems_by_reason": dict(sorted(Counter(p.reason for p in problems).items())),
                "unlabelled_inputs": self.unlabelled, "bytes_per_output": round(self.bytes_per_output, 1),
                "bytes_source": self.bytes_source}


def open_for_plan(spec: Any, annotations: str | os.PathLike[str], annotation_format: str | None,
                  where: str) -> Any:
    """The annotations of a job on the input ``where``, opened and checked as the job does.

    Raises:
        SpecError: an op of ``spec`` cannot carry labels (each named with its field path).
        UsageError: the annotations cannot be opened (``annotations=PATH: reason``).
    """
    from augment.engine.labels import open_labels, refuse_ops

    if is_s3(where) and str(annotations) == "yolo":
        refuse_ops(spec)
        return _s3_tree(where)
    if is_s3(where):
        return open_labels(spec, annotations, annotation_format, None, where)  # type: ignore[arg-type]
    return open_labels(spec, annotations, annotation_format, Path(where), None)


def _s3_tree(where: str) -> Any:
    """A YOLO tree on S3, as a plan reads it: its dataset YAML (the first of
    :data:`~augment.labels.yolo.YAML_NAMES` under ``where``) and no label file (a job's
    hosts read those; a plan downloads nothing more): the classes are counted, the label
    files' problems are not (:func:`s3_tree`)."""
    from botocore.exceptions import ClientError

    from augment.aws import bucket_refusal
    from augment.labels.formats import yolo_annotations
    from augment.labels.yolo import YAML_NAMES, index_yolo
    from augment.storage import join, read_bytes

    text, name = None, YAML_NAMES[0]
    for candidate in YAML_NAMES:
        try:
            text, name = read_bytes(join(where, candidate)), candidate
            break
        except FileNotFoundError:
            continue
        except ClientError as e:  # no such bucket, access denied: said as a listing of the input says it
            missing = e.response.get("Error", {}).get("Code") == "NoSuchBucket"  # the input's, said so
            refused = bucket_refusal(e, "input", where) if missing else \
                bucket_refusal(e, "input", join(where, candidate), reading=True)
            if refused is None:
                raise
            raise refused from None
    return yolo_annotations(index_yolo({}, text, None, yaml_name=name), "yolo", None)


def tree_file(where: str, key: str) -> bool:
    """The input key ``key`` (relative to :func:`~augment.keys.input_root` of ``where``, the
    root of a YOLO tree on S3) is one of the tree's own files (a label file, its YAML)."""
    from augment.keys import input_root
    from augment.labels.yolo import own_file

    root, full = where.rstrip("/") + "/", input_root(where) + key
    return own_file(full[len(root):] if full.startswith(root) else key)


def s3_tree(index: Any) -> bool:
    """``index`` is a YOLO tree on S3 whose label files a plan did not read (:func:`_s3_tree`)."""
    return index.format == "yolo" and index.root is None


def without_own_files(index: Any, where: str, keys: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """``keys`` of the input ``where`` less the annotations' own files (local inputs:
    those the job excludes, with the rule ``annotations``)."""
    from augment.engine.labels import excluded_annotations

    if is_s3(where) and s3_tree(index):  # the tree's label files and YAML, by their paths in the tree
        own = [k for k in keys if tree_file(where, k)]
        return [k for k in keys if not tree_file(where, k)], [{"source": k, "rule": "annotations", "pattern": "yolo"}
                                                              for k in own]
    if is_s3(where):
        return keys, []
    return excluded_annotations(index, Path(where), keys)


def plan_labels(index: Any, keys: list[str], digest: str, images: int, where: str = "",
                sizes: dict[str, int] | None = None) -> PlanLabels:
    """What a plan says of the annotations for the inputs ``keys`` of ``where`` (none
    counted: ``images`` inputs, all labelled); ``sizes``: bytes of the input's keys, as
    listed (a YOLO tree's label files on S3 are counted from them)."""
    unlabelled = sum(index.image(k) is None for k in keys)
    measured = [m["label_bytes_per_output"] for m in _model.read_cache().get(labelled_key(digest, index.format), [])
                if _model._positive(m.get("label_bytes_per_output"))]
    if measured:
        return PlanLabels(index, unlabelled, max(measured),
                          f"measured for this spec with {index.format} labels: {max(measured):,.0f} bytes per output")
    own = _own_bytes(index) if not s3_tree(index) else \
        sum(size for key, size in (sizes or {}).items() if key.endswith(".txt") and tree_file(where, key))
    labelled = max(1, len(keys) - unlabelled if keys else images)
    if own is None:
        return PlanLabels(index, unlabelled, 0.0, "not counted: the annotations are not local files; "
                          "calibrate with annotations= measures them")
    times = COPIES_ON_DISK.get(index.format, 1)
    per = own / labelled * times
    again = f", {times} times over (journal line, host part, job file)" if times > 1 else ""
    return PlanLabels(index, unlabelled, per, f"assumed: the annotations' {own:,} bytes over the "
                      f"{labelled:,} inputs they label{again}: {per:,.0f} bytes per output; calibrate with "
                      "annotations= measures them")


def _own_bytes(index: Any) -> int | None:
    """Bytes of the annotations' own files (a YOLO tree's label files), or ``None`` where
    they are not local."""
    if index.format == "yolo" and index.root is not None:
        from augment.labels.yolo import own_file

        root = Path(index.root)
        return sum(p.stat().st_size for p in root.rglob("*.txt") if own_file(p.relative_to(root).as_posix()))
    if not index.files:
        return None
    return sum(Path(f).stat().st_size for f in index.files if Path(f).is_file())


def throughput(digest: str, format: str, given: float | None, mean_bytes: float | None) -> _model.Throughput:
    """The throughput of a labelled job: measured with labels in ``format`` where it was,
    else the spec's figure, said to be without labels."""
    key = labelled_key(digest, format)
    if given is None and any(_model._positive(m.get("per_vcpu")) for m in _model.read_cache().get(key, [])):
        rate = _model.throughput(key, None, mean_bytes)
        return replace(rate, source=f"{rate.source}; with its {format} labels")
    rate = _model.throughput(digest, given, mean_bytes)
    if given is not None:
        return rate
    return replace(rate, source=f"{rate.source}; without labels, which take time of their own: calibrate(..., "
                                f"annotations=) measures this spec with its {format} labels")


# --- a labelled calibration: the sample's own annotations ----------------------------------------------


def sample_annotations(index: Any, where: str, taken: dict[str, str], folder: Path, dest: Path) -> str:
    """Annotations for a calibration sample, in the input's format: the sample's file
    ``rel`` (in ``folder``) has the labels of the input's key ``taken[rel]``, a file taken
    again (``again-N/...``) included. Written under ``dest`` (a YOLO tree's into
    ``folder``, which is the tree); returns what to pass as the job's ``annotations``."""
    fmt = index.format
    dest.mkdir(parents=True, exist_ok=True)
    if fmt == "coco":
        return str(_sample_coco(index, taken, dest / "annotations.json"))
    if fmt == "groundtruth":
        return str(_sample_ground_truth(index, where, taken, folder, dest / "sample.manifest"))
    if fmt == "yolo" and s3_tree(index):
        _sample_s3_tree(where, taken, folder)
        return "yolo"
    if fmt == "yolo":
        from augment.labels.yolo import label_path, own_file

        root = Path(index.root)
        for name in os.listdir(root):
            if own_file(name) and (root / name).is_file():  # the dataset YAML (no .txt is a root's own)
                shutil.copyfile(root / name, folder / name)
        _copy_each(taken, root, folder, label_path)
        return "yolo"
    if fmt == "voc":
        from augment.labels.voc import xml_path as path_of
    else:
        from augment.labels.masks import mask_path as path_of
    _copy_each(taken, Path(index.where), dest / fmt, path_of)
    return str(dest / fmt)


def _sample_s3_tree(where: str, taken: dict[str, str], folder: Path) -> None:
    """A YOLO tree on S3, for a sample of its images in ``folder``: its dataset YAML in
    the folder's root, and each sample file's label file, downloaded (an image without
    one has no objects, as in the tree)."""
    from augment.keys import input_root
    from augment.labels.yolo import YAML_NAMES, label_path
    from augment.storage import handler

    store, base, root = handler(where), input_root(where), where.rstrip("/") + "/"
    for name in YAML_NAMES:
        try:
            store.download(root + name, folder / name)
            break
        except FileNotFoundError:
            continue
    for rel, key in taken.items():
        own, mine = label_path(key), label_path(rel)
        if own is None or mine is None:
            continue
        (folder / mine).parent.mkdir(parents=True, exist_ok=True)
        try:
            store.download(base + own, folder / mine)
        except FileNotFoundError:
            continue


def _copy_each(taken: dict[str, str], source: Path, target: Path, path_of: Any) -> None:
    """Copy each input's own label file (``path_of`` its path) to its sample file's."""
    for rel, key in taken.items():
        own, mine = path_of(key), path_of(rel)
        if own is None or mine is None or not (source / own).is_file():
            continue
        (target / mine).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / own, target / mine)


def _sample_coco(index: Any, taken: dict[str, str], path: Path) -> Path:
    from augment.storage import read_bytes

    doc = json.loads(read_bytes(index.where))
    images = {i.get("file_name"): i for i in doc.get("images", []) if isinstance(i, dict)}
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for ann in doc.get("annotations", []):
        if isinstance(ann, dict):
            by_image.setdefault(ann.get("image_id"), []).append(ann)
    out_images, out_annotations = [], []
    for rel, key in taken.items():
        if key not in images:
            continue
        image = images[key]
        out_images.append({**image, "id": len(out_images) + 1, "file_name": rel})
        out_annotations += [{**a, "id": len(out_annotations) + n + 1, "image_id": len(out_images)}
                            for n, a in enumerate(by_image.get(image.get("id"), []))]
    path.write_text(json.dumps({**doc, "images": out_images, "annotations": out_annotations}))
    return path


def _sample_ground_truth(index: Any, where: str, taken: dict[str, str], folder: Path, path: Path) -> Path:
    from augment.storage import read_bytes

    root = where.rstrip("/") + "/" if is_s3(where) else str(Path(where).resolve()) + "/"  # as open_annotations
    lines = {}
    for text in read_bytes(index.where).decode("utf-8").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("source-ref"), str):
            lines[line["source-ref"]] = line
    mine = str(folder.resolve()) + "/"
    path.write_text("".join(json.dumps({**lines[root + key], "source-ref": mine + rel}) + "\n"
                            for rel, key in taken.items() if root + key in lines))
    return path


def sample_own(path: Path, folder: Path) -> bool:
    """A YOLO tree's own file in a labelled sample's folder (a label file, its YAML): not an input."""
    from augment.labels.yolo import own_file

    return own_file(path.relative_to(folder).as_posix())


def label_bytes(output_dir: Path) -> tuple[float, list[str]]:
    """Bytes of label files per written output of a finished sample job, and the outputs'
    own (image) paths: what is in the output folder besides its images and the job's own
    records (manifest, summary, lists, spec) is its labels."""
    from augment.manifest import iter_manifest

    records = iter_manifest(output_dir / "_augment" / "manifest-calibrate.jsonl")
    outputs = [r["output"] for r in records if r.get("status") == "ok" and r.get("output")]
    images = set(outputs)
    total = 0
    for path in output_dir.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(output_dir).as_posix()
        if rel in images or (rel.startswith("_augment/") and not rel.startswith(("_augment/labels",
                                                                                     "_augment/label-lines-"))):
            continue
        total += path.stat().st_size
    return (total / len(outputs) if outputs else 0.0), outputs
