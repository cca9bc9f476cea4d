"""What happens to labels after the ops moved them: the rules, the counts, the flip.

The ops themselves are torchvision's (:meth:`augment.pipeline.Pipeline.apply_labelled`
passes the labels through them beside the image, with the parameters drawn for its
pixels). What torchvision leaves to its caller is decided here, once for every format:

* boxes are clamped to the output image; an object whose clamped box has (nearly) no
  area left (:data:`MIN_SIDE`), less than ``min_area`` square pixels, or less than
  ``min_visibility`` of the area its box had before clamping, is dropped, or kept and
  marked (:class:`LabelRules`); a semantic mask's class (``attrs`` ``semantic``) is a
  region, not an instance: it is carried whole, and goes only when no pixel of it is left;
* a keypoint outside the output image becomes not labelled (COCO's ``0, 0, 0``), and an
  unlabelled one stays ``0, 0, 0`` wherever the ops took its coordinates;
* a mirrored output (an odd number of applied flips, horizontal or vertical: either
  turns a left hand into a right one) swaps each left/right pair of keypoints, so
  ``left_eye`` is still the object's left eye;

The ops that cannot carry labels at all are named by :mod:`augment.labels.refuse`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from augment.labels.model import Labels
from augment.ops import REGISTRY

try:
    from augment._native import box_rules as _box_rules
except ImportError:  # built without a C compiler: numpy's calls, the same answers
    _box_rules = None

MIN_SIDE = 1e-3
"""A clamped box narrower or lower than this (pixels) has no area left: the object left the image."""

CUT = 1e-3
"""A clamp that moves a box's edge by no more than this (pixels) cut nothing off the object:
float32 scale factors (``Resize``'s, ``RandomResizedCrop``'s) leave a box on the image's edge a
few 1e-5 px past it, which is not the output's edge cutting it (VOC's ``truncated``)."""

MODES = ("drop", "clamp")

FLIPS = ("RandomHorizontalFlip", "RandomVerticalFlip")


@dataclass(frozen=True)
class LabelRules:
    """What to do with objects the ops moved partly or wholly out of the image.

    Attributes:
        mode: ``drop`` removes such an object; ``clamp`` keeps it (its box clamped, its
            keypoints hidden) and marks it with the reason.
        min_area: objects whose clamped box covers less than this many square pixels go.
        min_visibility: objects whose clamped box keeps less than this fraction of its
            area before clamping go (0 to 1).
        flip_pairs: keypoint names swapped by a mirroring flip, beside those found by
            name (names that differ only by ``left``/``right``).
    """

    mode: str = "drop"
    min_area: float = 0.0
    min_visibility: float = 0.0
    flip_pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
        if not (self.min_area >= 0):
            raise ValueError(f"min_area: must be a number >= 0, got {self.min_area!r}")
        if not (0 <= self.min_visibility <= 1):
            raise ValueError(f"min_visibility: must be between 0 and 1, got {self.min_visibility!r}")
        for pair in self.flip_pairs:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"flip_pairs: each pair names two different keypoints, got {pair!r}")


@dataclass
class Counts:
    """What became of one output's objects.

    Attributes:
        kept: objects written (marked ones included).
        clipped: kept objects whose box the clamp changed.
        dropped: reason -> objects dropped for it (``outside``, ``min_area``, ``min_visibility``).
        marked: reason -> objects kept although a rule would drop them (mode ``clamp``).
        hidden_keypoints: labelled keypoints that left the image and are no longer labelled.
    """

    kept: int = 0
    clipped: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    marked: dict[str, int] = field(default_factory=dict)
    hidden_keypoints: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"kept": self.kept, "clipped": self.clipped, "dropped": dict(sorted(self.dropped.items())),
                "marked": dict(sorted(self.marked.items())), "hidden_keypoints": self.hidden_keypoints}


def applied_ops(records: list[dict[str, Any]]) -> Iterator[str]:
    """The names of the leaf ops that ran on an output, from the pipeline's records
    (inside ``RandomApply``, ``RandomChoice`` and ``RandomOrder`` too)."""
    for rec in records:
        if not rec.get("applied"):
            continue
        if "ops" in rec and REGISTRY[rec["op"]].is_container:
            yield from applied_ops(rec["ops"])
        else:
            yield rec["op"]


def follow(labels: Labels, records: list[dict[str, Any]], rules: LabelRules) -> tuple[Labels, Counts]:
    """The labels as the output has them, after the ops moved them.

    Args:
        labels: what :func:`~augment.labels.model.from_tv` read back (boxes unclamped).
        records: the pipeline's records for this output (which ops were applied).
        rules: what to do with objects that left the image.

    Returns:
        The labels to write (clamped, filtered or marked, keypoints hidden and swapped)
        and what became of them.
    """
    ran = list(applied_ops(records))
    moved = labels.moved or any(REGISTRY[name].category == "geometric" for name in ran)
    if not moved:
        return labels, Counts(kept=len(labels))
    if not len(labels):  # nothing to clamp, drop or hide (most images of a sparse set)
        return labels.evolve(moved=True), Counts()
    width, height = labels.size
    raw = labels.boxes
    boxes = np.maximum(raw, 0.0)
    np.minimum(boxes, (width, height, width, height), out=boxes)
    reasons, cut = _rules(raw, boxes, rules)
    reasons = _whole_classes(labels, reasons)
    keypoints, hidden = _hide_outside(labels.keypoints, width, height)
    if keypoints is not None and sum(name in FLIPS for name in ran) % 2:
        keypoints = _swap(keypoints, labels.categories, labels.keypoint_names, rules.flip_pairs)
    if reasons is None:  # every object stays as it is (the commonest case, said at once)
        clipped = cut.tolist()
        labels = labels.evolve(moved=True, boxes=boxes, keypoints=keypoints, clipped=clipped)
        return labels, Counts(kept=len(labels), clipped=sum(clipped), hidden_keypoints=sum(hidden))
    counts = Counts()
    marking = rules.mode != "drop"  # marks change only where objects are kept and marked
    marks = (list(labels.marks) if labels.marks is not None else [None] * len(labels)) if marking else None
    keep: list[int] = []
    for i, reason in enumerate(reasons):
        if reason is None:
            keep.append(i)
        elif marks is None:
            counts.dropped[reason] = counts.dropped.get(reason, 0) + 1
        else:
            counts.marked[reason] = counts.marked.get(reason, 0) + 1
            marks[i] = reason
            keep.append(i)
    every = len(keep) == len(labels)

    def pick(values: list[Any] | None) -> list[Any] | None:
        return values if values is None or every else [values[i] for i in keep]

    clipped = pick(cut.tolist())
    counts.clipped = sum(clipped)
    marked = marks is not None and any(m is not None for m in marks)
    labels = labels.evolve(moved=True, boxes=boxes if every else boxes[keep],
                           categories=labels.categories if every else labels.categories[keep],
                           ids=labels.ids if every else labels.ids[keep], masks=pick(labels.masks),
                           keypoints=pick(keypoints), attrs=pick(labels.attrs),
                           marks=pick(marks if marked else labels.marks), clipped=clipped)
    counts.kept = len(labels)
    counts.hidden_keypoints = sum(hidden[i] for i in keep) if hidden else 0
    return labels, counts


def within_image(labels: Labels) -> Labels:
    """``labels`` with every box clamped to its own image, before the ops move it: a reader lets
    a labeller's box lie up to ``BOX_TOLERANCE`` (a pixel) past the edge, and without this a
    plain flip would carry that sliver to the other edge, where the clamp would call the object
    cut (VOC ``truncated`` 1) though no edge of the output cut it. ``labels`` itself when every
    box is inside (no copy)."""
    width, height = labels.size
    boxes = labels.boxes
    if not len(boxes) or (boxes.min() >= 0 and boxes[:, 0::2].max() <= width and boxes[:, 1::2].max() <= height):
        return labels
    inside = boxes.copy()
    inside[:, 0::2] = boxes[:, 0::2].clip(0, width)
    inside[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return labels.evolve(boxes=inside)


def _rules(raw: np.ndarray, boxes: np.ndarray, rules: LabelRules) -> tuple[list[str | None] | None, np.ndarray]:
    """:func:`_reasons`, and per object whether the clamp cut its box (moved an edge by
    more than :data:`CUT`), by the compiled ``box_rules`` where the package has it: the
    same arithmetic, box by box, without a dozen numpy calls on twenty numbers."""
    if _box_rules is None:
        return _reasons(raw, boxes, rules), np.any(np.abs(boxes - raw) > CUT, axis=1)
    flags = np.empty(len(raw), np.uint8)
    found = _box_rules(np.ascontiguousarray(raw), np.ascontiguousarray(boxes), flags, MIN_SIDE, CUT,
                       float(rules.min_area), float(rules.min_visibility))
    reasons = [_REASON[f & 7] for f in flags.tolist()] if found & 7 else None
    return reasons, flags >= 8


_REASON = (None, "outside", "min_area", "outside", "min_visibility", "outside", "min_area", "outside")
"""The rule a box fails, from ``box_rules``' flags (outside 1, min_area 2, min_visibility 4):
the first that applies, as :func:`_reasons` says it."""


def _reasons(raw: np.ndarray, boxes: np.ndarray, rules: LabelRules) -> list[str | None] | None:
    """Per object, the rule its clamped box fails (``outside``, ``min_area``,
    ``min_visibility``, the first that applies) or ``None``; ``None`` for all: every
    object passes. ``raw``: the boxes before clamping."""
    sides = boxes[:, 2:] - boxes[:, :2]
    outside = (sides < MIN_SIDE).any(axis=1)
    area = sides[:, 0] * sides[:, 1]
    small = area < rules.min_area
    if rules.min_visibility > 0:
        before = (raw[:, 2] - raw[:, 0]) * (raw[:, 3] - raw[:, 1])
        hidden = (before > 0) & (area / np.where(before > 0, before, 1.0) < rules.min_visibility)
    else:  # a share of the box is never below 0
        hidden = small
    if not (outside | small | hidden).any():
        return None
    return ["outside" if o else "min_area" if s else "min_visibility" if h else None
            for o, s, h in zip(outside.tolist(), small.tolist(), hidden.tolist(), strict=True)]


def _whole_classes(labels: Labels, reasons: list[str | None] | None) -> list[str | None] | None:
    """``reasons`` with a semantic mask's classes (``attrs`` ``semantic``) let be: a class is a
    region, not an instance, carried whole; it goes only when no pixel of it is left (``outside``)."""
    if labels.attrs is None or labels.masks is None or not any(a.get("semantic") for a in labels.attrs):
        return reasons
    reasons = reasons if reasons is not None else [None] * len(labels)
    for i, attrs in enumerate(labels.attrs):
        if attrs.get("semantic"):
            mask = labels.masks[i]
            reasons[i] = None if mask is not None and mask.any() else "outside"
    return reasons


def _hide_outside(keypoints: list[np.ndarray | None] | None, width: int,
                  height: int) -> tuple[list[np.ndarray | None] | None, list[int]]:
    """Keypoints outside ``[0, width) x [0, height)`` become ``0, 0, 0``; so do unlabelled ones."""
    if keypoints is None:
        return None, []
    out: list[np.ndarray | None] = []
    hidden = []
    for k in keypoints:
        if k is None:
            out.append(None)
            hidden.append(0)
            continue
        k = k.copy()
        labelled = k[:, 2] > 0
        inside = (k[:, 0] >= 0) & (k[:, 0] < width) & (k[:, 1] >= 0) & (k[:, 1] < height)
        hidden.append(int(np.sum(labelled & ~inside)))
        k[~(labelled & inside)] = 0.0
        out.append(k)
    return out, hidden


_SIDES = re.compile(r"left|right|Left|Right|LEFT|RIGHT")
_OTHER = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def flip_permutation(names: tuple[str, ...], pairs: tuple[tuple[str, str], ...] = ()) -> list[int]:
    """For keypoints ``names``, the index each one takes its value from after a mirroring
    flip: a name's partner is the name with every ``left`` and ``right`` exchanged (COCO's
    ``left_eye``/``right_eye``), or its partner in ``pairs``; names without one keep theirs."""
    index = {name: i for i, name in enumerate(names)}
    partner = {}
    for name in names:
        other = _SIDES.sub(lambda m: _OTHER[m.group()], name)
        if other != name and other in index:
            partner[name] = other
    for a, b in pairs:
        if a in index and b in index:
            partner[a], partner[b] = b, a
    return [index[partner.get(name, name)] for name in names]


def _swap(keypoints: list[np.ndarray | None], categories: np.ndarray, names_of: dict[int, tuple[str, ...]],
          pairs: tuple[tuple[str, str], ...]) -> list[np.ndarray | None]:
    out = []
    for k, category in zip(keypoints, categories.tolist(), strict=True):
        names = names_of.get(category)
        if k is None or not names or len(names) != len(k):
            out.append(k)
            continue
        out.append(k[flip_permutation(names, pairs)])
    return out


def tally(counts: list[Counts]) -> dict[str, Any]:
    """Several outputs' counts summed (a job's, a batch's)."""
    total = Counts()
    dropped: Counter[str] = Counter()
    marked: Counter[str] = Counter()
    for c in counts:
        total.kept += c.kept
        total.clipped += c.clipped
        total.hidden_keypoints += c.hidden_keypoints
        dropped.update(c.dropped)
        marked.update(c.marked)
    total.dropped, total.marked = dict(dropped), dict(marked)
    return total.to_json()
