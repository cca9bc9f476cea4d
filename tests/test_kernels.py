"""The fast kernels against torchvision's tensor kernels, op by op, on real photos.

``kernels: fast`` and ``kernels: torchvision`` must draw the same parameters and give
images of the same size whose pixels differ by at most the bounds below (mean and
maximum absolute difference per channel, in 8-bit levels). The table in augment/KERNELS.md
(moved there from the README, which now links to it) is checked against these bounds, so the
documentation cannot drift from what is tested.
"""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from augment import kernels as K
from augment.images import open_image
from augment.ops import op_names
from augment.pipeline import OpFailed, Pipeline, derive_seed
from augment.samples import list_samples, samples_dir
from tests.conftest import needs_native, through_the_job_path
from tests.op_cases import OP_CASES, one_op_spec

GEOMETRY = (1.5, 255)
"""Resampling ops: Pillow and torch sample a rotated/warped border differently (one
kernel takes the fill where the other takes an image pixel), so the maximum is a
border pixel; inside, the mean bounds the difference."""

BOUNDS: dict[str, tuple[float, int]] = {
    "Resize": (0, 0), "CenterCrop": (0, 0), "RandomCrop": (0, 0), "RandomResizedCrop": (0, 0),
    "RandomHorizontalFlip": (0, 0), "RandomVerticalFlip": (0, 0), "RandomRotation": GEOMETRY,
    "RandomAffine": GEOMETRY, "RandomPerspective": GEOMETRY, "ElasticTransform": (0, 0),
    "ColorJitter": (0, 0), "RandomGrayscale": (0, 0), "GaussianBlur": (0, 0), "GaussianNoise": (0, 0),
    "RandomInvert": (0, 0), "RandomPosterize": (0, 0), "RandomSolarize": (0, 0), "RandomAdjustSharpness": (0, 0),
    "RandomAutocontrast": (0, 0), "RandomEqualize": (0, 0), "JPEG": (0, 0), "AutoAugment": GEOMETRY,
    "RandAugment": GEOMETRY, "TrivialAugmentWide": GEOMETRY, "AugMix": (0, 0), "RandomErasing": (0, 0),
    "RandomApply": GEOMETRY, "RandomChoice": (0, 0), "RandomOrder": GEOMETRY,
}  # fmt: skip
"""Per op: (mean, max) absolute difference per channel; containers and policies take
the bound of what they can run."""

REDUCED = (1.5, 32)
"""``RandomResizedCrop`` or ``Resize`` as the first op, on a JPEG the fast path decodes
at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling is a different low-pass filter
from Pillow's and torch's antialiasing: the maximum is at sharp edges)."""
REDUCED_ROW = "| `RandomResizedCrop` or `Resize` first, JPEG decoded at a reduced size |"


@pytest.fixture(scope="module")
def photos() -> list[tuple[str, PIL.Image.Image]]:
    """Every bundled photo (one is grayscale) at most 192 px."""
    found = []
    for name in list_samples():
        with PIL.Image.open(samples_dir() / name) as img:
            img.thumbnail((192, 192))
            found.append((name, img.convert("L" if img.mode == "L" else "RGB")))
    return found


def _difference(a, b) -> tuple[float, int]:
    d = (K.to_tensor(a).int() - K.to_tensor(b).int()).abs().float()
    return d.mean(dim=(1, 2)).max().item(), int(d.max().item())


def test_every_op_has_a_bound():
    assert set(BOUNDS) == set(op_names())


@pytest.mark.parametrize("name", list(OP_CASES))
def test_fast_kernels_stay_within_their_bound_of_torchvision(name, photos):
    bound_mean, bound_max = BOUNDS[name]
    worst = (0.0, 0)
    for params in OP_CASES[name]:
        fast = Pipeline({**one_op_spec(name, params), "kernels": "fast"})
        reference = Pipeline({**one_op_spec(name, params), "kernels": "torchvision"})
        for (photo, image), copy in itertools.product(photos, range(2)):
            seed = derive_seed(3, photo, copy)
            try:
                expected, expected_rec = reference.apply(image, seed)
            except OpFailed:  # a colour fill on the grayscale photo: both refuse (test_pipeline)
                with pytest.raises(OpFailed):
                    fast.apply(image, seed)
                continue
            got, rec = fast.apply(image, seed)
            assert rec == expected_rec, "the same parameters are drawn"
            assert got.size == expected.size and got.mode == expected.mode
            mean, peak = _difference(got, expected)
            worst = (max(worst[0], mean), max(worst[1], peak))
    assert worst[0] <= bound_mean and worst[1] <= bound_max, f"{name}: {worst} exceeds {BOUNDS[name]}"


