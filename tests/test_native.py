"""The compiled kernels (``augment._native``) against torchvision's uint8 tensor
kernels, on every one of the 2^24 RGB colours: equal, bit for bit, in every build this
CPU runs (portable, AVX2, AVX2 with VBMI table lookups). ``tests/test_kernels.py``
checks ColorJitter as a whole on photos."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import pytest
import torch
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _rgb_to_grayscale_image

from augment import kernels as K

native = pytest.importorskip("augment._native") if os.environ.get("AUGMENT_ALLOW_NO_NATIVE") else None
if native is None:
    from augment import _native as native  # CI builds it: a silent build failure must fail here

BUILDS = list(native.BUILDS)
"""Every build this CPU runs (the portable one; on x86-64 AVX2, and AVX2 with AVX-512
VBMI table lookups): each must give the same bytes."""


@pytest.fixture(scope="module")
def every_colour() -> tuple[bytes, torch.Tensor]:
    """All 2^24 RGB colours, as packed pixels and as a (3, 4096, 4096) uint8 tensor."""
    c = np.arange(1 << 24, dtype=np.uint32)
    hwc = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], axis=-1).astype(np.uint8).reshape(4096, 4096, 3)
    return hwc.tobytes(), torch.from_numpy(hwc).permute(2, 0, 1).contiguous()


def _hwc(t: torch.Tensor) -> bytes:
    return t.permute(1, 2, 0).contiguous().numpy().tobytes()


def _padded(packed: bytes, pad: int = 0x5A) -> bytearray:
    """Packed RGB as Pillow keeps it: four bytes a pixel, the fourth a padding byte."""
    rgb = np.frombuffer(packed, dtype=np.uint8).reshape(-1, 3)
    return bytearray(np.concatenate([rgb, np.full((len(rgb), 1), pad, dtype=np.uint8)], axis=1).tobytes())


def test_the_fast_path_uses_the_compiled_kernels():
    assert K.NATIVE == native.VARIANT == native.BUILDS[-1]
    assert native.BUILDS[0] == "generic" and set(native.BUILDS) <= {"generic", "avx2", "vbmi"}


ADJUSTMENTS = {"hue": F.adjust_hue, "saturation": F.adjust_saturation}
CASES = ([("hue", factor) for factor in (-0.5, -0.2999, -0.0371, 0.0, 0.1, 0.25, 0.5)]
         + [("saturation", factor) for factor in (0.0, 0.6, 1.0, 1.37, 2.5)])


@pytest.mark.slow
@pytest.mark.parametrize("name, factor", CASES)
def test_adjustment_of_every_colour(name, factor, every_colour):
    packed, tensor = every_colour
    factor = float(np.float32(factor))  # what ColorJitter draws: float32 values
    expected = _hwc(ADJUSTMENTS[name](tensor, factor))
    for build in BUILDS:
        pixels = bytearray(packed)
        getattr(native, name)(pixels, factor, None, build)
        assert pixels == expected, (factor, build)
        four = _padded(packed)  # Pillow's layout: read and written in place, 8 pixels a word-vector
        getattr(native, name)(four, factor, None, build, 4)
        assert four == _padded(expected), (factor, build, 4)


@pytest.mark.parametrize("build", BUILDS)
def test_a_table_is_applied_as_the_pixels_are_read(build):
    """A pending brightness or contrast table, folded into the next pass, gives what
    applying it first gives."""
    rng = np.random.default_rng(0)
    pixels = bytearray(rng.integers(0, 256, 3 * 1001, dtype=np.uint8).tobytes())
    table = bytes(rng.integers(0, 256, 256, dtype=np.uint8).tobytes())
    mapped = bytearray(pixels)
    native.lut(mapped, table, 1, "generic")
    assert native.gray(pixels, table, build) == native.gray(mapped, None, "generic")
    for name, factor in [("hue", 0.3), ("saturation", 1.7)]:
        folded, first = bytearray(pixels), bytearray(mapped)
        getattr(native, name)(folded, factor, table, build)
        getattr(native, name)(first, factor, None, "generic")
        assert folded == first, name


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("with_table", [False, True])
def test_a_pixel_gets_the_same_value_wherever_it_falls_in_a_chunk(build, with_table):
    """The kernels convert 256 pixels at a time, a full chunk by a vectorised loop and
    the last, partial one by a plain loop: an image of any length gives each pixel
    what a longer image gives it."""
    rng = np.random.default_rng(1)
    pixels = bytearray(rng.integers(0, 256, 3 * 1024, dtype=np.uint8).tobytes())
    table = bytes(rng.integers(0, 256, 256, dtype=np.uint8).tobytes()) if with_table else None
    full_gray = native.gray(pixels, table, build)
    for name, factor in [("hue", -0.2), ("saturation", 0.6)]:
        full = bytearray(pixels)
        getattr(native, name)(full, factor, table, build)
        for n in (1, 255, 256, 257, 700):
            part = bytearray(pixels[: 3 * n])
            getattr(native, name)(part, factor, table, build)
            assert part == full[: 3 * n], (name, n)
            assert native.gray(pixels[: 3 * n], table, build) == full_gray[:n]
            assert native.gray_sum(pixels[: 3 * n], table, build) == sum(full_gray[:n])
            assert native.gray_sum(_padded(pixels[: 3 * n]), table, build, 4) == sum(full_gray[:n])


@pytest.mark.slow
def test_gray_of_every_colour(every_colour):
    """The floored gray adjust_contrast averages: torch computes it with fused
    multiply-adds, which the kernel must repeat (an unfused one is off for 21 colours)."""
    packed, tensor = every_colour
    expected = _rgb_to_grayscale_image(tensor, 1, preserve_dtype=False).floor_().to(torch.uint8).numpy().tobytes()
    for build in BUILDS:
        assert native.gray(packed, None, build) == expected
        assert native.gray(_padded(packed), None, build, 4) == expected, (build, 4)
    assert native.gray_sum(packed) == sum(expected)


@pytest.mark.parametrize("build", BUILDS)
def test_lut_maps_every_byte(build):
    pixels = bytearray(range(256)) * 3
    native.lut(pixels, bytes(255 - v for v in range(256)), 1, build)
    assert pixels == bytearray(255 - v for v in range(256)) * 3


@pytest.mark.parametrize("build", BUILDS)
def test_lut_of_any_length_leaves_the_bytes_around_it(build):
    """The vector lookup takes 64 bytes at a time and the rest with a masked load and
    store: every length maps every byte, and nothing beyond the buffer is written."""
    rng = np.random.default_rng(4)
    table = rng.integers(0, 256, 256, dtype=np.uint8)
    data = rng.integers(0, 256, 4 * 300, dtype=np.uint8)
    for stride in (1, 4):
        for n in [stride * k for k in (0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 299)]:
            whole = bytearray(data.tobytes())
            view = memoryview(whole)[4:4 + n]  # bytes before and after stay as they are
            native.lut(view, table.tobytes(), stride, build)
            out = np.frombuffer(whole, dtype=np.uint8)
            expected = data.copy()
            part = expected[4:4 + n].reshape(-1, stride)
            part[:, :3] = table[part[:, :3]]
            assert np.array_equal(out, expected), (stride, n)


def test_kernels_work_in_place_on_writable_buffers_only():
    with pytest.raises(TypeError):
        native.hue(bytes(3), 0.1)
    with pytest.raises(TypeError):
        native.saturation(bytes(3), 1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: native.hue(bytearray(4), 0.1), "4 bytes is not a whole number of 3-byte pixels"),
    (lambda: native.saturation(bytearray(5), 1.0), "5 bytes is not a whole number of 3-byte pixels"),
    (lambda: native.gray(bytes(7)), "7 bytes is not a whole number of 3-byte pixels"),
    (lambda: native.gray(bytes(6), None, None, 4), "6 bytes is not a whole number of 4-byte pixels"),
    (lambda: native.hue(bytearray(6), 0.1, None, None, 2), r"stride 2 is neither 3 \(RGB\) nor 4"),
    (lambda: native.hue(bytearray(6), 0.1, None, "neon"), "build neon is not one this CPU runs"),
    (lambda: native.gray(bytes(6), None, "sse9"), "gray: build sse9 is not one this CPU runs"),
    (lambda: native.lut(bytearray(6), bytes(256), 1, "sse9"), "lut: build sse9 is not one this CPU runs"),
    (lambda: native.affine_nearest(bytes(4), 1, 1, bytearray(4), 1, 1, 3, (1, 0, 0, 0, 1, 0)), "stride 3 is neither"),
    (lambda: native.affine_nearest(bytes(4), 2, 1, bytearray(4), 1, 1, 4, (1, 0, 0, 0, 1, 0)),
     "4 and 4 bytes are not 2x1 and 1x1 pixels of 4 bytes"),
    (lambda: native.lut(bytearray(6), bytes(256), 3), "stride 3 is neither 1 nor 4"),
    (lambda: native.blend_table(-0.5, 3.0), "ratio -0.5 is negative"),
    (lambda: native.drop_padding(bytes(12), 2), "12 bytes is not whole rows of 2 4-byte pixels"),
    (lambda: native.add_padding(bytes(6), bytearray(4)), "6 bytes of RGB do not fill 4 bytes of 4-byte pixels"),
    (lambda: native.drop_padding(bytes(16), 2, (0, 0, 3, 1)), r"box \(0, 0, 3, 1\) is not inside the 2x2 image"),
    (lambda: native.drop_padding(bytes(16), 2, (1, 1, 0, 2)), "is not inside the 2x2 image"),
    (lambda: native.resize_bilinear(bytes(12), 0, 6, 0, 2, 3, bytearray(4), 1, 1), "do not hold 2 rows of 0 3-byte"),
    (lambda: native.resize_bilinear(bytes(12), 0, 6, 2, 2, 2, bytearray(4), 1, 1), "stride 2 is neither 3 nor 4"),
    (lambda: native.resize_bilinear(bytes(12), 0, 5, 2, 2, 3, bytearray(4), 1, 1), "12 bytes do not hold 2 rows"),
    (lambda: native.resize_bilinear(bytes(12), 1, 6, 2, 2, 3, bytearray(4), 1, 1), "12 bytes do not hold 2 rows"),
    (lambda: native.resize_bilinear(bytes(12), 0, 6, 2, 2, 3, bytearray(5), 1, 1), "5 bytes are not 1x1 4-byte"),
    (lambda: native.resize_bilinear(bytes(12), 0, 6, 2, 2, 3, bytearray(0), 0, 1), "0 bytes are not 0x1 4-byte"),
    (lambda: native.resize_bilinear(bytes(12), 0, 6, 2, 2, 3, bytearray(4), 1, 1, "sse9"), "build sse9 is not"),
    (lambda: native.hue(bytearray(3), 0.6), "factor 0.6 is not in [-0.5, 0.5]"),
    (lambda: native.saturation(bytearray(3), -1.0), "factor -1.0 is negative"),
    (lambda: native.lut(bytearray(3), bytes(255)), "the table has 255 bytes, not 256"),
    (lambda: native.hue(bytearray(3), 0.1, bytes(5)), "hue: the table has 5 bytes, not 256"),
    (lambda: native.gray(bytes(3), bytes(300)), "gray: the table has 300 bytes, not 256"),
    (lambda: native.gray_sum(bytes(7)), "gray_sum: 7 bytes is not a whole number of 3-byte pixels"),
    (lambda: native.gray_sum(bytes(8), bytes(2), None, 4), "gray_sum: the table has 2 bytes, not 256"),
    (lambda: native.gray_sum(bytes(6), None, "sse9"), "gray_sum: build sse9 is not one this CPU runs"),
])  # fmt: skip
def test_bad_arguments_are_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_empty_images_are_fine():
    pixels = bytearray()
    native.hue(pixels, 0.2)
    native.saturation(pixels, 0.5)
    assert native.gray(b"") == b""


@pytest.mark.parametrize("build", BUILDS)
def test_four_byte_pixels_give_what_packed_ones_give_and_keep_their_padding(build):
    """Pillow keeps RGB pixels in four bytes, the fourth a padding byte: the kernels read
    and write that memory in place (stride 4) and leave the padding as it was."""
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (1000, 3), dtype=np.uint8)
    padded = np.concatenate([rgb, rng.integers(0, 256, (1000, 1), dtype=np.uint8)], axis=1)
    table = bytes(rng.integers(0, 256, 256, dtype=np.uint8).tobytes())
    for pending in (None, table):
        assert native.gray(padded.tobytes(), pending, build, 4) == native.gray(rgb.tobytes(), pending, build)
        for name, factor in [("hue", 0.4), ("saturation", 0.3)]:
            packed, four = bytearray(rgb.tobytes()), bytearray(padded.tobytes())
            getattr(native, name)(packed, factor, pending, build)
            getattr(native, name)(four, factor, pending, build, 4)
            out = np.frombuffer(four, dtype=np.uint8).reshape(1000, 4)
            assert out[:, :3].tobytes() == bytes(packed), name
            assert np.array_equal(out[:, 3], padded[:, 3]), name
    four = bytearray(padded.tobytes())
    native.lut(four, table, 4)
    out = np.frombuffer(four, dtype=np.uint8).reshape(1000, 4)
    assert np.array_equal(out[:, :3], np.frombuffer(table, dtype=np.uint8)[rgb])
    assert np.array_equal(out[:, 3], padded[:, 3])


def _check_affine(rng, sw, sh, dw, dh, stride, matrix):
    src = rng.integers(0, 256, stride * sw * sh, dtype=np.uint8).tobytes()
    outs = []
    for build in BUILDS:
        dst = bytearray([0xA5]) * (stride * dw * dh)
        assert native.affine_nearest(src, sw, sh, dst, dw, dh, stride, matrix, build) is True
        outs.append(bytes(dst))
    assert len(set(outs)) == 1, (sw, sh, dw, dh, matrix)
    # pixel by pixel, as Pillow's affine_fixed states it, in Python's unbounded integers
    fix = lambda v: int(np.floor(v * 65536.0 + 0.5))  # noqa: E731
    a0, a1, a3, a4 = fix(matrix[0]), fix(matrix[1]), fix(matrix[3]), fix(matrix[4])
    a2 = fix(matrix[2] + matrix[0] * 0.5 + matrix[1] * 0.5)
    a5 = fix(matrix[5] + matrix[3] * 0.5 + matrix[4] * 0.5)
    x, y = np.meshgrid(np.arange(dw, dtype=np.int64), np.arange(dh, dtype=np.int64))
    xin, yin = (a2 + y * a1 + x * a0) >> 16, (a5 + y * a4 + x * a3) >> 16
    inside = (xin >= 0) & (xin < sw) & (yin >= 0) & (yin < sh)
    source = np.frombuffer(src, dtype=np.uint8).reshape(sh, sw, stride)
    expected = np.full((dh, dw, stride), 0xA5, dtype=np.uint8)
    expected[inside] = source[yin[inside], xin[inside]]
    assert outs[0] == expected.tobytes(), (sw, sh, dw, dh, matrix)


@pytest.mark.parametrize("stride", [1, 4])
def test_affine_nearest_is_the_same_in_every_build_and_leaves_outside_pixels(stride):
    """Pillow's fixed-point nearest-neighbour affine map: the AVX2 build gathers 8 pixels
    at a time, the portable one goes pixel by pixel; both leave the pixels that map
    outside the source as they were (the fill)."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        sw, sh, dw, dh = (int(v) for v in rng.integers(1, 70, 4))
        angle, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.5, 2.0)
        matrix = (scale * np.cos(angle), scale * np.sin(angle), rng.uniform(-80, 80),
                  -scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-80, 80))
        _check_affine(rng, sw, sh, dw, dh, stride, matrix)
    # corners inside the fixed-point range, while a row's start alone (y * a1) is not
    _check_affine(rng, 3, 3, 9, 3, stride, (1.0, -21000.0, 32000.0, 0.5, 1.0, 0.0))


