"""Pascal VOC XML in and out: one file per image, read once into an index.

The XML of image ``a/b.jpg`` is ``a/b.xml`` under the annotations folder (the image's
path, its extension ``.xml``: VOCdevkit's ``JPEGImages/x.jpg`` and ``Annotations/x.xml``,
and what supervision's ``from_pascal_voc`` reads). Its ``<filename>`` is not trusted to
name the image: tools that copy XML files leave it stale.

**Coordinates.** VOC's ``<bndbox>`` holds 1-based, inclusive pixel indices: ``xmin=1,
xmax=10`` covers the first ten pixels. In the continuous frame that torchvision's XYXY
boxes use (the image spans ``[0, width]``), those pixels span ``[0, 10]``, so a box is
``(xmin - 1, ymin - 1, xmax, ymax)``: only the minima shift, since ``xmax`` already names
the far edge. This is the VOC devkit's own reading (its areas are ``(xmax - xmin + 1) *
(ymax - ymin + 1)``), detectron2's and supervision's (its reader and writer agree with
ours, tested). Boxes are written back as VOC's integers: ``xmin = round(x0) + 1``,
``xmax = max(round(x1), xmin)`` (a moved box loses up to half a pixel; one thinner than a
pixel keeps one).

**Categories.** ``<name>`` -> id: the position in ``names`` when given (a name outside it is
a problem), else in the sorted set of names in the files, from 1 (COCO's numbering, and
torchvision's detection models keep 0 for the background). ``difficult``, ``truncated``,
``pose`` and ``occluded`` ride along in ``attrs``; the object's whole element too, so the
writer keeps what it does not know (parts, attributes) and changes the box only, and
``truncated``: an object the output's edge cuts (its box clamped to the output image) is
``truncated`` 1, another keeps the flag it was read with.

Problems (each names ``file`` or ``file, object N``): not XML, not an ``<annotation>``, an
object without a name or a ``<bndbox>`` of four finite numbers, a box with no extent,
or outside the ``<size>`` the file gives by more than :data:`BOX_TOLERANCE`, an unknown
name. A file without ``<size>`` is read at the image's size; one whose size is not the
image's is :meth:`VocImage.problem` (only the worker, which decoded the image, knows).
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from augment.labels.coco import Problem
from augment.labels.model import LabelError, Labels

BOX_TOLERANCE = 1.0
"""Pixels a box may pass its image's edge by (annotation tools round): more is a problem."""

FLAGS = ("difficult", "truncated", "occluded")
"""Per-object integer flags kept in ``attrs`` (VOC's evaluation ignores ``difficult`` ones)."""


def xml_path(image: str) -> str:
    """The XML of an image path (``a/b.jpg`` -> ``a/b.xml``)."""
    return str(PurePosixPath(image).with_suffix(".xml"))


@dataclass(frozen=True)
class VocObject:
    """One valid ``<object>``: its number in the file (from 1), name, category, XYXY box
    and element (as XML text)."""

    number: int
    name: str
    category: int
    box: tuple[float, float, float, float]
    element: str


@dataclass
class VocImage:
    """One image's XML: its path, the size it gives (``None``: none), valid objects, and
    the document without its objects (the writer's template)."""

    path: str
    size: tuple[int, int] | None
    objects: tuple[VocObject, ...]
    template: str

    def problem(self, size: tuple[int, int]) -> Problem | None:
        """The XML names another size than the image's ``(width, height)``, or ``None``."""
        if self.size is None or tuple(size) == self.size:
            return None
        return Problem(self.path, "size_mismatch", f"the XML gives a {self.size[0]}x{self.size[1]} image, the "
                                                   f"image is {size[0]}x{size[1]}")

    def labels(self, size: tuple[int, int]) -> Labels:
        """The image's labels at its ``(width, height)``: ``ids`` are object numbers,
        ``attrs`` the flags, ``pose`` and the element.

        Raises:
            LabelError: the XML names another size (:meth:`problem`).
        """
        problem = self.problem(size)
        if problem is not None:
            raise LabelError(str(problem), problem.reason)
        if not self.objects:
            return Labels.empty(tuple(size))
        return Labels(tuple(size), [o.box for o in self.objects], [o.category for o in self.objects],
                      [o.number for o in self.objects], attrs=[_attrs(o.element) for o in self.objects])