@pytest.mark.parametrize("name, params", [
    ("RandomResizedCrop", {"size": 48}), ("RandomResizedCrop", {"size": 96}),
    ("RandomResizedCrop", {"size": [64, 96], "scale": [0.3, 0.9], "ratio": [0.5, 2.0], "interpolation": "bicubic"}),
    ("Resize", {"size": 64}), ("Resize", {"size": 100, "interpolation": "bicubic"}), ("Resize", {"size": [40, 60]}),
    ("Resize", {"size": None, "max_size": 100}), ("Resize", {"size": 48, "max_size": 60}),
])  # fmt: skip
def test_reduced_jpeg_decoding_stays_within_its_bound(name, params):
    """Full-size JPEGs through the job's path (a Source), against torchvision's tensor
    kernel on the fully decoded image."""
    fast = Pipeline({**one_op_spec(name, params), "kernels": "fast"})
    reference = Pipeline({**one_op_spec(name, params), "kernels": "torchvision"})
    worst, reductions = (0.0, 0), []
    for _, source, (got, rec), (expected, expected_rec) in through_the_job_path(fast, reference, 4, 1):
        assert rec == expected_rec and got.size == expected.size
        reductions.append(max(source._decoded, default=1))  # none: the crop decoded in part
        mean, peak = _difference(got, expected)
        worst = (max(worst[0], mean), max(worst[1], peak))
    assert sum(r > 1 for r in reductions) >= len(reductions) // 6, "a good share of these decode reduced"
    assert worst[0] <= REDUCED[0] and worst[1] <= REDUCED[1], worst


@pytest.mark.parametrize("kind", ["exif-rotated", "cmyk", "gray"])
def test_reduced_decoding_of_odd_jpegs(kind):
    """EXIF orientation, CMYK and grayscale JPEGs decode reduced and upright, as in full."""
    import io

    with PIL.Image.open(samples_dir() / "coffee.jpg") as photo:  # 600 x 400
        base = photo.convert("RGB")
    buf, exif = io.BytesIO(), PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to show
    {"exif-rotated": lambda: base.save(buf, "JPEG", quality=95, exif=exif.tobytes()),
     "cmyk": lambda: base.convert("CMYK").save(buf, "JPEG", quality=95),
     "gray": lambda: base.convert("L").save(buf, "JPEG", quality=95)}[kind]()
    spec = {"version": 1, "ops": [{"Resize": {"size": 64}}]}
    source = open_image(buf.getvalue())
    got, _ = Pipeline(spec).apply(source, 1)
    expected, _ = Pipeline({**spec, "kernels": "torchvision"}).apply(open_image(buf.getvalue()), 1)
    assert set(source._decoded) == {2}
    assert got.size == expected.size == ((64, 96) if kind == "exif-rotated" else (96, 64))
    assert got.mode == expected.mode == ("L" if kind == "gray" else "RGB")
    mean, peak = _difference(got, expected)
    assert mean <= REDUCED[0] and peak <= REDUCED[1]


def test_no_reduced_decoding_unless_the_first_op_discards_the_resolution():
    data = (samples_dir() / "astronaut.jpg").read_bytes()  # 512 x 512
    for spec, expected in (({"Resize": {"size": 300}}, {1}), ({"Resize": {"size": 128}}, {2}),
                           ({"Resize": {"size": 64}}, {4}), ({"CenterCrop": {"size": 64}}, {1})):
        source = open_image(data)
        Pipeline({"version": 1, "ops": [spec]}).apply(source, 1)
        assert set(source._decoded) == expected, spec
        source = open_image(data)
        Pipeline({"version": 1, "ops": [spec], "kernels": "torchvision"}).apply(source, 1)
        assert set(source._decoded) == {1}, "the reference always decodes in full"


def test_kernels_md_documents_the_tested_bounds():
    text = (Path(__file__).parents[1] / "augment" / "KERNELS.md").read_text()
    assert f"{REDUCED_ROW} {REDUCED[0]:g} / {REDUCED[1]} |" in text
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, flags=re.M))
    for name, (mean, peak) in BOUNDS.items():
        assert name in rows, f"KERNELS.md's table lacks {name}"
        assert rows[name].strip() == f"{mean:g} / {peak}", f"KERNELS.md's bound for {name}: {rows[name]!r}"


