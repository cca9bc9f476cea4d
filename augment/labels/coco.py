"""COCO instances JSON in and out: read once into an index, labels per image, one file out.

Reading (:func:`read_coco`) indexes the file once: images by ``file_name``, each image's
annotations, the categories with their keypoint names and skeleton. Each bad annotation
(an image id or category id that names nothing, a box that is not four finite numbers,
has a negative or no extent, or lies outside its image, keypoints of the wrong length, a
segmentation pycocotools cannot decode or of another size) is a :class:`Problem` naming
its annotation id, and is left out of its image's labels: never a crash, never silent.

A worker gets one :class:`CocoImage` (its image entry, its valid annotations, the
categories they name: small and picklable), and :meth:`CocoImage.labels` decodes it:
polygons and RLE through pycocotools, into one bool mask per object.

Writing (:func:`write_coco`) makes an image entry per output (``file_name`` relative to
the output folder, the output's own width and height) and its annotations, in the order
of the outputs' file names, numbered from 1: the same outputs always give the same
bytes (:func:`dump_coco`), whichever host or worker made them. :func:`merge_coco` joins
the parts that hosts write into the one file the job's output has, by the same rule, so
one part merged is itself. An output no geometric op moved keeps its annotations
verbatim (renumbered), polygons included; a moved one gets its box, area, segmentation
(as compressed RLE, from the moved mask: a polygon cut by the image's edge or bent by an
elastic op is not a polygon any more) and keypoints recomputed, and its other fields
(``iscrowd``, ``attributes``...) kept.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from augment.labels.json_parse import collector_paused, parse_json
from augment.labels.model import LabelError, Labels

try:
    from augment._native import coco_arrays as _coco_arrays
    from augment._native import coco_index as _coco_index
except ImportError:  # built without a C compiler: numpy reads them, Python indexes them, the same
    _coco_arrays = _coco_index = None

BOX_TOLERANCE = 1.0
"""Pixels a box may pass its image's edge by (annotation tools round): more is a problem."""

DIGITS = 6
"""Decimals of a moved coordinate written out (a millionth of a pixel)."""

_URLS = ("coco_url", "flickr_url", "url")
"""Image fields that name the input's pixels, not an output's: not copied to outputs."""


