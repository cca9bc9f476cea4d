"""Labelled images as an Ultralytics (YOLO) detection tree, from annotations of any format.

:func:`to_yolo` lays a folder of images and their annotations (anything
:func:`~augment.labels.open_annotations` opens: a COCO file, Ground Truth, VOC...) out
the way Ultralytics reads a dataset: ``images/<split>/...``, ``labels/<split>/....txt``
(one ``class cx cy w h`` line per object, by :func:`~augment.labels.yolo.write_yolo`) and
a ``data.yaml`` naming the classes. YOLO numbers its classes from 0: the categories are
renumbered in the order of their ids, and ``data.yaml`` keeps their names (an id the
annotations name none for, a masks folder's class or an unnamed YOLO class, is named by
the id itself). Boxes only: a
YOLO tree is one task, and a box is what every object has (a pose or segmentation tree
could not hold the others).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from augment.labels.model import LabelError, Labels
from augment.labels.yolo import label_path, write_yolo


def to_yolo(annotations: Any, input_dir: str | os.PathLike[str], root: str | os.PathLike[str], *,
            split: str = "train", format: str | None = None) -> Path:
    """Copy the images of ``input_dir`` into a new YOLO tree at ``root``, each with its boxes.

    The classes are the annotations' categories and any other id an object has (a masks
    folder or a YOLO tree without names names none: such a class is named by its id). The
    tree is written into a temporary folder beside ``root`` and renamed to ``root`` once
    whole: a conversion that fails leaves no half-written tree behind.

    Args:
        annotations: the images' labels: a path (opened by
            :func:`~augment.labels.open_annotations`) or an index already open.
        input_dir: the images (every file under it, as a job takes them); an image the
            annotations do not name gets an empty label file (a background image).
        root: the tree's folder: new, or empty.
        split: the subfolder of ``images/`` and ``labels/`` (``data.yaml`` names it).
        format: the annotations' format, instead of detecting it.

    Returns:
        ``root``, whose ``data.yaml`` a job takes as ``annotations="yolo"``.

    Raises:
        UsageError: annotations that cannot be opened, or ``root`` not empty.
        LabelError: labels that do not fit their image (naming the image).
    """
    from augment.errors import UsageError
    from augment.labels.formats import open_annotations

    index = open_annotations(annotations, format=format, input_dir=input_dir) \
        if isinstance(annotations, str | os.PathLike) else annotations
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"root={root}: not empty; give a new folder for the YOLO tree")
    root.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    try:
        _fill(building, index, input_dir, split)
        if root.exists():
            root.rmdir()
        building.rename(root)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return root


def _fill(tree: Path, index: Any, input_dir: str | os.PathLike[str], split: str) -> None:
    """Write the tree into the folder ``tree``: the images first, keeping each one's boxes,
    then the label files, once every class present is known and numbered from 0 in the
    order of its id."""
    from augment.images import open_image
    from augment.inputs import list_images

    found: list[tuple[PurePosixPath, Labels]] = []
    for rel in list_images(input_dir):
        if index.owns(Path(input_dir, rel)):
            continue  # the annotations' own file (a COCO file inside the input folder)
        image = PurePosixPath("images", split, rel)
        data = Path(input_dir, rel).read_bytes()
        entry = index.image(rel)
        size = open_image(data).size
        try:
            labels = entry.labels(size) if entry is not None else Labels.empty(size)
        except LabelError as e:
            raise LabelError(f"{rel}: {e}", e.reason) from None
        _write(tree / image, data)
        found.append((image, Labels(labels.size, labels.boxes, labels.categories, labels.ids)))
    present = {int(c) for _, labels in found for c in labels.categories}
    classes = {cid: n for n, cid in enumerate(sorted(set(index.categories) | present))}
    for image, labels in found:
        boxes = Labels(labels.size, labels.boxes, [classes[int(c)] for c in labels.categories], labels.ids)
        _write(tree / str(label_path(str(image))), write_yolo(boxes))
    names = {n: str(index.categories.get(cid, {}).get("name", cid)) for cid, n in classes.items()}
    _write(tree / "data.yaml", yaml.safe_dump({split: f"images/{split}", "names": names}, sort_keys=False,
                                              allow_unicode=True).encode("utf-8"))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
