"""End-to-end jobs on real photos: outputs, manifest, determinism across worker counts,
replay, and bad inputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import PIL.Image
import pytest

from augment.engine import MAX_CHUNK, chunk_size, run_job
from augment.errors import JobFailed, SpecError, UsageError
from augment.manifest import read_manifest
from augment.replay import replay
from augment.spec import load_spec
from tests.conftest import needs_native, tree_bytes
from tests.op_cases import OP_CASES, one_op_spec

MIXED_SPEC = {
    "version": 1, "seed": 1234, "copies": 3,
    "ops": [
        {"RandomResizedCrop": {"size": [96, 96], "scale": [0.5, 1.0]}},
        {"RandomHorizontalFlip": {"p": 0.5}},
        {"RandomChoice": {"ops": ["TrivialAugmentWide", {"ColorJitter": {"brightness": 0.4, "hue": 0.1}}]}},
        {"RandomApply": {"p": 0.3, "ops": [{"GaussianBlur": {"kernel_size": 5}}]}},
        {"RandomErasing": {"p": 0.5}},
    ],
}  # fmt: skip


def _records(out: Path, host: str = "local") -> list[dict]:
    return read_manifest(out / "_augment" / f"manifest-{host}.jsonl")


def _key(rec: dict) -> tuple[str, int]:
    return rec["source"], rec["copy"]


def test_job_writes_outputs_manifest_spec_and_summary(inputs, tmp_path):
    (inputs / "nested" / "deeper").mkdir(parents=True)
    (inputs / "chelsea.jpg").rename(inputs / "nested" / "deeper" / "Chelsea the cat ü.JPG")
    out = tmp_path / "out"
    summary = run_job(MIXED_SPEC, inputs, out, workers=2, progress="off")
    records = _records(out)
    assert summary.status == "completed" and summary.inputs == 7 and summary.copies == 3
    assert summary.written == 21 and summary.failed_inputs == 0
    assert Counter(map(_key, records)) == {(src, k): 1 for src in
                                           ["astronaut.jpg", "brick.jpg", "coffee.jpg", "hubble_deep_field.jpg",
                                            "retina.jpg", "rocket.jpg", "nested/deeper/Chelsea the cat ü.JPG"]
                                           for k in range(3)}, "every input exactly once per copy"
    for rec in records:
        assert rec["status"] == "ok" and rec["error"] is None
        assert rec["output"] == f"{rec['source']}.aug{rec['copy']}.jpg", "same relative layout, stable names"
        with PIL.Image.open(out / rec["output"]) as img:
            assert img.format == "JPEG" and img.size == (96, 96)
            assert img.mode == ("L" if rec["source"] == "brick.jpg" else "RGB"), "grayscale stays grayscale"
        assert [p["op"] for p in rec["params"]] == [next(iter(op)) for op in MIXED_SPEC["ops"]]
    assert load_spec(out / "_augment" / "spec.yaml") == load_spec(MIXED_SPEC)
    saved = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert saved["status"] == "completed" and saved["written"] == 21 and saved["versions"]["torchvision"]
    assert not list(out.rglob("*.tmp")), "no temporary files left behind"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_every_op_gives_identical_bytes_with_1_and_2_workers_and_replays_bit_exactly(name, small_samples,
                                                                                     tmp_path):
    params = OP_CASES[name][-1]
    spec = one_op_spec(name, params, copies=2)
    fill3 = any(isinstance(params.get(k), list) and len(params[k]) == 3 for k in ("fill", "value"))
    # brick.jpg is grayscale: a colour fill cannot apply to it, and the job records that.
    rate = 1.0 if fill3 else 0.0
    one = run_job(spec, small_samples, tmp_path / "w1", workers=1, progress="off", max_error_rate=rate)
    two = run_job(spec, small_samples, tmp_path / "w2", workers=2, progress="off", max_error_rate=rate)
    assert one.written == two.written
    assert 12 <= one.written <= 14 if fill3 else one.written == 14
    assert tree_bytes(tmp_path / "w1") == tree_bytes(tmp_path / "w2"), "bytes do not depend on worker count"
    recs1 = sorted(_records(tmp_path / "w1"), key=_key)
    assert recs1 == sorted(_records(tmp_path / "w2"), key=_key)
    manifest = tmp_path / "w2" / "_augment" / "manifest-local.jsonl"
    for line_no, rec in enumerate(read_manifest(manifest), start=1):
        if rec["status"] != "ok":
            assert fill3 and rec["source"] == "brick.jpg" and f"{name} failed on a 1x" in rec["error"]
            continue
        result = replay(manifest, line_no, tmp_path / "replayed" / rec["output"])
        assert result.bit_exact and result.params_match
        assert result.out.read_bytes() == (tmp_path / "w2" / rec["output"]).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["fast", "torchvision"])
def test_full_size_photos_with_reduced_decoding_are_deterministic_and_replay(kernels, tmp_path):
    """The job's path for big JPEGs: under fast kernels most of these copies are decoded at
    1/2 or 1/4 of the size (test_kernels checks that it happens); 1 and 2 workers write
    the same bytes, and replay re-creates each of them."""
    from augment.samples import samples_dir

    spec = {"version": 1, "seed": 5, "copies": 3, "kernels": kernels, "output": {"format": "jpeg", "quality": 90},
            "ops": [{"RandomResizedCrop": {"size": 64}}, {"ColorJitter": {"brightness": 0.4, "contrast": 0.4,
                                                                           "saturation": 0.4, "hue": 0.1}},
                    {"RandomRotation": {"degrees": 15}}]}
    one = run_job(spec, samples_dir(), tmp_path / "w1", workers=1, progress="off")
    two = run_job(spec, samples_dir(), tmp_path / "w2", workers=2, progress="off")
    assert one.written == two.written == 21
    assert tree_bytes(tmp_path / "w1") == tree_bytes(tmp_path / "w2")
    manifest = tmp_path / "w1" / "_augment" / "manifest-local.jsonl"
    for line_no, rec in enumerate(read_manifest(manifest), start=1):
        result = replay(manifest, line_no, tmp_path / "replayed" / rec["output"])
        assert result.bit_exact and result.params_match


def test_order_and_input_set_do_not_change_an_output(small_samples, tmp_path):
    """An output depends on its own relative path, not on which other files are in the job."""
    run_job(MIXED_SPEC, small_samples, tmp_path / "all", workers=1, progress="off")
    subset = tmp_path / "subset"
    subset.mkdir()
    (subset / "rocket.jpg").write_bytes((small_samples / "rocket.jpg").read_bytes())
    run_job(MIXED_SPEC, subset, tmp_path / "one", workers=1, progress="off")
    full, single = tree_bytes(tmp_path / "all"), tree_bytes(tmp_path / "one")
    assert single and all(full[k] == v for k, v in single.items())


def test_a_different_seed_or_path_changes_outputs(small_samples, tmp_path):
    run_job(MIXED_SPEC, small_samples, tmp_path / "a", workers=1, progress="off")
    run_job({**MIXED_SPEC, "seed": 1235}, small_samples, tmp_path / "b", workers=1, progress="off")
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)


def test_bad_inputs_are_recorded_with_a_reason_and_the_job_goes_on(inputs, tmp_path):
    good = (inputs / "coffee.jpg").read_bytes()
    (inputs / "empty.jpg").write_bytes(b"")
    (inputs / "notes.txt").write_text("not an image")
    (inputs / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (inputs / "random.png").write_bytes(bytes(range(256)) * 8)
    out = tmp_path / "out"
    summary = run_job(MIXED_SPEC, inputs, out, workers=2, progress="off", max_error_rate=0.5)
    records = _records(out)
    assert summary.inputs == 11 and summary.failed_inputs == 4 and summary.written == 21
    assert len(records) == 33 and len(set(map(_key, records))) == 33
    errors = {r["source"]: r["error"] for r in records if r["status"] == "failed"}
    assert "empty file" in errors["empty.jpg"]
    assert "not an image" in errors["notes.txt"] and "not an image" in errors["random.png"]
    assert "cannot decode" in errors["truncated.jpg"] or "truncated" in errors["truncated.jpg"]
    assert all(r["output"] is None and r["source_sha256"] for r in records if r["status"] == "failed")


def test_too_many_bad_inputs_fail_the_job_with_reasons(inputs, tmp_path):
    (inputs / "a.txt").write_text("x")
    with pytest.raises(JobFailed, match=r"1 of 8 inputs failed .*a.txt: not an image"):
        run_job(MIXED_SPEC, inputs, tmp_path / "out", workers=1, progress="off")
    summary = json.loads((tmp_path / "out" / "_augment" / "summary-local.json").read_text())
    assert summary["status"] == "failed" and summary["written"] == 21, "the good outputs are kept"


def test_outputs_of_same_named_inputs_never_collide(tmp_path, small_samples):
    src = tmp_path / "in"
    src.mkdir()
    with PIL.Image.open(small_samples / "rocket.jpg") as img:
        img.save(src / "x.jpg")
        img.save(src / "x.png")
        img.save(src / "x.jpg.aug0.jpg")  # a name that looks like an output
        img.save(src / "noext", format="PNG")  # the format comes from the content
    run_job({**MIXED_SPEC, "copies": 1}, src, tmp_path / "out", workers=1, progress="off")
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file())
    assert names == ["noext.aug0.png", "x.jpg.aug0.jpg", "x.jpg.aug0.jpg.aug0.jpg", "x.png.aug0.png"]


def test_output_format_and_quality(inputs, tmp_path):
    run_job({**MIXED_SPEC, "copies": 1, "output": {"format": "webp", "quality": 80}}, inputs, tmp_path / "o",
            workers=1, progress="off")
    files = [p for p in (tmp_path / "o").iterdir() if p.is_file()]
    assert len(files) == 7 and all(p.suffix == ".webp" for p in files)
    with PIL.Image.open(files[0]) as img:
        assert img.format == "WEBP"


def test_bad_arguments_fail_before_any_work(inputs, tmp_path):
    with pytest.raises(SpecError):
        run_job({"version": 1, "ops": ["Nope"]}, inputs, tmp_path / "o")
    with pytest.raises(UsageError, match="not a directory"):
        run_job("light", tmp_path / "missing", tmp_path / "o")
    with pytest.raises(UsageError, match="must not contain each other"):
        run_job("light", inputs, inputs / "out")
    with pytest.raises(UsageError, match="workers"):
        run_job("light", inputs, tmp_path / "o", workers=0)
    assert not (tmp_path / "o").exists(), "nothing written"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no files"):
        run_job("light", empty, tmp_path / "o")


@pytest.mark.parametrize("max_pixels", [0, -1, 2.5])
def test_max_pixels_that_is_not_a_whole_number_from_1_fails_before_any_work(inputs, tmp_path, max_pixels):
    """The CLI refused --max-pixels 0; a Python caller's 0 refused every input as too large."""
    with pytest.raises(UsageError, match=rf"max_pixels={max_pixels}: must be (a whole number )?>= 1"):
        run_job("light", inputs, tmp_path / "o", workers=1, progress="off", max_pixels=max_pixels)
    assert not (tmp_path / "o").exists(), "nothing written"


