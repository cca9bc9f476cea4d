"""One image's labels, and their form as torchvision ``tv_tensors``.

:class:`Labels` is format-neutral: COCO, YOLO, VOC and Ground Truth readers make one per
image and their writers read one back. Coordinates are float pixels as torchvision takes
them: boxes are XYXY in the continuous frame (the image spans ``[0, width] x [0,
height]``), keypoints ``(x, y, v)`` with COCO's visibility (0: not labelled, 1: labelled
but hidden, 2: visible). torchvision moves keypoints by its own rules, which we keep: a
flip maps ``x`` to ``width - 1 - x`` (a pixel index, as COCO's keypoints are), a resize
or rotation treats them as continuous coordinates; the two differ by at most half an
output pixel.

:func:`to_tv` gives the ``tv_tensors`` that travel through the pipeline beside the
image, so that every op applies to them the parameters it drew for the pixels, and
:func:`from_tv` reads them back. Instance masks travel packed, eight objects to a uint8
plane (object ``j`` is bit ``j % 8`` of plane ``j // 8``): torchvision resamples a
``Mask`` with nearest neighbours only, which moves values without combining them, so
the bits come out exact at an eighth of the memory of one plane per object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors


class LabelError(ValueError):
    """Labels that cannot go with their image (another size), or a spec that cannot carry them.

    Attributes:
        reason: a short word for counting (``size_mismatch``, ``bad_mask``...), as a
            :class:`~augment.labels.coco.Problem` has; ``bad_labels`` where none is given.
    """

    def __init__(self, message: str, reason: str = "bad_labels") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # a worker's error crosses to the parent with its reason
        return type(self), (str(self), self.reason)


@dataclass
class Labels:
    """The labelled objects of one image.

    Attributes:
        size: ``(width, height)`` of the image these labels belong to.
        boxes: ``(N, 4)`` float64, XYXY pixels.
        categories: ``(N,)`` int64 category ids.
        ids: ``(N,)`` int64, each object's identity in its source (COCO's annotation id).
        masks: per object, an ``(height, width)`` bool mask, or ``None`` for an object
            without one (or ``None`` altogether: no object has one).
        keypoints: per object, a ``(K, 3)`` float64 array of ``(x, y, v)``, or ``None``.
        keypoint_names: category id -> the names of its K keypoints, in order (what
            left/right flip pairs are found from).
        attrs: per object, the source format's other fields, carried to the writer.
        marks: per object, why it is kept although the rules would drop it (``None``: not
            marked); only under :attr:`~augment.labels.follow.LabelRules.mode` ``clamp``.
        clipped: per object, the clamp to the output image cut its box: the object passes
            the image's edge (VOC's ``truncated``); ``None``: nothing was clamped yet.
        moved: a geometric op moved the pixels these labels describe (``False``: the
            writer may copy the source's annotations verbatim).
    """

    size: tuple[int, int]
    boxes: np.ndarray
    categories: np.ndarray
    ids: np.ndarray
    masks: list[np.ndarray | None] | None = None
    keypoints: list[np.ndarray | None] | None = None
    keypoint_names: dict[int, tuple[str, ...]] = field(default_factory=dict)
    attrs: list[dict[str, Any]] | None = None
    marks: list[str | None] | None = None
    clipped: list[bool] | None = None
    moved: bool = False

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.categories = np.asarray(self.categories, dtype=np.int64).reshape(-1)
        self.ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        n = len(self.boxes)
        if len(self.categories) != n or len(self.ids) != n:
            raise LabelError(f"{n} boxes, {len(self.categories)} categories and {len(self.ids)} ids: one each per "
                             "object")
        width, height = self.size
        for name in ("masks", "keypoints", "attrs", "marks", "clipped"):
            per_object = getattr(self, name)
            if per_object is not None and len(per_object) != n:
                raise LabelError(f"{name}: {len(per_object)} entries for {n} objects")
        for i, mask in enumerate(self.masks or ()):
            if mask is not None and mask.shape != (height, width):
                raise LabelError(f"object {int(self.ids[i])}: a {mask.shape[1]}x{mask.shape[0]} mask on a "
                                 f"{width}x{height} image")

    def __len__(self) -> int:
        return len(self.boxes)

    def evolve(self, **changes: Any) -> Labels:
        """``dataclasses.replace`` without the checks of :meth:`__post_init__`, for the
        label path's own changes, whose arrays already have their dtypes and one entry per
        object (a job makes a few per output: the checks cost more than the change)."""
        new = object.__new__(Labels)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def select(self, keep: np.ndarray | list[int]) -> Labels:
        """The objects at the indices ``keep`` (in that order)."""
        index = [int(i) for i in keep]

        def pick(values: list[Any] | None) -> list[Any] | None:
            return None if values is None else [values[i] for i in index]

        return replace(self, boxes=self.boxes[index], categories=self.categories[index], ids=self.ids[index],
                       masks=pick(self.masks), keypoints=pick(self.keypoints), attrs=pick(self.attrs),
                       marks=pick(self.marks), clipped=pick(self.clipped))

    @classmethod
    def empty(cls, size: tuple[int, int]) -> Labels:
        """An image without objects (valid: its outputs have no labels either)."""
        return cls(size, np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, np.int64))


def pack_masks(masks: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """``M`` bool ``(H, W)`` masks as ``ceil(M / 8)`` uint8 planes, object ``j`` in bit ``j % 8``
    of plane ``j // 8``."""
    width, height = size
    planes = np.zeros(((len(masks) + 7) // 8, height, width), np.uint8)
    for j, mask in enumerate(masks):
        planes[j // 8] |= mask.astype(np.uint8) << (j % 8)
    return planes


def unpack_masks(planes: np.ndarray, count: int) -> list[np.ndarray]:
    """The ``count`` bool masks :func:`pack_masks` packed."""
    return [(planes[j // 8] >> (j % 8)) & 1 == 1 for j in range(count)]


@dataclass(frozen=True, eq=False)
class Boxes:
    """Boxes on their way through the ops: XYXY float64 pixels and the image they are on.

    The commonest ops move them in numpy (:data:`augment.labels.moves.MOVES`, torchvision's
    arithmetic without its per-call dispatch); :meth:`tv` gives the
    :class:`~torchvision.tv_tensors.BoundingBoxes` the others' kernels take.

    Attributes:
        array: ``(N, 4)`` float64.
        canvas: ``(height, width)``, as torchvision's ``canvas_size``.
    """

    array: np.ndarray
    canvas: tuple[int, int]

    def tv(self) -> tv_tensors.BoundingBoxes:
        """As torchvision's tv_tensor: never clamped by the ops, so what left the image can be measured."""
        return tv_tensors.BoundingBoxes(torch.from_numpy(self.array), format="XYXY", canvas_size=self.canvas,
                                        clamping_mode=None)


def to_tv(labels: Labels) -> dict[str, Any]:
    """The labels as they travel through the ops: ``boxes`` (:class:`Boxes`, which an op
    without a numpy move turns into :class:`~torchvision.tv_tensors.BoundingBoxes`),
    ``masks`` (a packed :class:`~torchvision.tv_tensors.Mask`, see :func:`pack_masks`) and
    ``keypoints`` (every object's points in one ``(P, 2)``
    :class:`~torchvision.tv_tensors.KeyPoints`). Empty ones are left out: torchvision's
    kernels are not all fond of zero-sized inputs."""
    width, height = labels.size
    canvas = (height, width)
    out: dict[str, Any] = {}
    if len(labels):
        out["boxes"] = Boxes(labels.boxes.copy(), canvas)
    masks = [m for m in labels.masks or () if m is not None]
    if masks:
        out["masks"] = tv_tensors.Mask(torch.from_numpy(pack_masks(masks, labels.size)))
    points = [k[:, :2] for k in labels.keypoints or () if k is not None]
    if points and sum(len(p) for p in points):
        out["keypoints"] = tv_tensors.KeyPoints(torch.from_numpy(np.concatenate(points)), canvas_size=canvas)
    return out


def from_tv(labels: Labels, moved: dict[str, Any], size: tuple[int, int]) -> Labels:
    """``labels`` with what :func:`to_tv` gave them after the ops: boxes as the ops left
    them (unclamped), masks unpacked, keypoints moved (their visibility as it was: the
    rules that follow decide what left the image). ``size``: the output's ``(width, height)``."""
    boxes = labels.boxes
    if "boxes" in moved:
        value = moved["boxes"]
        boxes = value.array if isinstance(value, Boxes) else value.as_subclass(torch.Tensor).numpy().astype(np.float64)
    masks = labels.masks
    if "masks" in moved:
        count = sum(m is not None for m in labels.masks or ())
        unpacked = iter(unpack_masks(moved["masks"].numpy(), count))
        masks = [None if m is None else next(unpacked) for m in labels.masks or ()]
    keypoints = labels.keypoints
    if "keypoints" in moved:
        flat = moved["keypoints"].numpy().astype(np.float64)
        start, keypoints = 0, []
        for k in labels.keypoints or ():
            if k is None:
                keypoints.append(None)
                continue
            keypoints.append(np.concatenate([flat[start:start + len(k)], k[:, 2:3]], axis=1))
            start += len(k)
    return labels.evolve(size=size, boxes=boxes, masks=masks, keypoints=keypoints)
