"""Listing, decoding, encoding and atomic writes, on the bundled photos."""

from __future__ import annotations

import io
import os

import PIL.Image
import pytest
import torch

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


def test_list_images_is_recursive_sorted_and_keeps_odd_names(tmp_path):
    for rel in ["b.jpg", "a/z.PNG", "a/ü ñ space.jpeg", ".hidden.jpg", "noext"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert list_images(tmp_path) == [".hidden.jpg", "a/z.PNG", "a/ü ñ space.jpeg", "b.jpg", "noext"]


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = tmp_path / "deep" / "x.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["x.bin"]