@dataclass(frozen=True)
class Problem:
    """One annotation (or image entry) that cannot be used, and why.

    Attributes:
        where: what it is, as the file names it (``annotation 17``, ``image 4``).
        reason: a short word for counting (``unknown_category``, ``bad_box``...).
        message: the sentence a person reads.
        image: the image (its path relative to the input) whose labels lose this
            annotation, where known: its outputs' records name the problem.
    """

    where: str
    reason: str
    message: str
    image: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class CocoImage:
    """One image's entry, its valid annotations, and the categories they name."""

    image: dict[str, Any]
    annotations: list[dict[str, Any]]
    categories: dict[int, dict[str, Any]]
    _templates: Any = field(default=None, init=False, repr=False, compare=False)  # see _box_templates
    _read: Labels | None = field(default=None, init=False, repr=False, compare=False)  # see labels_later

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image["width"]), int(self.image["height"])

    def labels(self, size: tuple[int, int] | None = None) -> Labels:
        """The image's labels: boxes, categories, annotation ids, a mask per annotation
        with a segmentation, keypoints per annotation that has them; every other field
        of an annotation rides along in ``attrs`` (the writer copies it back).

        Args:
            size: the image's ``(width, height)``, checked against the entry's (``None``:
                the entry's), as every format's ``labels(size)`` takes it.

        Raises:
            LabelError: ``size`` is not the entry's (reason ``size_mismatch``).
        """
        width, height = self.size
        self._check(size)
        if not self.annotations:
            return Labels.empty(self.size)
        anns = self.annotations
        n = len(anns)
        boxes, categories, ids = np.empty((n, 4)), np.empty(n, np.int64), np.empty(n, np.int64)
        # the compiled pass reads them all at once, and says whether any has a mask or keypoints
        more = None if _coco_arrays is None else _coco_arrays(anns, boxes, categories, ids)
        if more is None:
            boxes = np.array([ann["bbox"] for ann in anns], np.float64)
            boxes[:, 2:] += boxes[:, :2]  # x, y, w, h -> x0, y0, x1, y1
            categories, ids = [a["category_id"] for a in anns], [a["id"] for a in anns]  # type: ignore[assignment]
        masks: list[np.ndarray | None] | None = None
        keypoints: list[np.ndarray | None] | None = None
        for i, ann in enumerate(anns if more is None or more else ()):  # most have neither
            if ann.get("segmentation"):
                masks = masks or [None] * len(anns)
                masks[i] = decode_segmentation(ann["segmentation"], height, width)
            if kp := ann.get("keypoints"):
                keypoints = keypoints or [None] * len(anns)
                keypoints[i] = np.asarray(kp, np.float64).reshape(-1, 3)
        names = {cid: tuple(c.get("keypoints") or ()) for cid, c in self.categories.items() if c.get("keypoints")}
        return Labels(self.size, boxes, categories, ids, masks=masks, keypoints=keypoints, keypoint_names=names,
                      attrs=[_fields(a) for a in anns])

    def labels_later(self, size: tuple[int, int]) -> Callable[[], Labels] | None:
        """:meth:`labels`, read when first asked (a job's worker asks after the image's
        pixels), for an image whose labels nothing but their size can refuse, checked now.
        ``None`` where an annotation has a segmentation: its mask is read at once (a
        worker holding several images' labels would hold their masks).

        Raises:
            LabelError: as :meth:`labels` raises it.
        """
        self._check(size)
        if any(ann.get("segmentation") for ann in self.annotations):
            return None

        def read() -> Labels:
            if self._read is None:
                self._read = self.labels()
            return self._read

        return read

    def release(self) -> None:
        """Drop what this image's outputs shared (its labels read, its templates): a job's
        worker calls it once they are all made (a one-worker job's tasks live as long as
        the job)."""
        self._read = self._templates = None

    def _check(self, size: tuple[int, int] | None) -> None:
        width, height = self.size
        if size is not None and tuple(size) != (width, height):
            raise LabelError(f"image {self.image.get('id')}: the file gives {width}x{height}, the image is "
                             f"{size[0]}x{size[1]}", "size_mismatch")


def _fields(annotation: dict[str, Any]) -> dict[str, Any]:
    """An annotation's fields but its ids (which a writer gives again), in their order."""
    fields = annotation.copy()
    fields.pop("id", None), fields.pop("image_id", None), fields.pop("category_id", None)
    return fields


