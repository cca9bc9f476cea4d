"""Decoding and encoding images; an input's bytes come from :mod:`augment.inputs`.

Decoding policy (what the pipeline sees), applied in this order:

1. The format is detected from the content, never from the file name.
2. The size in the header is checked against the pixel limit before any pixel is
   decoded, so a file that claims 65000 x 65000 pixels is refused unread.
3. Multi-frame files (GIF, multi-page TIFF) contribute their first frame.
4. EXIF orientation is applied, so a photo is augmented the way it is shown.
5. Modes:

   ========================  =============================================
   input mode                what the pipeline gets
   ========================  =============================================
   ``RGB``                   RGB
   ``L``, ``1``              L (one channel; ``1`` becomes 0 / 255)
   ``I;16*``, ``I`` (16-bit) L, scaled from 0-65535 to 0-255 (not clipped)
   ``F`` (float)             L, clipped to 0-255
   ``LA``, ``La``            L, flattened onto white by its alpha
   ``RGBA``, ``RGBa``, ``P``  RGB; alpha (or palette transparency) flattened
   with transparency         onto white
   ``P``                     RGB
   ``CMYK``, ``YCbCr``,      RGB, by Pillow's conversion (an embedded ICC
   ``LAB``, ``HSV``          profile is not applied)
   ========================  =============================================

   Alpha is flattened before augmenting because the ops' fills, the JPEG output and
   most training code have no alpha; flattening onto white matches how the image is
   seen on a page. Grayscale stays one channel so a grayscale dataset stays grayscale.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import PIL.ExifTags
import PIL.Image
import PIL.ImageOps
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from augment.files import atomic_write
from augment.inputs import ImageError, list_images, read_input  # noqa: F401  (augment.images.list_images... stay importable)
from augment.spec import MAX_SIDE

# Pillow imports the plugins of the common formats (JPEG, PNG, GIF, BMP, PPM) at its
# first open: done here, once, so that forked workers inherit them instead of each
# paying 5-10 ms on its first image. WebP and TIFF, also decoded, are not among them:
# without them imported here, the first such input in each worker makes Pillow import
# every plugin it has.
PIL.Image.preinit()
import PIL.TiffImagePlugin  # noqa: E402
import PIL.WebPImagePlugin  # noqa: E402

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image (width x height) decoded by default: a 10000 x 10000 photo fits."""

DECODED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
"""The formats inputs are decoded from (Pillow's names; Pillow's JPEG includes MPO, a
camera's JPEG with a second image after the first, whose first image is used). Any other
format is recorded as ``unsupported_format``, never decoded: some of Pillow's decoders run
external programs (EPS runs Ghostscript)."""

_SAME_FORMAT = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