def test_affine_nearest_leaves_pillows_other_paths_to_pillow():
    """A scaling matrix, or corners beyond 16.16 fixed point: False, nothing written."""
    dst = bytearray(4 * 6)
    for matrix in [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.5, 0.0, 3.0, 0.0, 2.0, 1.0),
                   (1.0, 0.1, 40000.0, 0.1, 1.0, 0.0), (0.9, 0.4, 0.0, -0.4, 0.9, -32767.9)]:
        assert native.affine_nearest(bytes(4 * 6), 3, 2, dst, 3, 2, 4, matrix) is False
    assert dst == bytearray(4 * 6)


def _torch_blend(ratio: float, other: float) -> bytes:
    """torchvision's uint8 _blend(image, other, ratio), on the 256 values (as the tensor
    kernel broadcasts a (1, 1, 1) mean)."""
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 256)
    out = values.mul(ratio).add_(torch.tensor(other, dtype=torch.float32).view(1, 1, 1), alpha=1.0 - ratio)
    return out.clamp_(0, 255).to(torch.uint8).view(256).numpy().tobytes()


def test_blend_tables_are_torchvisions_brightness_and_contrast():
    rng = np.random.default_rng(3)
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 256)
    ratios = [0.0, 0.6, 1.0, 1.4, 3.0] + [float(np.float32(r)) for r in rng.uniform(0, 2, 200)]
    for ratio in ratios:
        brightness = F.adjust_brightness(values, ratio).view(256).numpy().tobytes()
        assert native.blend_table(ratio, 0.0) == brightness, ratio
        for other in [0.0, 255.0, 127.5, *rng.uniform(0, 255, 5).astype(np.float32).tolist()]:
            assert native.blend_table(ratio, other) == _torch_blend(ratio, other), (ratio, other)