@dataclass
class CocoIndex:
    """A COCO instances file, indexed once.

    Attributes:
        images: ``file_name`` -> its image entry.
        annotations: image id -> its valid annotations, in the file's order.
        categories: category id -> its entry (``name``, ``keypoints``, ``skeleton``...).
        problems: every annotation or image entry left out, and why.
        info, licenses: copied to the output file.
    """

    images: dict[str, dict[str, Any]]
    annotations: dict[int, list[dict[str, Any]]]
    categories: dict[int, dict[str, Any]]
    problems: list[Problem] = field(default_factory=list)
    info: dict[str, Any] | None = None
    licenses: list[Any] | None = None

    def image(self, file_name: str) -> CocoImage | None:
        """What a worker needs for one input (``None``: the file names no such image)."""
        entry = self.images.get(file_name)
        if entry is None:
            return None
        anns = self.annotations.get(entry["id"], [])
        used = {a["category_id"] for a in anns}
        return CocoImage(entry, anns, {cid: c for cid, c in self.categories.items() if cid in used})


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO segmentation (polygons, RLE or compressed RLE) as a bool ``(height, width)`` mask.

    Raises:
        ValueError: it is none of those, or an RLE of another size.
    """
    with warnings.catch_warnings():
        # pycocotools' decoder predates numpy 2's copy keyword and says so at every call
        warnings.filterwarnings("ignore", r"__array__ implementation doesn't accept a copy keyword",
                                DeprecationWarning)
        return mask_utils.decode(_rle(segmentation, height, width)).astype(bool)


def _rle(segmentation: Any, height: int, width: int) -> Any:
    """A segmentation as the RLE pycocotools decodes (see :func:`decode_segmentation`)."""
    if width * height >= 1 << 31 or max(width, height) > 1 << 27:  # its counts and traced points are 32-bit
        raise ValueError(f"a {width}x{height} image is larger than pycocotools' masks go (2^31 pixels, 2^27 a side)")
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list)]
        if len(polygons) != len(segmentation) or any(len(p) < 6 or len(p) % 2 for p in polygons):
            raise ValueError("a polygon segmentation is a list of [x1, y1, x2, y2, ...] with at least 3 points")
        if not all(_finite_numbers(p) for p in polygons):
            raise ValueError("a polygon's coordinates must be finite numbers")
        # pycocotools traces each edge pixel by pixel (a NaN or a point far away asks it for gigabytes)
        if any(not (-width <= x <= 2 * width and -height <= y <= 2 * height) for p in polygons
               for x, y in zip(p[0::2], p[1::2], strict=True)):
            raise ValueError(f"a polygon point lies more than the image's size outside its {width}x{height} image")
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            raise ValueError(f"an RLE of size {segmentation['size']} (height, width) on a {width}x{height} image")
        counts = segmentation["counts"]
        rle = mask_utils.frPyObjects(segmentation, height, width) if isinstance(counts, list) else \
            {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise ValueError("a segmentation is a list of polygons or an RLE with counts and size")
    return rle


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """A bool mask as COCO's compressed RLE (``counts`` a string, as JSON wants it)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def read_coco(source: str | Path | bytes | dict[str, Any]) -> CocoIndex:
    """Index a COCO instances file.

    Args:
        source: its path, its bytes, or the parsed JSON.

    Returns:
        The index; what could not be used is in its ``problems``.

    Raises:
        ValueError: not a COCO instances file at all (no ``images`` list, not JSON).
    """
    if isinstance(source, str | Path):
        source = Path(source).read_bytes()
    with collector_paused():
        return _index(parse_json(source) if isinstance(source, bytes) else source)


def _index(data: Any) -> CocoIndex:
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError("not a COCO instances file: it has no list of images")
    problems: list[Problem] = []
    categories = {}
    for cat in data.get("categories") or []:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int):
            problems.append(Problem(f"category {brief_id(cat)}", "bad_category", "a category needs an integer id"))
            continue
        categories[cat["id"]] = cat
    images, by_id = {}, {}
    for entry in data["images"]:
        why = _image_problem(entry, images)
        if why:
            problems.append(Problem(f"image {brief_id(entry)}", "bad_image", why))
            continue
        images[entry["file_name"]] = entry
        by_id[entry["id"]] = entry
    annotations: dict[int, list[dict[str, Any]]] = {}
    seen: set[int] = set()
    anns = data.get("annotations") or []
    anns = anns if type(anns) is list else list(anns)
    at = 0
    while at < len(anns):
        if _coco_index is not None:  # the plainly valid ones, compiled, up to the first it cannot say valid
            at = _coco_index(anns, at, by_id, categories, seen, annotations, BOX_TOLERANCE)
            if at == len(anns):
                break
        ann = anns[at]
        at += 1
        problem = _annotation_problem(ann, by_id, categories, seen)
        if problem:
            owner = _get(by_id, ann.get("image_id")) if isinstance(ann, dict) else None
            problems.append(problem if owner is None else replace(problem, image=owner["file_name"]))
            continue
        seen.add(ann["id"])
        annotations.setdefault(ann["image_id"], []).append(ann)
    return CocoIndex(images, annotations, categories, problems, data.get("info"), data.get("licenses"))


def _get(table: dict[Any, Any], key: Any) -> Any:
    """``table.get(key)``, ``None`` for a key that cannot be one (a list where an id goes)."""
    try:
        return table.get(key)
    except TypeError:
        return None


def brief_id(entry: Any) -> str:
    return str(entry.get("id")) if isinstance(entry, dict) else "?"


def _image_problem(entry: Any, images: dict[str, Any]) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
        return "an image entry needs an integer id"
    if not isinstance(entry.get("file_name"), str) or not entry["file_name"]:
        return "an image entry needs a file_name"
    if entry["file_name"] in images:
        return f"file_name {entry['file_name']!r} is named by image {images[entry['file_name']]['id']} already"
    if not all(isinstance(entry.get(k), int) and entry[k] > 0 for k in ("width", "height")):
        return "an image entry needs its width and height (positive integers)"
    return None


