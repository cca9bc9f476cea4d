"""Labels that follow the pixels: boxes, masks and keypoints through every op.

:mod:`~augment.labels.model` holds one image's labels and their torchvision form,
:mod:`~augment.labels.follow` what happens to them after the ops (clamp, drop, hide,
swap), :mod:`~augment.labels.refuse` the ops that cannot carry them, and
:mod:`~augment.labels.coco` COCO's instances JSON in and out (and ``yolo``, ``voc``,
``groundtruth``, ``masks`` the other formats; :func:`open_annotations` in
:mod:`~augment.labels.formats` detects and opens any of them behind one protocol),
:mod:`~augment.labels.draw` labels drawn on an image (the preview's), and
:func:`~augment.labels.convert.to_yolo` any of them laid out as an Ultralytics tree. See
README.md here for the semantics chosen. Names are imported on first use: :func:`refusals` (what ``augment
validate`` asks) imports neither torch nor torchvision.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Labels": "augment.labels.model",
    "LabelError": "augment.labels.model",
    "LabelRules": "augment.labels.follow",
    "Counts": "augment.labels.follow",
    "follow": "augment.labels.follow",
    "flip_permutation": "augment.labels.follow",
    "refusals": "augment.labels.refuse",
    "refusal_message": "augment.labels.refuse",
    "CocoIndex": "augment.labels.coco",
    "CocoImage": "augment.labels.coco",
    "Problem": "augment.labels.coco",
    "read_coco": "augment.labels.coco",
    "write_coco": "augment.labels.coco",
    "merge_coco": "augment.labels.coco",
    "dump_coco": "augment.labels.coco",
    "read_yolo": "augment.labels.yolo",
    "write_yolo": "augment.labels.yolo",
    "YoloIndex": "augment.labels.yolo",
    "read_voc": "augment.labels.voc",
    "write_voc": "augment.labels.voc",
    "VocIndex": "augment.labels.voc",
    "read_ground_truth": "augment.labels.groundtruth",
    "write_ground_truth": "augment.labels.groundtruth",
    "GroundTruthIndex": "augment.labels.groundtruth",
    "GroundTruthOutput": "augment.labels.groundtruth",
    "read_masks": "augment.labels.masks",
    "MaskIndex": "augment.labels.masks",
    "open_annotations": "augment.labels.formats",
    "AnnotationIndex": "augment.labels.formats",
    "LabelWriter": "augment.labels.formats",
    "NoLabels": "augment.labels.formats",
    "FORMATS": "augment.labels.formats",
    "draw_labels": "augment.labels.draw",
    "category_colour": "augment.labels.draw",
    "to_yolo": "augment.labels.convert",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'augment.labels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
