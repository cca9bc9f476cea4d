"""SageMaker Ground Truth output manifests (JSON lines) in and out.

Two kinds of labelling job, found from the ``<attr>-metadata`` (or ``<attr>-ref-metadata``)
``type`` of the label attribute:

* **bounding boxes** (``object-detection`` or ``object_detection`` in the type):
  ``<attr>: {"annotations": [{"class_id", "left", "top", "width", "height"}],
  "image_size": [{"width", "height", "depth"}]}`` in pixels from the top-left corner, the
  metadata's ``class-map`` naming the ids and its ``objects`` giving each box's
  confidence, in the same order;
* **semantic segmentation** (``semantic-segmentation`` or ``semantic_segmentation``):
  ``<attr>-ref`` names a colour PNG (an ``s3://`` or local URI the worker reads through
  :mod:`augment.storage`, :func:`read_ref`), the
  metadata's ``internal-color-map`` maps each class id to its ``hex-color``. The mask
  becomes one object per class but class 0 (Ground Truth's ``BACKGROUND``), as
  :mod:`augment.labels.masks` reads a mask of ids.

``source-ref`` names the image; given the input's ``root`` (a prefix), the index is keyed
by the path relative to it, as the job lists its inputs.

Problems (each names ``manifest:line``, with ``annotation N`` counted from 1): a line that is
not a JSON object, without ``source-ref`` or outside the root, naming an image named
before, without the label attribute (a failed labelling task), a bad ``image_size``; a
box whose class is not in the class map, not four finite numbers, with no extent, or
outside its image by more than :data:`BOX_TOLERANCE`. A colour PNG of another size, or
with colours not in the map, is :meth:`GroundTruthImage.problem` (the worker decodes it).
A problem of a line whose image is known (its ``source-ref`` under the root) names that
image (``Problem.image``), so its outputs' records say what its labels lost.

Written (:func:`write_ground_truth`): one line per output, in the order of their file
names, ``source-ref`` the output's URI under the given prefix, the same label attribute
and metadata; the boxes verbatim where nothing moved them, else recomputed (6 decimals,
whole numbers as integers), ``objects`` following the boxes kept, ``image_size`` the
output's. The record's other attributes (a chained job's other labels) are not written:
nothing moved them with the pixels.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image

from augment.labels.coco import Problem
from augment.labels.masks import to_classes, to_labels
from augment.labels.model import LabelError, Labels

BOX_TOLERANCE = 1.0
"""Pixels a box may pass its image's edge by: more is a problem."""

DIGITS = 6

BOXES = ("object-detection", "object_detection")
SEMANTIC = ("semantic-segmentation", "semantic_segmentation")