def test_drop_padding_copies_the_whole_image_or_a_box():
    rng = np.random.default_rng(4)
    padded = rng.integers(0, 256, (7, 9, 4), dtype=np.uint8)
    assert bytes(native.drop_padding(padded.tobytes(), 9)) == padded[:, :, :3].tobytes()
    for left, top, right, bottom in [(0, 0, 9, 7), (2, 3, 5, 4), (8, 6, 9, 7), (4, 4, 4, 6)]:
        got = native.drop_padding(padded.tobytes(), 9, (left, top, right, bottom))
        assert bytes(got) == padded[top:bottom, left:right, :3].tobytes(), (left, top, right, bottom)


@pytest.mark.skipif(not hasattr(PIL.Image.Image, "__arrow_c_array__"), reason="Pillow < 11.2 has no Arrow export")
def test_add_padding_is_the_reverse_of_drop_padding_at_any_length():
    """Four pixels per vector step, the rest one by one: every length from 0 to 40
    pixels, the padding byte 255 as Pillow's RGB unpacker writes it, nothing written
    beyond the buffer."""
    rng = np.random.default_rng(6)
    for n in range(41):
        rgb = rng.integers(0, 256, 3 * n, dtype=np.uint8).tobytes()
        whole = bytearray(b"\x5a" * (4 * n + 8))
        native.add_padding(rgb, memoryview(whole)[4:4 + 4 * n])
        assert whole[:4] == whole[4 + 4 * n:] == b"\x5a" * 4
        pixels = bytes(whole[4:4 + 4 * n])
        assert pixels[3::4] == b"\xff" * n
        if n:
            assert bytes(native.drop_padding(pixels, n)) == rgb
    image = PIL.Image.frombytes("RGB", (7, 3), rgb := rng.integers(0, 256, 63, dtype=np.uint8).tobytes())
    mine = PIL.Image.new("RGB", (7, 3))
    native.add_padding(rgb, K._pixels(mine))
    assert mine.tobytes() == image.tobytes() and bytes(K._pixels(mine)) == bytes(K._pixels(image))


