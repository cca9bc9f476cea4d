"""Listing and reading inputs (augment.inputs), decoding, encoding and atomic writes, on the bundled photos."""

from __future__ import annotations

import io
import os

import PIL.Image
import pytest
import torch

from augment import images
from augment.images import ImageError, atomic_write_bytes, decode, encode, list_images, output_format
from augment.samples import licenses, list_samples, load_sample, sample_path, samples_dir


def _bytes(img: PIL.Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_samples_ship_with_their_licences():
    names = list_samples()
    assert len(names) == 7 and "chelsea.jpg" in names
    assert sorted(os.listdir(samples_dir())) == names, "the photo folder holds only photos"
    text = licenses()
    assert all(name in text for name in names)
    img = load_sample("brick.jpg")
    assert img.mode == "L" and img.size[0] > 0
    with pytest.raises(FileNotFoundError, match=r"samples: astronaut\.jpg"):
        sample_path("nope.jpg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_formats_are_detected_from_content(fmt):
    img = load_sample("coffee.jpg").resize((40, 30))
    decoded = decode(_bytes(img, fmt))
    assert decoded.format == fmt
    assert decoded.image.shape == (3, 30, 40) and decoded.image.dtype == torch.uint8
    assert output_format("same", fmt) == {"JPEG": "jpeg", "WEBP": "webp"}.get(fmt, "png")


def test_exif_orientation_is_applied():
    img = load_sample("rocket.jpg").resize((60, 20))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    decoded = decode(_bytes(img, "JPEG", exif=exif))
    assert decoded.image.shape[1:] == (60, 20), "height and width swapped as the photo is shown"


def test_grayscale_stays_one_channel_other_modes_become_rgb():
    gray = load_sample("brick.jpg").resize((20, 20))
    assert decode(_bytes(gray, "PNG")).image.shape[0] == 1
    rgba = load_sample("chelsea.jpg").resize((20, 20)).convert("RGBA")
    assert decode(_bytes(rgba, "PNG")).image.shape[0] == 3
    pal = load_sample("chelsea.jpg").resize((20, 20)).convert("P")
    assert decode(_bytes(pal, "PNG")).image.shape[0] == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello world", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "cannot decode|not an image"),
    ],
)
def test_bad_bytes_raise_image_error(data, reason):
    with pytest.raises(ImageError, match=reason):
        decode(data)


def test_truncated_jpeg_is_refused():
    data = _bytes(load_sample("astronaut.jpg"), "JPEG")
    with pytest.raises(ImageError):
        decode(data[: len(data) // 2])


def test_pixel_limit_is_checked_before_decoding():
    data = _bytes(load_sample("astronaut.jpg").resize((300, 200)), "PNG")
    assert decode(data, max_pixels=60_000).image.shape == (3, 200, 300)
    with pytest.raises(ImageError, match="300x200 = 60000 pixels exceeds the limit of 59999"):
        decode(data, max_pixels=59_999)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_encoding_is_deterministic(fmt):
    image = decode(sample_path("chelsea.jpg").read_bytes()).image
    a, b = encode(image, fmt, 90), encode(image, fmt, 90)
    assert a == b
    assert PIL.Image.open(io.BytesIO(a)).format == fmt.upper()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_only_the_pixels_reach_the_encoded_bytes(fmt):
    """Pillow's ops keep a decoded image's ``info``, and its encoders write some of it
    (a JPEG's comment; a PNG's ICC profile and transparent colour): equal pixels must
    still give equal bytes, whatever the source carried."""
    image = load_sample("chelsea.jpg").resize((64, 48))
    plain = encode(image.copy(), fmt, 90)
    image.info.update({"comment": b"from the source", "icc_profile": b"not a profile", "transparency": (1, 2, 3)})
    assert encode(image, fmt, 90) == plain
    assert image.info["comment"] == b"from the source"  # the caller's image is left as it was


def test_a_source_comment_does_not_reach_fast_outputs():
    """rocket.jpg carries a JPEG comment; a flip under fast kernels (Pillow's transpose
    keeps the decoded image's info) gives the bytes torchvision's kernels give."""
    from augment.images import open_image
    from augment.pipeline import Pipeline

    data = sample_path("rocket.jpg").read_bytes()
    assert PIL.Image.open(io.BytesIO(data)).info.get("comment")
    blobs = set()
    for kernels in ("fast", "torchvision"):
        spec = {"version": 1, "seed": 0, "kernels": kernels, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}
        pipeline = Pipeline(spec)
        blobs.add(encode(pipeline.apply(open_image(data), 1)[0], "jpeg", 90))
    assert len(blobs) == 1


def test_list_images_is_recursive_sorted_and_keeps_odd_names(tmp_path):
    for rel in ["b.jpg", "a/z.PNG", "a/ü ñ space.jpeg", ".hidden.jpg", "noext"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert list_images(tmp_path) == [".hidden.jpg", "a/z.PNG", "a/ü ñ space.jpeg", "b.jpg", "noext"]


def test_the_input_folder_is_read_without_the_decoders(tmp_path):
    """augment.inputs lists the input folder and reads one file, torch-free (a launcher
    that lists inputs need not load the decoders); augment.images answers for its names,
    and a read refusal is the ImageError the decoders raise."""
    import subprocess
    import sys

    from augment import inputs

    assert (images.list_images, images.read_input, images.ImageError) == \
        (inputs.list_images, inputs.read_input, inputs.ImageError)
    code = "import sys, augment.inputs; print([m for m in ('torch', 'PIL', 'augment.images') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ImageError) as refused:
        images.read_input(tmp_path, "pipe")
    assert refused.value.reason == "not_a_file"


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = tmp_path / "deep" / "x.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["x.bin"]


def test_atomic_write_survives_short_writes_and_cleans_up_after_a_full_disk(tmp_path, monkeypatch):
    import errno

    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"old")
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))  # 3 bytes a call
    atomic_write_bytes(target, b"0123456789" * 10)
    assert target.read_bytes() == b"0123456789" * 10

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"0123456789" * 10 and os.listdir(tmp_path) == ["x.bin"], "no temporary left"