def _attrs(element: str) -> dict[str, Any]:
    node = ET.fromstring(element)
    attrs: dict[str, Any] = {"xml": element}
    for flag in FLAGS:
        text = (node.findtext(flag) or "").strip()
        if text:
            attrs[flag] = int(float(text)) if _finite(text) else text
    pose = node.findtext("pose")
    if pose is not None:
        attrs["pose"] = pose.strip()
    return attrs


@dataclass
class VocIndex:
    """A folder of VOC XML files, indexed once.

    Attributes:
        files: XML path (relative to the folder) -> its image's labels.
        categories: id -> name.
        problems: every file or object left out, and why.
        by_file: XML path -> its problems (what its image's labels lost: the file, or some objects).
    """

    files: dict[str, VocImage]
    categories: dict[int, str]
    problems: list[Problem] = field(default_factory=list)
    by_file: dict[str, list[Problem]] = field(default_factory=dict)

    def image(self, rel: str) -> VocImage | None:
        """What a worker needs for the image ``rel``; ``None``: it has no XML (its labels
        are empty: ``Labels.empty(size)``)."""
        return self.files.get(xml_path(rel))

    def problems_of(self, rel: str) -> list[Problem]:
        """What the image ``rel``'s XML lost: the whole file (not VOC XML: the image is read
        unlabelled), or objects (each named ``file, object N``)."""
        return self.by_file.get(xml_path(rel), [])


