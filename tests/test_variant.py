"""One way to make a variant (#27 item 4): the job's worker, the preview (grid and
step-through) and replay all make copy k of an input through :func:`augment.variant.make`,
with its one error ladder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from augment import preview as pv
from augment import variant
from augment.engine import run_job
from augment.manifest import ORIGINAL
from augment.pipeline import Pipeline, derive_seed
from augment.replay import replay
from augment.spec import load_spec


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, ...]]]:
    """Every call of ``variant.make``, by (input, copies); the real function still runs."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    real = variant.make

    def spy(pipeline, data, rel, copies, **kw):  # type: ignore[no-untyped-def]
        seen.append((rel, tuple(copies)))
        return real(pipeline, data, rel, copies, **kw)

    monkeypatch.setattr(variant, "make", spy)
    return seen


def _one_input(tmp_path: Path, small_samples: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    name = sorted(p.name for p in small_samples.iterdir() if p.suffix == ".jpg")[0]
    (folder / name).write_bytes((small_samples / name).read_bytes())
    return folder


def test_the_job_the_preview_its_step_through_and_replay_all_make_variants_through_one_function(
        calls, tmp_path, small_samples):
    inputs = _one_input(tmp_path, small_samples)
    (rel,) = [p.name for p in inputs.iterdir()]
    out = tmp_path / "out"
    run_job(load_spec("light").replace(copies=2, keep_original=True), inputs, out, workers=1,
            progress="off")
    assert calls == [(rel, (0, 1, ORIGINAL))], "the worker"
    calls.clear()

    shown = pv.render("light", inputs, copies=2)
    assert calls == [(rel, (0, 1))], "the preview's grid"
    calls.clear()
    pv.step_through(shown, 1)
    assert calls == [(rel, (1,))], "the preview's step-through"
    calls.clear()

    result = replay(out / "_augment" / "manifest-local.jsonl", source=rel, copy=1, out=tmp_path / "r.jpg")
    assert calls == [(rel, (1,))], "replay"
    assert result.bit_exact and result.params_match


def test_a_broken_step_in_the_one_function_is_what_all_three_show(monkeypatch, tmp_path, small_samples):
    """Whatever the one function makes is what the job records and the preview shows."""
    inputs = _one_input(tmp_path, small_samples)
    real = variant.make

    def refuse(pipeline, data, rel, copies, **kw):  # type: ignore[no-untyped-def]
        for v in real(pipeline, data, rel, copies, **kw):
            yield variant.Variant(v.source, v.copy, v.seed, source_sha256=v.source_sha256, error="refused here",
                                  reason="op_failed")

    monkeypatch.setattr(variant, "make", refuse)
    out = tmp_path / "out"
    run_job("light", inputs, out, workers=1, progress="off", max_error_rate=1)
    records = [json.loads(line) for line in (out / "_augment" / "manifest-local.jsonl").read_text().splitlines()]
    assert {(r["status"], r["error"]) for r in records} == {("failed", "refused here")}
    shown = pv.render("light", inputs)
    assert {(i.reason, i.error) for i in shown.items} == {("op_failed", "refused here")}


def test_make_yields_every_copy_with_its_seed_bytes_and_digests(small_samples):
    path = sorted(small_samples.glob("*.jpg"))[0]
    data = path.read_bytes()
    pipeline = Pipeline(load_spec("light").replace(copies=2))
    made = list(variant.make(pipeline, data, "a/b.jpg", (0, 1, ORIGINAL)))
    assert [v.copy for v in made] == [0, 1, ORIGINAL] and all(v.ok for v in made)
    assert [v.seed for v in made] == [derive_seed(pipeline.spec.seed, "a/b.jpg", k) for k in (0, 1)] + [None]
    assert made[-1].data == data and made[-1].format == "JPEG" and made[-1].params is None
    for v in made:
        assert v.source_sha256 == hashlib.sha256(data).hexdigest()
        assert v.output_sha256 == hashlib.sha256(v.data).hexdigest()  # type: ignore[arg-type]
    assert made[0].format == "jpeg" and made[0].params is not None and made[0].data != made[1].data


def test_one_ladder_an_unreadable_input_and_a_non_image_fail_every_copy_with_the_manifest_reasons():
    pipeline = Pipeline("light")

    def unreadable() -> bytes:
        raise OSError("no such thing")

    failed = list(variant.make(pipeline, unreadable, "x.jpg", (0, ORIGINAL)))
    assert [(v.reason, v.error, v.broken_input, v.source_sha256) for v in failed] == \
        [("unreadable", "cannot read: no such thing", True, None)] * 2
    assert failed[0].seed == derive_seed(pipeline.spec.seed, "x.jpg", 0) and failed[1].seed is None
    junk = list(variant.make(pipeline, b"not an image", "x.jpg", (0, 1)))
    assert {v.reason for v in junk} == {"not_an_image"} and all(v.broken_input and v.data is None for v in junk)
    assert junk[0].source_sha256 == hashlib.sha256(b"not an image").hexdigest()
