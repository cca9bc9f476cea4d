"""The preview's labels: the annotations opened once, each image's labels, drawn on a tile.

An input's labels come from an annotation index (``index.image(rel)``, whose
``.labels(size)`` gives :class:`~augment.labels.model.Labels`); an output's are made
with its pixels by :func:`augment.variant.make`, given that label object as the job's
worker gives it, so they are the labels the job writes beside that output. They are drawn on the full-size image
(:func:`~augment.labels.draw.draw_labels`: line widths follow the image's size), before
the grid scales the tile down.

The annotations are opened by the job's own :func:`augment.labels.open_annotations`, so
the preview reads every format a job reads, and the labels follow the spec's
``annotations`` rules, as the job's do (:func:`augment.variant.make` applies them).
"""

from __future__ import annotations

import os
from typing import Any

import PIL.Image

from augment.errors import SpecError
from augment.labels.follow import Counts
from augment.labels.model import LabelError, Labels


def open_index(annotations: Any, annotation_format: str | None = None, source: str | None = None) -> Any:
    """The annotations as an index: opened by :func:`augment.labels.open_annotations`
    from a path or URI (``source``: the preview's input, a folder or an ``s3://``
    prefix: a YOLO tree's root, what Ground Truth's ``source-ref`` is relative to), or
    as given: anything with ``image(rel)`` and ``categories`` (an
    :class:`~augment.labels.AnnotationIndex`, a :class:`~augment.labels.CocoIndex`...).

    Raises:
        UsageError: they cannot be opened (``annotations=WHERE: reason``).
    """
    if annotations is None or not isinstance(annotations, str | os.PathLike):
        return annotations
    from augment.labels.formats import open_annotations
    from augment.storage import is_s3

    remote = source is not None and is_s3(source)
    return open_annotations(annotations, format=annotation_format, input_dir=None if remote else source,
                            input_uri=source if remote else None)


def refuse_unlabellable(spec: Any) -> None:
    """Raise where the spec has an op that cannot carry labels, as the job refuses it.

    Raises:
        SpecError: naming each such op by its field path, and why.
    """
    from augment.labels.refuse import refusals

    found = refusals(spec)
    if found:
        raise SpecError([f"{where}.{op}: cannot carry labels (annotations= is given): {why}"
                         for where, op, why in found])


def label_object(index: Any, rel: str) -> Any:
    """What the job's worker gives :func:`augment.variant.make` for input ``rel``: its
    label object, or :class:`~augment.labels.formats.NoLabels` where the annotations do
    not name it (valid: its outputs have no objects)."""
    from augment.labels.formats import NoLabels

    entry = index.image(rel)
    return NoLabels() if entry is None else entry


def input_labels(entry: Any, size: tuple[int, int]) -> tuple[Labels | None, str | None]:
    """An input's labels from its label object and, where they cannot be had, why (in
    the words the job's ``bad_labels`` records use)."""
    try:
        return entry.labels(tuple(size)), None
    except LabelError as e:
        return None, f"labels: {e}"


def drawn(image: PIL.Image.Image, labels: Labels | None, categories: Any) -> PIL.Image.Image:
    """``image`` with ``labels`` drawn on a copy (the image itself where there are none to draw)."""
    if labels is None:
        return image
    from augment.labels.draw import draw_labels

    return draw_labels(image, labels, categories)


def counts_text(counts: Counts | None) -> str:
    """What the rules did to an output's objects, in a few words (``""``: nothing to say)."""
    if counts is None:
        return ""
    parts = [f"{counts.kept} label{'s' if counts.kept != 1 else ''}"]
    dropped = sum(counts.dropped.values())
    if dropped:
        parts.append(f"{dropped} dropped")
    if counts.clipped:
        parts.append(f"{counts.clipped} clipped")
    return ", ".join(parts)
