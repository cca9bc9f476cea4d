"""Nothing lost, nothing twice: kills, stops and resumes on real photos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import PIL.Image
import pytest

import augment
from augment import contract
from augment.engine import run_job
from augment.errors import TooManyBadInputs, UsageError
from augment.manifest import read_manifest
from augment.samples import list_samples, samples_dir
from tests.conftest import tree_bytes

AUGMENT = Path(sys.executable).with_name("augment")
# Slow enough per image (elastic warps of full-size photos) to be caught mid-run.
SLOW_SPEC = """\
version: 1
seed: 11
copies: 2
ops:
  - ElasticTransform: {alpha: 40.0, sigma: 5.0}
  - RandomResizedCrop: {size: 128}
  - ColorJitter: {brightness: 0.3, hue: 0.05}
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """42 real photos (the samples under several names and sizes) in nested folders."""
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        for name in list_samples():
            with PIL.Image.open(samples_dir() / name) as img:
                img = img.resize((img.width * (6 - i) // 6 + 64, img.height * (6 - i) // 6 + 64))
                (root / f"set{i % 3}").mkdir(exist_ok=True)
                img.save(root / f"set{i % 3}" / f"{i}-{name}", quality=90)
    return root


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    (out.parent / "spec.yaml").write_text(SLOW_SPEC)
    run_job(out.parent / "spec.yaml", corpus, out, workers=2, progress="off")
    return out


def _start(spec: Path, corpus: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(AUGMENT), "process", "--spec", str(spec), "--input-dir", str(corpus), "--output-dir", str(out),
         "--workers", "2", "--progress", "off", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )  # fmt: skip


def _wait_for_records(manifest: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manifest.exists() and manifest.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, f"the job ended before it could be interrupted: {proc.communicate()}"
        time.sleep(0.02)
    raise AssertionError("no progress")


def _check_complete(out: Path, reference: Path) -> None:
    records = read_manifest(out / "_augment" / "manifest-local.jsonl")
    counts = Counter((r["source"], r["copy"]) for r in records)
    assert len(counts) == 84 and set(counts.values()) == {1}, "exactly one record per (input, copy)"
    expected = read_manifest(reference / "_augment" / "manifest-local.jsonl")
    key = lambda r: (r["source"], r["copy"])  # noqa: E731
    assert sorted(records, key=key) == sorted(expected, key=key)
    assert tree_bytes(out) == tree_bytes(reference), "byte for byte the uninterrupted run"
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(corpus, reference, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SLOW_SPEC)
    out = tmp_path / "out"
    proc = _start(spec, corpus, out)
    _wait_for_records(out / "_augment" / "manifest-local.jsonl", 20, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the job, its workers and the forkserver, at once
    proc.wait()
    done_before = len(read_manifest(out / "_augment" / "manifest-local.jsonl"))
    assert 20 <= done_before < 84, "killed part-way"
    result = subprocess.run([str(AUGMENT), "process", "--spec", str(spec), "--input-dir", str(corpus),
                             "--output-dir", str(out), "--workers", "2", "--resume"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert f"{done_before} records from before" in result.stdout
    _check_complete(out, reference)


def _start_and_wait(tmp_path: Path, corpus: Path) -> tuple[subprocess.Popen, Path, Path, Path, Path]:
    """The slow job started as the container starts it (its /opt/ml under ``tmp_path``),
    once it has written 10 records: (process, spec, output dir, manifest, /opt/ml)."""
    ml = tmp_path / "opt" / "ml"
    ml.mkdir(parents=True)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SLOW_SPEC)
    out = tmp_path / "out"
    proc = _start(spec, corpus, out, env={contract.ROOT_ENV: str(ml)})
    manifest = out / "_augment" / "manifest-local.jsonl"
    _wait_for_records(manifest, 10, proc)
    return proc, spec, out, manifest, ml


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through Linux's /proc")
def test_a_worker_killed_mid_job_records_its_input_as_failed_and_the_job_goes_on(corpus, reference, tmp_path):
    """What the kernel's OOM killer does to one worker: the input it was on is recorded as
    failed (out_of_memory), so that no resume dies on it again; a new worker takes over
    the rest and every other input is made as in an uninterrupted run; no worker is left
    running. One failed input of 42 is over the default --max-error-rate: exit 1, saying so."""
    proc, _spec, out, manifest, ml = _start_and_wait(tmp_path, corpus)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    assert (ml / "output" / "message").read_text().startswith("bad inputs")
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["status"] == "failed" and summary["failures_by_reason"] == {"out_of_memory": 1}
    for pid in workers:  # none left behind
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    records = read_manifest(manifest)
    assert Counter(Counter((r["source"], r["copy"]) for r in records).values()) == {1: 84}
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 2 and {r["reason"] for r in failed} == {"out_of_memory"}
    assert len({r["source"] for r in failed}) == 1
    key = lambda r: (r["source"], r["copy"])  # noqa: E731
    expected = [r for r in read_manifest(reference / "_augment" / "manifest-local.jsonl")
                if r["source"] != failed[0]["source"]]
    assert sorted((r for r in records if r["status"] == "ok"), key=key) == sorted(expected, key=key)
    for rec in expected:
        assert (out / rec["output"]).read_bytes() == (reference / rec["output"]).read_bytes()


@pytest.mark.slow
def test_sigterm_stops_gracefully_with_a_message_then_resume_finishes(corpus, reference, tmp_path):
    proc, spec, out, manifest, ml = _start_and_wait(tmp_path, corpus)
    proc.send_signal(signal.SIGTERM)  # what StopProcessingJob sends to the container's process
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    message = (ml / "output" / "message").read_text()
    assert message.startswith("stopped by SIGTERM after ") and "--resume" in message
    data = manifest.read_bytes()
    assert data.endswith(b"\n"), "the manifest was flushed to a whole line"
    records = [json.loads(line) for line in data.splitlines()]
    assert 10 <= len(records) < 84 and all((out / r["output"]).is_file() for r in records)
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["status"] == "stopped"
    run_job(spec, corpus, out, workers=2, progress="off", resume=True)
    _check_complete(out, reference)


@pytest.mark.slow
def test_a_second_ctrl_c_interrupts_at_once_and_says_how_to_resume(corpus, reference, tmp_path):
    """The first SIGINT stops gracefully; the second abandons the inputs in flight, still
    saying how to resume, and the resume finishes with no gap and no duplicate."""
    proc, spec, out, manifest, ml = _start_and_wait(tmp_path, corpus)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)  # a bound against hanging, not a timing
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted by a second SIGINT" in stderr and "re-run with --resume to finish" in stderr, stderr
    assert "--resume" in (ml / "output" / "message").read_text()
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["status"] == "stopped" and "resume=True" in summary["message"]  # the library's words
    records = read_manifest(manifest)
    assert 10 <= len(records) < 84 and all((out / r["output"]).is_file() for r in records)
    result = subprocess.run([str(AUGMENT), "process", "--spec", str(spec), "--input-dir", str(corpus),
                             "--output-dir", str(out), "--workers", "2", "--resume"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    _check_complete(out, reference)


def test_torn_last_line_and_stale_temps_are_repaired_on_resume(small_samples, tmp_path):
    spec = {"version": 1, "seed": 2, "copies": 2, "ops": [{"RandomResizedCrop": {"size": 64}}]}
    full = tmp_path / "full"
    run_job(spec, small_samples, full, workers=1, progress="off")
    out = tmp_path / "out"
    run_job(spec, small_samples, out, workers=1, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(b"".join(lines[:5]) + lines[5][:40])  # killed in the middle of a write
    assert len(read_manifest(manifest)) == 5, "a torn line is not a record"
    lost = json.loads(lines[6])["output"]
    (out / lost).unlink()
    (out / f".{Path(lost).name}.x1y2.tmp").write_bytes(b"half an image")
    summary = run_job(spec, small_samples, out, workers=1, progress="off", resume=True)
    assert summary.resumed_records == 5 and summary.processed_inputs == 5
    records = read_manifest(manifest)
    assert len(records) == 14 and len({(r["source"], r["copy"]) for r in records}) == 14
    assert manifest.read_bytes().count(b"\n") == 14
    assert tree_bytes(out) == tree_bytes(full)
    assert not list(out.rglob("*.tmp"))


def test_a_resume_keeps_the_temporary_files_of_live_writers(small_samples, tmp_path):
    """Hosts of one job may share an output folder: a resume of one removed every
    temporary file, the other host's in-flight ones too, whose rename then failed. Only
    those of processes that are gone (or that name none) are removed."""
    out = tmp_path / "out"
    run_job("light", small_samples, out, workers=1, progress="off", host="algo-1")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # another host's job, writing
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        kept = [out / f".augment-{live.pid}-0.tmp", out / "_augment" / f".augment-{live.pid}-7.tmp",
                out / "_augment" / f".spec.{live.pid}.tmp"]
        stale = [out / f".augment-{gone.pid}-0.tmp", out / "_augment" / f".spec.{gone.pid}.tmp",
                 out / ".chelsea.jpg.aug0.jpg.x1y2.tmp", out / ".augment-99999999999999999999-0.tmp"]
        for tmp in kept + stale:
            tmp.write_bytes(b"half an image")
        summary = run_job("light", small_samples, out, workers=1, progress="off", host="algo-1", resume=True)
        assert summary.status == "completed"
        assert [tmp for tmp in kept if not tmp.exists()] == []
        assert [tmp for tmp in stale if tmp.exists()] == []
    finally:
        live.kill()
        live.wait()


def test_rerunning_a_finished_job_does_no_work(small_samples, tmp_path):
    out = tmp_path / "out"
    run_job("light", small_samples, out, workers=1, progress="off")
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    summary = run_job("light", small_samples, out, workers=1, progress="off", resume=True)
    assert summary.processed_inputs == 0 and summary.written == 14 and summary.status == "completed"
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == stamps
    assert len(read_manifest(out / "_augment" / "manifest-local.jsonl")) == 14


def test_resume_with_another_spec_is_refused(small_samples, tmp_path):
    out = tmp_path / "out"
    run_job("light", small_samples, out, workers=1, progress="off")
    with pytest.raises(UsageError, match="holds a job made with another spec"):
        run_job("strong", small_samples, out, workers=1, progress="off", resume=True)
    with pytest.raises(UsageError, match="another spec"):
        run_job("strong", small_samples, out, workers=1, progress="off", host="algo-2")


def test_resume_with_other_pixel_libraries_is_refused(small_samples, tmp_path):
    """A job started by another augment (or torch, torchvision, Pillow) must not be finished
    by this one: its outputs would come from two implementations."""
    out = tmp_path / "out"
    run_job("light", small_samples, out, workers=1, progress="off")
    summary_path = out / "_augment" / "summary-local.json"
    summary = json.loads(summary_path.read_text())
    manifest = (out / "_augment" / "manifest-local.jsonl").read_bytes()
    summary["versions"]["augment"] = "0.1.0"
    summary_path.write_text(json.dumps(summary))
    with pytest.raises(UsageError, match=r"other library versions \(augment 0\.1\.0 -> "):
        run_job("light", small_samples, out, workers=1, progress="off", resume=True)
    assert (out / "_augment" / "manifest-local.jsonl").read_bytes() == manifest, "nothing touched"
    summary["versions"]["augment"] = augment.__version__
    summary["versions"]["python"] = "3.0.0"  # does not compute pixels
    summary_path.write_text(json.dumps(summary))
    assert run_job("light", small_samples, out, workers=1, progress="off", resume=True).status == "completed"


def test_keep_original_copies_inputs_unchanged_and_resumes(small_samples, tmp_path):
    spec = {"version": 1, "copies": 1, "output": {"keep_original": True}, "ops": ["RandomInvert"]}
    out = tmp_path / "out"
    summary = run_job(spec, small_samples, out, workers=1, progress="off")
    assert summary.written == 7 and summary.originals == 7
    for name in list_samples():
        assert (out / f"{name}.orig.jpg").read_bytes() == (small_samples / name).read_bytes()
    records = read_manifest(out / "_augment" / "manifest-local.jsonl")
    originals = [r for r in records if r["copy"] == -1]
    assert len(originals) == 7 and all(r["output_sha256"] == r["source_sha256"] for r in originals)
    assert run_job(spec, small_samples, out, workers=1, progress="off", resume=True).processed_inputs == 0


def _process(spec: Path, inputs: Path, out: Path, *extra: str) -> int:
    from augment.cli import main

    return main(["process", "--spec", str(spec), "--input-dir", str(inputs), "--output-dir", str(out),
                 "--workers", "1", "--progress", "off", *extra])


def _latest(manifest: Path) -> dict[tuple[str, int], dict]:
    latest: dict[tuple[str, int], dict] = {}
    for line in manifest.read_text().splitlines():
        rec = json.loads(line)
        latest[(rec["source"], rec["copy"])] = rec
    return latest


def test_deleted_outputs_are_redone_on_resume_and_their_new_records_say_so(small_samples, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nseed: 5\ncopies: 2\nops:\n  - RandomResizedCrop: {size: 64}\n")
    out = tmp_path / "out"
    assert _process(spec, small_samples, out) == 0
    full = tree_bytes(out)
    manifest = out / "_augment" / "manifest-local.jsonl"
    first = read_manifest(manifest)[:3]
    gone = [r["output"] for r in first]
    for name in gone:
        (out / name).unlink()
    capsys.readouterr()
    assert _process(spec, small_samples, out, "--resume") == 0
    err = capsys.readouterr().err
    assert "3 recorded outputs to do again (missing_output: 3)" in err
    assert tree_bytes(out) == full, "the 3 outputs are back, byte for byte"
    assert manifest.read_bytes().count(b"\n") == 14 + 3, "one new record per redone output"
    latest = _latest(manifest)
    assert len(latest) == 14 and all(r["status"] == "ok" for r in latest.values())
    assert sorted(r["output"] for r in latest.values() if r.get("redone") == "missing_output") == sorted(gone)
    records = read_manifest(manifest)
    assert len(records) == 14 and len({(r["source"], r["copy"]) for r in records}) == 14
    from augment.replay import replay

    result = replay(manifest, source=first[0]["source"], copy=first[0]["copy"], out=tmp_path / "replayed")
    assert result.line > 14 and result.record["redone"] == "missing_output", "replay takes the latest record"
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["status"] == "completed" and summary["written"] == 14
    assert summary["processed_inputs"] == len({r["source"] for r in first})


def test_verify_redoes_outputs_whose_bytes_changed(small_samples, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nseed: 5\ncopies: 1\nops:\n  - RandomResizedCrop: {size: 64}\n")
    out = tmp_path / "out"
    assert _process(spec, small_samples, out) == 0
    full = tree_bytes(out)
    manifest = out / "_augment" / "manifest-local.jsonl"
    changed = read_manifest(manifest)[0]["output"]
    (out / changed).write_bytes(b"not the image")
    assert _process(spec, small_samples, out, "--resume") == 0, "a plain resume checks presence only"
    assert (out / changed).read_bytes() == b"not the image"
    assert _process(spec, small_samples, out, "--resume", "--verify") == 0
    assert tree_bytes(out) == full
    latest = _latest(manifest)
    assert [r["output"] for r in latest.values() if r.get("redone")] == [changed]
    assert latest[next(k for k, r in latest.items() if r["output"] == changed)]["redone"] == "changed_output"
    capsys.readouterr()
    assert _process(spec, small_samples, out, "--verify") == 2
    assert "--verify checks the work of an earlier run: pass it with --resume" in capsys.readouterr().err


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every output write fails as on a full disk (the job's own files still write)."""
    import errno

    from augment.engine import worker as engine  # where outputs are written

    real = engine.atomic_write_bytes

    def write(path, data):
        if "_augment" not in Path(path).parts:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(engine, "atomic_write_bytes", write)


def test_inputs_that_failed_on_a_full_disk_are_redone_by_resume(small_samples, tmp_path, monkeypatch):
    spec = {"version": 1, "seed": 3, "copies": 2, "ops": [{"RandomResizedCrop": {"size": 64}}]}
    clean = tmp_path / "clean"
    run_job(spec, small_samples, clean, workers=1, progress="off")
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _full_disk(m)
        with pytest.raises(TooManyBadInputs):
            run_job(spec, small_samples, out, workers=1, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    assert {r["reason"] for r in read_manifest(manifest)} == {"write_failed"}
    summary = run_job(spec, small_samples, out, workers=1, progress="off", resume=True)  # space freed
    assert summary.status == "completed" and summary.processed_inputs == 7
    assert summary.written == 14 and summary.failed_inputs == 0 and summary.failures_by_reason == {}
    assert tree_bytes(out) == tree_bytes(clean)
    latest = read_manifest(manifest)
    assert len(latest) == 14 and all(r["status"] == "ok" and r["redone"] == "retry_write_failed" for r in latest)


def test_retry_failed_retries_failures_that_a_plain_resume_keeps(inputs, tmp_path):
    spec = {"version": 1, "seed": 3, "copies": 1, "ops": ["RandomInvert"]}
    good = (inputs / "chelsea.jpg").read_bytes()
    (inputs / "chelsea.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    with pytest.raises(TooManyBadInputs):
        run_job(spec, inputs, out, workers=1, progress="off")
    (inputs / "chelsea.jpg").write_bytes(good)  # fixed
    with pytest.raises(TooManyBadInputs):  # a bad image is not retried by default: it would fail again
        run_job(spec, inputs, out, workers=1, progress="off", resume=True)
    summary = run_job(spec, inputs, out, workers=1, progress="off", resume=True, retry_failed=True)
    assert summary.status == "completed" and summary.processed_inputs == 1 and summary.failed_inputs == 0
    (rec,) = [r for r in read_manifest(out / "_augment" / "manifest-local.jsonl") if r["source"] == "chelsea.jpg"]
    assert rec["status"] == "ok" and rec["redone"].startswith("retry_")
    with pytest.raises(UsageError, match=r"retry_failed=True .* pass it with resume=True"):
        run_job(spec, inputs, tmp_path / "other", workers=1, progress="off", retry_failed=True)


def test_a_full_disk_when_appending_the_manifest_fails_cleanly_then_resume_finishes(small_samples, tmp_path,
                                                                                  monkeypatch, capsys):
    import errno

    from augment import manifest as mf

    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nseed: 5\ncopies: 1\nops:\n  - RandomResizedCrop: {size: 64}\n")
    clean = tmp_path / "clean"
    assert _process(spec, small_samples, clean) == 0
    real = mf.write_records
    writes = 0

    def full_after_two(f, records):
        nonlocal writes
        writes += 1
        if writes > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, records)

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(mf, "write_records", full_after_two)
        capsys.readouterr()
        assert _process(spec, small_samples, out) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert (f"augment process: error: cannot append to {out / '_augment' / 'manifest-local.jsonl'}: No space left "
            "on device; everything recorded before is intact: re-run with --resume to finish") in err
    assert len(read_manifest(out / "_augment" / "manifest-local.jsonl")) == 2
    assert json.loads((out / "_augment" / "summary-local.json").read_text())["status"] == "failed"
    assert _process(spec, small_samples, out, "--resume") == 0
    assert tree_bytes(out) == tree_bytes(clean)
    assert len(read_manifest(out / "_augment" / "manifest-local.jsonl")) == 7


@pytest.mark.slow
def test_resume_streams_a_large_manifest_keeping_only_what_is_done(small_samples, tmp_path):
    """A resume reads the manifest once, as a stream, and keeps about one small entry per
    input: never the file (a 1.19 GB manifest once took 1.03 GB to open for appending)."""
    import tracemalloc

    spec = {"version": 1, "seed": 3, "copies": 2, "ops": ["RandomInvert"]}
    out = tmp_path / "out"
    run_job(spec, small_samples, out, workers=1, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    kept = read_manifest(manifest)[0]
    params = [{"op": "RandomInvert", "applied": True}] * 10
    with open(manifest, "a") as f:  # 60,000 records of earlier inputs, each pointing at an output that exists
        for i in range(30_000):
            for copy in (0, 1):
                f.write(json.dumps({**kept, "source": f"earlier/{i:06d}.jpg", "copy": copy, "params": params}) + "\n")
    size = manifest.stat().st_size
    assert size > 20_000_000
    tracemalloc.start()
    try:
        summary = run_job(spec, small_samples, out, workers=1, progress="off", resume=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.processed_inputs == 0 and summary.written == 14 + 60_000 and summary.status == "completed"
    assert peak < size / 4, f"peak {peak:,} bytes for a manifest of {size:,}"
    assert manifest.stat().st_size == size


def test_a_resume_keeps_where_the_inputs_came_from(small_samples, tmp_path):
    """A job launched by `augment run` records its input URI; a resume run by hand (which
    passes none) must not erase it, or replay could no longer find the inputs."""
    from augment.engine import run_job
    from augment.spec import load_spec

    out = tmp_path / "out"
    run_job(load_spec("light"), small_samples, out, workers=1, input_uri="s3://bucket/train/", progress="off")
    (out / "chelsea.jpg.aug0.jpg").unlink()
    run_job(load_spec("light"), small_samples, out, workers=1, resume=True, progress="off")
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["input_uri"] == "s3://bucket/train/" and summary["status"] == "completed"
    assert (out / "chelsea.jpg.aug0.jpg").is_file()
