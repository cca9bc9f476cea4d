"""Off the happy path on purpose: jobs racing for one output folder, output folders that
cannot be used, damaged manifests, resumes pointed at another input folder."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import PIL.Image
import pytest

from augment.cli import main
from augment.engine import run_job
from augment.errors import UsageError
from augment.manifest import read_manifest

# With augment and torch imported, opens the FIFO (its writer is the test), says so on
# stdout and blocks reading it: the test's closing its end releases every process at the
# same moment, each then runs `augment process`.
LAUNCHER = textwrap.dedent("""\
    import sys
    import augment.engine  # noqa: F401  (the slow imports, before the barrier)
    from augment.cli import main
    with open(sys.argv[1], "rb") as barrier:
        print("ready", flush=True)
        barrier.read()
    sys.exit(main(sys.argv[2:]))
""")


def _race(tmp_path: Path, inputs: Path, round: int) -> None:
    out = tmp_path / f"out{round}"
    barrier = tmp_path / f"barrier{round}"
    os.mkfifo(barrier)
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    writer = os.open(barrier, os.O_RDWR)  # never blocks; the readers' open does not either
    procs = [subprocess.Popen([sys.executable, str(launcher), str(barrier), "process", "--spec", spec,
                               "--input-dir", str(inputs), "--output-dir", str(out), "--workers", "1",
                               "--progress", "off", "--host", host],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for spec, host in (("light", "algo-1"), ("strong", "algo-2"))]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n", p.communicate()
        os.close(writer)  # end of file for both readers at once
        errs = [p.communicate(timeout=120)[1] for p in procs]
        results = [(p.returncode, err) for p, err in zip(procs, errs, strict=True)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "holds a job made with another spec" in refused, refused
    assert "internal error" not in refused
    manifests = sorted((out / "_augment").glob("manifest-*.jsonl"))
    assert len(manifests) == 1, manifests
    records = read_manifest(manifests[0])
    assert len({(r["source"], r["copy"]) for r in records}) == len(records), "one record per (input, copy)"
    assert {r["source"] for r in records} == {p.name for p in inputs.iterdir()}
    for r in records:
        assert r["status"] == "ok"
        assert hashlib.sha256((out / r["output"]).read_bytes()).hexdigest() == r["output_sha256"]


@pytest.mark.slow
def test_two_jobs_with_other_specs_started_at_once_into_one_output(tmp_path):
    """Two jobs released by one barrier: one claims the output folder, the other is
    refused before it writes anything, every time (today's race let both finish, with
    outputs of one spec under records of the other)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(100):  # enough files that listing them takes a while (the old race's window), each quick
        PIL.Image.new("RGB", (24, 16), (i, 2 * i, 255 - i)).save(inputs / f"{i}.png")
    for round in range(5):
        _race(tmp_path, inputs, round)


def _process(capsys: pytest.CaptureFixture, inputs: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["process", "--spec", "light", "--input-dir", str(inputs), "--output-dir", str(out),
                 "--workers", "1", "--progress", "off", *extra])
    return code, capsys.readouterr().err


def test_an_output_folder_that_is_a_file_is_refused(tmp_path, small_samples, capsys):
    out = tmp_path / "out"
    out.write_bytes(b"not a folder")
    code, err = _process(capsys, small_samples, out)
    assert code == 2, err
    assert f"--output-dir {out}: not a directory" in err and "internal error" not in err
    assert out.read_bytes() == b"not a folder"
    code, err = _process(capsys, small_samples, out / "sub")  # below a file: cannot be created
    assert code == 2 and f"--output-dir {out / 'sub'}: cannot write there" in err, err


