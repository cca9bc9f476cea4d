"""Boxes moved by the commonest geometric ops in numpy, with torchvision's own arithmetic.

A labelled job moves about twenty boxes per output through ``RandomResizedCrop``, a flip
and perhaps a ``Resize``, a ``RandomCrop``, a rotation or an affine. torchvision's box kernels do it right, but
each call dispatches through tv_tensor wrappers and a dozen tiny tensor ops (35-40 µs for
a resized crop and about 150 µs for a rotation, against 5-20 µs here), which is most of what labels cost a job. The
functions here compute what those kernels compute, step for step in float64: the crops,
resizes and flips give the same bits (torchvision's resize multiplies by float32 ratios,
as its default dtype makes them: so do they); rotation and affine map each corner as
``x * a + y * b + c``, the sum torch's matmul makes, which agrees with torch's to a few
units in the last place (torch's own result moves by as much with the memory alignment of
its operands; numpy's elementwise operations do not, so these boxes are the same bits on
every host). Every other op, and every op given masks or keypoints, keeps torchvision's
kernels (:meth:`Boxes.tv`). ``tests/test_labels_moves.py`` holds the two to each other on
random boxes and draws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from augment._torchvision import affine_matrix, compute_resized_output_size
from augment.labels.model import Boxes

try:
    from augment._native import affine_boxes as _affine_boxes
except ImportError:  # built without a C compiler: numpy's calls, the same boxes
    _affine_boxes = None


def _flip_horizontal(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes:
    out = boxes.array.copy()
    out[:, [2, 0]] = -(boxes.array[:, [0, 2]] - boxes.canvas[1])
    return Boxes(out, boxes.canvas)


def _flip_vertical(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes:
    out = boxes.array.copy()
    out[:, [3, 1]] = -(boxes.array[:, [1, 3]] - boxes.canvas[0])
    return Boxes(out, boxes.canvas)


def _crop(boxes: Boxes, top: int, left: int, height: int, width: int) -> Boxes:
    return Boxes(boxes.array - np.array([left, top, left, top], np.float64), (height, width))


def _resize(boxes: Boxes, size: Any, max_size: int | None = None) -> Boxes:
    height, width = boxes.canvas
    new_height, new_width = compute_resized_output_size(boxes.canvas, size=size, max_size=max_size)
    if (new_height, new_width) == (height, width):
        return boxes
    w, h = new_width / width, new_height / height
    # torch.tensor([w, h, w, h]) takes torch's default dtype (float32): the ratios are rounded to it
    ratios = np.array([w, h, w, h], np.float32 if torch.get_default_dtype() == torch.float32 else np.float64)
    return Boxes(boxes.array * ratios, (new_height, new_width))


def _resized_crop(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes:
    cropped = _crop(boxes, params["top"], params["left"], params["height"], params["width"])
    return _resize(cropped, transform.size)


def _resize_op(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes:
    return _resize(boxes, transform.size, transform.max_size)


def _random_crop(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes | None:
    if params["needs_pad"]:
        return None  # padding: torchvision's kernels
    if not params["needs_crop"]:
        return boxes
    return _crop(boxes, params["top"], params["left"], params["height"], params["width"])


def _affine(boxes: Boxes, angle: float, translate: list[float], scale: float, shear: list[float]) -> Boxes:
    """torchvision's affine of boxes about the image's centre, without expanding the canvas:
    each box's four corners mapped (``x * a + y * b + c``, as torch's matmul sums the
    corner and the matrix), and the box of the four."""
    height, width = boxes.canvas
    m = affine_matrix([width * 0.5, height * 0.5], float(angle), list(translate), scale, list(shear), inverted=False)
    a = boxes.array
    if _affine_boxes is not None:  # the same arithmetic, box by box, without numpy's dozen calls
        out = np.empty((len(a), 4), np.float64)
        _affine_boxes(np.ascontiguousarray(a, np.float64), out, *m[:6])
        return Boxes(out, boxes.canvas)
    xs = a[:, [0, 2, 2, 0]]
    ys = a[:, [1, 1, 3, 3]]
    x = xs * m[0] + ys * m[1] + m[2]
    y = xs * m[3] + ys * m[4] + m[5]
    return Boxes(np.stack([x.min(axis=1), y.min(axis=1), x.max(axis=1), y.max(axis=1)], axis=1), boxes.canvas)


def _rotation(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes | None:
    if transform.expand or transform.center is not None or not len(boxes.array):
        return None  # a new canvas, or another centre: torchvision's kernel
    return _affine(boxes, -params["angle"], [0.0, 0.0], 1.0, [0.0, 0.0])


def _affine_op(transform: Any, boxes: Boxes, params: dict[str, Any]) -> Boxes | None:
    if transform.center is not None or not len(boxes.array):
        return None
    return _affine(boxes, params["angle"], params["translate"], params["scale"], params["shear"])


MOVES: dict[str, Callable[[Any, Boxes, dict[str, Any]], Boxes | None]] = {
    "RandomHorizontalFlip": _flip_horizontal,
    "RandomVerticalFlip": _flip_vertical,
    "RandomResizedCrop": _resized_crop,
    "Resize": _resize_op,
    "RandomCrop": _random_crop,
    "RandomRotation": _rotation,
    "RandomAffine": _affine_op,
}
"""Op name -> ``move(transform, boxes, params)``: the boxes as the op's ``transform`` would
move them with ``params``, or ``None`` where these params need torchvision's kernel."""