# ---------------------------------------------------------------------------
# ColorJitter: exactly torchvision's tensor kernel, with or without the compiled kernels.


def _as_tensor(img):
    return K.to_tensor(img).as_subclass(torch.Tensor)


def _odd_images(photos):
    """The photos, plus sizes whose pixel count is no multiple of a vector's lanes,
    one row, and one pixel: torch's scalar tails and the kernels' partial chunks."""
    rgb = photos[0][1].convert("RGB")
    return [im for _, im in photos] + [rgb.resize((223, 151)), rgb.crop((0, 0, 301, 1)), rgb.crop((5, 5, 6, 6))]


@needs_native  # without the compiled kernels it checks torchvision against itself
@pytest.mark.parametrize("factors", [(1.3, 0.7, 1.4, -0.08), (0.6, 1.4, 0.0, 0.5), (1.0, 0.0, 2.0, -0.5),
                                     (1.9, 3.0, 0.3, 0.0)])
def test_color_jitter_is_torchvision_exactly_in_every_order(factors, photos):
    jitter = v2.ColorJitter(0.4, 0.4, 0.4, 0.1)
    kernel = K.FAST_TRANSFORMS["ColorJitter"](jitter.transform)  # what the fast pipeline runs
    bf, cf, sf, hf = factors
    for img in _odd_images(photos):
        tensor = _as_tensor(img)
        for order in itertools.permutations(range(4)):
            params = {"fn_idx": torch.tensor(order), "brightness_factor": bf, "contrast_factor": cf,
                      "saturation_factor": sf, "hue_factor": hf}
            got = _as_tensor(kernel(img, params))
            assert torch.equal(got, jitter.transform(tensor, params)), (img.size, img.mode, order)


@needs_native
def test_color_jitter_is_exact_on_full_size_photos():
    """Past 65,793 pixels a float32 sum of gray levels rounds, so contrast's mean is only
    exact because torch computes it, on the same (1, H, W) plane as torchvision does."""
    jitter = v2.ColorJitter(0.4, 0.4, 0.4, 0.1)
    kernel = K.FAST_TRANSFORMS["ColorJitter"](jitter.transform)
    for name in list_samples():
        with PIL.Image.open(samples_dir() / name) as img:
            img = img.convert("L" if img.mode == "L" else "RGB")
        assert img.width * img.height > 65_793
        for order in ([1, 0, 2, 3], [0, 1, 3, 2], [3, 2, 1, 0]):
            params = {"fn_idx": torch.tensor(order), "brightness_factor": 1.3, "contrast_factor": 0.55,
                      "saturation_factor": 1.4, "hue_factor": -0.08}
            expected = jitter.transform(_as_tensor(img), params)
            assert torch.equal(_as_tensor(kernel(img, params)), expected), (name, order)


@needs_native
@pytest.mark.parametrize("pixels", [K._EXACT_SUMS, K._EXACT_SUMS + 1])
@pytest.mark.parametrize("fill", ["white", "bright noise"])
def test_contrast_mean_is_exact_at_the_largest_exact_sum(pixels, fill):
    """Up to 65,793 pixels the mean is an integer sum over a float32 division; one more
    pixel, and torch averages. Both at the edge, white (the largest sum: 2^24 - 1 at the
    edge) and bright noise, whose partial sums would round first if any could."""
    rng = np.random.default_rng(pixels)
    shape = (1, pixels, 3)  # one row: any count of pixels
    rgb = np.full(shape, 255, np.uint8) if fill == "white" else rng.integers(200, 256, shape, dtype=np.uint8)
    img = PIL.Image.fromarray(rgb)
    tensor = _as_tensor(img)
    for order in ([1, 0, 2, 3], [0, 1, 2, 3]):  # contrast on the pixels, and through a brightness table
        params = {"fn_idx": torch.tensor(order), "brightness_factor": 0.9, "contrast_factor": 0.55,
                  "saturation_factor": None, "hue_factor": None}
        expected = (F.adjust_brightness(F.adjust_contrast(tensor, 0.55), 0.9) if order[0] == 1
                    else F.adjust_contrast(F.adjust_brightness(tensor, 0.9), 0.55))
        assert torch.equal(_as_tensor(K.color_jitter(img, params)), expected), order