def test_a_read_only_output_folder_is_refused_before_any_work(tmp_path, small_samples, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: fail as a read-only mount does
        real_mkdir = Path.mkdir

        def mkdir(self: Path, *args, **kwargs) -> None:
            if self.parent == out:
                raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        code, err = _process(capsys, small_samples, out)
    finally:
        out.chmod(0o755)
    assert code == 2, err
    assert f"--output-dir {out}: cannot write there" in err and "internal error" not in err
    assert not list(out.iterdir())


@pytest.fixture(scope="module")
def finished(small_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "out"
    run_job("light", small_samples, out, workers=1, progress="off")
    return out


@pytest.mark.parametrize(("damage", "problem"), [
    (b"\n", "an empty line"),
    (b'{"source": "chelsea.jpg", "copy": 1, "sta\n', "not JSON"),
    (b"\xff\xfe garbage\n", "not UTF-8"),
    (b"[1, 2, 3]\n", "not a record"),
    (b'{"source": "chelsea.jpg"}\n', "not a record"),
])  # fmt: skip
def test_a_damaged_manifest_line_is_named_and_refused(finished, small_samples, tmp_path, capsys, damage, problem):
    """A damaged line in the middle of a manifest is never guessed at: resume (and every
    reader) refuses, naming the file and the line, before any work."""
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    manifest = out / "_augment" / "manifest-local.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    damaged = b"".join(lines[:3]) + damage + b"".join(lines[3:])
    manifest.write_bytes(damaged)
    code, err = _process(capsys, small_samples, out, "--resume")
    assert code == 2, err
    assert f"{manifest} line 4 is damaged: {problem}" in err and "internal error" not in err
    assert manifest.read_bytes() == damaged
    with pytest.raises(UsageError, match="line 4 is damaged"):
        read_manifest(manifest)


def test_a_torn_last_line_still_resumes(finished, small_samples, tmp_path, capsys):
    """What a kill leaves (the last line cut short, no newline) is not damage: resume
    cuts it off and redoes that record."""
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    manifest = out / "_augment" / "manifest-local.jsonl"
    whole = manifest.read_bytes()
    lines = whole.splitlines(keepends=True)
    manifest.write_bytes(b"".join(lines[:-1]) + lines[-1][:30])
    code, err = _process(capsys, small_samples, out, "--resume")
    assert code == 0, err
    assert sorted(manifest.read_bytes().splitlines()) == sorted(whole.splitlines())


def test_resume_with_another_input_folder_is_refused(finished, small_samples, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    other = tmp_path / "other"
    other.mkdir()
    PIL.Image.new("RGB", (32, 32), "red").save(other / "red.png")
    manifest = out / "_augment" / "manifest-local.jsonl"
    before = manifest.read_bytes(), (out / "_augment" / "summary-local.json").read_bytes()
    code, err = _process(capsys, other, out, "--resume")
    assert code == 2, err
    assert f"started with --input-dir {small_samples.resolve()}, not {other}" in err
    assert (manifest.read_bytes(), (out / "_augment" / "summary-local.json").read_bytes()) == before
    assert not list(out.rglob("red.png*"))
    link = tmp_path / "same"  # the same folder by another path is the same input
    link.symlink_to(small_samples)
    code, err = _process(capsys, link, out, "--resume")
    assert code == 0, err
    assert json.loads((out / "_augment" / "summary-local.json").read_text())["input_dir"] == str(
        small_samples.resolve())


def test_resume_without_input_dir_reads_the_folder_the_job_started_with(small_samples, tmp_path, capsys):
    out = tmp_path / "out"
    run_job("light", small_samples, out, workers=1, progress="off")
    manifest = out / "_augment" / "manifest-local.jsonl"
    whole = manifest.read_bytes()
    manifest.write_bytes(b"".join(whole.splitlines(keepends=True)[:5]))
    code = main(["process", "--spec", "light", "--output-dir", str(out), "--workers", "1", "--progress", "off",
                 "--resume"])
    assert code == 0, capsys.readouterr().err
    assert sorted(manifest.read_bytes().splitlines()) == sorted(whole.splitlines())


def test_a_resume_while_the_job_runs_is_refused(finished, small_samples, tmp_path, capsys):
    """Two runs of one host's job never append to one manifest: a running job holds it
    locked, and a resume started meanwhile is refused before any work."""
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    manifest = out / "_augment" / "manifest-local.jsonl"
    whole = manifest.read_bytes()
    manifest.write_bytes(b"".join(whole.splitlines(keepends=True)[:5]))
    with open(manifest, "ab") as running:  # what a running job holds
        fcntl.flock(running.fileno(), fcntl.LOCK_EX)
        code, err = _process(capsys, small_samples, out, "--resume")
    assert code == 2, err
    assert f"{manifest} is being written by another augment process" in err
    assert len(manifest.read_bytes().splitlines()) == 5
    code, err = _process(capsys, small_samples, out, "--resume")  # once it ended
    assert code == 0, err
    assert sorted(manifest.read_bytes().splitlines()) == sorted(whole.splitlines())


def test_a_failure_right_after_the_claim_releases_it(small_samples, tmp_path, monkeypatch):
    """An error between the claim and the work (the first summary cannot be written, say)
    releases the manifest's lock: a resume then is not refused as busy (the lock leaked
    for as long as the failed call's traceback lived)."""
    from augment.engine import job as engine

    out = tmp_path / "out"

    def full(summary, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(engine, "_write_summary", full)
        with pytest.raises(UsageError, match="cannot write there") as failed:  # its traceback holds run_job's frame
            run_job("light", small_samples, out, workers=1, progress="off")
    summary = run_job("light", small_samples, out, workers=1, progress="off", resume=True)
    assert summary.status == "completed" and summary.written == 2 * len(list(small_samples.iterdir()))
    assert f"output_dir={out}: cannot write there (No space left on device)" in str(failed.value), \
        "a clear refusal, not a raw OSError"
    assert failed.value.transient, "another attempt, on another disk, may pass"


def test_the_claim_is_held_until_the_final_summary_is_written(small_samples, tmp_path, monkeypatch):
    """No other run of this host can start before the last summary is written (it would
    race that write)."""
    from augment.engine import job as engine

    out = tmp_path / "out"
    manifest = out / "_augment" / "manifest-local.jsonl"
    real = engine._write_summary
    seen: list[tuple[str, bool]] = []

    def write_summary(summary, path):
        with open(manifest, "rb") as other:  # what another run's claim would try
            try:
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                seen.append((summary.status, True))
            else:
                seen.append((summary.status, False))
        real(summary, path)

    monkeypatch.setattr(engine, "_write_summary", write_summary)
    assert run_job("light", small_samples, out, workers=1, progress="off").status == "completed"
    assert seen == [("running", True), ("completed", True)]
