"""Semantic masks: PNG files of class ids that mirror the images' paths (``--masks DIR``).

The mask of image ``a/b.jpg`` is ``a/b.png`` under the masks folder; each pixel's value is
its class id (a grey ``L`` or ``I;16`` PNG, or a palette PNG whose indices are the ids, as
VOC's ``SegmentationClass`` files are).

**In** :class:`~augment.labels.model.Labels`, a semantic mask is one object per class
present (value other than the ``background``): its mask the pixels of that class, its box
their extent, its category and id the class. The objects travel packed, eight to a
uint8 plane, moved by nearest neighbours only, exactly as one ``tv_tensors.Mask`` of ids
would be: no value is ever interpolated. Where a geometric op uncovers the canvas, no
class has the pixel, and the written mask has the ``background`` value there. A class is a
region, not an instance: the spec's ``min_area`` and ``min_visibility`` never drop it
(:func:`~augment.labels.follow.follow` carries it whole), and it goes only when no pixel
of it is left.

Problems (:meth:`MaskImage.problem`, known only once the PNG is decoded beside its
image): not a PNG, not one channel of ids (RGB), another size than its image. A folder
file that no image mirrors is listed by :meth:`MaskIndex.orphans`. An image without a
mask has empty labels (no class but the background).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import PIL.Image

from augment.labels.coco import Problem
from augment.labels.model import LabelError, Labels

MODES = ("1", "L", "P", "I;16", "I")
"""PIL modes read as class ids (palette images: the indices, not the colours)."""


def mask_path(image: str) -> str:
    """The mask of an image path (``a/b.jpg`` -> ``a/b.png``)."""
    return str(PurePosixPath(image).with_suffix(".png"))


def to_labels(classes: np.ndarray, background: int = 0) -> Labels:
    """A ``(height, width)`` array of class ids as labels: one object per class present."""
    classes = np.asarray(classes)
    height, width = classes.shape
    values = [int(v) for v in np.unique(classes) if int(v) != background]
    if not values:
        return Labels.empty((width, height))
    masks, boxes = [], []
    for value in values:
        mask = classes == value
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        masks.append(mask)
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    return Labels((width, height), boxes, values, values, masks=masks, attrs=[{"semantic": True} for _ in values])


def to_classes(labels: Labels, background: int = 0, dtype: type = np.uint8) -> np.ndarray:
    """Labels as a ``(height, width)`` array of class ids: the ``background`` where no
    object's mask is; where masks overlap (instances from another source), the later object's class."""
    width, height = labels.size
    classes = np.full((height, width), background, dtype)
    for i, mask in enumerate(labels.masks or ()):
        if mask is not None:
            classes[mask] = labels.categories[i]
    return classes


def encode_png(classes: np.ndarray) -> bytes:
    """Class ids as a PNG: 8-bit grey up to 255, 16-bit above (PIL's encoder, fixed
    settings: the same ids give the same bytes)."""
    if int(classes.max(initial=0)) > 65535 or int(classes.min(initial=0)) < 0:
        raise ValueError("class ids of a PNG mask are 0 to 65535")
    wide = int(classes.max(initial=0)) > 255
    image = PIL.Image.fromarray(classes.astype(np.uint16 if wide else np.uint8), "I;16" if wide else "L")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def write_mask(labels: Labels, background: int = 0) -> bytes:
    """One output's mask PNG (:func:`to_classes` then :func:`encode_png`)."""
    return encode_png(to_classes(labels, background, np.int64))


def decode_png(data: bytes) -> np.ndarray:
    """A PNG of class ids as an int64 ``(height, width)`` array.

    Raises:
        ValueError: not a PNG, or not one channel of ids.
    """
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise ValueError(f"a {image.format} file, not a PNG")
            if image.mode not in MODES:
                raise ValueError(f"a {image.mode} PNG: a mask is one channel of class ids (grey or palette)")
            return np.asarray(image, dtype=np.int64)
    except PIL.UnidentifiedImageError as e:
        raise ValueError("not an image") from e


@dataclass(frozen=True)
class MaskImage:
    """One image's mask file: its path relative to the masks folder, and where to read it."""

    path: str
    file: str | None = None
    background: int = 0

    def problem(self, size: tuple[int, int], data: bytes | None = None) -> Problem | None:
        """Why the mask cannot go with an image of ``(width, height)``, or ``None``."""
        found = self._read(size, data)
        return found if isinstance(found, Problem) else None

    def labels(self, size: tuple[int, int], data: bytes | None = None) -> Labels:
        """The image's labels (:func:`to_labels`).

        Args:
            size: the image's ``(width, height)``.
            data: the PNG's bytes; ``None``: read from :attr:`file`.

        Raises:
            LabelError: the :meth:`problem`, naming the file.
        """
        found = self._read(size, data)
        if isinstance(found, Problem):
            raise LabelError(str(found), found.reason)
        return to_labels(found, self.background)

    def _read(self, size: tuple[int, int], data: bytes | None) -> np.ndarray | Problem:
        try:
            classes = decode_png(data if data is not None else Path(self.file or self.path).read_bytes())
        except (ValueError, OSError) as e:
            return Problem(self.path, "bad_mask", str(e))
        height, width = classes.shape
        if (width, height) != tuple(size):
            return Problem(self.path, "size_mismatch", f"a {width}x{height} mask on a {size[0]}x{size[1]} image "
                                                      "(masks are not resized to fit: draw one at the image's size)")
        return classes


@dataclass
class MaskIndex:
    """A folder of semantic masks, listed once (decoded by each worker, per image).

    Attributes:
        folder: where the masks are (``None``: :attr:`files` are all there is).
        files: mask path (relative to the folder) -> what a worker reads.
        problems: files that are not masks (not ``.png``).
    """

    folder: str | None
    files: dict[str, MaskImage]
    problems: list[Problem] = field(default_factory=list)

    def image(self, rel: str) -> MaskImage | None:
        """The mask of the image ``rel``; ``None``: it has none (no class but the background)."""
        return self.files.get(mask_path(rel))

    def orphans(self, images: Iterable[str]) -> list[Problem]:
        """The masks no image of ``images`` has, each a problem (its labels would be lost)."""
        used = {mask_path(i) for i in images}
        return [Problem(p, "no_image", "a mask no image has (its image would be "
                                       f"{p[:-4]}.* under the input)") for p in sorted(self.files) if p not in used]


def read_masks(folder: str | Path, background: int = 0) -> MaskIndex:
    """List the masks under ``folder`` (every ``.png``; another file is a problem).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files, problems = {}, []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = Path(dirpath).relative_to(folder).as_posix()
        for name in sorted(filenames):
            path = name if rel == "." else f"{rel}/{name}"
            if name.lower().endswith(".png"):
                files[mask_path(path)] = MaskImage(path, str(Path(dirpath, name)), background)
            else:
                problems.append(Problem(path, "not_a_mask", "a file in the masks folder that is not a .png"))
    return MaskIndex(str(folder), files, problems)