class EncodeError(ValueError):
    """An output cannot be encoded in its format (recorded in the manifest, that copy
    only: another copy of the same input may fit).

    Attributes:
        reason: ``too_large_for_format``: a side over the format's :data:`MAX_SIDE`.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_encodable(size: tuple[int, int], fmt: str) -> None:
    """Raise :class:`EncodeError` when a ``(width, height)`` image cannot be written as ``fmt``."""
    limit = MAX_SIDE.get(fmt)
    if limit is not None and max(size) > limit:
        raise EncodeError("too_large_for_format",
                          f"the output is {size[0]}x{size[1]} px; {fmt.upper()} holds at most {limit:,} px per side "
                          "(make the ops' sizes smaller, or write format: png)")


@dataclass(frozen=True)
class Decoded:
    """A decoded input.

    Attributes:
        pil: the image as the pipeline gets it, an ``RGB`` or ``L`` PIL image.
        format: the container format PIL detected (``JPEG``, ``PNG``...).
        mode: the original PIL mode, before conversion.
    """

    pil: PIL.Image.Image
    format: str
    mode: str

    @property
    def image(self) -> tv_tensors.Image:
        """The image as a uint8 tensor, shape (C, H, W), C = 1 or 3."""
        return tv_tensors.Image(F.pil_to_tensor(self.pil))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pil.size


_ROTATED = (5, 6, 7, 8)
"""EXIF orientations that swap width and height."""

try:
    from augment import _native
except ImportError:  # built without a C compiler
    _native = None
try:
    from augment import _jpeg

    _PARTIAL = _jpeg.load(PIL.Image.core.__file__)  # Pillow's _imaging
    _HEADER = True
except (ImportError, AttributeError, OSError):  # built without a C compiler, or an unusual Pillow
    _PARTIAL = _HEADER = False
PARTIAL_JPEG: bool = bool(_PARTIAL)
"""Whether a JPEG's crop can be decoded alone (:meth:`Source.load_box`): with the
compiled ``augment._jpeg``, bound to the libjpeg(-turbo) Pillow itself uses."""


def pixel_memory(img: PIL.Image.Image) -> Any:
    """The bytes of an ``RGB`` or ``L`` image's own memory, writable, without a copy: four
    a pixel for RGB (Pillow keeps a padding byte after each pixel), one for L. None
    where they cannot be had: without the compiled kernels, with a Pillow older than
    11.2 (no Arrow export), for an empty image or one Pillow keeps in several blocks
    (over 16 MiB by default). Callers then copy, to the same result."""
    if _native is None or img.mode not in ("RGB", "L") or img.width * img.height == 0:
        return None
    try:  # _native.memory refuses a layout other than the one above (another Pillow's)
        _, array = img.__arrow_c_array__()
        return _native.memory(array, img.width * img.height * (4 if img.mode == "RGB" else 1))
    except (AttributeError, ValueError):
        return None


def _stored_box(box: tuple[int, int, int, int], size: tuple[int, int], orientation: int) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) of an upright image of ``size`` (EXIF
    ``orientation`` applied), in the coordinates of the image as stored."""
    left, top, right, bottom = box
    width, height = size  # upright
    return {
        1: (left, top, right, bottom),
        2: (width - right, top, width - left, bottom),
        3: (width - right, height - bottom, width - left, height - top),
        4: (left, height - bottom, right, height - top),
        5: (top, left, bottom, right),
        6: (top, width - right, bottom, width - left),
        7: (height - bottom, width - right, height - top, width - left),
        8: (height - bottom, left, height - top, right),
    }[orientation]


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Stored (H, W, C) pixels turned as ``PIL.ImageOps.exif_transpose`` turns them."""
    if orientation in _ROTATED:
        pixels = pixels.transpose(1, 0, 2)  # 5: transpose
        if orientation == 6:
            pixels = pixels[:, ::-1]
        elif orientation == 7:
            pixels = pixels[::-1, ::-1]
        elif orientation == 8:
            pixels = pixels[::-1]
    elif orientation in (2, 3):
        pixels = pixels[::-1, ::-1] if orientation == 3 else pixels[:, ::-1]
    elif orientation == 4:
        pixels = pixels[::-1]
    return pixels


class Source:
    """An input whose header has been read and checked, decoded on demand.

    Opening reads the header only: the format, the size and the EXIF orientation, and
    refuses an image over the pixel limit before a pixel is decoded (a plain JPEG's
    header, without EXIF, is read by ``augment._jpeg.header``, to what Pillow would
    report; any other by Pillow, whose image the first :meth:`load` then reuses). :meth:`load`
    decodes under the policy in the module docstring. For a JPEG, which the fast
    kernels' first op may mostly throw away, it can ask libjpeg to decode at 1/2, 1/4
    or 1/8 of the size (DCT scaling, ``PIL.Image.draft``: :meth:`load`), or to decode
    only a crop's box (:meth:`load_box`: the same pixels as the full decode).

    Args:
        data: the file's bytes.
        max_pixels: the pixel limit (width x height).
        outputs: how many outputs will be made from it. With one, a crop may be
            decoded alone (:meth:`load_box`); with more, one whole decode, kept,
            costs less than a partial decode per output.

    Attributes:
        data: the file's bytes.
        format: the container format PIL detected (``JPEG``, ``PNG``...).
        mode: the original PIL mode, before conversion.

    Raises:
        ImageError: empty, unrecognised or too large (from the header).
    """

    def __init__(self, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, outputs: int = 1) -> None:
        if not data:
            raise ImageError("empty", "empty file (0 bytes)")
        self.data = data
        self._partial = outputs == 1 and PARTIAL_JPEG
        self._orientation = 1
        self._decoded: dict[int, PIL.Image.Image] = {}
        self._opened: PIL.Image.Image | None = None
        self._size: tuple[int, int] | None = None
        plain = _jpeg.header(data) if _HEADER else None
        if plain is not None:  # what Pillow would report, no EXIF orientation; Pillow opens it if decoding needs it
            w, h, channels = plain
            self.format, self.mode = "JPEG", "RGB" if channels == 3 else "L"
            self._check_size(w, h, max_pixels)
            self._size = (w, h)
            return
        with _decoding():
            img = self._opened = _open(data)  # the first load() reuses it
            self.format = img.format or "unknown"
            self.mode = img.mode
            w, h = img.size
            self._check_size(w, h, max_pixels)
            if self.can_reduce:  # a JPEG's EXIF is in its header (a PNG's may follow the pixels)
                orientation = img.getexif().get(PIL.ExifTags.Base.Orientation, 1)
                self._orientation = orientation if orientation in range(1, 9) else 1  # as exif_transpose
                self._size = (h, w) if orientation in _ROTATED else (w, h)

    def _check_size(self, w: int, h: int, max_pixels: int) -> None:
        if w * h > max_pixels:
            raise ImageError("too_large", f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} "
                             "(refused from the header, not decoded; raise max_pixels= to accept it)")
        self._stored_size = (w, h)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as the pipeline sees it, EXIF orientation applied."""
        if self._size is None:
            self._size = self.load().size
        return self._size

    @property
    def can_reduce(self) -> bool:
        """Whether :meth:`load` can decode at a reduced size (JPEG)."""
        return self.format == "JPEG"

    def load(self, reduce: int = 1) -> PIL.Image.Image:
        """The image, upright, as an ``RGB`` or ``L`` PIL image; decoded once per ``reduce``.

        Args:
            reduce: 1, 2, 4 or 8: decode a JPEG at ``ceil(size / reduce)`` (other
                formats ignore it). The result may be larger when the JPEG's
                chroma subsampling does not allow that scale; divide by
                :attr:`size` for the actual scale.

        Raises:
            ImageError: truncated or otherwise undecodable.
        """
        reduce = reduce if self.can_reduce else 1
        if reduce not in self._decoded:
            with _decoding():
                img, self._opened = self._opened or _open(self.data), None
                if reduce > 1:
                    w, h = self._stored_size
                    img.draft(img.mode, (-(-w // reduce), -(-h // reduce)))
                img.seek(0)
                PIL.ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of an upright photo
                self._decoded[reduce] = _to_l_or_rgb(img)
        return self._decoded[reduce]

    def load_box(self, box: tuple[int, int, int, int]) -> torch.Tensor | None:
        """The pixels of ``box`` (left, top, right, bottom) of the upright image,
        decoding only what the box needs, or None where that does not apply (then
        crop :meth:`load`, to the same pixels).

        It applies to an RGB or grayscale JPEG (EXIF orientation included) of a
        source opened for one output, before anything else was decoded, with the
        compiled ``augment._jpeg`` (:data:`PARTIAL_JPEG`). A truncated or corrupt
        file, anything libjpeg warns about, and an arithmetic-coded or lossless JPEG
        also give None, so that :meth:`load` decodes it and fails (or not) exactly as
        it always does.

        Returns:
            A uint8 (C, H, W) tensor, C = 3 or 1, whose memory is (H, W, C).
        """
        if not self._box_applies():
            return None
        self._partial = False  # once: a second use of this source decodes it whole
        channels = 3 if self.mode == "RGB" else 1
        stored = _stored_box(box, self.size, self._orientation)
        pixels = _jpeg.decode_box(self.data, self._stored_size, channels, stored)
        if pixels is None:
            return None
        left, top, right, bottom = stored
        array = np.frombuffer(pixels, dtype=np.uint8).reshape(bottom - top, right - left, channels)
        if self._orientation != 1:
            array = _upright(array, self._orientation).copy()  # copy(): positive strides, for torch
        return torch.from_numpy(array).permute(2, 0, 1)

    def load_box_rows(self, box: tuple[int, int, int, int]) -> BoxRows | None:
        """:meth:`load_box` without its last copy: the rows as libjpeg decoded them,
        for a reader that takes a row stride (the compiled resize). It applies where
        :meth:`load_box` does, to an upright RGB JPEG; None elsewhere, before anything
        is decoded (then :meth:`load_box` may still apply), and where libjpeg warned or
        failed (then decode with :meth:`load`)."""
        if not (self._box_applies() and self.mode == "RGB" and self._orientation == 1):
            return None
        self._partial = False  # once, as load_box
        decoded = _jpeg.decode_box(self.data, self._stored_size, 3, box, False)
        if decoded is None:
            return None
        pixels, offset, row = decoded
        left, top, right, bottom = box
        return BoxRows(pixels, offset, row, right - left, bottom - top)

    def _box_applies(self) -> bool:
        return bool(self._partial and self.can_reduce and not self._decoded and self.mode in ("RGB", "L"))


class BoxRows(NamedTuple):
    """A box of RGB pixels in rows wider than the box (:meth:`Source.load_box_rows`):
    ``height`` rows ``row`` bytes apart in ``pixels``, each with the box's ``width``
    pixels (3 bytes each) from byte ``offset``."""

    pixels: Any
    offset: int
    row: int
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W), as a tensor's."""
        return 3, self.height, self.width

    def packed(self) -> torch.Tensor:
        """The box as a uint8 (3, H, W) tensor whose memory is (H, W, 3) (a copy)."""
        rows = np.frombuffer(self.pixels, dtype=np.uint8).reshape(self.height, self.row)
        box = rows[:, self.offset:self.offset + 3 * self.width].reshape(self.height, self.width, 3)
        return torch.from_numpy(np.ascontiguousarray(box)).permute(2, 0, 1)


class _decoding:
    """Pillow's errors as :class:`ImageError`; Pillow's own pixel-limit warning off
    (:class:`Source` applies the kit's limit)."""

    def __enter__(self) -> None:
        self.limit = PIL.Image.MAX_IMAGE_PIXELS
        PIL.Image.MAX_IMAGE_PIXELS = None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> bool:
        PIL.Image.MAX_IMAGE_PIXELS = self.limit
        if kind is None or issubclass(kind, ImageError):
            return False
        if issubclass(kind, PIL.UnidentifiedImageError):
            raise ImageError("not_an_image", "not an image (no known image format in the content)") from None
        if issubclass(kind, (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)):
            raise ImageError("undecodable", f"cannot decode: {e}") from None
        return False


def _open(data: bytes) -> PIL.Image.Image:
    """``PIL.Image.open`` restricted to :data:`DECODED_FORMATS`.

    Raises:
        ImageError: ``unsupported_format`` (another format Pillow recognises by its first
            bytes, named), ``not_an_image`` (none).
    """
    try:
        return PIL.Image.open(io.BytesIO(data), formats=DECODED_FORMATS)
    except PIL.UnidentifiedImageError:
        other = _recognised_format(data)
        if other is None:
            raise
        raise ImageError("unsupported_format", f"a {other} file; inputs are decoded from JPEG, PNG, WebP, BMP, TIFF "
                         "and GIF only (convert it to one of them)") from None


_OTHER_SIGNATURES = (
    (b"%PDF-", 0, "PDF"), (b"ftypheic", 4, "HEIC"), (b"ftypheix", 4, "HEIC"), (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"), (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"), (b"\xff\x0a", 0, "JPEG XL"),
)
"""Image formats Pillow does not open at all, named where an input is one of them."""


def _recognised_format(data: bytes) -> str | None:
    """The name of the other format ``data`` is in, where it is one: as Pillow's open
    names it (open parses the header only; decoding, where EPS would run Ghostscript,
    never starts), or a format Pillow has no plugin for, by its signature."""
    for magic, offset, name in _OTHER_SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return name
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            return img.format
    except Exception:  # whatever a parser raises here means "no format"
        return None


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, outputs: int = 1) -> Source:
    """Read the header of image bytes: a :class:`Source` to decode on demand, for
    ``outputs`` outputs."""
    return Source(data, max_pixels, outputs)


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode image bytes under the policy in the module docstring.

    Raises:
        ImageError: empty, unrecognised, truncated or too large.
    """
    source = Source(data, max_pixels)
    return Decoded(source.load(), source.format, source.mode)


def _to_l_or_rgb(img: PIL.Image.Image) -> PIL.Image.Image:
    mode = img.mode
    if mode in ("L", "RGB"):
        img.load()
        return img
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        gray = mode in ("LA", "La")
        base = PIL.Image.new("L" if gray else "RGB", img.size, 255 if gray else (255, 255, 255))
        base.paste(img.convert("L" if gray else "RGB"), mask=img.getchannel("A"))
        return base
    if mode.startswith("I"):
        values = np.asarray(img).astype(np.int64)
        scaled = (np.clip(values, 0, 65535) + 128) // 257
        return PIL.Image.fromarray(scaled.astype(np.uint8), "L")
    if mode in ("1", "F"):
        return img.convert("L")
    return img.convert("RGB")


def output_format(requested: str, source_format: str) -> str:
    """The format an output is written in: ``requested``, or for ``same`` the source's
    format when it is JPEG, PNG or WebP, and PNG otherwise."""
    if requested != "same":
        return requested
    return _SAME_FORMAT.get(source_format, "png")


def encode(image: PIL.Image.Image | torch.Tensor, fmt: str, quality: int) -> bytes:
    """Encode a PIL image or a uint8 (C, H, W) tensor as ``jpeg``, ``png`` or ``webp``.

    Encoder settings are fixed so that equal pixels give equal bytes, and only the
    pixels reach them: Pillow's encoders also write some of ``image.info`` (a source
    JPEG's comment; a PNG's ICC profile or transparent colour), which an image keeps
    through Pillow's own ops, so it is set aside while encoding. An RGB or L image's
    JPEG comes from ``augment._jpeg.encode`` where that gives ``Image.save``'s very
    bytes (:func:`_encodes_as_pillow`), faster; from ``Image.save`` elsewhere.

    Raises:
        EncodeError: the image is too large for the format (a JPEG side over 65,500 px).
    """
    pil = image if isinstance(image, PIL.Image.Image) else F.to_pil_image(image)
    if fmt not in ("jpeg", "png", "webp"):
        raise ValueError(f"unknown output format {fmt!r}")
    check_encodable(pil.size, fmt)  # else Pillow fails with "broken data stream", which reads like a disk error
    if fmt == "jpeg" and 1 <= quality <= 100 and pil.mode in ("RGB", "L") and _encodes_as_pillow():
        blob = _encode_jpeg(pil, quality)
        if blob is not None:
            return blob
    buf = io.BytesIO()
    info, pil.info = pil.info, {}
    try:
        if fmt == "jpeg":
            pil.save(buf, "JPEG", quality=quality)
        elif fmt == "png":
            pil.save(buf, "PNG", compress_level=6)
        else:
            pil.save(buf, "WEBP", quality=quality, method=4)
    finally:
        pil.info = info
    return buf.getvalue()


def _encode_jpeg(pil: PIL.Image.Image, quality: int, in_place: bool = True) -> bytes | None:
    """``pil.save(f, "JPEG", quality=quality)``'s bytes from ``augment._jpeg.encode``: the
    same calls on the same libjpeg, without Pillow's Python layers, reading Pillow's
    memory in place (``in_place``, where it can be had) or a packed copy of the pixels.
    None where it does not apply (no library bound, a size JPEG cannot hold, libjpeg
    failed): then Pillow encodes, and fails if it must."""
    if not (0 < pil.width <= 65_500 and 0 < pil.height <= 65_500):
        return None
    memory = pixel_memory(pil) if in_place else None
    if memory is not None:
        return _jpeg.encode(memory, pil.size, 4 if pil.mode == "RGB" else 1, quality)
    return _jpeg.encode(pil.tobytes(), pil.size, 3 if pil.mode == "RGB" else 1, quality)


_ENCODER_CHECKED: bool | None = None


def _encodes_as_pillow() -> bool:
    """Whether :func:`_encode_jpeg` gives Pillow's bytes here, checked once per process
    on a few small images (both modes, both memory layouts, several qualities); False
    without ``augment._jpeg``, where the library lacks the encoding calls, or where
    Pillow sets its encoder up differently (a Pillow built with MozJPEG, a new
    default): then Pillow encodes every image, as before."""
    global _ENCODER_CHECKED
    if _ENCODER_CHECKED is None:
        _ENCODER_CHECKED = False
        if _PARTIAL:
            ramp = np.arange(37 * 23 * 3, dtype=np.uint32).reshape(23, 37, 3)
            rgb = PIL.Image.fromarray(((ramp * 7919) % 251).astype(np.uint8), "RGB")
            samples = [rgb, rgb.convert("L"), rgb.crop((1, 2, 30, 21))]
            agree = True
            for img in samples:
                for quality in (1, 50, 90, 100):
                    buf = io.BytesIO()
                    img.save(buf, "JPEG", quality=quality)
                    for in_place in (True, False):
                        agree = agree and _encode_jpeg(img, quality, in_place) == buf.getvalue()
            _ENCODER_CHECKED = agree
    return _ENCODER_CHECKED


# one atomic writer for every file the kit writes (augment.files.atomic_write)
atomic_write_bytes = atomic_write
