"""Fast kernels: how the ``fast`` pipeline computes pixels, op by op.

A spec's ``kernels: fast`` (the default) runs the pipeline on PIL images instead of
uint8 tensors. torchvision's ``v2`` transforms dispatch on PIL images as well as on
tensors, so for most ops this only chooses torchvision's own PIL kernel (Pillow's C
code: resampling, rotation, flips, enhancement), which is several times faster than
the tensor kernel on one CPU thread. Where neither of torchvision's kernels is fast,
this module has its own: :func:`color_jitter`, on compiled kernels
(``augment/_native.c``) that repeat the uint8 tensor kernel's float32 arithmetic bit
for bit, several times faster; they replace the float HSV round trip that made
``ColorJitter`` the slowest op of a typical pipeline. Without them (an install
without a C compiler), ``ColorJitter`` runs the tensor kernel itself: same bytes.
:func:`rotation` keeps Pillow's rotate, which torchvision's PIL kernel calls, and
computes its nearest-neighbour transform in compiled code: Pillow's bytes.

What never changes is what torchvision *draws*: every transform's own ``make_params``
runs, with the same random numbers in the same order, so crop boxes, angles and
jitter factors are identical under ``kernels: fast`` and ``kernels: torchvision``;
only the pixel arithmetic of some ops differs (rounding, Pillow's resampling filters).
``tests/test_kernels.py`` bounds that difference per op, against the tensor kernels,
as the mean and the maximum absolute difference per channel; ``augment/KERNELS.md`` lists the
bounds.

``Resize`` and ``RandomResizedCrop`` give torchvision's tensor kernel's output
exactly: antialiased bilinear (the default) is torch's uint8 resize repeated in
compiled code (``_native.resize_bilinear``: the same int16 weights and integer
rounding), read in place from Pillow's memory and written straight into the new
image's; anything else runs torchvision's tensor kernel on a channels-last copy of the
box, the layout where torch's uint8 resize is vectorised. ``GaussianNoise``, which has
no PIL kernel, runs its tensor kernel the same way.
``RandomGrayscale`` (the compiled gray) and ``RandomAutocontrast`` (lookup tables made
by torch's arithmetic) are exact too, where Pillow's conversions round differently.
Reduced and partial JPEG decoding, the other parts of the fast path, are the
pipeline's (:meth:`augment.pipeline.Pipeline.apply` with an
:class:`augment.images.Source`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from augment._torchvision import check_interpolation as _check_interpolation
from augment._torchvision import compute_resized_output_size as _compute_resized_output_size
from augment._torchvision import do_native_uint8_resize_on_cpu as _do_native_uint8_resize_on_cpu
from augment._torchvision import fill_of
from augment._torchvision import get_fill as _get_fill
from augment._torchvision import parse_fill as _parse_fill
from augment.images import BoxRows
from augment.images import pixel_memory as _pixels

try:
    from augment import _native
except ImportError:  # built without a C compiler: torchvision's own kernels, same bytes
    _native = None

NATIVE: str | None = getattr(_native, "VARIANT", None)
"""Which build of the compiled kernels runs: ``"vbmi"`` (AVX2, with table lookups by
AVX-512 VBMI), ``"avx2"``, ``"generic"``, or ``None`` where the package was installed
without a C compiler (then torchvision's tensor kernels run instead: the same bytes,
several times slower)."""


def to_pil(image: Any) -> PIL.Image.Image:
    """A uint8 (C, H, W) tensor (or a PIL image, returned as is) as a PIL image."""
    return image if isinstance(image, PIL.Image.Image) else F.to_pil_image(image)


def to_tensor(image: Any) -> torch.Tensor:
    """A PIL image (or a tensor, returned as is) as a uint8 ``tv_tensors.Image``."""
    return tv_tensors.Image(F.pil_to_tensor(image)) if isinstance(image, PIL.Image.Image) else image


# ---------------------------------------------------------------------------
# ColorJitter


def _blend_lut(ratio: float, other: float) -> np.ndarray:
    """torchvision's uint8 ``_blend(image, other, ratio)`` for every value 0-255: the same
    float32 operations in the same order (compiled: ``_native.blend_table``), so the
    table is exact. ``other``: 0 (brightness) or the mean of ``adjust_contrast``."""
    return np.frombuffer(_native.blend_table(float(ratio), float(other)), dtype=np.uint8)


_EXACT_SUMS = 2**24 // 255
"""Images of up to this many pixels have an exact float32 sum of their grays."""


def _contrast_mean(pixels: Any, table: np.ndarray | None, mode: str, size: tuple[int, int], stride: int) -> float:
    """The mean ``adjust_contrast_image`` blends towards, of ``pixels`` (``stride``
    bytes each) mapped through ``table``: the floored gray of RGB pixels (compiled), or
    the pixels of an L image, as a float32 value.

    torch's float32 mean on the CPU is the sum, then a division by the count. Up to
    :data:`_EXACT_SUMS` pixels (a 224 x 224 crop has 50176) every partial sum of the
    grays, in whatever order torch adds them, is an integer below 2^24, which float32
    holds exactly; so the sum is the integer sum, computed without making the grays,
    and one float32 division gives torch's mean. Larger images are averaged by torch
    itself."""
    width, height = size
    if mode == "RGB" and width * height <= _EXACT_SUMS:
        total = _native.gray_sum(pixels, None if table is None else table.tobytes(), None, stride)
        return float(np.float32(total) / np.float32(width * height))
    if mode == "RGB":
        gray = _native.gray(pixels, None if table is None else table.tobytes(), None, stride)
    else:
        gray = bytearray(pixels)
        if table is not None:
            _native.lut(gray, table.tobytes())
    plane = torch.frombuffer(gray, dtype=torch.uint8).view(1, height, width).to(torch.float32)
    return torch.mean(plane, dim=(-3, -2, -1), keepdim=True).item()


_FACTORS = ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor")


def color_jitter(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
    """``v2.ColorJitter.transform`` on a PIL image, with the params its ``make_params``
    drew: the four adjustments in the drawn order (``fn_idx``), each exactly as
    torchvision's uint8 tensor kernel computes it.

    Brightness and contrast are per-value tables of torch's float32 arithmetic
    (contrast's mean by torch itself, of the floored gray the compiled kernel
    computes); a table is not applied on its own but composed with the next one, or
    folded into the next compiled pass (saturation, hue: ``augment._native``), which
    reads the pixels through it. The passes change a copy of the image in place, in
    Pillow's own memory (:func:`_pixels`); where Pillow does not export it, the pixels
    are copied out once and back once.

    Only with the compiled kernels; without them ``ColorJitter`` runs torchvision's
    tensor kernel (see :data:`FAST_TRANSFORMS`).
    """
    steps = [(int(i), params[_FACTORS[int(i)]]) for i in params["fn_idx"] if params[_FACTORS[int(i)]] is not None]
    if img.mode == "L":  # torchvision: one channel has no saturation and no hue
        steps = [(fn_id, factor) for fn_id, factor in steps if fn_id < 2]
    if not steps or img.width * img.height == 0:
        return img
    assert _native is not None
    out: PIL.Image.Image | None = None
    if _pixels(img) is not None:  # the memory of a copy, changed in place
        out = img.copy()
        pixels, stride = _pixels(out), 4
    else:  # packed bytes, and a new image at the end
        pixels, stride = bytearray(img.tobytes()), 3
    if img.mode == "L":
        stride = 1
    table: np.ndarray | None = None  # applies to pixels before anything else
    for fn_id, factor in steps:
        if fn_id == 0:
            step = _blend_lut(factor, 0.0)
        elif fn_id == 1:
            step = _blend_lut(factor, _contrast_mean(pixels, table, img.mode, img.size, stride))
        else:
            pending = None if table is None else table.tobytes()
            (_native.saturation if fn_id == 2 else _native.hue)(pixels, factor, pending, None, stride)
            table = None
            continue
        table = step if table is None else step[table]
    if table is not None:
        _native.lut(pixels, table.tobytes(), 4 if stride == 4 else 1)
    return out if out is not None else PIL.Image.frombytes(img.mode, img.size, pixels)


def rgb_to_grayscale(original: Kernel) -> Kernel:
    """``RandomGrayscale``: torchvision's weighted, truncated gray (Pillow's ``convert("L")``
    rounds, and so differed by a level on half the pixels), from the compiled kernel;
    as many channels out as in."""
    if _native is None:
        return _via_tensor(original)

    def kernel(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
        if img.mode != "RGB":
            return img.copy()  # torchvision: one channel stays as it is
        memory = _pixels(img)
        gray = _native.gray(img.tobytes()) if memory is None else _native.gray(memory, None, None, 4)
        gray = PIL.Image.frombytes("L", img.size, gray)
        return PIL.Image.merge("RGB", (gray, gray, gray)) if params["num_input_channels"] == 3 else gray

    return kernel


def _point(img: PIL.Image.Image, table: list[int]) -> PIL.Image.Image:
    """``img.point(table)`` for an ``L`` or ``RGB`` image and a table of ints in 0-255 (256
    per band). Pillow's ``point`` first rounds every entry of the table in Python, which
    costs more than mapping a 224 x 224 image; the tables here are ints already, so they
    go to Pillow's core directly (the public call where the core does not have it)."""
    img.load()
    try:
        return img._new(img.im.point(table, None))
    except (AttributeError, TypeError):  # a Pillow without this core call
        return img.point(table)