def test_memory_is_the_images_own_and_outlives_it():
    img = PIL.Image.new("RGB", (3, 2), (10, 20, 30))
    memory = native.memory(img.__arrow_c_array__()[1], 3 * 2 * 4)
    view = np.frombuffer(memory, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(view[:, :, :3], np.array(img))
    view[1, 2, :3] = (1, 2, 3)  # writes go to the image
    assert img.getpixel((2, 1)) == (1, 2, 3)
    del img  # the memory holds the image's pixels alive
    assert view[1, 2, :3].tolist() == [1, 2, 3] and view[0, 0, :3].tolist() == [10, 20, 30]
    gray = PIL.Image.new("L", (4, 5), 9)
    assert bytes(native.memory(gray.__arrow_c_array__()[1], 20)) == bytes([9] * 20)
    with pytest.raises(ValueError, match="not an array of 21 bytes"):
        native.memory(gray.__arrow_c_array__()[1], 21)
    with pytest.raises(ValueError):  # the wrong capsule
        native.memory(gray.__arrow_c_array__()[0], 20)


def _resize_reference(pixels: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """torchvision's resize of a uint8 (H, W, 3) image, antialiased bilinear, as (H, W, 3)."""
    t = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)
    return F.resize(t, [out_h, out_w], antialias=True).permute(1, 2, 0).numpy()


def _resize(src: bytes, offset: int, row: int, w: int, h: int, stride: int, out_w: int, out_h: int,
            build: str) -> np.ndarray:
    dst = bytearray(b"\x5a" * (4 * out_w * out_h))
    native.resize_bilinear(src, offset, row, w, h, stride, dst, out_w, out_h, build)
    out = np.frombuffer(bytes(dst), dtype=np.uint8).reshape(out_h, out_w, 4)
    assert (out[..., 3] == 255).all(), "the padding byte is Pillow's 255"
    return out[..., :3]


@pytest.mark.parametrize("build", BUILDS)
def test_resize_bilinear_is_torchvisions_uint8_resize(build):
    """Byte for byte torchvision's antialiased bilinear resize of uint8 images (torch's
    integer kernel): down and up, one axis or both or neither, of a whole image or a box
    of a bigger one, from packed RGB or from 4-byte pixels whose padding byte is noise;
    flat, random and black-and-white pixels (which reach the clamp at 0 and 255)."""
    rng = np.random.default_rng(11)
    for case in range(400):
        big_h, big_w = (int(v) for v in rng.integers(1, 300, 2))
        top, left = int(rng.integers(0, big_h)), int(rng.integers(0, big_w))
        h, w = int(rng.integers(1, big_h - top + 1)), int(rng.integers(1, big_w - left + 1))
        other_h, other_w = int(rng.integers(1, 250)), int(rng.integers(1, 250))
        out_h, out_w = [(other_h, other_w), (224, 224), (h, other_w), (other_h, w), (h, w)][case % 5]
        kind = case % 3
        image = (rng.integers(0, 256, (big_h, big_w, 3), dtype=np.uint8) if kind == 0 else
                 np.full((big_h, big_w, 3), rng.integers(0, 256), dtype=np.uint8) if kind == 1 else
                 np.where(rng.random((big_h, big_w, 3)) < 0.5, 0, 255).astype(np.uint8))
        expected = _resize_reference(image[top:top + h, left:left + w], out_h, out_w)
        noise = rng.integers(0, 256, (big_h, big_w, 1), dtype=np.uint8)
        for stride, pixels in ((3, image), (4, np.concatenate([image, noise], axis=2))):
            whole = _resize(pixels.tobytes(), stride * (top * big_w + left), stride * big_w, w, h, stride, out_w, out_h,
                            build)
            box = np.ascontiguousarray(pixels[top:top + h, left:left + w]).tobytes()
            alone = _resize(box, 0, stride * w, w, h, stride, out_w, out_h, build)
            assert np.array_equal(whole, expected), (case, stride, h, w, out_h, out_w)
            assert np.array_equal(alone, expected), (case, stride, h, w, out_h, out_w)


_GUARDED = """
import ctypes, mmap, sys
import numpy as np
from augment import _native
PAGE = mmap.PAGESIZE
area = mmap.mmap(-1, 2 * PAGE)
base = ctypes.addressof(ctypes.c_char.from_buffer(area))
assert ctypes.CDLL(None).mprotect(ctypes.c_void_p(base + PAGE), PAGE, 0) == 0  # the next page: no access
rng = np.random.default_rng(12)
for build in _native.BUILDS:
    for stride in (3, 4):
        for w in range(1, 12):
            for h in range(1, 5):
                n = stride * w * h
                area[PAGE - n:PAGE] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
                src = memoryview(area)[PAGE - n:PAGE]  # the image's last byte is the page's
                for out_w, out_h in ((1, 1), (w, 7), (9, h), (2 * w + 1, 3), (max(1, w // 2), max(1, h // 2))):
                    _native.resize_bilinear(src, 0, stride * w, w, h, stride, bytearray(4 * out_w * out_h), out_w,
                                            out_h, build)
                del src
print("read nothing past the buffer")
"""


def test_resize_bilinear_reads_nothing_past_its_buffer():
    """The vector code reads 8 bytes at a time, past the pixels it needs: never past the
    buffer. Each image ends where a page that cannot be read begins; a read beyond it
    would kill the process."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _GUARDED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "read nothing past the buffer" in done.stdout, done.stderr[-2000:]