# --- the mode policy (documented in augment/images.py and augment/KERNELS.md) -------


def test_rgba_and_la_are_flattened_onto_white():
    rgba = PIL.Image.new("RGBA", (4, 2), (200, 10, 10, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    rgba.putpixel((1, 0), (0, 0, 0, 128))  # half transparent black
    img = decode(_bytes(rgba, "PNG")).image
    assert img.shape == (3, 2, 4)
    assert img[:, 0, 0].tolist() == [255, 255, 255] and img[:, 0, 2].tolist() == [200, 10, 10]
    assert 120 <= img[0, 0, 1] <= 135, "half transparent: half way to white"
    la = PIL.Image.new("LA", (2, 1), (30, 0))
    decoded = decode(_bytes(la, "PNG"))
    assert decoded.mode == "LA" and decoded.image.shape == (1, 1, 2) and decoded.image.max() == 255


def test_palette_with_and_without_transparency():
    pal = load_sample("coffee.jpg").resize((8, 8)).convert("P")
    plain = decode(_bytes(pal, "PNG"))
    assert plain.mode == "P" and plain.image.shape == (3, 8, 8)
    index = pal.getpixel((0, 0))
    clear = decode(_bytes(pal, "PNG", transparency=index)).image
    assert clear[:, 0, 0].tolist() == [255, 255, 255], "the transparent palette entry becomes white"


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    import numpy as np

    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    decoded = decode(_bytes(PIL.Image.fromarray(values), "PNG"))
    assert decoded.mode.startswith("I")
    assert decoded.image.shape == (1, 1, 4) and decoded.image[0, 0].tolist() == [0, 1, 128, 255]


def test_cmyk_becomes_rgb():
    cmyk = PIL.Image.new("CMYK", (3, 3), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode(_bytes(cmyk, "JPEG", quality=100))
    assert decoded.mode == "CMYK" and decoded.image.shape == (3, 3, 3)
    r, g, b = decoded.image[:, 1, 1].tolist()
    assert r > 240 and g < 15 and b < 15


def test_one_bit_becomes_black_and_white_l():
    img = PIL.Image.new("1", (2, 1), 0)
    img.putpixel((1, 0), 1)
    assert decode(_bytes(img, "PNG")).image[0, 0].tolist() == [0, 255]


def test_exif_rotated_photo_comes_out_upright():
    """A photo stored sideways with orientation 8 decodes to the upright original."""
    upright = load_sample("rocket.jpg").resize((48, 96))
    stored = upright.transpose(PIL.Image.Transpose.ROTATE_270)  # how a sideways camera stores it
    exif = PIL.Image.Exif()
    exif[0x0112] = 8
    decoded = decode(_bytes(stored, "PNG", exif=exif)).image
    expected = decode(_bytes(upright, "PNG")).image
    assert decoded.shape == expected.shape and torch.equal(decoded, expected)


# --- bombs ----------------------------------------------------------------------------


def test_header_bomb_jpeg_and_gigapixel_png_are_refused_from_the_header():
    from tests.bombs import gigapixel_png, header_bomb_jpeg

    with pytest.raises(ImageError, match=r"65000x65000 = 4225000000 pixels exceeds") as info:
        decode(header_bomb_jpeg(sample_path("chelsea.jpg")))
    assert info.value.reason == "too_large"
    png = gigapixel_png()
    assert len(png) < 1_000_000
    with pytest.raises(ImageError, match=r"32768x32768 = 1073741824 pixels exceeds"):
        decode(png)


@pytest.mark.skipif(not images.PARTIAL_JPEG, reason="augment._jpeg is not built in this install")
def test_jpeg_encoding_is_pillows_byte_for_byte(monkeypatch):
    """JPEGs are encoded by augment._jpeg, from Pillow's memory: Pillow's bytes, for
    both modes, odd sizes, every tenth quality and the extremes, and from a copy of
    the pixels where Pillow's memory cannot be had."""
    assert images._encodes_as_pillow()
    calls = []
    encode_c = images._jpeg.encode
    monkeypatch.setattr(images._jpeg, "encode", lambda *a: calls.append(a[2]) or encode_c(*a))
    photo = load_sample("chelsea.jpg")
    cases = [photo.resize(size) for size in ((224, 224), (97, 61), (1, 1), (1, 300), (301, 2))]
    cases += [case.convert("L") for case in cases[:3]] + [photo]
    for image in cases:
        for quality in (1, 2, 10, 30, 50, 75, 90, 95, 100):
            expected = _bytes(image, "JPEG", quality=quality)
            assert encode(image, "jpeg", quality) == expected, (image.mode, image.size, quality)
    assert calls and set(calls) == {4, 1}, "the compiled encoder read Pillow's memory"
    calls.clear()
    monkeypatch.setattr(images, "pixel_memory", lambda image: None)
    for image in cases[:1] + cases[5:6]:
        assert encode(image, "jpeg", 90) == _bytes(image, "JPEG", quality=90)
    assert calls == [3, 1], "and packed copies of the pixels where it could not"


@pytest.mark.skipif(not images.PARTIAL_JPEG, reason="augment._jpeg is not built in this install")
def test_an_encoder_that_differs_from_pillows_is_not_used(monkeypatch):
    """The one check per process: a compiled encoder whose bytes are not Pillow's (a
    Pillow set up another way) leaves every image to Pillow."""
    monkeypatch.setattr(images, "_ENCODER_CHECKED", None)
    encode_c = images._jpeg.encode
    monkeypatch.setattr(images._jpeg, "encode", lambda *a: encode_c(*a[:3], max(1, a[3] - 1)))
    assert not images._encodes_as_pillow()
    image = load_sample("chelsea.jpg").resize((64, 48))
    assert encode(image, "jpeg", 90) == _bytes(image, "JPEG", quality=90)


@pytest.mark.skipif(not images.PARTIAL_JPEG, reason="augment._jpeg is not built in this install")
@pytest.mark.parametrize("args, message", [
    ((b"\0" * 12, (2, 2), 2, 90), "are not a 2x2 image of 2-byte pixels"),
    ((b"\0" * 11, (2, 2), 3, 90), "11 bytes are not a 2x2 image of 3-byte pixels"),
    ((b"\0" * 12, (2, 2), 3, 0), "quality 0 is not in 1-100"),
    ((b"", (0, 5), 1, 90), "are not a 0x5 image"),
])
def test_the_compiled_encoder_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        images._jpeg.encode(*args)


def test_one_atomic_writer_whose_temporary_files_a_resume_recognises(tmp_path, monkeypatch):
    """Three atomic writers (files.write_output, images.atomic_write_bytes, the plan's
    _save_atomically) named their temporary files three ways; write_output's
    (``.NAME.augment-PID-N.tmp``) did not match what a resume keeps while its writer is
    alive, so another host's resume deleted it under the writer. One writer now."""
    from pathlib import Path

    import matplotlib.figure

    from augment import files, images
    from augment.engine import _TEMP_WRITER
    from augment.plan._plot import _save_atomically

    assert images.atomic_write_bytes is files.atomic_write
    renamed = []
    real_replace = os.replace

    def replace(src, dst):
        renamed.append((Path(src).name, Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    files.write_output(tmp_path / "a" / ("n" * 200 + ".json"), "{}")
    images.atomic_write_bytes(tmp_path / "b.bin", b"x")
    _save_atomically(matplotlib.figure.Figure(), tmp_path / "plot.png")
    assert [dst.name for _, dst in renamed] == ["n" * 200 + ".json", "b.bin", "plot.png"]
    for tmp, dst in renamed:
        writer = _TEMP_WRITER.fullmatch(tmp)
        assert writer and int(writer[1]) == os.getpid(), (tmp, dst)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["a", "n" * 200 + ".json", "b.bin", "plot.png"])
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")
