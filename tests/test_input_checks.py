"""Inputs and outputs off the happy path (issue 20): each input is recorded once per
copy, done or failed with a reason that names the real cause."""

from __future__ import annotations

import io
from pathlib import Path

import PIL.Image
import pytest

from augment.engine import run_job
from augment.manifest import read_manifest


def _image(fmt: str, size: tuple[int, int] = (24, 16), **save: object) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new("RGB", size, (200, 80, 20)).save(buf, fmt, **save)
    return buf.getvalue()


def _run(spec: dict, inputs: Path, out: Path) -> dict[str, list[dict]]:
    run_job(spec, inputs, out, workers=1, progress="off", max_error_rate=1.0)
    by_source: dict[str, list[dict]] = {}
    for rec in read_manifest(out / "_augment" / "manifest-local.jsonl"):
        by_source.setdefault(rec["source"], []).append(rec)
    return by_source


def test_an_output_too_large_for_jpeg_names_the_cause_not_a_broken_stream(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(_image("JPEG"))
    (inputs / "b.png").write_bytes(_image("PNG"))
    spec = {"version": 1, "copies": 2, "output": {"format": "same"}, "ops": [{"Resize": {"size": [8, 65535]}}]}
    records = _run(spec, inputs, tmp_path / "out")
    assert [r["status"] for r in records["b.png"]] == ["ok", "ok"]  # PNG holds it
    assert [r["reason"] for r in records["a.jpg"]] == ["too_large_for_format"] * 2
    assert records["a.jpg"][0]["error"] == ("the output is 65535x8 px; JPEG holds at most 65,500 px per side "
                                            "(make the ops' sizes smaller, or write format: png)")
    assert not any(p.name.startswith("a") for p in (tmp_path / "out").iterdir())


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
       b"newpath 0 0 moveto 16 16 lineto stroke showpage\n%%EOF\n")


def test_formats_outside_the_listed_ones_are_unsupported_and_run_no_program(tmp_path, monkeypatch):
    import subprocess

    import PIL.EpsImagePlugin

    ran: list[object] = []
    monkeypatch.setattr(PIL.EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a))  # what EPS would run
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: ran.append(a))
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "figure.eps").write_bytes(EPS)
    (inputs / "scan.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    (inputs / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    (inputs / "icon.tga").write_bytes(_image("TGA"))  # Pillow decodes TGA; the README does not list it
    (inputs / "notes.txt").write_bytes(b"hello")
    (inputs / "ok.gif").write_bytes(_image("GIF"))
    records = _run({"version": 1, "ops": []}, inputs, tmp_path / "out")
    reasons = {src: (recs[0]["reason"], recs[0]["error"]) for src, recs in records.items()}
    assert reasons["ok.gif"] == (None, None)
    assert reasons["notes.txt"][0] == "not_an_image"
    for src, name in (("figure.eps", "EPS"), ("scan.pdf", "PDF"), ("phone.heic", "HEIC"), ("icon.tga", "TGA")):
        assert reasons[src] == ("unsupported_format", f"a {name} file; inputs are decoded from JPEG, PNG, WebP, "
                                "BMP, TIFF and GIF only (convert it to one of them)"), src
    assert ran == []


@pytest.mark.parametrize("fmt", ["same", "jpeg"])
def test_an_mpo_camera_jpeg_stays_jpeg(tmp_path, fmt):
    first = PIL.Image.new("RGB", (40, 30), (200, 30, 30))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[PIL.Image.new("RGB", (40, 30), (30, 200, 30))])
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "stereo.jpg").write_bytes(buf.getvalue())
    assert PIL.Image.open(inputs / "stereo.jpg").format == "MPO"
    spec = {"version": 1, "copies": 2, "output": {"format": fmt, "keep_original": True},
            "ops": [{"RandomInvert": {"p": 0.0}}]}
    records = _run(spec, inputs, tmp_path / "out")["stereo.jpg"]
    assert sorted(r["output"] for r in records) == ["stereo.jpg.aug0.jpg", "stereo.jpg.aug1.jpg",
                                                    "stereo.jpg.orig.jpg"]
    for name in ("stereo.jpg.aug0.jpg", "stereo.jpg.aug1.jpg"):
        with PIL.Image.open(tmp_path / "out" / name) as img:
            assert img.format == "JPEG" and img.size == (40, 30)
            assert img.getpixel((20, 15))[1] < 128  # the first image (red), not the second (green)
