"""Listing, decoding and encoding images, and atomic writes.

Decoding policy (what the pipeline sees):

* The format is detected from the content, never from the file name.
* Multi-frame files (GIF, multi-page TIFF) contribute their first frame.
* EXIF orientation is applied first, so a photo is augmented the way it is shown.
* Grayscale inputs (modes ``1``, ``L``, ``I``, ``I;16``, ``F``) stay one channel;
  every other mode becomes RGB.
* A pixel limit is checked from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import PIL.ImageOps
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image (width x height) decoded by default: a 10000 x 10000 photo fits."""

_GRAY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}
_SAME_FORMAT = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


class ImageError(ValueError):
    """An input cannot be used; the message says why (recorded in the manifest)."""


@dataclass(frozen=True)
class Decoded:
    """A decoded input.

    Attributes:
        image: uint8 tensor image, shape (C, H, W), C = 1 or 3.
        format: the container format PIL detected (``JPEG``, ``PNG``...).
        mode: the original PIL mode, before conversion.
    """

    image: tv_tensors.Image
    format: str
    mode: str


def list_images(root: str | Path) -> list[str]:
    """Every regular file under ``root``, recursively, as sorted POSIX paths relative to it.

    Nothing is skipped by name or extension: a file that is not an image is reported
    as such by the job rather than silently ignored.
    """
    root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if (Path(dirpath) / name).is_file():
                found.append((rel_dir / name).as_posix())
    return sorted(found)


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode image bytes under the policy in the module docstring.

    Raises:
        ImageError: empty, unrecognised, truncated or too large.
    """
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            img = PIL.Image.open(io.BytesIO(data))
            fmt = img.format or "unknown"
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} (refused unread)")
            img.seek(0)
            img = PIL.ImageOps.exif_transpose(img)
            mode = img.mode
            img = img.convert("L" if mode in _GRAY_MODES else "RGB")
    except ImageError:
        raise
    except PIL.UnidentifiedImageError:
        raise ImageError("not an image (no known image format in the content)") from None
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError, EOFError) as e:
        raise ImageError(f"cannot decode: {e}") from None
    return Decoded(tv_tensors.Image(F.pil_to_tensor(img)), fmt, mode)


def output_format(requested: str, source_format: str) -> str:
    """The format an output is written in: ``requested``, or for ``same`` the source's
    format when it is JPEG, PNG or WebP, and PNG otherwise."""
    if requested != "same":
        return requested
    return _SAME_FORMAT.get(source_format, "png")


def encode(image: torch.Tensor, fmt: str, quality: int) -> bytes:
    """Encode a uint8 (C, H, W) tensor as ``jpeg``, ``png`` or ``webp``.

    Encoder settings are fixed so that equal pixels give equal bytes.
    """
    pil = F.to_pil_image(image)
    buf = io.BytesIO()
    if fmt == "jpeg":
        pil.save(buf, "JPEG", quality=quality)
    elif fmt == "png":
        pil.save(buf, "PNG", compress_level=6)
    elif fmt == "webp":
        pil.save(buf, "WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buf.getvalue()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same folder, which is then renamed over
    ``path``; a process killed midway leaves at most a hidden ``.*.tmp`` file, never a
    truncated ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
