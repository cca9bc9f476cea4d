"""A COCO output's line of its host's label journal, and the job's file from those lines.

Each output's entries (its image entry, then each annotation, as compact JSON without the
ids a merge gives them, tab-separated) ride back to the job's process on its record
(:func:`coco_line`); when the job completes, :func:`join_coco_lines` numbers the journal's
lines into the bytes :func:`~augment.labels.coco.dump_coco` writes for
:func:`~augment.labels.coco.write_coco`'s document of those outputs, without decoding and
encoding them again.

An output whose objects a geometric op moved and which has boxes only (the commonest
labelled job: a detection set) is written from its input's templates: each annotation's
JSON made once per input (by the compiled ``coco_templates``, or in one call to the
encoder), with ``%s`` where its box and area go, and the numbers computed and spelled by
the compiled ``coco_boxes`` (the very text
Python's ``round`` and ``repr`` give them). Any other output is encoded annotation by
annotation (:func:`augment.labels.coco._annotations`): the same text either way
(``tests/test_labels_coco_line.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

import numpy as np

from augment.labels.coco import (
    _ENCODE,
    DIGITS,
    CocoImage,
    CocoOutput,
    _annotations,
    _fields,
    _image_entry,
    box_values,
    rounded,
)
from augment.labels.model import Labels

try:
    from augment._native import coco_boxes as _coco_boxes
    from augment._native import coco_numbers as _coco_numbers
    from augment._native import coco_templates as _coco_templates
except ImportError:  # built without a C compiler: Python spells each number and template, the same text
    _coco_boxes = _coco_numbers = _coco_templates = None


def coco_line(out: CocoOutput) -> str:
    """One output's entries as a line of its host's label journal (see
    :mod:`augment.labels.formats`): its image entry, then each annotation, as compact JSON
    without the ids a merge gives them, separated by tabs (JSON text never holds a raw tab
    or newline), the very text :func:`augment.labels.coco._annotations` and the encoder make."""
    image = _ENCODE(_image_entry(out))
    boxes = _moved_boxes(out)
    if boxes is not None:
        return f"{image}\t{boxes}"
    return "\t".join([image, *map(_ENCODE, _annotations(out.labels))])


_BBOX, _AREA = "\0augment-bbox\0", "\0augment-area\0"
"""Stand-ins for a moved annotation's ``bbox`` and ``area`` in its template (see :func:`_box_templates`)."""


@dataclass(frozen=True)
class _Templates:
    """An input's annotations as JSON text with ``%s`` where a move puts its numbers.

    Attributes:
        ids: the annotations' ids, in order.
        index: annotation id -> its place in ``ids`` (an output that dropped objects picks by it).
        each: per annotation, its text (``%`` doubled), ``[%s,%s,%s,%s]`` its box, ``%s`` its area.
        whole: ``each`` joined by tabs: the annotations of an output that kept them all.
        area_first: per annotation, its ``area`` comes before its ``bbox`` (COCO's own files
            write them so); ``None``: no annotation's does.
    """

    ids: list[int]
    index: dict[int, int]
    each: list[str]
    whole: str
    area_first: np.ndarray | None


def _box_templates(image: CocoImage) -> _Templates | None:
    """The templates of ``image``'s annotations, made once per input (its copies share them):
    each annotation as :func:`augment.labels.coco._annotation` writes it moved without a mask
    or keypoints, every field but the box and the area encoded once (:func:`_make_templates`).
    ``None`` where none could be made: the output is encoded annotation by annotation."""
    if image._templates is None:
        image._templates = _make_templates(image.annotations, image._read) or False
    return image._templates or None


_FIELDS = re.compile(r'"\\u0000augment-(bbox|area)\\u0000"')
_BBOX_TEXT, _AREA_TEXT = _ENCODE(_BBOX), _ENCODE(_AREA)
_NEXT = '},{"category_id":'


def _make_templates(annotations: list[dict[str, Any]], read: Labels | None) -> _Templates | None:
    """``read``: the image's labels where :meth:`CocoImage.labels_later` read them (their
    fields are the annotations' without the ids, made already). The compiled
    ``coco_templates`` writes each annotation's text in one pass over its fields (strings,
    lists and dicts spelled by the encoder's own functions); where it cannot, the encoder
    writes them all with stand-ins, which are then found and replaced."""
    if _coco_templates is not None:
        made = _coco_templates(annotations, encode_basestring, _ENCODE)
        if made is not None:
            each, first = made
            return _templates(annotations, each, np.frombuffer(first, np.bool_) if 1 in first else None)
    if read is not None:  # as _annotations() orders an annotation's fields
        entries = [{"category_id": category, **fields, "bbox": _BBOX, "area": _AREA}
                   for category, fields in zip(read.categories.tolist(), read.attrs or (), strict=True)]
    else:
        entries = [{"category_id": int(ann["category_id"]), **_fields(ann), "bbox": _BBOX, "area": _AREA}
                   for ann in annotations]
    text = _ENCODE(entries)[1:-1]  # one annotation after another, "," between them
    found = _FIELDS.findall(text)
    n = len(annotations)
    if len(found) != 2 * n or found.count("bbox") != n or text.count(_NEXT) != n - 1:
        return None  # a stand-in's or an opening's text inside a field: not a template's to fill
    # every stand-in's text, and every opening's, is one of ours (counted above)
    text = text.replace("%", "%%").replace(_BBOX_TEXT, "[%s,%s,%s,%s]").replace(_AREA_TEXT, "%s")
    first = [found[2 * k] == "area" for k in range(n)]
    return _templates(annotations, text.replace(_NEXT, '}\t{"category_id":').split("\t"),
                      np.array(first) if any(first) else None)