def _annotation_problem(ann: Any, images: dict[int, dict[str, Any]], categories: dict[int, Any],
                        seen: set[int]) -> Problem | None:
    """Why an annotation cannot be used, or ``None``."""
    if type(ann) is dict and _plainly_valid(ann, images, categories, seen):
        return None
    return _checked(ann, images, categories, seen)


def _checked(ann: Any, images: dict[int, dict[str, Any]], categories: dict[int, Any], seen: set[int]) -> Problem | None:
    """:func:`_annotation_problem`, every check made."""
    if not isinstance(ann, dict) or not isinstance(ann.get("id"), int):
        return Problem(f"annotation {brief_id(ann)}", "bad_annotation", "an annotation needs an integer id")
    where = f"annotation {ann['id']}"
    if ann["id"] in seen:
        return Problem(where, "duplicate_id", "another annotation has this id")
    image = _get(images, ann.get("image_id"))
    if image is None:
        return Problem(where, "missing_image", f"image_id {ann.get('image_id')!r} names no image")
    if _get(categories, ann.get("category_id")) is None:
        return Problem(where, "unknown_category", f"category_id {ann.get('category_id')!r} names no category")
    box = ann.get("bbox")
    if not (isinstance(box, list) and len(box) == 4 and _finite_numbers(box)):
        return Problem(where, "bad_box", f"bbox must be [x, y, width, height], four finite numbers, got {box!r}")
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return Problem(where, "bad_box", f"bbox {box} has a negative or no width or height")
    width, height = image["width"], image["height"]
    tol = BOX_TOLERANCE
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        return Problem(where, "box_outside", f"bbox {box} lies outside its {width}x{height} image")
    category = categories[ann["category_id"]]
    kp = ann.get("keypoints")
    if kp:
        names = category.get("keypoints") or []
        if not (isinstance(kp, list) and len(kp) == 3 * len(names) and _finite_numbers(kp)):
            return Problem(where, "bad_keypoints", f"keypoints must be {3 * len(names)} finite numbers (x, y, v "
                                                   f"for each of {category.get('name')!r}'s {len(names)} keypoints)")
    if ann.get("segmentation"):
        try:  # polygons checked as they become an RLE (a tenth of a decode, which the index made of every
            # object's mask), an RLE by decoding it (its counts are read then)
            segmentation = ann["segmentation"]
            if isinstance(segmentation, list):
                _rle(segmentation, height, width)
            else:
                decode_segmentation(segmentation, height, width)
        except (ValueError, TypeError, OverflowError) as e:
            return Problem(where, "bad_segmentation", f"segmentation: {e}")
    return None


def _plainly_valid(ann: dict[str, Any], images: dict[int, dict[str, Any]], categories: dict[int, Any],
                   seen: set[int]) -> bool:
    """The commonest annotation said valid at once (a file has a million): an id, a known
    image and category, a box of four plain finite numbers inside its image, no keypoints
    and no segmentation. ``False`` is no verdict: :func:`_annotation_problem` looks again."""
    box = ann.get("bbox")
    if type(box) is not list or len(box) != 4 or ann.get("keypoints") or ann.get("segmentation"):
        return False
    x, y, w, h = box
    ident, image_id, category = ann.get("id"), ann.get("image_id"), ann.get("category_id")
    if type(image_id) is not int or type(category) is not int:
        return False  # a key that is not an id's (a list, say): no verdict
    image = images.get(image_id)
    if (type(ident) is not int or ident in seen or image is None or category not in categories
            or type(x) not in _PLAIN or type(y) not in _PLAIN or type(w) not in _PLAIN or type(h) not in _PLAIN):
        return False
    tol = BOX_TOLERANCE  # finite: x - x is 0 (NaN and the infinities make NaN, and the sum with them)
    return (x - x + (y - y) + (w - w) + (h - h) == 0 and w > 0 and h > 0 and x >= -tol and y >= -tol
            and x + w <= image["width"] + tol and y + h <= image["height"] + tol)


