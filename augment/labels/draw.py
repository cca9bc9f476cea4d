"""One image's labels drawn on it: what the preview shows on a tile.

:func:`draw_labels` returns a new picture (the input is never changed): masks as
translucent fills, boxes as outlines with their class name on a small filled tab,
keypoints as dots joined by their category's skeleton (COCO's, 1-based). An object kept
although the rules would drop it (``mode: clamp``, :attr:`Labels.marks`) has a dashed
outline and its mark in its tab, so it cannot be taken for one that is fully there.

A category's colour comes from its id alone (:func:`category_colour`), so an object
keeps its colour from tile to tile, op to op and run to run; line width, dot size and
font scale with the image (:func:`scale_of`), so a thumbnail and a 4000-pixel photo read
alike. Only integer arithmetic and Pillow's bundled font touch the pixels: the same
labels on the same image give the same bytes.
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from augment.labels.model import LabelError, Labels

FILL_ALPHA = 102
"""Opacity of a mask's fill, out of 256 (about 40%: the pixels under it stay readable)."""

_GOLDEN = 0.618033988749895
"""Hue step between consecutive category ids: neighbours get far-apart hues."""


def category_colour(category_id: int) -> tuple[int, int, int]:
    """The RGB colour of a category, from its id alone (the same everywhere, every time)."""
    hue = (int(category_id) * _GOLDEN + 0.1) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def scale_of(size: tuple[int, int]) -> tuple[int, int]:
    """``(line width, font size)`` in pixels for an image of ``size``: about 1/300 and
    1/40 of its longer side, at least 1 and 8."""
    side = max(size)
    return max(1, round(side / 300)), max(8, round(side / 40))


@functools.lru_cache(maxsize=16)
def _font(size: int) -> PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont:
    """Pillow's bundled font (the same on every host with the same Pillow), at ``size``."""
    return PIL.ImageFont.load_default(size=size)


def draw_labels(image: PIL.Image.Image, labels: Labels,
                categories: Mapping[int, Mapping[str, Any]] | None = None) -> PIL.Image.Image:
    """The image with its labels drawn on a copy.

    Args:
        image: the picture the labels belong to, in any mode (an ``L`` image comes back
            in colour, so that its labels do too).
        labels: its labels (their ``size`` must be the image's).
        categories: category id -> its COCO entry (:attr:`CocoIndex.categories`): its
            ``name`` captions a box (the id where it has none) and its ``skeleton``
            joins keypoints.

    Returns:
        A new ``RGB`` image (``RGBA`` where the input has transparency).

    Raises:
        augment.labels.LabelError: the labels are another image's size.
    """
    if tuple(labels.size) != image.size:
        raise LabelError(f"labels of a {labels.size[0]}x{labels.size[1]} image on a "
                         f"{image.size[0]}x{image.size[1]} image")
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    out = image.convert(mode)  # a new image, also in the same mode: the caller's is never drawn on
    if not len(labels):
        return out
    categories = categories or {}
    _fill_masks(out, labels)
    draw = PIL.ImageDraw.Draw(out)
    width, font_size = scale_of(image.size)
    for i in range(len(labels)):
        _outline(draw, labels, i, width)
    for i in range(len(labels)):
        _keypoints(draw, labels, i, categories.get(int(labels.categories[i]), {}), width)
    font = _font(font_size)
    if font_size * 3 <= image.size[1]:  # no captions where one would cover a third of the image
        for i in range(len(labels)):
            _caption(draw, labels, i, categories.get(int(labels.categories[i]), {}), font, width)
    return out


def _fill_masks(out: PIL.Image.Image, labels: Labels) -> None:
    """Blend each object's colour into its mask's pixels (integer arithmetic: exact bytes)."""
    masks = labels.masks or ()
    if not any(m is not None for m in masks):
        return
    pixels = np.array(out, dtype=np.uint16)
    for mask, category in zip(masks, labels.categories, strict=True):
        if mask is None or not mask.any():
            continue
        colour = np.array(category_colour(int(category)), np.uint16)
        rgb = pixels[mask, :3]
        pixels[mask, :3] = (rgb * (256 - FILL_ALPHA) + colour * FILL_ALPHA + 128) >> 8
    out.paste(PIL.Image.fromarray(pixels.astype(np.uint8)))