def autocontrast(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
    """``RandomAutocontrast``: torchvision's ``autocontrast_image`` as one lookup table per
    channel, computed by torch's own arithmetic from each channel's extremes (Pillow's
    ``getextrema``), so the result is exact."""
    extrema = img.getextrema()
    if img.mode == "L":
        extrema = (extrema,)
    bounds = torch.tensor(extrema, dtype=torch.float32)  # (C, 2): min, max
    minimum, maximum = bounds[:, :1].clone(), bounds[:, 1:].clone()
    eq_idxs = maximum == minimum
    inv_scale = maximum.sub_(minimum).mul_(1.0 / 255)
    minimum[eq_idxs] = 0.0
    inv_scale[eq_idxs] = 1.0
    values = torch.arange(256, dtype=torch.uint8).to(torch.float32).expand(len(extrema), 256)
    tables = values.sub(minimum).div_(inv_scale).clamp_(0, 255).to(torch.uint8)
    return _point(img, tables.flatten().tolist())


# ---------------------------------------------------------------------------
# Rotation: Pillow's own arithmetic, compiled


def _pil_rotation_matrix(size: tuple[int, int], angle: float, center: Any) -> list[float] | None:
    """The affine matrix ``PIL.Image.Image.rotate(angle, center=center)`` (no expand, no
    translate) hands to its transform, computed as Pillow computes it, or None where
    Pillow takes a fast path instead (a copy or a transpose, for multiples of 90°)."""
    width, height = size
    angle = angle % 360.0
    if not center:
        if angle in (0, 180) or (angle in (90, 270) and width == height):
            return None
        center = (width / 2, height / 2)
    angle = -math.radians(angle)
    a, b, d, e = (round(math.cos(angle), 15), round(math.sin(angle), 15), round(-math.sin(angle), 15),
                  round(math.cos(angle), 15))
    x, y = -center[0] - 0, -center[1] - 0
    return [a, b, a * x + b * y + 0.0 + center[0], d, e, d * x + e * y + 0.0 + center[1]]


def rotation(original: Kernel) -> Kernel:
    """``RandomRotation`` with nearest-neighbour interpolation and ``expand=False`` (its
    defaults): Pillow's rotate, which torchvision's PIL kernel calls, with the
    transform itself computed by the compiled kernel (``_native.affine_nearest``:
    Pillow's fixed-point arithmetic, 8 pixels at a time), so the bytes are Pillow's.
    Anything else, and any case Pillow computes another way (multiples of 90°, a
    matrix beyond its fixed-point range), runs torchvision's PIL kernel itself."""
    transform = getattr(original, "__self__", None)
    if _native is None or transform is None:
        return original

    def kernel(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
        if (img.mode not in ("RGB", "L") or transform.expand
                or _check_interpolation(transform.interpolation) != InterpolationMode.NEAREST):
            return original(img, params)
        matrix = _pil_rotation_matrix(img.size, params["angle"], transform.center)
        if matrix is None:
            return original(img, params)
        fill = _parse_fill(_get_fill(fill_of(transform), type(img)), img)["fillcolor"]
        out = PIL.Image.new(img.mode, img.size, fill)
        src, dst = _pixels(img), _pixels(out)
        stride = 4 if img.mode == "RGB" else 1
        if (src is None or dst is None
                or not _native.affine_nearest(src, img.width, img.height, dst, out.width, out.height, stride, matrix)):
            return original(img, params)
        return out

    return kernel


# ---------------------------------------------------------------------------
# Resizing: torch's uint8 resize compiled, or torchvision's tensor kernel on a copy


def _channels_last(img: PIL.Image.Image, box: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """A PIL image, or its ``box`` (left, top, right, bottom), as a (C, H, W) uint8
    tensor whose memory is (H, W, C), as Pillow's is.

    torch's antialiased uint8 resize runs its vectorised kernel on this layout, and
    its output equals that of the contiguous (C, H, W) layout bit for bit.
    """
    memory = _pixels(img)
    if memory is not None and img.mode == "RGB":  # one copy, of the box only, without the padding byte
        left, top, right, bottom = box if box is not None else (0, 0, img.width, img.height)
        pixels = torch.frombuffer(_native.drop_padding(memory, img.width, box), dtype=torch.uint8)
        return pixels.view(bottom - top, right - left, 3).permute(2, 0, 1)
    if box is not None:
        return _channels_last(img.crop(box))
    if memory is None:
        pixels = torch.from_numpy(np.array(img))
    else:  # L
        pixels = torch.frombuffer(bytearray(memory), dtype=torch.uint8).view(img.height, img.width)
    return pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)


def _from_channels_last(image: torch.Tensor) -> PIL.Image.Image:
    """A uint8 (C, H, W) tensor, C = 1 or 3, as a PIL image (one copy where its memory
    is (H, W, C), as :func:`_channels_last` and :meth:`augment.images.Source.load_box`
    make it: for RGB, straight into the new image's memory where it can be reached)."""
    if image.shape[0] == 1:
        return PIL.Image.fromarray(image[0].contiguous().numpy())
    packed = image.permute(1, 2, 0).contiguous().numpy()
    out = PIL.Image.new("RGB", (packed.shape[1], packed.shape[0]))
    memory = _pixels(out)
    if memory is None:
        return PIL.Image.fromarray(packed)
    _native.add_padding(packed, memory)
    return out


_UINT8_BILINEAR = _do_native_uint8_resize_on_cpu(InterpolationMode.BILINEAR)
"""Whether torchvision resizes a uint8 tensor bilinearly in uint8 here (torch's integer
kernel, which :func:`_native.resize_bilinear` repeats), rather than through float32 (on
x86 CPUs without AVX2)."""


def native_bilinear(op: Any) -> bool:
    """Whether ``op`` (``Resize`` or ``RandomResizedCrop``) resizes as
    ``_native.resize_bilinear`` does: antialiased bilinear, in uint8."""
    return (_native is not None and _UINT8_BILINEAR and getattr(op, "antialias", None) is True
            and _check_interpolation(op.interpolation) == InterpolationMode.BILINEAR)


def _resize_native(pixels: Any, offset: int, row: int, size: tuple[int, int], stride: int,
                   out_size: tuple[int, int]) -> PIL.Image.Image | None:
    """``_native.resize_bilinear`` of an RGB image of ``size`` (width, height) in
    ``pixels`` (``row`` bytes a row from byte ``offset``, ``stride`` bytes a pixel),
    straight into a new PIL image's memory; None where that memory cannot be had, or
    for an empty image (torchvision's kernel then says what it says of that)."""
    if 0 in size or 0 in out_size:
        return None
    out = PIL.Image.new("RGB", out_size)
    memory = _pixels(out)
    if memory is None:
        return None
    _native.resize_bilinear(pixels, offset, row, *size, stride, memory, *out_size)
    return out


def resize_box(op: Any, box: torch.Tensor, params: dict[str, Any]) -> PIL.Image.Image:
    """``RandomResizedCrop`` ``op``'s resize of its crop box, already cut out as a
    channels-last (C, H, W) tensor (:func:`_channels_last`, or
    :meth:`augment.images.Source.load_box`), as a PIL image: torch's uint8 antialiased
    bilinear resize, compiled (``_native.resize_bilinear``: the same integer arithmetic,
    so the same bytes), or else torchvision's tensor kernel itself, with the box at the
    origin."""
    if box.shape[0] == 3 and native_bilinear(op):
        packed = box.permute(1, 2, 0)
        if packed.is_contiguous():
            height, width = op.size
            out = _resize_native(packed.numpy(), 0, 3 * box.shape[2], (box.shape[2], box.shape[1]), 3,
                                 (width, height))
            if out is not None:
                return out
    return _from_channels_last(op.transform(box, {**params, "top": 0, "left": 0}))


def resize_rows(op: Any, rows: BoxRows, params: dict[str, Any]) -> PIL.Image.Image:
    """:func:`resize_box` of a box given as rows wider than it
    (:meth:`augment.images.Source.load_box_rows`): the compiled resize reads them in
    place; torchvision's kernel gets them packed."""
    out = None
    if native_bilinear(op):
        height, width = op.size
        out = _resize_native(rows.pixels, rows.offset, rows.row, (rows.width, rows.height), 3, (width, height))
    return out if out is not None else resize_box(op, rows.packed(), params)


def _in_place_resize(img: PIL.Image.Image, box: tuple[int, int, int, int], out_size: tuple[int, int],
                     ) -> PIL.Image.Image | None:
    """``_native.resize_bilinear`` of ``box`` (left, top, right, bottom) of an RGB image,
    read in place from its memory; None where that does not apply."""
    left, top, right, bottom = box
    if img.mode != "RGB" or not (0 <= left < right <= img.width and 0 <= top < bottom <= img.height):
        return None
    memory = _pixels(img)
    if memory is None:
        return None
    offset = 4 * (top * img.width + left)
    return _resize_native(memory, offset, 4 * img.width, (right - left, bottom - top), 4, out_size)


def _resized_crop(original: Kernel) -> Kernel:
    """``RandomResizedCrop``: the box is resized as :func:`resize_box` does, read in place
    from Pillow's memory where the compiled resize applies, else copied out (only the
    box, as packed RGB: the layout torch's vectorised uint8 resize reads) for
    torchvision's tensor kernel; either way torchvision's reference output, exactly."""
    op = original.__self__

    def kernel(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
        top, left = params["top"], params["left"]
        box = (left, top, left + params["width"], top + params["height"])
        if native_bilinear(op):
            height, width = op.size
            out = _in_place_resize(img, box, (width, height))
            if out is not None:
                return out
        return resize_box(op, _channels_last(img, box), params)

    return kernel


def _resize(original: Kernel) -> Kernel:
    """``Resize``: as :func:`_resized_crop`, of the whole image, to the size torchvision
    computes from the op's ``size`` and ``max_size``."""
    op = original.__self__

    def kernel(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
        if native_bilinear(op):
            height, width = _compute_resized_output_size((img.height, img.width), op.size, op.max_size)
            out = _in_place_resize(img, (0, 0, img.width, img.height), (width, height))
            if out is not None:
                return out
        return _from_channels_last(original(_channels_last(img), params))

    return kernel


def _via_tensor(original: Kernel) -> Kernel:
    """Any op: torchvision's tensor kernel on a channels-last view (``Resize``, and
    ``GaussianNoise``, which has no PIL kernel)."""
    return lambda img, params: _from_channels_last(original(_channels_last(img), params))


Kernel = Callable[[Any, dict[str, Any]], Any]

FAST_TRANSFORMS: dict[str, Callable[[Kernel], Kernel]] = {
    "ColorJitter": lambda original: color_jitter if _native is not None else _via_tensor(original),
    "RandomResizedCrop": _resized_crop,
    "Resize": _resize,
    "GaussianNoise": _via_tensor,
    "RandomGrayscale": rgb_to_grayscale,
    "RandomAutocontrast": lambda original: autocontrast,
    "RandomRotation": rotation,
}
"""Per op, given the transform's own ``transform(inpt, params)``, the kernel that
replaces it for PIL inputs."""
