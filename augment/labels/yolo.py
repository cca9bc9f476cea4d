"""YOLO (Ultralytics) label trees in and out: read once into an index, labels per image.

A YOLO dataset keeps the labels of ``.../images/<rest>.jpg`` in ``.../labels/<rest>.txt``
(Ultralytics' own rule: the last ``images`` folder of the path becomes ``labels``, the
extension ``.txt``), one object a line, coordinates normalised to the image's size:

* ``class cx cy w h``: a box;
* ``class x1 y1 x2 y2 x3 y3 ...``: a polygon (segmentation), read into an instance mask
  (rasterised by pycocotools, as COCO's polygons are) and the polygon's extent as box;
* ``class cx cy w h x1 y1 [v1] ...``: a box and keypoints, when the dataset's YAML names a
  ``kpt_shape: [K, 2 | 3]`` (pose sets).

Class names come from the YAML's ``names`` (a list, or a dict of id -> name); a class
outside them is a problem. An image without a ``.txt``, or with an empty one, is valid:
no objects. Each bad line (not numbers, a wrong count of values, NaN, a class out of
range, a coordinate outside ``[0, 1]`` by more than :data:`TOLERANCE`, a box without
extent) is a :class:`~augment.labels.coco.Problem` naming ``file:line``, left out of its
image's labels; a label file no image has is a problem too.

Written (:func:`write_yolo`): an unmoved output keeps its lines verbatim (the identity
round trip gives the same bytes for a file written this way); a moved one has its
coordinates normalised to its own size, :data:`DIGITS` decimals. An object with a mask
is written as a polygon: the outline of the mask along pixel edges (exact for one
4-connected region without holes: pycocotools fills it back to the same pixels); holes
are filled, and separate regions are joined into one line by zero-width bridges from
each region's first corner (Ultralytics joins COCO's multi-part masks the same way).
Ultralytics reads a file as all boxes or all polygons, so in a file that has polygons, an
object without a mask is written as its box's four corners.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml

from augment.labels.coco import Problem, decode_segmentation
from augment.labels.model import Labels

TOLERANCE = 1e-3
"""How far (in image widths or heights) a coordinate may pass ``[0, 1]``: labelling tools round."""

DIGITS = 6
"""Decimals of a moved, normalised coordinate written out."""

YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
"""The dataset description :func:`read_yolo` looks for in the root, in this order."""


def label_path(image: str) -> str | None:
    """The label file of an image path (``images/train/a.jpg`` -> ``labels/train/a.txt``),
    or ``None``: the path has no ``images`` folder, so it is not in a YOLO tree."""
    parts = list(PurePosixPath(image).parts)
    folders = [i for i, p in enumerate(parts[:-1]) if p == "images"]
    if not folders:
        return None
    parts[folders[-1]] = "labels"
    return str(PurePosixPath(*parts).with_suffix(".txt"))


@dataclass(frozen=True)
class Row:
    """One valid line: its class, its numbers after the class, its line number and text."""

    category: int
    values: tuple[float, ...]
    line: int
    text: str


@dataclass
class YoloImage:
    """One image's label file (its path, valid lines) and how the dataset reads them."""

    path: str
    rows: tuple[Row, ...] = ()
    kpt_shape: tuple[int, int] | None = None
    keypoint_names: tuple[str, ...] = ()

    def labels(self, size: tuple[int, int]) -> Labels:
        """The image's labels at its ``(width, height)`` (YOLO's files do not hold it): a
        box per line, a mask per polygon line, keypoints per pose line; ``ids`` are line
        numbers, ``attrs`` each line's text (what an unmoved output writes back)."""
        if not self.rows:
            return Labels.empty(size)
        width, height = size
        boxes, masks, keypoints = [], [], []
        for row in self.rows:
            v = np.asarray(row.values, np.float64)
            if self.kpt_shape is None and len(v) > 4:
                points = v.reshape(-1, 2) * (width, height)
                boxes.append([*points.min(0), *points.max(0)])
                masks.append(decode_segmentation([points.reshape(-1).tolist()], height, width))
                keypoints.append(None)
                continue
            cx, cy, w, h = v[:4] * (width, height, width, height)
            boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            masks.append(None)
            keypoints.append(None if self.kpt_shape is None else _keypoints(v[4:], self.kpt_shape, size))
        category = {int(r.category) for r in self.rows}
        return Labels(size, boxes, [r.category for r in self.rows], [r.line for r in self.rows],
                      masks=masks if any(m is not None for m in masks) else None,
                      keypoints=keypoints if self.kpt_shape is not None else None,
                      keypoint_names={c: self.keypoint_names for c in sorted(category)} if self.keypoint_names else {},
                      attrs=[{"line": r.text} for r in self.rows])


