"""Partial JPEG decoding (``augment._jpeg``, :meth:`augment.images.Source.load_box`):
only a crop's box is decoded, and it must be exactly Pillow's full decode cropped to
that box, for every kind of JPEG Pillow writes and several it only reads, and it must
never hide a broken file that Pillow refuses."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from augment import images
from augment.engine import run_job
from augment.images import ImageError, open_image
from augment.pipeline import Pipeline
from augment.samples import list_samples, samples_dir
from tests.conftest import through_the_job_path, tree_bytes

needs_partial = pytest.mark.skipif(not images.PARTIAL_JPEG and bool(os.environ.get("AUGMENT_ALLOW_NO_NATIVE")),
                                   reason="augment._jpeg is not built in this install")
"""Without ``augment._jpeg`` these tests fail (CI must not lose it silently) unless
``AUGMENT_ALLOW_NO_NATIVE`` is set."""

pytestmark = needs_partial


def _photo(size: tuple[int, int] = (333, 251)) -> PIL.Image.Image:
    with PIL.Image.open(samples_dir() / "coffee.jpg") as img:
        return img.convert("RGB").resize(size)


def _jpeg(img: PIL.Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **{"quality": 90, **kw})
    return buf.getvalue()


VARIANTS = {
    "4:2:0": {"subsampling": "4:2:0"},
    "4:2:2": {"subsampling": "4:2:2"},
    "4:4:4": {"subsampling": "4:4:4"},
    "progressive": {"progressive": True},
    "optimized, q100": {"optimize": True, "quality": 100},
    "q30": {"quality": 30},
    "restart markers": {"restart_marker_rows": 1},
}


def _boxes(width: int, height: int, rng: random.Random, n: int) -> list[tuple[int, int, int, int]]:
    """The whole image, single pixels at the corners, and random boxes."""
    boxes = [(0, 0, width, height), (0, 0, 1, 1), (width - 1, height - 1, width, height)]
    while len(boxes) < n:
        left, top = rng.randrange(width), rng.randrange(height)
        boxes.append((left, top, rng.randrange(left + 1, width + 1), rng.randrange(top + 1, height + 1)))
    return boxes


def _assert_box_is_pillows(data: bytes, boxes: list[tuple[int, int, int, int]]) -> None:
    with PIL.Image.open(io.BytesIO(data)) as img:
        full = np.asarray(img.convert(img.mode))
        mode, size = img.mode, img.size
    channels = 3 if mode == "RGB" else 1
    for box in boxes:
        got = images._jpeg.decode_box(data, size, channels, box)
        assert got is not None, box
        left, top, right, bottom = box
        expected = full[top:bottom, left:right].reshape(bottom - top, right - left, channels)
        assert len(got) == expected.size
        assert np.array_equal(np.frombuffer(got, np.uint8).reshape(expected.shape), expected), box
        # unpacked: the rows as libjpeg decoded them, the box at an offset in each, no copy
        rows, offset, row = images._jpeg.decode_box(data, size, channels, box, False)
        assert len(rows) == row * (bottom - top) and offset + channels * (right - left) <= row <= channels * size[0]
        box_bytes = np.frombuffer(rows, np.uint8).reshape(bottom - top, row)[:, offset:offset + expected[0].size]
        assert np.array_equal(box_bytes.reshape(expected.shape), expected), box


def test_the_library_pillow_uses_is_bound():
    assert images.PARTIAL_JPEG


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("size", [(333, 251), (17, 9), (1, 1), (64, 48)])
def test_a_box_is_exactly_pillows_full_decode_cropped(variant, size):
    """Every chroma layout, progressive and restart-marked files, odd sizes: boxes at the
    edges and in the middle, where a partial row's chroma upsampling would differ
    without the margin."""
    data = _jpeg(_photo(size), **VARIANTS[variant])
    _assert_box_is_pillows(data, _boxes(*size, random.Random(f"{variant}{size}"), 40))


@pytest.mark.parametrize("name", ["sampled-4x1.jpg", "sampled-1x2-progressive.jpg", "sampled-mixed-restart.jpg",
                                  "rgb-colorspace.jpg"])
def test_layouts_pillow_cannot_write_are_exact(name):
    """4:1:1, 4:4:0, a different sampling per component, an RGB JPEG (tests/data)."""
    data = (Path(__file__).parent / "data" / name).read_bytes()
    _assert_box_is_pillows(data, _boxes(97, 61, random.Random(name), 60))


def test_grayscale_boxes_are_exact():
    data = _jpeg(_photo().convert("L"))
    _assert_box_is_pillows(data, _boxes(333, 251, random.Random(1), 40))


@pytest.mark.parametrize("name", list_samples())
def test_sample_photos_at_full_size(name):
    data = (samples_dir() / name).read_bytes()
    with PIL.Image.open(io.BytesIO(data)) as img:
        if img.format != "JPEG":
            pytest.skip("not a JPEG")
        size = img.size
    _assert_box_is_pillows(data, _boxes(*size, random.Random(name), 12))


def test_what_it_cannot_decode_is_left_to_pillow():
    """None, never wrong pixels: a CMYK file asked for RGB, a header that lies about the
    size, a truncated file, and corrupt entropy data (which libjpeg only warns about,
    and Pillow decodes anyway) all go back to the caller."""
    photo = _photo()
    data = _jpeg(photo)
    box = (10, 10, 50, 50)
    assert images._jpeg.decode_box(_jpeg(photo.convert("CMYK")), (333, 251), 3, box) is None
    assert images._jpeg.decode_box(data, (334, 251), 3, box) is None
    assert images._jpeg.decode_box(data, (333, 251), 1, box) is None
    # truncated below the box: only the rest of the file shows it
    assert images._jpeg.decode_box(data[: len(data) * 3 // 4], (333, 251), 3, box) is None
    corrupt = bytearray(data)
    corrupt[len(data) * 3 // 4: len(data) * 3 // 4 + 64] = bytes(range(0xC0, 0x100))  # markers amid the data
    assert images._jpeg.decode_box(bytes(corrupt), (333, 251), 3, box) is None
    # and above the box, in rows that are skipped
    corrupt = bytearray(data)
    corrupt[len(data) // 3: len(data) // 3 + 64] = bytes(range(0xC0, 0x100))
    assert images._jpeg.decode_box(bytes(corrupt), (333, 251), 3, (300, 230, 333, 251)) is None
    assert images._jpeg.decode_box(b"not a jpeg at all", (333, 251), 3, box) is None
    assert images._jpeg.decode_box(bytes(corrupt), (333, 251), 3, (300, 230, 333, 251), False) is None
    assert images._jpeg.decode_box(data[: len(data) * 3 // 4], (333, 251), 3, box, False) is None


def _damaged(data: bytes, rng: random.Random) -> bytes:
    """``data`` with bytes changed, cut short, a marker inserted or bytes removed, past
    the first 600 bytes (the headers), as storage and transfers damage files."""
    out = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randrange(1, 6)):
            out[rng.randrange(600, len(out))] = rng.randrange(256)
    elif kind == 1:
        del out[rng.randrange(600, len(out)):]
    elif kind == 2:
        at = rng.randrange(600, len(out))
        out[at:at] = bytes([0xFF, rng.randrange(0xC0, 0x100)])
    else:
        at = rng.randrange(600, len(out) - 10)
        del out[at: at + rng.randrange(1, 40)]
    return bytes(out)


def test_damaged_files_give_pillows_pixels_or_none():
    """Hundreds of damaged JPEGs: where the partial decode answers, Pillow's whole decode
    succeeds too and the box is exactly its pixels; it never answers for a file Pillow
    refuses. (4000 damaged files were tried while writing it, without a mismatch.)"""
    rng = random.Random(7)
    base = _photo((240, 160))
    answered = refused = 0
    for _ in range(400):
        data = _damaged(_jpeg(base, quality=rng.choice([50, 90]), progressive=rng.random() < 0.3,
                              subsampling=rng.choice(["4:2:0", "4:2:2", "4:4:4"])), rng)
        try:
            source = open_image(data)
        except ImageError:
            continue
        width, height = source.size
        left, top = rng.randrange(width), rng.randrange(height)
        box = (left, top, rng.randrange(left + 1, width + 1), rng.randrange(top + 1, height + 1))
        got = source.load_box(box)
        try:
            whole = np.asarray(open_image(data).load())
        except ImageError:
            assert got is None, "a file Pillow refuses was decoded"
            refused += 1
            continue
        if got is not None:
            answered += 1
            assert np.array_equal(got.permute(1, 2, 0).numpy(), whole[box[1]:box[3], box[0]:box[2]])
    assert answered > 40 and refused > 100, (answered, refused)


@pytest.mark.parametrize("tail", [
    "sos", b"\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"],
    ids=["second SOS", "SOF"])
def test_markers_after_the_scan_fail_as_in_pillow(tail):
    """A second SOS or an SOF after the image's scan: Pillow's whole decode refuses the
    file when it reads on to the end, so the partial decode must read on to the end
    too, even for a box at the top."""
    data = _jpeg(_photo((240, 160)))
    if tail == "sos":
        at = data.index(b"\xff\xda")
        tail = data[at: at + 2 + int.from_bytes(data[at + 2: at + 4], "big")] + b"\x12\x34\x56"
    bad = data[:-2] + tail + b"\xff\xd9"
    with pytest.raises(ImageError, match="broken data stream"):
        open_image(bad).load()
    assert images._jpeg.decode_box(bad, (240, 160), 3, (0, 0, 10, 10)) is None


def test_arithmetic_coding_is_left_to_pillow():
    """Pillow refuses this arithmetic-coded file (over 64 KiB, read in chunks that its
    arithmetic decoder cannot resume across); decoded whole from memory it would
    succeed, so the partial decode must leave it to Pillow, and the job refuses it as
    before."""
    data = (Path(__file__).parent / "data" / "arithmetic-coded.jpg").read_bytes()
    assert images._jpeg.decode_box(data, (560, 380), 3, (0, 0, 10, 10)) is None
    source = open_image(data)
    assert source.load_box((100, 100, 300, 250)) is None
    with pytest.raises(ImageError, match="broken data stream"):
        source.load()


@pytest.mark.parametrize("box", [(5, 5, 5, 6), (0, 0, 334, 10), (3, 7, 2, 9), (0, 0, 10, 252)])
def test_a_box_outside_the_image_is_a_clear_error(box):
    with pytest.raises(ValueError, match="not inside a 333x251 image"):
        images._jpeg.decode_box(_jpeg(_photo()), (333, 251), 3, box)


def test_a_library_without_the_calls_is_refused(monkeypatch):
    """Bound to something else (here the compiled kernels, which have no libjpeg), it
    says False and then always answers None; bound again, it works again."""
    from augment import _native

    try:
        assert images._jpeg.load(_native.__file__) is False
        assert images._jpeg.decode_box(_jpeg(_photo()), (333, 251), 3, (0, 0, 8, 8)) is None
    finally:
        assert images._jpeg.load(PIL.Image.core.__file__) is True


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_the_box(orientation):
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    data = _jpeg(_photo(), exif=exif.tobytes())
    upright = open_image(data).load()
    rng = random.Random(orientation)
    for box in _boxes(*upright.size, rng, 20):
        source = open_image(data)
        got = source.load_box(box)
        assert got is not None and not source._decoded, "decoded in part, not whole"
        expected = torch.from_numpy(np.array(upright.crop(box))).permute(2, 0, 1)
        assert torch.equal(got, expected), box


def test_load_box_applies_once_to_a_one_output_jpeg():
    data = _jpeg(_photo())
    source = open_image(data)
    assert source.load_box((0, 0, 10, 10)) is not None
    assert source.load_box((0, 0, 10, 10)) is None, "a second use decodes the whole image"
    assert open_image(data, outputs=2).load_box((0, 0, 10, 10)) is None
    source = open_image(data)
    source.load()
    assert source.load_box((0, 0, 10, 10)) is None, "already decoded whole: crop that"
    png = io.BytesIO()
    _photo().save(png, "PNG")
    assert open_image(png.getvalue()).load_box((0, 0, 10, 10)) is None


def test_box_rows_apply_to_upright_rgb_jpegs_only_and_once():
    """load_box_rows: the box in libjpeg's rows, for an upright RGB JPEG of one output;
    elsewhere None, before anything is decoded, so load_box still applies (a rotated
    photo, a grayscale one)."""
    photo = _photo()
    data = _jpeg(photo)
    source = open_image(data)
    rows = source.load_box_rows((5, 7, 45, 30))
    assert rows is not None and rows.shape == (3, 23, 40) and not source._decoded
    expected = torch.from_numpy(np.array(open_image(data).load().crop((5, 7, 45, 30)))).permute(2, 0, 1)
    assert torch.equal(rows.packed(), expected)
    assert source.load_box_rows((0, 0, 10, 10)) is None and source.load_box((0, 0, 10, 10)) is None, "once"
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    for other in (_jpeg(photo, exif=exif.tobytes()), _jpeg(photo.convert("L"))):
        source = open_image(other)
        assert source.load_box_rows((0, 0, 10, 10)) is None
        assert source.load_box((0, 0, 10, 10)) is not None, "load_box still applies"
    truncated = open_image(data[:-2000])
    assert truncated.load_box_rows((0, 0, 10, 10)) is None
    with pytest.raises(ImageError, match="truncated"):
        truncated.load()


def test_a_truncated_jpeg_still_fails_as_before():
    """The partial decode gives up; the whole decode then refuses the file, as it did."""
    data = _jpeg(_photo())[:-2000]
    source = open_image(data)
    assert source.load_box((0, 0, 10, 10)) is None
    with pytest.raises(ImageError, match="truncated"):
        source.load()


CROP = {"version": 1, "seed": 5, "copies": 1, "output": {"format": "png"},
        "ops": [{"RandomResizedCrop": {"size": 96}}, {"ColorJitter": {"brightness": 0.4, "hue": 0.1}}]}


@pytest.mark.parametrize("params", [{"size": 96}, {"size": [40, 72], "interpolation": "nearest"},
                                    {"size": 64, "antialias": False}, {"size": 160, "scale": [0.9, 1.0]}])
def test_the_pipeline_gives_the_same_bytes_decoding_in_part(params):
    """The job's path (a source for one output) against ``kernels: torchvision`` on the
    decoded image: the same parameters and pixels, wherever the crop decoded in part
    (a crop that decodes at a reduced size instead is bounded in test_kernels)."""
    spec = {**CROP, "ops": [{"RandomResizedCrop": params}]}
    fast, reference = Pipeline(spec), Pipeline({**spec, "kernels": "torchvision"})
    partial = 0
    for name, source, (got, rec), (expected, expected_rec) in through_the_job_path(fast, reference, 3, 5):
        assert rec == expected_rec
        if any(r > 1 for r in source._decoded):
            continue
        partial += source.format == "JPEG" and not source._decoded
        assert np.array_equal(np.asarray(got), np.asarray(expected)), name
    assert partial >= 6


def test_a_job_writes_the_same_bytes_with_one_copy_as_with_two(tmp_path):
    """copies: 1 decodes in part; copies: 2 decodes whole; copy 0 is the same file."""
    src = tmp_path / "in"
    src.mkdir()
    for name in list_samples():
        (src / name).write_bytes((samples_dir() / name).read_bytes())
    one, two = tmp_path / "one", tmp_path / "two"
    run_job(CROP, src, one, workers=1, progress="off")
    run_job({**CROP, "copies": 2}, src, two, workers=1, progress="off")
    first = tree_bytes(one)
    assert first and all(tree_bytes(two)[name] == blob for name, blob in first.items())


# --- augment._jpeg.header: the header of a plain JPEG, as Pillow reads it ----------------


def _app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _with_segments(data: bytes, *segments: bytes) -> bytes:
    """``data`` with ``segments`` right after its SOI marker."""
    return data[:2] + b"".join(segments) + data[2:]


def _pillow_header(data: bytes) -> tuple[str, str, tuple[int, int], int | None] | str:
    """What Pillow's open reports: format, mode, size and EXIF orientation, or the error."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            return img.format, img.mode, img.size, img.getexif().get(0x0112)
    except Exception as e:  # any error: the header parser must have said None
        return type(e).__name__