def test_refuses_to_mix_two_jobs_in_one_output_dir(inputs, tmp_path):
    run_job(MIXED_SPEC, inputs, tmp_path / "o", workers=1, progress="off")
    with pytest.raises(UsageError, match="already holds"):
        run_job(MIXED_SPEC, inputs, tmp_path / "o", workers=1, progress="off")
    run_job(MIXED_SPEC, inputs, tmp_path / "o", workers=1, progress="off", host="algo-2")
    assert len(_records(tmp_path / "o", "algo-2")) == 21, "another host writes its own manifest"


def test_replay_refuses_what_it_cannot_reproduce(inputs, tmp_path):
    out = tmp_path / "o"
    run_job(MIXED_SPEC, inputs, out, workers=1, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    with pytest.raises(UsageError, match="records 1 to 21"):
        replay(manifest, 22, tmp_path / "r.jpg")
    records = read_manifest(manifest)
    other = next(i for i, r in enumerate(records, 1) if r["source"] != records[0]["source"])
    with pytest.raises(UsageError, match=r"seed .* does not match"):
        replay(manifest, other, tmp_path / "r.jpg", spec={**MIXED_SPEC, "seed": 1})
    (inputs / records[0]["source"]).write_bytes((inputs / records[0]["source"]).read_bytes() + b"\0")
    with pytest.raises(UsageError, match="changed since the job ran"):
        replay(manifest, 1, tmp_path / "r.jpg")
    assert replay(manifest, other, tmp_path / "r.jpg").bit_exact


@pytest.mark.slow
def test_worker_memory_does_not_grow_with_the_number_of_inputs(small_samples, tmp_path):
    few, many = tmp_path / "few", tmp_path / "many"
    few.mkdir()
    many.mkdir()
    for p in small_samples.iterdir():
        (few / p.name).write_bytes(p.read_bytes())
        for i in range(12):
            (many / f"{i}-{p.name}").write_bytes(p.read_bytes())
    small = run_job(MIXED_SPEC, few, tmp_path / "o1", workers=2, progress="off")
    large = run_job(MIXED_SPEC, many, tmp_path / "o2", workers=2, progress="off")
    assert large.inputs == 12 * small.inputs
    assert 0 < small.peak_worker_rss_mb
    assert large.peak_worker_rss_mb < small.peak_worker_rss_mb + 64, "12x the inputs, about the same memory"


def test_worker_start_method_does_not_change_outputs(small_samples, tmp_path):
    """The CLI forks its workers, a library caller gets forkserver: same bytes."""
    run_job(MIXED_SPEC, small_samples, tmp_path / "fs", workers=2, progress="off", start_method="forkserver")
    run_job(MIXED_SPEC, small_samples, tmp_path / "fk", workers=2, progress="off", start_method="fork")
    assert tree_bytes(tmp_path / "fs") == tree_bytes(tmp_path / "fk")


def test_a_bug_in_a_worker_is_raised_in_the_caller_and_no_worker_is_left(small_samples, tmp_path, monkeypatch):
    """An exception that is not a bad input (those become records) comes back to the
    caller as it was raised; the pool's workers are gone when run_job returns."""
    import multiprocessing

    from augment import engine

    pixels = engine._Worker._pixels  # an input's outputs, in process() and in a pool's chunk

    def broken(self, rel, copies, labels=None):
        if rel == sorted(p.name for p in small_samples.iterdir())[-1]:
            raise ZeroDivisionError(f"a bug, on {rel}")
        return pixels(self, rel, copies, labels)

    monkeypatch.setattr(engine._Worker, "_pixels", broken)  # forked workers inherit it
    with pytest.raises(ZeroDivisionError, match="a bug, on"):
        run_job(MIXED_SPEC, small_samples, tmp_path / "o", workers=2, progress="off", start_method="fork")
    assert not multiprocessing.active_children()


def test_no_pool_is_started_for_a_finished_job(small_samples, tmp_path, monkeypatch):
    import multiprocessing

    run_job(MIXED_SPEC, small_samples, tmp_path / "o", workers=2, progress="off", start_method="fork")
    started = []
    monkeypatch.setattr(multiprocessing.context.ForkProcess, "start", lambda self: started.append(self))
    summary = run_job(MIXED_SPEC, small_samples, tmp_path / "o", workers=2, progress="off", start_method="fork",
                      resume=True)
    assert summary.processed_inputs == 0 and not started


@pytest.mark.parametrize("tasks, workers", [(1, 1), (7, 2), (42, 2), (1000, 2), (100_000, 8)])
def test_pool_tasks_shrink_from_the_largest_to_single_inputs(tasks, workers):
    """Guided scheduling: large tasks while much is left, single inputs at the end, every
    input handed out once."""
    sizes, remaining = [], tasks
    while remaining:
        sizes.append(min(remaining, chunk_size(remaining, workers)))
        remaining -= sizes[-1]
    assert sum(sizes) == tasks and sizes == sorted(sizes, reverse=True)
    assert max(sizes) <= MAX_CHUNK and sizes[-1] == 1
    if tasks >= 4 * workers * MAX_CHUNK:
        assert sizes[0] == MAX_CHUNK and len(sizes) < tasks / MAX_CHUNK + 4 * workers * 4


@needs_native
def test_an_install_without_compiled_kernels_warns_and_gives_the_same_bytes(small_samples, tmp_path, monkeypatch):
    """No C compiler at install time: the job says so once, and its outputs do not change."""
    import io

    from augment import images, kernels
    from augment.engine import job as engine_job
    from augment.engine import summary as engine_summary
    from augment.logs import Log

    spec = {"version": 1, "seed": 5, "copies": 2,
            "ops": [{"ColorJitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}}]}
    built = io.StringIO()
    summary = run_job(spec, small_samples, tmp_path / "built", workers=1, progress="off", log=Log(stream=built))
    assert summary.versions["compiled_kernels"] == kernels.NATIVE != "none"
    assert "slow_kernels" not in built.getvalue()
    monkeypatch.setattr(kernels, "_native", None)  # what a failed optional build leaves
    monkeypatch.setattr(images, "_native", None)
    monkeypatch.setattr(engine_job, "NATIVE", None)  # the warning
    monkeypatch.setattr(engine_summary, "NATIVE", None)  # the versions recorded
    without = io.StringIO()
    run_job(spec, small_samples, tmp_path / "without", workers=1, progress="off", log=Log(stream=without))
    assert "without its compiled kernels" in without.getvalue() and "same bytes" in without.getvalue()
    assert tree_bytes(tmp_path / "without") == tree_bytes(tmp_path / "built")


TINY_SPEC = {"version": 1, "seed": 3, "copies": 2, "ops": [{"RandomResizedCrop": {"size": 32}}]}


def _sixteen_images(small_samples: Path, root: Path) -> list[str]:
    names = sorted(p.name for p in small_samples.iterdir())
    rels = [f"{folder}/{i}-{name}" for i, (folder, name) in
            enumerate((f, n) for f in ("a", "b", "c") for n in names)][:16]
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((small_samples / rel.split("-", 1)[1]).read_bytes())
    return rels


def test_junk_files_are_excluded_counted_and_listed_instead_of_failing_the_job(small_samples, tmp_path):
    """Two .DS_Store files and a _SUCCESS marker made a 16-image job fail (3 of 19 inputs)."""
    src, out = tmp_path / "in", tmp_path / "out"
    images = _sixteen_images(small_samples, src)
    (src / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + bytes(100))
    (src / "b" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + bytes(100))
    (src / "_SUCCESS").write_bytes(b"")
    summary = run_job(TINY_SPEC, src, out, workers=1, progress="off")
    assert summary.status == "completed" and summary.failed_inputs == 0
    assert summary.inputs == 16 and summary.excluded == 3 and summary.written == 32
    assert "3 files excluded" in summary.line()
    assert {r["source"] for r in _records(out)} == set(images)
    listed = [json.loads(line) for line in (out / "_augment" / "excluded-local.jsonl").read_text().splitlines()]
    assert listed == [{"source": ".DS_Store", "rule": "default", "pattern": ".DS_Store"},
                      {"source": "_SUCCESS", "rule": "default", "pattern": "_SUCCESS"},
                      {"source": "b/.DS_Store", "rule": "default", "pattern": ".DS_Store"}]
    saved = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert saved["excluded"] == 3 and saved["excluded_list"] == str(out / "_augment" / "excluded-local.jsonl")


def test_a_resume_with_the_same_filters_has_no_gaps_and_no_duplicates(small_samples, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    images = _sixteen_images(small_samples, src)
    for rel in images[:5]:
        (src / f"{rel}.json").write_text("{}")  # sidecars
    (src / "c" / "notes.txt").write_text("not an image")
    spec = {**TINY_SPEC, "input": {"exclude": ["*.json", "*.txt"]}}
    run_job(spec, src, tmp_path / "whole", workers=1, progress="off")
    run_job(spec, src, out, workers=1, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[:13]) + lines[13][:20])  # killed part-way, a torn line at the end
    summary = run_job(spec, src, out, workers=2, progress="off", resume=True)
    assert summary.status == "completed" and summary.excluded == 6 and summary.resumed_records == 13
    assert Counter(map(_key, _records(out))) == {(rel, k): 1 for rel in images for k in range(2)}
    assert tree_bytes(out) == tree_bytes(tmp_path / "whole") | {
        p: d for p, d in tree_bytes(out).items() if p.startswith("_augment/")}


def test_a_resume_with_other_filters_is_refused_naming_both(small_samples, tmp_path, capsys):
    """The input section is not in the spec's digest: a resume with other filters was
    accepted, and mixed two input sets in one job."""
    from augment.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    images = _sixteen_images(small_samples, src)
    (src / "a" / "meta.json").write_text("{}")
    run_job({**TINY_SPEC, "input": {"exclude": ["*.json"]}}, src, tmp_path / "whole", workers=1, progress="off")
    run_job({**TINY_SPEC, "input": {"exclude": ["*.json"]}}, src, out, workers=1, progress="off")
    meta = out / "_augment"
    saved = json.loads((meta / "summary-local.json").read_text())
    assert (saved["include"], saved["exclude"]) == ([], ["*.json"])
    manifest = meta / "manifest-local.jsonl"
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[:9]))  # killed part-way
    before = manifest.read_bytes(), (meta / "summary-local.json").read_bytes()
    with pytest.raises(UsageError, match=r"started with the input filters exclude='\*\.json', and this resume "
                                         r"names the input filters include='\*\.jpg'; resume it with the input "
                                         r"filters exclude='\*\.json' .*or start a new job in a new output_dir="):
        run_job({**TINY_SPEC, "input": {"include": ["*.jpg"]}}, src, out, workers=1, progress="off", resume=True)
    spec_file = tmp_path / "tiny.json"
    spec_file.write_text(json.dumps(TINY_SPEC))
    args = ["process", "--spec", str(spec_file), "--input-dir", str(src), "--output-dir", str(out), "--workers", "1",
            "--progress", "off", "--resume"]
    capsys.readouterr()
    assert main(args) == 2  # the spec without its input section: no filters
    err = capsys.readouterr().err
    assert "started with the input filters --exclude='*.json', and this resume names no input filters" in err, err
    assert (manifest.read_bytes(), (meta / "summary-local.json").read_bytes()) == before
    assert main([*args, "--exclude=*.json"]) == 0, capsys.readouterr().err  # the first set, from the flags
    assert Counter(map(_key, _records(out))) == {(rel, k): 1 for rel in images for k in range(2)}
    assert tree_bytes(out) == tree_bytes(tmp_path / "whole") | {
        p: d for p, d in tree_bytes(out).items() if p.startswith("_augment/")}


def test_a_job_whose_summary_has_no_filters_resumes_as_before(small_samples, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    _sixteen_images(small_samples, src)
    run_job(TINY_SPEC, src, out, workers=1, progress="off")
    meta = out / "_augment"
    saved = json.loads((meta / "summary-local.json").read_text())
    del saved["include"], saved["exclude"]  # written by an earlier version
    (meta / "summary-local.json").write_text(json.dumps(saved))
    manifest = meta / "manifest-local.jsonl"
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[:9]))
    summary = run_job({**TINY_SPEC, "input": {"exclude": ["*.json"]}}, src, out, workers=1, progress="off",
                      resume=True)
    assert summary.status == "completed" and summary.written == 32 and summary.exclude == ["*.json"]


def test_a_folder_of_nothing_but_excluded_files_is_refused_with_the_reason(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / ".DS_Store").write_bytes(b"junk")
    (src / "a.json").write_text("{}")
    with pytest.raises(UsageError, match=r"all 2 files are excluded \(\.DS_Store: 1, \*\.json: 1\)"):
        run_job({**TINY_SPEC, "input": {"exclude": ["*.json"]}}, src, tmp_path / "out", workers=1, progress="off")
    assert not (tmp_path / "out").exists(), "refused before anything is written"


def test_replay_by_source_and_copy_names_the_same_output_in_every_run(inputs, tmp_path):
    out = tmp_path / "o"
    run_job(MIXED_SPEC, inputs, out, workers=2, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    result = replay(manifest, source="coffee.jpg", copy=2, out=tmp_path / "r.jpg")
    assert result.bit_exact and result.params_match and not result.spec_differs
    assert (result.record["source"], result.record["copy"]) == ("coffee.jpg", 2)
    assert (tmp_path / "r.jpg").read_bytes() == (out / "coffee.jpg.aug2.jpg").read_bytes()
    assert read_manifest(manifest)[result.line - 1] == result.record
    assert replay(manifest, source="rocket.jpg", out=tmp_path / "r0.jpg").record["copy"] == 0, "copy 0 by default"
    with pytest.raises(UsageError, match=r"copy=3: coffee\.jpg has copies 0, 1, 2"):
        replay(manifest, source="coffee.jpg", copy=3, out=tmp_path / "r.jpg")
    with pytest.raises(UsageError, match=r"source=cats/coffee\.jpg: no record of that input"):
        replay(manifest, source="cats/coffee.jpg", out=tmp_path / "r.jpg")
    with pytest.raises(UsageError, match="exactly one of record=N and source="):
        replay(manifest, 1, tmp_path / "r.jpg", source="coffee.jpg")
    other = replay(manifest, source="coffee.jpg", copy=2, out=tmp_path / "x.jpg",
                   spec={**MIXED_SPEC, "ops": MIXED_SPEC["ops"][:2]})
    assert other.spec_differs and not other.bit_exact


def test_run_job_takes_its_options_as_one_object_or_as_the_keywords_it_always_took(inputs, tmp_path):
    """#27 item 5: the job's options are a JobOptions; the old keywords still work, over it."""
    from augment.engine import JobOptions

    options = JobOptions(workers=1, progress="off", host="algo-1")
    by_object = run_job("light", inputs, tmp_path / "a", options)
    by_keywords = run_job("light", inputs, tmp_path / "b", workers=1, progress="off", host="algo-1")
    mixed = run_job("light", inputs, tmp_path / "c", options, host="algo-2")
    assert by_object.host == by_keywords.host == "algo-1" and mixed.host == "algo-2" and options.host == "algo-1"
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b") == tree_bytes(tmp_path / "c")
    with pytest.raises(TypeError, match="run_job\\(\\) got an unexpected keyword argument 'worker'"):
        run_job("light", inputs, tmp_path / "d", worker=2)
    assert not (tmp_path / "d").exists()
