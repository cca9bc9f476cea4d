"""Fast kernels: how the ``fast`` pipeline computes pixels, op by op.

A spec's ``kernels: fast`` (the default) runs the pipeline on PIL images instead of
uint8 tensors. torchvision's ``v2`` transforms dispatch on PIL images as well as on
tensors, so for most ops this only chooses torchvision's own PIL kernel (Pillow's C
code: resampling, rotation, flips, enhancement), which is several times faster than
the tensor kernel on one CPU thread. Where neither of torchvision's kernels is fast,
this module has its own: :func:`color_jitter` (brightness and contrast as uint8 lookup
tables, saturation as a blend with the floored gray, hue from Pillow's 8-bit HSV), which
replaces the float HSV round trip that made ``ColorJitter`` the slowest op of a
typical pipeline.

What never changes is what torchvision *draws*: every transform's own ``make_params``
runs, with the same random numbers in the same order, so crop boxes, angles and
jitter factors are identical under ``kernels: fast`` and ``kernels: torchvision``;
only the pixel arithmetic differs (rounding, Pillow's resampling filters, 8-bit hue).
``tests/test_kernels.py`` bounds that difference per op, against the tensor kernels,
as the mean and the maximum absolute difference per channel; the README lists the
bounds.

``Resize`` and ``RandomResizedCrop`` run torchvision's own tensor kernel on a
channels-last view of the PIL image's memory, where torch's uint8 antialiased resize
is vectorised: faster than Pillow's, and exactly torchvision's reference output.
``GaussianNoise``, which has no PIL kernel, runs its tensor kernel the same way.
Reduced JPEG decoding, the other part of the fast path, is the pipeline's
(:meth:`augment.pipeline.Pipeline.apply` with an :class:`augment.images.Source`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import torch
from PIL import ImageChops
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

_GRAY = (0.2989, 0.587, 0.114)
"""torchvision's grayscale weights (``rgb_to_grayscale``)."""


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
    float32 operations in the same order, so the table is exact."""
    values = torch.arange(256, dtype=torch.uint8)
    out = values.mul(float(ratio)).add_(torch.tensor(other, dtype=torch.float32), alpha=1.0 - float(ratio))
    return out.clamp_(0, 255).to(torch.uint8).numpy()


def _point(img: PIL.Image.Image, table: list[int]) -> PIL.Image.Image:
    """``img.point(table)`` for an ``L`` or ``RGB`` image and a table of ints in 0-255.

    Pillow's ``point`` first rounds every entry of the table in Python, which costs more
    than mapping a 224 x 224 image; the tables here are ints already, so they go to
    Pillow's core directly (the public call where the core does not have it).
    """
    img.load()
    try:
        return img._new(img.im.point(table, None))
    except (AttributeError, TypeError):  # a Pillow without this core call
        return img.point(table)


def _apply_lut(img: PIL.Image.Image, lut: np.ndarray | None) -> PIL.Image.Image:
    if lut is None:
        return img
    return _point(img, lut.tolist() * len(img.getbands()))


def _gray_mean(img: PIL.Image.Image, lut: np.ndarray | None) -> float:
    """The mean torchvision's ``adjust_contrast`` blends towards, of ``lut`` applied to
    ``img``, from the per-band histograms (no pass over the pixels). torchvision floors
    each pixel's gray value before averaging; the floor is approximated by its mean
    effect, half a level (the contrast test bounds the result)."""
    hist = np.asarray(img.histogram(), dtype=np.float64).reshape(len(img.getbands()), 256)
    values = np.arange(256, dtype=np.float64) if lut is None else lut.astype(np.float64)
    count = hist[0].sum()
    if count == 0:
        return 0.0
    band_means = hist @ values / count
    if img.mode == "L":
        return float(band_means[0])
    return max(0.0, float(np.dot(_GRAY, band_means)) - 0.5)


def adjust_saturation(img: PIL.Image.Image, factor: float) -> PIL.Image.Image:
    """torchvision's ``adjust_saturation``: blend with the floored grayscale, truncate.

    Pillow's ``convert("L", matrix)`` with torchvision's weights and a -0.5 offset gives
    the floored gray (it rounds), and ``Image.blend`` computes ``gray + s * (x - gray)``
    in float and truncates, as torchvision's uint8 ``_blend`` does.
    """
    if img.mode != "RGB":
        return img  # torchvision: one channel has no saturation
    gray = img.convert("L", (*_GRAY, -0.5))
    return PIL.Image.blend(PIL.Image.merge("RGB", (gray, gray, gray)), img, float(factor))


_HUE_STEPS = np.arange(256, dtype=np.float64)
_HUE_OFFSETS = np.array([[5.0], [3.0], [1.0]])


def adjust_hue(img: PIL.Image.Image, factor: float) -> PIL.Image.Image:
    """torchvision's ``adjust_hue`` (rotate the HSV hue by ``factor`` turns) with 8-bit
    hue.

    Pillow's HSV conversion gives the hue band (step ``k`` covers hues ``[k, k+1) / 255``);
    max and min come exactly from the RGB bands; each output channel is
    ``min + chroma * ramp(hue + factor)``, with torchvision's HSV-to-RGB ramp as a
    lookup table on the hue band, floored as torchvision's float-to-uint8 conversion does.
    """
    if img.mode != "RGB":
        return img  # torchvision: one channel has no hue
    h, _, v = img.convert("HSV").split()
    r, g, b = img.split()
    low = ImageChops.darker(ImageChops.darker(r, g), b)
    chroma = ImageChops.subtract(v, low)
    # each step's centre, in sixths of a turn, shifted; rows R, G, B as in torchvision's _hsv_to_rgb
    k = np.mod(_HUE_OFFSETS + ((_HUE_STEPS + 0.5) / 255.0 + float(factor)) * 6.0, 6.0)
    ramps = np.floor((1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)) * 255.0 + 0.5).astype(np.uint8).tolist()
    bands = [ImageChops.add(low, ImageChops.multiply(chroma, _point(h, ramp))) for ramp in ramps]
    return PIL.Image.merge("RGB", bands)


def color_jitter(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
    """``v2.ColorJitter.transform`` on a PIL image, with the params its ``make_params``
    drew: the four adjustments in the drawn order (``fn_idx``). Consecutive brightness
    and contrast steps fold into one lookup table, applied once."""
    lut: np.ndarray | None = None
    for fn_id in params["fn_idx"]:
        fn_id = int(fn_id)
        if fn_id == 0 and params["brightness_factor"] is not None:
            step = _blend_lut(params["brightness_factor"], 0.0)
            lut = step if lut is None else step[lut]
        elif fn_id == 1 and params["contrast_factor"] is not None:
            step = _blend_lut(params["contrast_factor"], _gray_mean(img, lut))
            lut = step if lut is None else step[lut]
        elif fn_id == 2 and params["saturation_factor"] is not None:
            img, lut = adjust_saturation(_apply_lut(img, lut), params["saturation_factor"]), None
        elif fn_id == 3 and params["hue_factor"] is not None:
            img, lut = adjust_hue(_apply_lut(img, lut), params["hue_factor"]), None
    return _apply_lut(img, lut)


# ---------------------------------------------------------------------------
# Resizing: torchvision's tensor kernel, on a view of the PIL image's memory


def _channels_last(img: PIL.Image.Image) -> torch.Tensor:
    """A PIL image as a (C, H, W) uint8 tensor whose memory is (H, W, C), as Pillow's is.

    torch's antialiased uint8 resize runs its vectorised kernel on this layout, and
    its output equals that of the contiguous (C, H, W) layout bit for bit.
    """
    pixels = torch.from_numpy(np.array(img))
    return pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)


def _from_channels_last(image: torch.Tensor) -> PIL.Image.Image:
    if image.shape[0] == 1:
        return PIL.Image.fromarray(image[0].contiguous().numpy())
    return PIL.Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())


def _resized_crop(original: Kernel) -> Kernel:
    """``RandomResizedCrop``: Pillow crops (a copy of the box only), torchvision's tensor
    kernel resizes, so the result is torchvision's reference output, exactly."""

    def kernel(img: PIL.Image.Image, params: dict[str, Any]) -> PIL.Image.Image:
        top, left = params["top"], params["left"]
        box = img.crop((left, top, left + params["width"], top + params["height"]))
        return _from_channels_last(original(_channels_last(box), {**params, "top": 0, "left": 0}))

    return kernel


def _via_tensor(original: Kernel) -> Kernel:
    """Any op: torchvision's tensor kernel on a channels-last view (``Resize``, and
    ``GaussianNoise``, which has no PIL kernel)."""
    return lambda img, params: _from_channels_last(original(_channels_last(img), params))


Kernel = Callable[[Any, dict[str, Any]], Any]

FAST_TRANSFORMS: dict[str, Callable[[Kernel], Kernel]] = {
    "ColorJitter": lambda original: color_jitter,
    "RandomResizedCrop": _resized_crop,
    "Resize": _via_tensor,
    "GaussianNoise": _via_tensor,
}
"""Per op, given the transform's own ``transform(inpt, params)``, the kernel that
replaces it for PIL inputs."""