def _pixel_box(box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The first and last pixel columns and rows a continuous XYXY box covers, within
    the image (``None``: it lies outside it). A box thinner than a pixel (what a crop
    leaves of an object at its edge, still kept) covers the pixel it lies in: a kept
    object is always seen."""
    x = _pixel_span(float(box[0]), float(box[2]), size[0])
    y = _pixel_span(float(box[1]), float(box[3]), size[1])
    if x is None or y is None:
        return None
    return x[0], y[0], x[1], y[1]


def _pixel_span(lo: float, hi: float, n: int) -> tuple[int, int] | None:
    """The first and last of ``n`` pixels that ``[lo, hi]`` covers, by rounding its ends;
    the pixel holding its middle where rounding leaves none."""
    if not (hi > lo and hi > 0 and lo < n):
        return None
    first, last = max(0, round(lo)), min(n, round(hi)) - 1
    if last < first:
        first = last = min(max(int((lo + hi) // 2), 0), n - 1)
    return first, last


def _outline(draw: PIL.ImageDraw.ImageDraw, labels: Labels, i: int, width: int) -> None:
    """Object ``i``'s box, drawn inside it: solid, or dashed when the object is marked."""
    box = _pixel_box(labels.boxes[i], labels.size)
    if box is None:
        return
    colour = category_colour(int(labels.categories[i]))
    if labels.marks is None or labels.marks[i] is None:
        draw.rectangle(box, outline=colour, width=width)
        return
    x0, y0, x1, y1 = box
    w = min(width, x1 - x0 + 1, y1 - y0 + 1)
    dash, gap = 3 * w + 2, 2 * w + 2
    for start in range(x0, x1 + 1, dash + gap):
        end = min(start + dash - 1, x1)
        draw.rectangle((start, y0, end, y0 + w - 1), fill=colour)
        draw.rectangle((start, y1 - w + 1, end, y1), fill=colour)
    for start in range(y0, y1 + 1, dash + gap):
        end = min(start + dash - 1, y1)
        draw.rectangle((x0, start, x0 + w - 1, end), fill=colour)
        draw.rectangle((x1 - w + 1, start, x1, end), fill=colour)


def _side_shade(colour: tuple[int, int, int], name: str) -> tuple[int, int, int]:
    """A keypoint's fill: lighter on the left, darker on the right (by its name), so a
    flip that swapped them shows."""
    lowered = name.lower()
    if "left" in lowered:
        return tuple((c + 255 + 1) // 2 for c in colour)  # type: ignore[return-value]
    if "right" in lowered:
        return tuple(c * 3 // 5 for c in colour)  # type: ignore[return-value]
    return colour


def _keypoints(draw: PIL.ImageDraw.ImageDraw, labels: Labels, i: int, category: Mapping[str, Any],
               width: int) -> None:
    """Object ``i``'s skeleton (between labelled points) and its points: a filled dot
    when visible, a ring when labelled but hidden, nothing when not labelled."""
    points = labels.keypoints[i] if labels.keypoints is not None else None
    if points is None or not len(points):
        return
    cid = int(labels.categories[i])
    colour = category_colour(cid)
    names = labels.keypoint_names.get(cid) or tuple(category.get("keypoints") or ())
    labelled = points[:, 2] > 0
    for pair in category.get("skeleton") or ():
        a, b = int(pair[0]) - 1, int(pair[1]) - 1
        if 0 <= a < len(points) and 0 <= b < len(points) and labelled[a] and labelled[b]:
            draw.line([(float(points[a, 0]), float(points[a, 1])), (float(points[b, 0]), float(points[b, 1]))],
                      fill=colour, width=width)
    radius = width + 1
    for j, (x, y, v) in enumerate(points.tolist()):
        if v <= 0:
            continue
        shade = _side_shade(colour, names[j] if j < len(names) else "")
        dot = (x - radius, y - radius, x + radius, y + radius)
        if v >= 2:
            draw.ellipse(dot, fill=shade, outline=(0, 0, 0))
        else:
            draw.ellipse(dot, outline=shade, width=max(1, width // 2 + 1))


def _caption(draw: PIL.ImageDraw.ImageDraw, labels: Labels, i: int, category: Mapping[str, Any], font: Any,
             width: int) -> None:
    """Object ``i``'s class name (and mark) on a tab of its colour: above its box where
    there is room, inside it otherwise."""
    box = _pixel_box(labels.boxes[i], labels.size)
    if box is None:
        return
    cid = int(labels.categories[i])
    text = str(category.get("name", cid))
    if labels.marks is not None and labels.marks[i] is not None:
        text += f" ({labels.marks[i]})"
    colour = category_colour(cid)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(1, width)
    tab_w, tab_h = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(box[0], max(0, labels.size[0] - tab_w))
    y = box[1] - tab_h if box[1] >= tab_h else box[1]
    draw.rectangle((x, y, x + tab_w - 1, y + tab_h - 1), fill=colour)
    ink = (0, 0, 0) if sum(c * w for c, w in zip(colour, (299, 587, 114), strict=True)) > 140_000 else (255, 255, 255)
    draw.text((x + pad - left, y + pad - top), text, fill=ink, font=font)