@needs_native
def test_color_jitter_skips_the_adjustments_not_drawn(photos):
    img = photos[0][1]
    params = {"fn_idx": torch.tensor([3, 1, 0, 2]), "brightness_factor": None, "contrast_factor": None,
              "saturation_factor": None, "hue_factor": None}
    assert K.color_jitter(img, params) is img
    params["contrast_factor"] = 0.5
    assert torch.equal(_as_tensor(K.color_jitter(img, params)), F.adjust_contrast(_as_tensor(img), 0.5))


@needs_native
def test_without_compiled_kernels_color_jitter_runs_torchvision_itself(photos, monkeypatch):
    """An install without a C compiler: the same bytes, from torchvision's kernel."""
    monkeypatch.setattr(K, "_native", None)
    kernel = K.FAST_TRANSFORMS["ColorJitter"](v2.ColorJitter(0.4, 0.4, 0.4, 0.1).transform)
    assert kernel is not K.color_jitter
    img = photos[0][1]
    params = {"fn_idx": torch.tensor([2, 0, 3, 1]), "brightness_factor": 1.2, "contrast_factor": 0.8,
              "saturation_factor": 1.5, "hue_factor": 0.2}
    monkeypatch.undo()
    assert K.NATIVE, "this check compares with the compiled kernels"
    assert torch.equal(_as_tensor(kernel(img, params)), _as_tensor(K.color_jitter(img, params)))


@needs_native
def test_kernels_give_the_same_bytes_without_zero_copy_access(photos, monkeypatch):
    """Where Pillow's memory cannot be reached without a copy (a Pillow before 11.2, an
    image Pillow keeps in several blocks), the kernels copy the pixels out and back:
    the same bytes."""
    jitter = v2.ColorJitter(0.4, 0.4, 0.4, 0.1)
    crop = v2.RandomResizedCrop(57)
    kernels = {name: K.FAST_TRANSFORMS[name](t.transform) for name, t in
               [("ColorJitter", jitter), ("RandomResizedCrop", crop), ("Resize", v2.Resize(41)),
                ("RandomGrayscale", v2.RandomGrayscale(p=1.0)), ("RandomRotation", v2.RandomRotation(15))]}

    def outputs():
        torch.manual_seed(0)
        got = []
        for img in _odd_images(photos):
            for order in ([1, 0, 2, 3], [3, 2, 1, 0], [0, 3, 1, 2]):
                params = {"fn_idx": torch.tensor(order), "brightness_factor": 1.3, "contrast_factor": 0.7,
                          "saturation_factor": 1.4, "hue_factor": -0.08}
                got.append(kernels["ColorJitter"](img, params).tobytes())
            got.append(kernels["RandomResizedCrop"](img, crop.make_params([img])).tobytes())
            got.append(kernels["Resize"](img, v2.Resize(41).make_params([img])).tobytes())
            got.append(kernels["RandomGrayscale"](img, {"num_input_channels": 3 if img.mode == "RGB" else 1}).tobytes())
            got.append(kernels["RandomRotation"](img, {"angle": 11.5}).tobytes())
        return got

    zero_copy = outputs()
    if hasattr(PIL.Image.Image, "__arrow_c_array__"):
        assert K._pixels(photos[0][1]) is not None, "this Pillow exports its memory: both paths are compared"
    monkeypatch.setattr(K, "_pixels", lambda img: None)
    assert outputs() == zero_copy


@needs_native
@pytest.mark.skipif(not hasattr(PIL.Image.Image, "__arrow_c_array__"), reason="Pillow < 11.2 has no Arrow export")
def test_an_export_in_another_layout_is_not_used(monkeypatch):
    """A Pillow whose export of RGB is not four bytes a pixel: the kernels copy instead."""
    img = PIL.Image.new("RGB", (6, 4), (1, 2, 3))
    assert K._pixels(img) is not None
    gray = PIL.Image.new("L", (6, 4)).__arrow_c_array__()  # one byte a pixel
    monkeypatch.setattr(PIL.Image.Image, "__arrow_c_array__", lambda self, schema=None: gray)
    assert K._pixels(img) is None