_PLAIN = frozenset((int, float))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite_numbers(values: list[Any]) -> bool:
    """Every value a finite number (not a bool): :func:`_number` of each, JSON's floats and
    ints (all a file has) said at once (``x - x`` is 0 for a finite float, NaN else)."""
    for value in values:
        kind = type(value)
        if not (kind is int or (kind is float and value - value == 0.0) or (kind not in _JSON and _number(value))):
            return False
    return True


_JSON = (int, float, bool)


@dataclass
class CocoOutput:
    """One output to write: its path relative to the output folder, the input image it
    was made from (its entry's other fields are kept), and its labels."""

    file_name: str
    source: CocoImage
    labels: Labels


def write_coco(outputs: Iterable[CocoOutput], categories: dict[int, dict[str, Any]],
               info: dict[str, Any] | None = None, licenses: list[Any] | None = None) -> dict[str, Any]:
    """The COCO document of some outputs: images and annotations in the order of the
    outputs' file names, numbered from 1; every category of the input, in id order.

    Args:
        outputs: the outputs (their file names are unique).
        categories: the input's categories (:attr:`CocoIndex.categories`).
        info, licenses: copied as they are where given.
    """
    images, annotations = [], []
    for image_id, out in enumerate(sorted(outputs, key=lambda o: o.file_name), start=1):
        images.append({"id": image_id, **_image_entry(out)})
        annotations.extend([{"id": number, "image_id": image_id, **ann}
                            for number, ann in enumerate(_annotations(out.labels), start=len(annotations) + 1)])
    doc: dict[str, Any] = {}
    if info is not None:
        doc["info"] = info
    if licenses is not None:
        doc["licenses"] = licenses
    doc.update(images=images, annotations=annotations, categories=[categories[k] for k in sorted(categories)])
    return doc


def _image_entry(out: CocoOutput) -> dict[str, Any]:
    """The output's image entry without its id: the input's own fields but the pixels' URLs."""
    width, height = out.labels.size
    extra = {k: v for k, v in out.source.image.items() if k not in ("id", "file_name", "width", "height", *_URLS)}
    return {"file_name": out.file_name, "width": width, "height": height, **extra}


def _annotations(labels: Labels) -> list[dict[str, Any]]:
    """The output's annotations without their ids and image id, in its objects' order."""
    rows = _box_rows(labels.boxes) if labels.moved else [None] * len(labels)
    return [{"category_id": category, **_annotation(labels, i, rows[i])}
            for i, category in enumerate(labels.categories.tolist())]


def _encoder() -> Any:
    """JSON as :func:`dump_coco` writes it, one value at a time: CPython's C encoder made
    once (``JSONEncoder.encode`` makes one per call, which cost more than encoding an
    annotation; no cycle check: a document read from JSON has no cycles), else ``encode``."""
    from json import encoder

    fallback = encoder.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if encoder.c_make_encoder is None or encoder.c_encode_basestring is None:
        return fallback.encode
    made = encoder.c_make_encoder(None, fallback.default, encoder.c_encode_basestring, None, ":", ",", False, False,
                                  False)
    return lambda value: "".join(made(value, 0))


_ENCODE = _encoder()


def _box_rows(boxes: np.ndarray) -> list[list[float | int]]:
    """Per box, its COCO ``x, y, width, height`` and area, rounded (:func:`rounded`)."""
    values = rounded(box_values(boxes).reshape(-1))
    return [values[k:k + 5] for k in range(0, len(values), 5)]


def box_values(boxes: np.ndarray) -> np.ndarray:
    """Per XYXY box, its COCO ``x, y, width, height`` and area (``(N, 5)``): each box's
    sums as Python would make them, element by element (the compiled ``coco_boxes`` makes
    the same ones)."""
    x0, y0 = boxes[:, 0], boxes[:, 1]
    w, h = boxes[:, 2] - x0, boxes[:, 3] - y0
    return np.stack([x0, y0, w, h, w * h], axis=1)