def _plain_headers() -> dict[str, bytes]:
    photo = _photo((97, 61))
    files = {f"{name} RGB": _jpeg(photo, **kw) for name, kw in VARIANTS.items()}
    files["L"] = _jpeg(photo.convert("L"))
    files["comment, dpi"] = _jpeg(photo, comment=b"hello", dpi=(300, 300))
    files["ICC profile"] = _jpeg(photo, icc_profile=b"\0" * 3000)
    files["Adobe APP14, 4 bytes of APP3"] = _with_segments(_jpeg(photo), _app(0xEE, b"Adobe\0\x64\0\0\0\0\1"),
                                                           _app(0xE3, b"abcd"))
    for name in list_samples():
        files[name] = (samples_dir() / name).read_bytes()
    return files


def test_plain_headers_are_read_as_pillow_reads_them():
    for name, data in _plain_headers().items():
        fmt, mode, size, orientation = _pillow_header(data)
        assert images._jpeg.header(data) == (*size, 3 if mode == "RGB" else 1), name
        assert fmt == "JPEG" and orientation is None
        source = open_image(data)
        assert (source.format, source.mode, source.size, source._opened) == (fmt, mode, size, None), name


def _left_to_pillow() -> dict[str, bytes]:
    photo = _photo((97, 61))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    mpo = io.BytesIO()
    photo.save(mpo, "MPO", save_all=True, append_images=[photo.rotate(90)])
    plain = _jpeg(photo)
    return {
        "EXIF": _jpeg(photo, exif=exif.tobytes()),
        "XMP": _jpeg(photo, xmp=b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'),
        "MPO": mpo.getvalue(),
        "CMYK": _jpeg(photo.convert("CMYK")),
        "Photoshop APP13": _with_segments(plain, _app(0xED, b"Photoshop 3.0\0" + b"8BIM\x03\xed")),
        "short ICC APP2": _with_segments(plain, _app(0xE2, b"ICC_PROFILE\0\1")),
        "short JFIF APP0": _with_segments(plain[:2] + plain[20:], _app(0xE0, b"JFIF\0\1")),
        "short Adobe APP14": _with_segments(plain, _app(0xEE, b"Adobe\0")),
        "fill bytes": plain[:2] + b"\xff" + plain[2:],
        "two frames": _with_segments(plain, plain[plain.index(b"\xff\xc0"):][:19]),
        "12-bit": plain.replace(b"\xff\xc0\x00\x11\x08", b"\xff\xc0\x00\x11\x0c", 1),
        "lossless SOF3": plain.replace(b"\xff\xc0", b"\xff\xc3", 1),
        "zero width": plain.replace(b"\xff\xc0\x00\x11\x08\x00\x3d\x00\x61", b"\xff\xc0\x00\x11\x08\x00\x3d\x00\x00"),
        "no SOS": plain[:plain.index(b"\xff\xda")],
        "SOS past the end": plain[:plain.index(b"\xff\xda") + 6],
        "not a JPEG": b"\x89PNG\r\n\x1a\n" + plain,
    }


@pytest.mark.parametrize("name", list(_left_to_pillow()))
def test_other_headers_are_left_to_pillow(name):
    """EXIF or XMP (an orientation), MPO, CMYK, and whatever Pillow might read another
    way or refuse: None, so that Pillow opens the file as it always did."""
    data = _left_to_pillow()[name]
    assert images._jpeg.header(data) is None
    if name == "EXIF":
        assert open_image(data)._orientation == 6 and open_image(data).size == (61, 97)


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """``n`` copies of ``data`` damaged in its header: bytes changed (often to a marker's
    or a length's worth), inserted, deleted, or the file cut short."""
    end = data.index(b"\xff\xda") + 14
    out = []
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(min(end, len(b)))
            kind = rng.random()
            value = rng.choice((0x00, 0x01, 0x02, 0x06, 0x08, 0x0C, 0xFF, 0xC0, 0xC2, 0xC3, 0xD8, 0xDA, 0xE1,
                                rng.randrange(256)))
            if kind < 0.55:
                b[at] = value
            elif kind < 0.7:
                b.insert(at, value)
            elif kind < 0.85:
                del b[at]
            else:
                del b[at:]
                break
        out.append(bytes(b))
    return out


def test_damaged_headers_are_either_pillows_reading_or_left_to_pillow(monkeypatch):
    """Thousands of damaged headers: wherever the parser answers, Pillow's open agrees on
    format, mode and size and finds no orientation, and a Source reports the same with
    and without it (too large, included)."""
    rng = random.Random(7)
    answered = 0
    bases = list(_plain_headers().values())[::2]
    for base in bases:
        for data in _mutations(base, rng, 600):
            got = images._jpeg.header(data)
            if got is None:
                continue
            answered += 1
            fmt, mode, size, orientation = _pillow_header(data)
            assert (fmt, mode, size, orientation) == ("JPEG", "RGB" if got[2] == 3 else "L", got[:2], None), data
            limit = got[0] * got[1] - rng.randrange(2)  # at the limit, or one pixel over it
            with monkeypatch.context() as m:
                m.setattr(images, "_HEADER", False)
                try:
                    by_pillow = open_image(data, limit)
                except ImageError as e:
                    by_pillow = e.reason
            try:
                by_header = open_image(data, limit)
            except ImageError as e:
                by_header = e.reason
            if isinstance(by_pillow, str):
                assert by_header == by_pillow == "too_large"
            else:
                assert (by_header.format, by_header.mode, by_header.size, by_header._orientation) == (
                    by_pillow.format, by_pillow.mode, by_pillow.size, by_pillow._orientation)
    assert answered > len(bases) * 100  # most damage leaves a header that parses (a DQT value, a DHT byte)
