"""The compiled kernels (``augment._native``) against torchvision's uint8 tensor
kernels, on every one of the 2^24 RGB colours: equal, bit for bit, in both builds (AVX2
and portable). ``tests/test_kernels.py`` checks ColorJitter as a whole on photos."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _rgb_to_grayscale_image

from augment import kernels as K

native = pytest.importorskip("augment._native") if os.environ.get("AUGMENT_ALLOW_NO_NATIVE") else None
if native is None:
    from augment import _native as native  # CI builds it: a silent build failure must fail here

BUILDS = [False, True] if native.VARIANT == "avx2" else [True]
"""``generic`` argument values: the build chosen at run time, and the portable one."""


@pytest.fixture(scope="module")
def every_colour() -> tuple[bytes, torch.Tensor]:
    """All 2^24 RGB colours, as packed pixels and as a (3, 4096, 4096) uint8 tensor."""
    c = np.arange(1 << 24, dtype=np.uint32)
    hwc = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], axis=-1).astype(np.uint8).reshape(4096, 4096, 3)
    return hwc.tobytes(), torch.from_numpy(hwc).permute(2, 0, 1).contiguous()


def _hwc(t: torch.Tensor) -> bytes:
    return t.permute(1, 2, 0).contiguous().numpy().tobytes()


def test_the_fast_path_uses_the_compiled_kernels():
    assert K.NATIVE == native.VARIANT in ("avx2", "generic")


ADJUSTMENTS = {"hue": F.adjust_hue, "saturation": F.adjust_saturation}
CASES = ([("hue", factor) for factor in (-0.5, -0.2999, -0.0371, 0.0, 0.1, 0.25, 0.5)]
         + [("saturation", factor) for factor in (0.0, 0.6, 1.0, 1.37, 2.5)])


@pytest.mark.slow
@pytest.mark.parametrize("name, factor", CASES)
def test_adjustment_of_every_colour(name, factor, every_colour):
    packed, tensor = every_colour
    factor = float(np.float32(factor))  # what ColorJitter draws: float32 values
    expected = _hwc(ADJUSTMENTS[name](tensor, factor))
    for generic in BUILDS:
        pixels = bytearray(packed)
        getattr(native, name)(pixels, factor, None, generic)
        assert pixels == expected, (factor, generic)


def test_a_table_is_applied_as_the_pixels_are_read():
    """A pending brightness or contrast table, folded into the next pass, gives what
    applying it first gives."""
    rng = np.random.default_rng(0)
    pixels = bytearray(rng.integers(0, 256, 3 * 1001, dtype=np.uint8).tobytes())
    table = bytes(rng.integers(0, 256, 256, dtype=np.uint8).tobytes())
    mapped = bytearray(pixels)
    native.lut(mapped, table)
    assert native.gray(pixels, table) == native.gray(mapped)
    for name, factor in [("hue", 0.3), ("saturation", 1.7)]:
        folded, first = bytearray(pixels), bytearray(mapped)
        getattr(native, name)(folded, factor, table)
        getattr(native, name)(first, factor)
        assert folded == first, name


@pytest.mark.parametrize("generic", BUILDS)
@pytest.mark.parametrize("with_table", [False, True])
def test_a_pixel_gets_the_same_value_wherever_it_falls_in_a_chunk(generic, with_table):
    """The kernels convert 256 pixels at a time, a full chunk by a vectorised loop and
    the last, partial one by a plain loop: an image of any length gives each pixel
    what a longer image gives it."""
    rng = np.random.default_rng(1)
    pixels = bytearray(rng.integers(0, 256, 3 * 1024, dtype=np.uint8).tobytes())
    table = bytes(rng.integers(0, 256, 256, dtype=np.uint8).tobytes()) if with_table else None
    full_gray = native.gray(pixels, table, generic)
    for name, factor in [("hue", -0.2), ("saturation", 0.6)]:
        full = bytearray(pixels)
        getattr(native, name)(full, factor, table, generic)
        for n in (1, 255, 256, 257, 700):
            part = bytearray(pixels[: 3 * n])
            getattr(native, name)(part, factor, table, generic)
            assert part == full[: 3 * n], (name, n)
            assert native.gray(pixels[: 3 * n], table, generic) == full_gray[:n]


@pytest.mark.slow
def test_gray_of_every_colour(every_colour):
    """The floored gray adjust_contrast averages: torch computes it with fused
    multiply-adds, which the kernel must repeat (an unfused one is off for 21 colours)."""
    packed, tensor = every_colour
    expected = _rgb_to_grayscale_image(tensor, 1, preserve_dtype=False).floor_().to(torch.uint8).numpy().tobytes()
    for generic in BUILDS:
        assert native.gray(packed, None, generic) == expected


def test_lut_maps_every_byte():
    pixels = bytearray(range(256)) * 3
    native.lut(pixels, bytes(255 - v for v in range(256)))
    assert pixels == bytearray(255 - v for v in range(256)) * 3


def test_kernels_work_in_place_on_writable_buffers_only():
    with pytest.raises(TypeError):
        native.hue(bytes(3), 0.1)
    with pytest.raises(TypeError):
        native.saturation(bytes(3), 1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: native.hue(bytearray(4), 0.1), "4 bytes is not a whole number of RGB pixels"),
    (lambda: native.saturation(bytearray(5), 1.0), "5 bytes is not a whole number of RGB pixels"),
    (lambda: native.gray(bytes(7)), "7 bytes is not a whole number of RGB pixels"),
    (lambda: native.hue(bytearray(3), 0.6), "factor 0.6 is not in [-0.5, 0.5]"),
    (lambda: native.saturation(bytearray(3), -1.0), "factor -1.0 is negative"),
    (lambda: native.lut(bytearray(3), bytes(255)), "the table has 255 bytes, not 256"),
    (lambda: native.hue(bytearray(3), 0.1, bytes(5)), "hue: the table has 5 bytes, not 256"),
    (lambda: native.gray(bytes(3), bytes(300)), "gray: the table has 300 bytes, not 256"),
])  # fmt: skip
def test_bad_arguments_are_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        call()


def test_empty_images_are_fine():
    pixels = bytearray()
    native.hue(pixels, 0.2)
    native.saturation(pixels, 0.5)
    assert native.gray(b"") == b""