def read_voc(folder: str | Path, names: Sequence[str] | None = None) -> VocIndex:
    """Index every ``.xml`` under ``folder``.

    Args:
        folder: the annotations folder.
        names: the category names in id order (id = position + 1); ``None``: the sorted
            names the files use.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    texts = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = Path(dirpath).relative_to(folder).as_posix()
        for name in filenames:
            if name.endswith(".xml"):
                texts[name if rel == "." else f"{rel}/{name}"] = Path(dirpath, name).read_bytes()
    return index_voc(texts, names)


def index_voc(texts: Mapping[str, bytes | str], names: Sequence[str] | None = None) -> VocIndex:
    """Index XML files already read (:func:`read_voc` without the disk): path -> contents."""
    problems: list[Problem] = []
    by_file: dict[str, list[Problem]] = {}
    parsed = {}
    for path in sorted(texts):
        try:
            root = ET.fromstring(texts[path])
        except ET.ParseError as e:
            by_file[path] = [Problem(path, "bad_xml", f"not XML ({e})")]
            continue
        if root.tag != "annotation":
            by_file[path] = [Problem(path, "bad_xml", f"a VOC file's root is <annotation>, not <{root.tag}>")]
            continue
        parsed[path] = root
    if names is None:
        found = {(o.findtext("name") or "").strip() for root in parsed.values() for o in root.findall("object")}
        names = sorted(found - {""})
    ids = {name: i for i, name in enumerate(names, start=1)}
    files = {}
    for path, root in parsed.items():
        lost: list[Problem] = []
        files[path] = _image(path, root, ids, lost)
        if lost:
            by_file[path] = lost
    problems = [p for path in sorted(by_file) for p in by_file[path]]
    return VocIndex(files, {i: name for name, i in ids.items()}, problems, by_file)


def _image(path: str, root: ET.Element, ids: dict[str, int], problems: list[Problem]) -> VocImage:
    size = _size(root)
    objects = []
    for number, node in enumerate(root.findall("object"), start=1):
        where = f"{path}, object {number}"
        found = _object(node, ids, size)
        if isinstance(found, Problem):
            problems.append(Problem(where, found.reason, found.message))
            continue
        name, box = found
        for part in node.iter():  # the element without the file's indentation: the same object reads the same
            part.tail = None
            if part.text is not None and not part.text.strip():
                part.text = None
        objects.append(VocObject(number, name, ids[name], box, ET.tostring(node, encoding="unicode")))
    for node in root.findall("object"):
        root.remove(node)
    return VocImage(path, size, tuple(objects), ET.tostring(root, encoding="unicode"))


def _size(root: ET.Element) -> tuple[int, int] | None:
    """The ``<size>`` the file gives, or ``None`` (none, or not positive integers: some
    tools write ``0``)."""
    texts = [(root.findtext(f"size/{k}") or "").strip() for k in ("width", "height")]
    if not all(t.isdigit() and int(t) > 0 for t in texts):
        return None
    return int(texts[0]), int(texts[1])


def _object(node: ET.Element, ids: dict[str, int],
            size: tuple[int, int] | None) -> tuple[str, tuple[float, float, float, float]] | Problem:
    """An object's name and XYXY box, or why it cannot be used."""
    name = (node.findtext("name") or "").strip()
    if not name:
        return Problem("", "bad_object", "an object needs a <name>")
    if name not in ids:
        return Problem("", "unknown_category", f"{name!r} is not one of the {len(ids)} names given")
    texts = [(node.findtext(f"bndbox/{k}") or "").strip() for k in ("xmin", "ymin", "xmax", "ymax")]
    if not all(_finite(t) for t in texts):
        return Problem("", "bad_box", f"<bndbox> needs xmin, ymin, xmax, ymax as finite numbers, got {texts}")
    xmin, ymin, xmax, ymax = (float(t) for t in texts)
    box = (xmin - 1, ymin - 1, xmax, ymax)
    if box[2] <= box[0] or box[3] <= box[1]:
        return Problem("", "bad_box", f"box {texts} has a negative or no width or height")
    if size is not None:
        width, height = size
        tol = BOX_TOLERANCE
        if box[0] < -tol or box[1] < -tol or box[2] > width + tol or box[3] > height + tol:
            return Problem("", "box_outside", f"box {texts} lies outside its {width}x{height} image")
    return name, box


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def write_voc(labels: Labels, file_name: str, categories: Mapping[int, str], source: VocImage | None = None,
              depth: int = 3) -> bytes:
    """One output's XML.

    Args:
        labels: the output's labels (its ``size`` is written).
        file_name: the output's path relative to the output folder: ``<filename>`` is its
            name, ``<folder>`` its folder.
        categories: id -> name (:attr:`VocIndex.categories`).
        source: the input's XML, whose other fields (source, owner, segmented...) are
            kept; ``None``: a bare document.
        depth: ``<size><depth>`` where the source gives none (3: RGB).
    """
    root = ET.fromstring(source.template) if source is not None else ET.Element("annotation")
    path = PurePosixPath(file_name)
    _set(root, "folder", str(path.parent) if str(path.parent) != "." else "")
    _set(root, "filename", path.name)
    width, height = labels.size
    size = root.find("size")
    if size is None:
        size = ET.SubElement(root, "size")
    _set(size, "width", str(width))
    _set(size, "height", str(height))
    if size.find("depth") is None:
        _set(size, "depth", str(depth))
    for i in range(len(labels)):
        root.append(_element(labels, i, categories))
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


def _set(parent: ET.Element, tag: str, text: str) -> None:
    node = parent.find(tag)
    if node is None:
        node = ET.SubElement(parent, tag)
    node.text = text


def _element(labels: Labels, i: int, categories: Mapping[int, str]) -> ET.Element:
    """Object ``i``: its source element with the box written again (verbatim where
    nothing moved it), or a new one."""
    attrs = labels.attrs[i] if labels.attrs is not None else {}
    if "xml" in attrs:
        node = ET.fromstring(attrs["xml"])
        if not labels.moved:
            return node
    else:
        node = ET.Element("object")
        _set(node, "name", categories[int(labels.categories[i])])
        _set(node, "pose", str(attrs.get("pose", "Unspecified")))
        for flag in ("truncated", "difficult"):
            _set(node, flag, str(attrs.get(flag, 0)))
    if labels.clipped is not None and labels.clipped[i]:  # the output's edge cuts it now: VOC's truncated
        _set(node, "truncated", "1")
    box = node.find("bndbox")
    if box is None:
        box = ET.SubElement(node, "bndbox")
    x0, y0, x1, y1 = (float(v) for v in labels.boxes[i])
    xmin, ymin = round(x0) + 1, round(y0) + 1
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), (xmin, ymin, max(round(x1), xmin), max(round(y1), ymin)),
                          strict=True):
        _set(box, tag, str(value))
    return node