@needs_native
def test_an_image_in_several_blocks_is_copied_instead():
    """Pillow keeps an image over 16 MiB in several blocks, which it does not export."""
    img = PIL.Image.new("RGB", (3000, 2000), (200, 40, 90))
    assert K._pixels(img) is None
    params = {"fn_idx": torch.tensor([2, 3, 1, 0]), "brightness_factor": 1.1, "contrast_factor": 0.9,
              "saturation_factor": 0.5, "hue_factor": 0.3}
    expected = v2.ColorJitter(0.4, 0.4, 0.4, 0.1).transform(_as_tensor(img.crop((0, 0, 8, 8))), params)
    assert torch.equal(_as_tensor(K.color_jitter(img, params).crop((0, 0, 8, 8))), expected)


# ---------------------------------------------------------------------------
# RandomGrayscale and RandomAutocontrast: exact, including flat channels and one channel.


def _flat_images(photos):
    rgb = photos[0][1].convert("RGB")
    r, _, b = rgb.split()
    return [PIL.Image.new("RGB", (17, 9), (40, 40, 40)), PIL.Image.new("L", (5, 3), 7),
            PIL.Image.merge("RGB", (r, PIL.Image.new("L", rgb.size, 200), b)), rgb.crop((3, 3, 4, 4))]


def test_autocontrast_is_exact_on_flat_channels_too(photos):
    for img in _flat_images(photos) + [im for _, im in photos]:
        assert torch.equal(_as_tensor(K.autocontrast(img, {})), F.autocontrast(_as_tensor(img))), (img.mode, img.size)


@needs_native
@pytest.mark.parametrize("channels", [1, 3])
def test_grayscale_is_exact(channels, photos):
    kernel = K.FAST_TRANSFORMS["RandomGrayscale"](v2.RandomGrayscale(p=1.0).transform)
    for img in _flat_images(photos) + [im for _, im in photos]:
        params = {"num_input_channels": channels if img.mode == "RGB" else 1}
        got = kernel(img, params)
        expected = F.rgb_to_grayscale(_as_tensor(img), num_output_channels=params["num_input_channels"])
        assert got.mode == ("RGB" if params["num_input_channels"] == 3 else "L")
        assert torch.equal(_as_tensor(got), expected), (img.mode, img.size)


# ---------------------------------------------------------------------------
# RandomRotation: Pillow's rotate, with the transform computed by the compiled kernel.


def _rotation_cases(n: int):
    """Random images (RGB and L, 1 to 150 px, some square), angles (uniform, small,
    multiples of 90°, near 0 and 360), centers (none, inside, outside) and fills."""
    rng = random.Random(0)
    pixels = np.random.default_rng(0)
    for _ in range(n):
        w, h = rng.randint(1, 150), rng.randint(1, 150)
        h = w if rng.random() < 0.2 else h
        mode = rng.choice(["RGB", "RGB", "L"])
        img = PIL.Image.fromarray(pixels.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8))
        center = rng.choice([None, None, [rng.uniform(-50, w + 50), rng.uniform(-50, h + 50)], [w / 2, h / 2]])
        fill = rng.choice([0, 255, [1, 2, 3] if mode == "RGB" else 7])
        angle = rng.choice([rng.uniform(-180, 180), rng.uniform(-15, 15), 0.0, 90.0, -90.0, 180.0, 270.0, 45.0,
                            1e-9, 359.9999999])
        yield img, v2.RandomRotation(180, center=center, fill=fill), {"angle": angle}


_affine_nearest = K._native.affine_nearest if K._native is not None else None


@needs_native
def test_rotation_is_pillows_rotate_byte_for_byte(monkeypatch):
    """torchvision's PIL kernel calls Pillow's rotate; the fast kernel computes Pillow's
    fixed-point transform itself (or hands Pillow the cases it computes another way:
    multiples of 90°, or a matrix beyond its fixed-point range): the same bytes."""
    native = K._native
    compiled = []
    monkeypatch.setattr(native, "affine_nearest", lambda *a: compiled.append(1) or _affine_nearest(*a))
    for img, transform, params in _rotation_cases(600):
        expected = transform.transform(img, params)
        got = K.FAST_TRANSFORMS["RandomRotation"](transform.transform)(img, params)
        assert (got.mode, got.size, got.tobytes()) == (expected.mode, expected.size, expected.tobytes()), (
            img.mode, img.size, transform.center, transform.fill, params)
    assert len(compiled) > 450, "most cases ran the compiled kernel"