@dataclass(frozen=True)
class GroundTruthImage:
    """One manifest line: where it is, its record (the label attribute's keys only), its
    kind (``boxes`` or ``semantic``) and, for boxes, the numbers of its valid annotations."""

    where: str
    record: dict[str, Any]
    attribute: str
    kind: str
    valid: tuple[int, ...] = ()

    @property
    def metadata(self) -> dict[str, Any]:
        return self.record[self.attribute + ("-ref-metadata" if self.kind == "semantic" else "-metadata")]

    @property
    def mask_ref(self) -> str | None:
        """The colour PNG's URI (semantic segmentation), for the worker to fetch."""
        return self.record.get(self.attribute + "-ref") if self.kind == "semantic" else None

    @property
    def size(self) -> tuple[int, int] | None:
        if self.kind != "boxes":
            return None
        image = self.record[self.attribute]["image_size"][0]
        return int(image["width"]), int(image["height"])

    def problem(self, size: tuple[int, int], mask: bytes | None = None) -> Problem | None:
        """Why the labels cannot go with an image of ``(width, height)``, or ``None``."""
        found = self._read(size, mask)
        return found if isinstance(found, Problem) else None

    def labels(self, size: tuple[int, int], mask: bytes | None = None) -> Labels:
        """The image's labels: boxes (``ids`` their numbers from 1, ``attrs`` the
        annotation and its metadata object), or the classes of the colour PNG.

        Args:
            size: the image's ``(width, height)``.
            mask: the colour PNG's bytes (semantic segmentation; ``None``: read
                :attr:`mask_ref`, ``s3://`` or local, with :func:`read_ref`).

        Raises:
            LabelError: the :meth:`problem`.
        """
        found = self._read(size, mask)
        if isinstance(found, Problem):
            raise LabelError(str(found), found.reason)
        return found

    def _read(self, size: tuple[int, int], mask: bytes | None) -> Labels | Problem:
        if self.kind == "semantic":
            return self._semantic(size, mask)
        if self.size != tuple(size):
            return Problem(self.where, "size_mismatch", f"image_size says {self.size[0]}x{self.size[1]}, the image is "
                                                        f"{size[0]}x{size[1]}")
        if not self.valid:
            return Labels.empty(tuple(size))
        annotations = self.record[self.attribute]["annotations"]
        objects = self.metadata.get("objects")
        boxes, attrs = [], []
        for k in self.valid:
            a = annotations[k - 1]
            boxes.append([a["left"], a["top"], a["left"] + a["width"], a["top"] + a["height"]])
            extra = {"annotation": a}
            if isinstance(objects, list) and k <= len(objects):
                extra["object"] = objects[k - 1]
            attrs.append(extra)
        return Labels(tuple(size), boxes, [int(annotations[k - 1]["class_id"]) for k in self.valid], list(self.valid),
                      attrs=attrs)

    def _semantic(self, size: tuple[int, int], data: bytes | None) -> Labels | Problem:
        ref = self.mask_ref
        try:
            raw = data if data is not None else read_ref(str(ref))
            with PIL.Image.open(io.BytesIO(raw)) as image:
                pixels = np.asarray(image.convert("RGB"), np.uint32)
        except (OSError, ValueError) as e:
            return Problem(self.where, "bad_mask", f"{ref}: cannot read the mask ({e})")
        height, width = pixels.shape[:2]
        if (width, height) != tuple(size):
            return Problem(self.where, "size_mismatch", f"{ref}: a {width}x{height} mask on a {size[0]}x{size[1]} "
                                                        "image")
        packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        colours = colour_map(self.metadata)
        classes = np.zeros(packed.shape, np.int64)
        known = np.zeros(packed.shape, bool)
        for class_id, colour in colours.items():
            hit = packed == colour
            classes[hit], known[hit] = class_id, True
        if not known.all():
            stray = sorted({f"#{int(v):06x}" for v in np.unique(packed[~known])})
            return Problem(self.where, "unknown_colour", f"{ref}: {int((~known).sum())} pixels of colours not in "
                                                         f"the internal-color-map ({', '.join(stray[:5])})")
        return to_labels(classes, background=0)


def read_ref(ref: str) -> bytes:
    """The bytes a ``-ref`` names: an ``s3://`` URI (Ground Truth's own), a ``file://`` URI or
    a local path, read through :mod:`augment.storage` (one S3 client per process).

    Raises:
        OSError: it cannot be read: nothing there (:class:`FileNotFoundError`), or S3 refused
            (the bucket, the permission, the credentials: said as :mod:`augment.aws` says them).
    """
    from augment.storage import is_s3, read_bytes

    if not is_s3(ref):
        return read_bytes(ref.removeprefix("file://"))
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read_bytes(ref, s3=_s3_client())
    except (BotoCoreError, ClientError) as e:  # one mask's refusal fails its image, recorded, not the job
        from augment.aws import aws_error

        raise OSError(str(aws_error(e) or e)) from None


_S3_CLIENTS: dict[int, Any] = {}


def _s3_client() -> Any:
    """This process's S3 client (a worker reads many masks; a forked one makes its own)."""
    from augment.storage import s3_client

    pid = os.getpid()
    if pid not in _S3_CLIENTS:
        _S3_CLIENTS.clear()
        _S3_CLIENTS[pid] = s3_client()
    return _S3_CLIENTS[pid]