def _keypoints(values: np.ndarray, shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Normalised pose values as ``(K, 3)`` pixels; without a visibility, a point at
    ``(0, 0)`` is not labelled (Ultralytics' own reading) and any other is visible."""
    count, dims = shape
    points = values.reshape(count, dims)
    xy = points[:, :2] * size
    visible = points[:, 2] if dims == 3 else np.where((points[:, :2] == 0).all(1), 0.0, 2.0)
    xy[visible == 0] = 0
    return np.concatenate([xy, visible[:, None]], axis=1)


def own_file(rel: str) -> bool:
    """A YOLO tree's own file (relative to its root), not an image: a label ``.txt`` under
    a ``labels`` folder, or a dataset YAML in the root."""
    path = PurePosixPath(rel)
    return (path.suffix == ".txt" and "labels" in path.parts[:-1]) or (len(path.parts) == 1 and path.suffix in
                                                                      (".yaml", ".yml"))


@dataclass
class YoloIndex:
    """A YOLO tree's label files, indexed once.

    Attributes:
        files: label path (relative to the root) -> its image's labels.
        names: class id -> name (empty: the dataset names none, any class is accepted).
        data: the dataset YAML as read (``{}``: none), for the output's own.
        problems: every line or file left out, and why.
        by_file: label path -> the problems of its lines (what its image's labels lost).
    """

    files: dict[str, YoloImage]
    names: dict[int, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    by_file: dict[str, list[Problem]] = field(default_factory=dict)

    def image(self, rel: str) -> YoloImage | None:
        """What a worker needs for the image ``rel`` (relative to the root): its labels,
        empty where it has no label file; ``None``: the path is in no ``images`` folder."""
        path = label_path(rel)
        if path is None:
            return None
        return self.files.get(path) or YoloImage(path, (), *self._pose())

    def problems_of(self, rel: str) -> list[Problem]:
        """The lines of the image ``rel``'s label file left out of its labels (each names ``file:line``)."""
        path = label_path(rel)
        return [] if path is None else self.by_file.get(path, [])

    def _pose(self) -> tuple[tuple[int, int] | None, tuple[str, ...]]:
        shape = self.data.get("kpt_shape")
        if shape is None:
            return None, ()
        names = self.data.get("kpt_names")
        names = names.get(0) or next(iter(names.values()), None) if isinstance(names, dict) else names
        return (int(shape[0]), int(shape[1])), tuple(str(n) for n in names or range(int(shape[0])))

    @property
    def flip_pairs(self) -> tuple[tuple[str, str], ...]:
        """The keypoint pairs a mirroring flip swaps, from the YAML's ``flip_idx`` (for
        :attr:`~augment.labels.follow.LabelRules.flip_pairs`)."""
        flip = self.data.get("flip_idx") or []
        _, names = self._pose()
        return tuple((names[i], names[j]) for i, j in enumerate(flip) if i < j < len(names))


def read_yolo(root: str | Path, data: str | Path | None = None) -> YoloIndex:
    """Index the YOLO tree under ``root``: every ``.txt`` under a ``labels`` folder, the
    dataset YAML (``data``, else the first of :data:`YAML_NAMES` in the root).

    A tree of labels alone, no ``images`` folder in it (a sharded job's hosts get the
    input tree's labels so, each beside its share of the images), cannot say which label
    file has no image: none is a problem for that.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    texts, images = {}, []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            path = name if rel == "." else f"{rel}/{name}"
            if name.endswith(".txt") and "labels" in PurePosixPath(path).parts[:-1]:
                texts[path] = Path(dirpath, name).read_bytes()
            elif "images" in PurePosixPath(path).parts[:-1]:
                images.append(path)
    yaml_path = Path(data) if data is not None else next((root / n for n in YAML_NAMES if (root / n).is_file()), None)
    yaml_text = yaml_path.read_bytes() if yaml_path is not None else None
    return index_yolo(texts, yaml_text, images or None, yaml_name=yaml_path.name if yaml_path else "data.yaml")


def index_yolo(texts: Mapping[str, bytes | str], data: bytes | str | Mapping[str, Any] | None = None,
               images: Iterable[str] | None = None, yaml_name: str = "data.yaml") -> YoloIndex:
    """Index label files already read (the same as :func:`read_yolo` without the disk).

    Args:
        texts: label path relative to the root -> its contents.
        data: the dataset YAML (its text, or parsed), or ``None``.
        images: the image paths of the tree, where known: a label file none of them
            has is a problem (``no_image``).
        yaml_name: how problems name the YAML.
    """
    problems: list[Problem] = []
    parsed = _read_data(data, yaml_name, problems)
    names = _names(parsed, yaml_name, problems)
    shape, keypoint_names = YoloIndex({}, names, parsed)._pose()
    has_image = None if images is None else {label_path(i) for i in images}
    files, by_file = {}, {}
    for path in sorted(texts):
        if has_image is not None and path not in has_image:
            problems.append(Problem(path, "no_image", "a label file no image has (its image would be "
                                                      f"{path.replace('labels', 'images', 1)[:-4]}.*)"))
            continue
        text, before = texts[path], len(problems)
        rows = _rows(path, text.decode("utf-8", "replace") if isinstance(text, bytes) else text, names, shape,
                     problems)
        files[path] = YoloImage(path, rows, shape, keypoint_names)
        if len(problems) > before:
            by_file[path] = problems[before:]
    return YoloIndex(files, names, parsed, problems, by_file)


def _read_data(data: bytes | str | Mapping[str, Any] | None, name: str, problems: list[Problem]) -> dict[str, Any]:
    if data is None or isinstance(data, Mapping):
        return dict(data or {})
    try:
        parsed = yaml.safe_load(data)
    except yaml.YAMLError as e:
        problems.append(Problem(name, "bad_yaml", f"not YAML ({e}); classes are not named"))
        return {}
    if not isinstance(parsed, dict):
        problems.append(Problem(name, "bad_yaml", "a dataset YAML is a mapping (names, train, val...)"))
        return {}
    shape = parsed.get("kpt_shape")
    if shape is not None and not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)
                                  and shape[0] > 0 and shape[1] in (2, 3)):
        problems.append(Problem(name, "bad_yaml", f"kpt_shape must be [K, 2 or 3], got {shape!r}: pose lines "
                                                  "cannot be read"))
        parsed.pop("kpt_shape")
    count = parsed["kpt_shape"][0] if "kpt_shape" in parsed else None
    names = parsed.get("kpt_names")
    listed = (names.get(0) or next(iter(names.values()), None)) if isinstance(names, dict) and names else names
    if names is not None and not (isinstance(listed, list) and len(listed) == count
                                  and all(isinstance(n, (str, int)) for n in listed)):
        problems.append(Problem(name, "bad_yaml", f"kpt_names must list {count or 'K'} keypoint names (kpt_shape's "
                                                  f"K), got {names!r}: keypoints are numbered instead"))
        parsed.pop("kpt_names")
    flip = parsed.get("flip_idx")
    if flip is not None and not (isinstance(flip, list) and len(flip) == count
                                 and all(isinstance(i, int) and 0 <= i < len(flip) for i in flip)):
        problems.append(Problem(name, "bad_yaml", f"flip_idx must list {count or 'K'} keypoint indices (kpt_shape's "
                                                  f"K), got {flip!r}: no keypoints are swapped on a flip"))
        parsed.pop("flip_idx")
    return parsed


def _names(data: dict[str, Any], name: str, problems: list[Problem]) -> dict[int, str]:
    names = data.get("names")
    if names is None:
        return {}
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        return {k: str(names[k]) for k in sorted(names)}
    problems.append(Problem(name, "bad_yaml", "names must be a list or a mapping of class ids to names"))
    return {}


def _rows(path: str, text: str, names: dict[int, str], shape: tuple[int, int] | None,
          problems: list[Problem]) -> tuple[Row, ...]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        why = None
        try:
            values = [float(v) for v in stripped.split()]
        except ValueError:
            why = "bad_line", "not numbers"
        if why is None:
            why = _line_problem(values, names, shape)
        if why is not None:
            problems.append(Problem(f"{path}:{number}", why[0], f"{why[1]}: {stripped[:80]!r}"))
            continue
        rows.append(Row(int(values[0]), tuple(values[1:]), number, stripped))
    return tuple(rows)


def _line_problem(values: list[float], names: dict[int, str],
                  shape: tuple[int, int] | None) -> tuple[str, str] | None:
    """Why a line's numbers are not an object, as ``(reason, message)``, or ``None``."""
    count = len(values) - 1
    if shape is not None and count != 4 + shape[0] * shape[1]:
        return "bad_line", f"a pose line is class, a box and {shape[0]}x{shape[1]} keypoint values"
    if shape is None and count != 4 and (count < 6 or count % 2):
        return "bad_line", "a line is 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...' (3 points or more)"
    if not all(math.isfinite(v) for v in values):
        return "bad_number", "NaN or infinite value"
    category = values[0]
    if category < 0 or not category.is_integer() or (names and int(category) not in names):
        return "unknown_category", f"class {values[0]:g} is not one of the {len(names) or 'non-negative'} classes"
    coords = values[1:] if shape is None else values[1:5] + _xy(values[5:], shape[1])
    if any(v < -TOLERANCE or v > 1 + TOLERANCE for v in coords):
        return "outside", "a coordinate outside [0, 1] (normalised to the image)"
    if count == 4 or shape is not None:
        cx, cy, w, h = values[1:5]
        if w <= 0 or h <= 0:
            return "bad_box", "a box with a negative or no width or height"
        if min(cx - w / 2, cy - h / 2) < -TOLERANCE or max(cx + w / 2, cy + h / 2) > 1 + TOLERANCE:
            return "outside", "a box outside the image"
    return None


def _xy(values: list[float], dims: int) -> list[float]:
    return [v for i, v in enumerate(values) if i % dims < 2]


def write_yolo(labels: Labels, keypoint_dims: int = 3) -> bytes:
    """One output's label file.

    Args:
        labels: the output's labels (its ``size`` is what coordinates are normalised to).
        keypoint_dims: 3 writes ``x y v`` per keypoint, 2 writes ``x y`` (the input's
            ``kpt_shape[1]``).
    """
    width, height = labels.size
    with_masks = labels.masks is not None and any(m is not None for m in labels.masks)
    lines = []
    for i in range(len(labels)):
        attrs = labels.attrs[i] if labels.attrs is not None else {}
        if not labels.moved and "line" in attrs:
            lines.append(attrs["line"])
            continue
        x0, y0, x1, y1 = labels.boxes[i]
        mask = labels.masks[i] if with_masks else None
        kp = labels.keypoints[i] if labels.keypoints is not None else None
        if mask is not None and mask.any():
            values = [v for x, y in outline(mask) for v in (x / width, y / height)]
        elif with_masks:
            values = [x0 / width, y0 / height, x1 / width, y0 / height, x1 / width, y1 / height, x0 / width,
                      y1 / height]
        else:
            values = [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]
        text = " ".join(_number(v) for v in values)
        if kp is not None and not with_masks:
            text += " " + " ".join(_point(p, width, height, keypoint_dims) for p in kp)
        lines.append(f"{int(labels.categories[i])} {text}")
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _number(value: float) -> str:
    return f"{min(max(value, 0.0), 1.0) + 0.0:.{DIGITS}f}"


def _point(point: np.ndarray, width: int, height: int, dims: int) -> str:
    x, y, v = (float(c) for c in point)
    values = [x / width, y / height] if v > 0 else [0.0, 0.0]
    return " ".join(_number(c) for c in values) + (f" {int(v)}" if dims == 3 else "")


def outline(mask: np.ndarray) -> list[tuple[int, int]]:
    """The polygon of a bool mask, as pixel corners ``(x, y)``: the outer boundary of each
    4-connected region along pixel edges (holes filled), regions in raster order of their
    first pixel, joined by zero-width bridges between their first corners."""
    remaining = mask.astype(bool).copy()
    regions: list[list[tuple[int, int]]] = []
    while remaining.any():
        row, col = np.unravel_index(int(np.argmax(remaining)), remaining.shape)
        polygon = _trace(remaining, int(col), int(row))
        regions.append(polygon)
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        local = [c for x, y in polygon for c in (x - x0, y - y0)]
        filled = decode_segmentation([local], y1 - y0, x1 - x0)
        remaining[y0:y1, x0:x1] &= ~filled
        remaining[row, col] = False
    if len(regions) == 1:
        return regions[0]
    joined = [corner for region in regions for corner in (*region, region[0])]
    return joined + [region[0] for region in reversed(regions[1:-1])]


def _trace(mask: np.ndarray, x: int, y: int) -> list[tuple[int, int]]:
    """The corners of the boundary around the region whose top-left pixel is ``(x, y)``,
    clockwise (the region on the right), where the boundary turns."""
    height, width = mask.shape

    def inside(px: int, py: int) -> bool:
        return 0 <= px < width and 0 <= py < height and bool(mask[py, px])

    start, heading = (x, y), (1, 0)
    corner, corners = start, [start]
    while True:
        dx, dy = heading
        rx, ry = -dy, dx
        right = inside(corner[0] + (dx + rx - 1) // 2, corner[1] + (dy + ry - 1) // 2)
        left = inside(corner[0] + (dx - rx - 1) // 2, corner[1] + (dy - ry - 1) // 2)
        turn = (dy, -dx) if right and left else heading if right else (rx, ry)
        if turn != heading:
            if corner == start and turn == (1, 0):
                return corners
            corners.append(corner)
            heading = turn
            continue
        corner = (corner[0] + dx, corner[1] + dy)


def data_yaml(index: YoloIndex, path: str | None = None) -> bytes:
    """The output tree's dataset YAML: the input's (its splits are relative to its root,
    as the output mirrors them), ``path`` set where given, removed otherwise (Ultralytics
    then takes the YAML's own folder)."""
    data = {k: v for k, v in index.data.items() if k != "path"}
    if path is not None:
        data = {"path": path, **data}
    if index.names and "names" not in data:
        data["names"] = dict(index.names)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")