def _annotation(labels: Labels, i: int, row: list[float | int] | None) -> dict[str, Any]:
    """Annotation ``i`` of ``labels`` without its ids: verbatim when nothing moved it.
    ``row``: its box and area from :func:`_box_rows` (made once for all; ``None`` unmoved)."""
    attrs = dict(labels.attrs[i]) if labels.attrs is not None else {}
    if labels.marks is not None and labels.marks[i] is not None:
        attrs["augment_mark"] = labels.marks[i]
    if not labels.moved and "bbox" in attrs:
        return attrs
    if row is None:
        row = _box_rows(labels.boxes[i:i + 1])[0]
    attrs["bbox"] = row[:4]
    mask = labels.masks[i] if labels.masks is not None else None
    if mask is not None:
        attrs["segmentation"] = encode_mask(mask)
        attrs["area"] = int(mask.sum())
    else:  # no segmentation (one was decoded into the mask): the box's area
        attrs["area"] = row[4]
    kp = labels.keypoints[i] if labels.keypoints is not None else None
    if kp is not None:
        xy = rounded(kp[:, :2].reshape(-1))
        attrs["keypoints"] = [v for x, y, vis in zip(xy[0::2], xy[1::2], kp[:, 2].tolist(), strict=True)
                              for v in (x, y, int(vis))]
        attrs["num_keypoints"] = int(np.sum(kp[:, 2] > 0))
    return attrs


_SCALE = 10.0 ** DIGITS
_DOUBT = 1e-4
"""How near a half ``value * 10**DIGITS`` may lie before :func:`rounded` asks Python's own
``round``: the product's own rounding error is under 2e-5 for coordinates below 1e5 px."""


def rounded(values: np.ndarray) -> list[float | int]:
    """Coordinates to :data:`DIGITS` decimals, each exactly what ``round(value, DIGITS)``
    gives (a whole number as an int, COCO's own style; no ``-0.0``), for a whole array at once.

    Python's ``round`` rounds the decimal value exactly, at about half a microsecond a number
    (most of what writing a moved annotation cost). Here ``rint(value * 10**6)`` picks the
    same integer ``k`` wherever the product is not within :data:`_DOUBT` of a half (those,
    and values too large for the product to be exact enough, go to ``round`` itself), and
    ``k / 10**6``, correctly rounded, is the double nearest the decimal, as ``round``'s is.
    """
    values = np.asarray(values, np.float64)
    scaled = values * _SCALE
    nearest = np.rint(scaled)
    out = (nearest / _SCALE + 0.0).tolist()
    doubtful = ~(np.abs(np.abs(scaled - nearest) - 0.5) > _DOUBT) | ~(np.abs(scaled) < 1e11)
    if doubtful.any():
        for i in np.flatnonzero(doubtful).tolist():
            out[i] = round(float(values[i]), DIGITS) + 0.0
    return [int(v) if v.is_integer() else v for v in out]


def merge_coco(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Parts written by hosts (by :func:`write_coco`) as the one document of the job:
    images sorted by file name, images and annotations numbered again from 1.

    Raises:
        ValueError: two parts name the same output, or their categories differ.
    """
    if not parts:
        raise ValueError("no parts to merge")
    categories = parts[0]["categories"]
    rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    names: set[str] = set()
    for part in parts:
        if part["categories"] != categories:
            raise ValueError("the parts' categories differ: they come from different annotation files")
        by_image: dict[int, list[dict[str, Any]]] = {}
        for ann in part["annotations"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
        for image in part["images"]:
            if image["file_name"] in names:
                raise ValueError(f"{image['file_name']} is in two parts")
            names.add(image["file_name"])
            rows.append((image["file_name"], image, by_image.get(image["id"], [])))
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (_name, image, anns) in enumerate(sorted(rows, key=lambda r: r[0]), start=1):
        images.append({**image, "id": image_id})
        annotations.extend({**ann, "id": number, "image_id": image_id}
                           for number, ann in enumerate(anns, start=len(annotations) + 1))
    doc = {k: v for k, v in parts[0].items() if k in ("info", "licenses")}
    doc.update(images=images, annotations=annotations, categories=categories)
    return doc


def dump_coco(doc: dict[str, Any]) -> bytes:
    """The document's bytes: compact JSON, UTF-8, keys in the order written (a name that is
    not UTF-8, held as lone surrogates, written as its JSON escape, as the manifest writes it)."""
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode(
        "utf-8", errors="backslashreplace")