def colour_map(metadata: dict[str, Any]) -> dict[int, int]:
    """``internal-color-map``: class id -> colour as ``0xRRGGBB``."""
    return {int(k): int(str(v["hex-color"]).lstrip("#"), 16) for k, v in metadata["internal-color-map"].items()}


@dataclass
class GroundTruthIndex:
    """A Ground Truth output manifest, indexed once.

    Attributes:
        attribute: the label attribute (its ``-metadata`` names the job's type).
        kind: ``boxes`` or ``semantic``.
        images: source-ref (relative to the root where given) -> its line.
        categories: class id -> name (the class maps of every line).
        problems: every line or annotation left out, and why.
    """

    attribute: str
    kind: str
    images: dict[str, GroundTruthImage]
    categories: dict[int, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def image(self, rel: str) -> GroundTruthImage | None:
        """What a worker needs for the image ``rel``; ``None``: the manifest has no line for it."""
        return self.images.get(rel)


def read_ground_truth(source: str | Path | bytes, attribute: str | None = None, root: str | None = None,
                      name: str = "manifest") -> GroundTruthIndex:
    """Index an output manifest.

    Args:
        source: its path or bytes.
        attribute: the label attribute; ``None``: the one attribute whose metadata type
            is a bounding-box or semantic segmentation job.
        root: the input's URI prefix (``s3://bucket/images/``); ``source-ref`` under it
            is keyed by the rest, one outside it is a problem. ``None``: keyed by the whole URI.
        name: how problems name the manifest (a path's file name by default).

    Raises:
        ValueError: no attribute (or more than one) is a bounding-box or semantic
            segmentation job's, or ``attribute`` is not one.
    """
    if isinstance(source, str | Path):
        name = Path(source).name if name == "manifest" else name
        source = Path(source).read_bytes()
    records, problems = _records(source, name)
    found = _attributes(r for _, r in records)
    if attribute is None:
        if len(found) != 1:
            raise ValueError(f"{name}: {'no' if not found else 'more than one'} label attribute of a bounding-box or "
                             f"semantic segmentation job ({', '.join(sorted(found)) or 'none found'}): name it")
        attribute = next(iter(found))
    if attribute not in found:
        raise ValueError(f"{name}: {attribute!r} is not the label attribute of a bounding-box or semantic "
                         f"segmentation job (found: {', '.join(sorted(found)) or 'none'})")
    kind = found[attribute]
    images: dict[str, GroundTruthImage] = {}
    categories: dict[int, str] = {}
    for line, record in records:
        where = f"{name}:{line}"
        entry = _entry(where, record, attribute, kind, root, images, problems)
        if entry is None:
            continue
        key, image = entry
        images[key] = image
        class_map = image.metadata.get("class-map") if kind == "boxes" else \
            {k: v.get("class-name") for k, v in image.metadata.get("internal-color-map", {}).items()}
        for k, v in (class_map or {}).items():
            categories.setdefault(int(k), str(v))
    return GroundTruthIndex(attribute, kind, images, dict(sorted(categories.items())), problems)


def _records(source: bytes, name: str) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    records, problems = [], []
    for line, text in enumerate(source.decode("utf-8", "replace").split("\n"), start=1):  # a name may hold U+2028
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(Problem(f"{name}:{line}", "bad_line", f"not JSON ({e.msg})"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(f"{name}:{line}", "bad_line", "a manifest line is a JSON object"))
            continue
        records.append((line, record))
    return records, problems


def _attributes(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Label attribute -> kind, for every bounding-box or semantic segmentation job named."""
    found: dict[str, str] = {}
    for record in records:
        for key, value in record.items():
            kind = str(value.get("type", "")) if isinstance(value, dict) else ""
            if key.endswith("-ref-metadata") and any(t in kind for t in SEMANTIC):
                found[key.removesuffix("-ref-metadata")] = "semantic"
            elif key.endswith("-metadata") and any(t in kind for t in BOXES):
                found[key.removesuffix("-metadata")] = "boxes"
    return found


def _entry(where: str, record: dict[str, Any], attribute: str, kind: str, root: str | None,
           images: dict[str, GroundTruthImage], problems: list[Problem]) -> tuple[str, GroundTruthImage] | None:
    """One line's key and image, or ``None`` (its problem recorded)."""
    ref = record.get("source-ref")
    if not isinstance(ref, str) or not ref:
        problems.append(Problem(where, "bad_line", "no source-ref"))
        return None
    key = ref
    if root is not None:
        prefix = root if root.endswith("/") else root + "/"
        if not ref.startswith(prefix):
            problems.append(Problem(where, "outside_input", f"{ref} is not under {prefix}"))
            return None
        key = ref[len(prefix):]
    if key in images:
        problems.append(Problem(where, "duplicate_image", f"{ref} is on {images[key].where} already", key))
        return None
    keys = [f"{attribute}-ref", f"{attribute}-ref-metadata"] if kind == "semantic" else \
        [attribute, f"{attribute}-metadata"]
    label_type = str if kind == "semantic" else dict
    if not (isinstance(record.get(keys[0]), label_type) and isinstance(record.get(keys[1]), dict)):
        problems.append(Problem(where, "no_labels", f"no {keys[0]} and {keys[1]} (a failed labelling task?)", key))
        return None
    kept = {k: record[k] for k in keys}
    if kind == "semantic":
        if not isinstance(kept[keys[1]].get("internal-color-map"), dict):
            problems.append(Problem(where, "bad_line", f"{keys[1]} has no internal-color-map", key))
            return None
        return key, GroundTruthImage(where, kept, attribute, kind)
    lost: list[Problem] = []
    valid = _valid_boxes(where, kept[attribute], kept[keys[1]], lost)
    problems.extend(replace(p, image=key) for p in lost)  # what this image's labels lost, said on its records
    return None if valid is None else (key, GroundTruthImage(where, kept, attribute, kind, valid))


def _valid_boxes(where: str, label: dict[str, Any], metadata: dict[str, Any],
                 problems: list[Problem]) -> tuple[int, ...] | None:
    sizes = label.get("image_size")
    if not (isinstance(sizes, list) and sizes and isinstance(sizes[0], dict)
            and all(isinstance(sizes[0].get(k), int) and sizes[0][k] > 0 for k in ("width", "height"))):
        problems.append(Problem(where, "bad_image", "image_size must be [{width, height, depth}], positive integers"))
        return None
    width, height = sizes[0]["width"], sizes[0]["height"]
    class_map = metadata.get("class-map")
    valid = []
    for k, a in enumerate(label.get("annotations") or [], start=1):
        why = _box_problem(a, class_map, width, height)
        if why:
            problems.append(Problem(f"{where}, annotation {k}", *why))
        else:
            valid.append(k)
    return tuple(valid)


def _box_problem(a: Any, class_map: Any, width: int, height: int) -> tuple[str, str] | None:
    if not isinstance(a, dict):
        return "bad_box", "an annotation is an object of class_id, left, top, width, height"
    if not isinstance(a.get("class_id"), int) or (isinstance(class_map, dict) and str(a["class_id"]) not in class_map):
        return "unknown_category", f"class_id {a.get('class_id')!r} is not in the class-map"
    box = [a.get(k) for k in ("left", "top", "width", "height")]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box):
        return "bad_box", f"left, top, width, height must be finite numbers, got {box}"
    left, top, w, h = box
    if w <= 0 or h <= 0:
        return "bad_box", f"box {box} has a negative or no width or height"
    tol = BOX_TOLERANCE
    if left < -tol or top < -tol or left + w > width + tol or top + h > height + tol:
        return "box_outside", f"box {box} lies outside its {width}x{height} image"
    return None


@dataclass
class GroundTruthOutput:
    """One output to write: its path relative to the output folder, its input's line,
    its labels, and (semantic segmentation) its mask PNG's path relative to the output folder."""

    file_name: str
    source: GroundTruthImage
    labels: Labels
    mask_name: str | None = None


def write_ground_truth(outputs: Iterable[GroundTruthOutput], prefix: str) -> bytes:
    """The output manifest of some outputs, one line each in the order of their file names.

    Args:
        outputs: the outputs (semantic ones with their ``mask_name``, written by
            :func:`write_colour_mask`).
        prefix: the output's URI (``s3://bucket/out/``): ``source-ref`` and ``-ref`` are under it.
    """
    lines = [ground_truth_line(out, prefix) for out in sorted(outputs, key=lambda o: o.file_name)]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def ground_truth_line(out: GroundTruthOutput, prefix: str) -> str:
    """One output's line of the output manifest (without its newline): see :func:`write_ground_truth`."""
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    source, attribute = out.source, out.source.attribute
    record: dict[str, Any] = {"source-ref": prefix + out.file_name}
    if source.kind == "semantic":
        if out.mask_name is None:
            raise ValueError(f"{out.file_name}: a semantic segmentation output needs its mask_name")
        record[f"{attribute}-ref"] = prefix + out.mask_name
        record[f"{attribute}-ref-metadata"] = source.metadata
    else:
        record[attribute], record[f"{attribute}-metadata"] = _boxes(out.labels, source)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def merge_ground_truth(parts: Iterable[bytes]) -> bytes:
    """Output manifests of parts of one job (its hosts', its batches') as one, the bytes
    :func:`write_ground_truth` writes for all their outputs at once: every line, in the
    order of their ``source-ref`` (each names its output in full, so the parts' lines
    interleave as their file names do). Blank lines are dropped; a last line without its
    newline gets one.

    Raises:
        ValueError: a line that is not a JSON object with a ``source-ref`` (naming its part
            and line).
    """
    keyed = []
    for n, part in enumerate(parts):
        for number, line in enumerate(part.decode("utf-8").split("\n"), 1):  # not splitlines: a name may hold U+2028
            if not line.strip():
                continue
            try:
                ref = json.loads(line)["source-ref"]
            except (ValueError, TypeError, KeyError) as e:
                raise ValueError(f"output manifest part {n + 1}, line {number}: not a Ground Truth line with a "
                                 f"source-ref ({type(e).__name__}: {e})") from None
            keyed.append((ref, line))
    return "".join(line + "\n" for _, line in sorted(keyed, key=lambda k: k[0])).encode("utf-8")


def _boxes(labels: Labels, source: GroundTruthImage) -> tuple[dict[str, Any], dict[str, Any]]:
    annotations, objects = [], []
    for i in range(len(labels)):
        attrs = labels.attrs[i] if labels.attrs is not None else {}
        a = dict(attrs.get("annotation") or {"class_id": int(labels.categories[i])})
        if labels.moved or "left" not in a:
            x0, y0, x1, y1 = (float(v) for v in labels.boxes[i])
            a.update(left=_round(x0), top=_round(y0), width=_round(x1 - x0), height=_round(y1 - y0))
        annotations.append(a)
        if "object" in attrs:
            objects.append(attrs["object"])
    image = dict(source.record[source.attribute]["image_size"][0])
    image.update(width=labels.size[0], height=labels.size[1])
    label = {**source.record[source.attribute], "annotations": annotations, "image_size": [image]}
    metadata = dict(source.metadata)
    if "objects" in metadata:
        metadata["objects"] = objects
    return label, metadata


def _round(value: float) -> float | int:
    value = round(value, DIGITS) + 0.0
    return int(value) if value.is_integer() else value


def write_colour_mask(labels: Labels, source: GroundTruthImage) -> bytes:
    """A semantic segmentation output's colour PNG: each class in its map's colour, class
    0's colour where no class is (what an op uncovered)."""
    colours = colour_map(source.metadata)
    classes = to_classes(labels, 0, np.int64)
    unknown = sorted(set(np.unique(classes).tolist()) - set(colours))
    if unknown:
        raise ValueError(f"classes {unknown} have no colour in the internal-color-map")
    table = np.zeros(max(colours) + 1, np.uint32)
    for class_id, colour in colours.items():
        table[class_id] = colour
    packed = table[classes]
    rgb = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    PIL.Image.fromarray(rgb, "RGB").save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
