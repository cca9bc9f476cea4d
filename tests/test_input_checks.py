"""Inputs and outputs off the happy path (issue 20): each input is recorded once per
copy, done or failed with a reason that names the real cause."""

from __future__ import annotations

import io
from pathlib import Path

import PIL.Image

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