def _templates(annotations: list[dict[str, Any]], each: list[str], area_first: np.ndarray | None) -> _Templates:
    ids = [ann["id"] for ann in annotations]
    return _Templates(ids, {i: k for k, i in enumerate(ids)}, each, "\t".join(each), area_first)


def _moved_boxes(out: CocoOutput) -> str | None:
    """The tab-separated annotations of an output whose objects a geometric op moved and
    which have boxes only (no mask, keypoints or mark): its boxes' numbers put into its
    input's templates (:func:`_box_templates`), the very text
    :func:`augment.labels.coco._annotations` and the encoder make of them. ``None``: not
    such an output; :func:`coco_line` encodes it annotation by annotation."""
    labels = out.labels
    if (not labels.moved or not len(labels) or labels.masks is not None or labels.keypoints is not None
            or labels.marks is not None):
        return None
    templates = _box_templates(out.source)
    if templates is None:
        return None
    ids = labels.ids.tolist()
    if ids == templates.ids:
        text, first = templates.whole, templates.area_first
    else:
        where = templates.index
        if any(i not in where for i in ids):
            return None
        picked = [where[i] for i in ids]
        text = "\t".join([templates.each[k] for k in picked])
        first = None if templates.area_first is None else templates.area_first[picked]
    boxes = labels.boxes
    if _coco_boxes is not None:  # the numbers spelled in one call, where C can spell them all
        texts = _coco_boxes(np.ascontiguousarray(boxes, np.float64), None if first is None else first)
        if texts is not None:
            return text % texts
    rows = box_values(boxes)
    if not np.isfinite(rows).all():
        return None  # JSON has no such numbers: the encoder says so
    if first is not None:
        rows = np.where(first[:, None], rows[:, [4, 0, 1, 2, 3]], rows)
    return text % _numbers(rows.reshape(-1))


def join_coco_lines(lines: Iterable[str], categories: list[dict[str, Any]], info: dict[str, Any] | None = None,
                    licenses: list[Any] | None = None) -> bytes:
    """The COCO file of outputs from their :func:`coco_line` lines, in the order of their
    file names: images and annotations numbered from 1, as
    :func:`~augment.labels.coco.write_coco` numbers them, the very bytes
    :func:`~augment.labels.coco.dump_coco` writes for its document."""
    images: list[str] = []
    annotations: list[str] = []
    for image_id, line in enumerate(lines, start=1):
        image, *anns = line.split("\t")
        images.append(f'{{"id":{image_id},{image[1:]}')  # each entry has fields: '{' and what follows
        start = len(annotations) + 1
        annotations.extend(f'{{"id":{number},"image_id":{image_id},{ann[1:]}'
                           for number, ann in enumerate(anns, start=start))
    head = "".join(f'"{key}":{_ENCODE(value)},' for key, value in (("info", info), ("licenses", licenses))
                   if value is not None)
    return (f'{{{head}"images":[{",".join(images)}],"annotations":[{",".join(annotations)}],'
            f'"categories":{_ENCODE(categories)}}}\n').encode("utf-8", errors="backslashreplace")


def _numbers(values: np.ndarray) -> tuple[Any, ...]:
    """``values`` rounded (:func:`augment.labels.coco.rounded`) as ``%s`` spells them: by the compiled
    ``coco_numbers`` where the package has it (the same text, without a float's repr
    each), else the rounded numbers themselves."""
    if _coco_numbers is None:
        return tuple(rounded(values))
    texts = _coco_numbers(np.ascontiguousarray(values, np.float64))
    if None not in texts:
        return texts
    # what C leaves to Python's round (a near-tie below 1e-4, a value of 2^33 or more), as rounded() asks it
    return tuple(_round(float(values[i])) if text is None else text for i, text in enumerate(texts))


def _round(value: float) -> float | int:
    """One value as :func:`augment.labels.coco.rounded` gives it, by Python's ``round``."""
    value = round(value, DIGITS) + 0.0
    return int(value) if value.is_integer() else value