@needs_native
def test_rotation_other_than_nearest_and_in_place_is_pillows_own():
    img = PIL.Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    for transform in (v2.RandomRotation(30, interpolation=v2.InterpolationMode.BILINEAR),
                      v2.RandomRotation(30, expand=True)):
        params = {"angle": 17.0}
        got = K.FAST_TRANSFORMS["RandomRotation"](transform.transform)(img, params)
        assert got.tobytes() == transform.transform(img, params).tobytes()


# ---------------------------------------------------------------------------
# Resizing: torch's uint8 antialiased bilinear resize, compiled, where torchvision runs it


_resize_bilinear = K._native.resize_bilinear if K._native is not None else None


def _resize_cases(photos):
    """(image, transform, params) of RandomResizedCrop and Resize, bilinear and bicubic."""
    torch.manual_seed(0)
    for img in _odd_images(photos):
        for transform in (v2.RandomResizedCrop(57), v2.RandomResizedCrop((31, 90), scale=(0.01, 1.0)),
                          v2.RandomResizedCrop(64, interpolation=v2.InterpolationMode.BICUBIC),
                          v2.Resize(41), v2.Resize([300, 17]), v2.Resize(None, max_size=50),
                          v2.Resize(41, antialias=False)):
            yield img, transform, transform.make_params([img])


@needs_native
def test_resizes_run_the_compiled_kernel_where_torchvision_resizes_in_uint8(photos, monkeypatch):
    """RandomResizedCrop and Resize, bilinear with antialiasing, on RGB: the compiled
    resize, torchvision's tensor kernel's bytes; bicubic, no antialiasing and grayscale
    images: torchvision's kernel itself. On a CPU where torchvision resizes through
    float32 instead (x86 without AVX2), the compiled resize is not used at all."""
    compiled = []
    monkeypatch.setattr(K._native, "resize_bilinear", lambda *a: compiled.append(1) or _resize_bilinear(*a))

    def check(expect_compiled: bool) -> None:
        for img, transform, params in _resize_cases(photos):
            compiled.clear()
            try:
                expected = transform.transform(K.to_tensor(img), params)
            except RuntimeError:  # an output of no pixels (a 1-pixel row to max_size 50): refused alike
                with pytest.raises(RuntimeError):
                    K.FAST_TRANSFORMS[type(transform).__name__](transform.transform)(img, params)
                continue
            got = K.FAST_TRANSFORMS[type(transform).__name__](transform.transform)(img, params)
            assert torch.equal(_as_tensor(got), expected.as_subclass(torch.Tensor)), (transform, img.size, img.mode)
            uses = (expect_compiled and img.mode == "RGB" and transform.antialias
                    and v2.InterpolationMode(transform.interpolation) == v2.InterpolationMode.BILINEAR)
            assert bool(compiled) == uses, (transform, img.mode)

    assert K._UINT8_BILINEAR, "this CPU resizes uint8 natively (AVX2): the compiled path is what runs here"
    check(expect_compiled=True)
    monkeypatch.setattr(K, "_UINT8_BILINEAR", False)
    check(expect_compiled=False)


@needs_native
def test_the_crop_box_of_a_partly_decoded_jpeg_is_resized_compiled(monkeypatch):
    """The job's path: a JPEG's crop box decoded alone, then the compiled resize: the bytes
    of torchvision's RandomResizedCrop on the whole decoded image."""
    from augment.images import Source

    compiled, rows = [], []
    monkeypatch.setattr(K._native, "resize_bilinear", lambda *a: compiled.append(1) or _resize_bilinear(*a))
    load_box_rows = Source.load_box_rows
    monkeypatch.setattr(Source, "load_box_rows", lambda self, box: rows.append(load_box_rows(self, box)) or rows[-1])
    ops = {"version": 1, "ops": [{"RandomResizedCrop": {"size": 224}}]}
    fast, reference = Pipeline({**ops, "kernels": "fast"}), Pipeline({**ops, "kernels": "torchvision"})
    for photo, _, (got, rec), (expected, expected_rec) in through_the_job_path(fast, reference, 2, 5):
        assert rec == expected_rec and got.tobytes() == expected.tobytes(), photo
    assert compiled, "the compiled resize ran"
    assert any(r is not None for r in rows), "on the box's rows as libjpeg decoded them, without a copy"
