"""Hostile conditions (issue 20): odd host names, long and undecodable file names, a
worker out of memory, and a parent killed alone."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from augment import contract
from augment.engine import run_job
from augment.errors import UsageError
from augment.manifest import read_manifest

PYTHON = [sys.executable, "-m", "augment"]


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYTHON, *args], capture_output=True, text=True, errors="backslashreplace", timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, **kwargs)


@pytest.mark.parametrize("host", ["x/../../../victim/pwn", "..", "a/b", "", "a\0b", ".hidden", "-x", "a" * 64])
def test_a_host_name_that_is_not_one_file_name_component_is_refused_before_any_work(host, small_samples,
                                                                                     tmp_path):
    out = tmp_path / "o" / "out"
    with pytest.raises(UsageError, match=r"^host="):
        run_job("strong", small_samples, out, workers=1, progress="off", host=host)
    assert not (tmp_path / "o").exists()  # nothing written, inside the output folder or beside it


def test_the_cli_refuses_a_traversing_host_with_exit_2_naming_the_flag(small_samples, tmp_path):
    out = tmp_path / "out"
    r = _cli("process", "--spec", "strong", "--input-dir", str(small_samples), "--output-dir", str(out),
             "--host", "x/../../../victim/pwn", "--workers", "1", "--progress", "off")
    assert r.returncode == 2, r.stderr
    assert "--host" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not (tmp_path / "victim").exists()


@pytest.mark.parametrize("host", ["algo-1", "algo-12", "local", "calibrate", "host_2.a"])
def test_sagemaker_style_host_names_are_accepted(host):
    assert contract.check_host(host, "--host") == host


@pytest.mark.parametrize("data", [{"current_host": "../x", "hosts": ["../x"]},
                                  {"current_host": "algo-1", "hosts": ["algo-1", "a/b"]},
                                  {"current_host": 3, "hosts": ["algo-1"]}])
def test_a_bad_host_in_resourceconfig_is_refused_naming_the_file(data, tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "resourceconfig.json").write_text(json.dumps(data))
    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path))
    with pytest.raises(UsageError, match=r"resourceconfig\.json"):
        contract.read_context()


def test_a_240_byte_input_name_is_processed(small_samples, tmp_path):
    """The output name (input name + .aug0.jpg) fits in 255 bytes; the temporary file's must too."""
    src = tmp_path / "in"
    src.mkdir()
    name = "n" * 236 + ".jpg"
    assert len(name.encode()) == 240
    (src / name).write_bytes((small_samples / "chelsea.jpg").read_bytes())
    out = tmp_path / "out"
    summary = run_job("strong", src, out, workers=1, progress="off")
    assert summary.failed_inputs == 0 and summary.written == summary.copies
    recs = read_manifest(out / "_augment" / "manifest-local.jsonl")
    assert {r["status"] for r in recs} == {"ok"}
    assert all((out / r["output"]).is_file() for r in recs)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file left


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from /proc")
def test_workers_end_when_the_parent_alone_is_killed_and_a_resume_records_every_output(small_samples,
                                                                                      tmp_path):
    """SIGKILL of the parent only (not its group): before, the forked workers held each
    other's pipe ends, never saw end-of-file, and went on writing outputs that nothing
    recorded, then blocked in recv forever."""
    src = tmp_path / "in"
    src.mkdir()
    samples = sorted(small_samples.iterdir())
    for i in range(150):
        (src / f"{i:03d}-{samples[i % len(samples)].name}").write_bytes(samples[i % len(samples)].read_bytes())
    out = tmp_path / "out"
    cmd = [*PYTHON, "process", "--spec", "strong", "--input-dir", str(src), "--output-dir", str(out),
           "--workers", "2", "--copies", "2", "--progress", "off", "--log-format", "json"]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"})
    manifest = out / "_augment" / "manifest-local.jsonl"
    try:
        workers: set[int] = set()
        for _ in range(1200):  # until some inputs are recorded (at most a minute)
            workers = _children(job.pid)
            if len(workers) == 2 and manifest.is_file() and manifest.stat().st_size > 0:
                break
            time.sleep(0.05)
        assert len(workers) == 2 and job.poll() is None, "the job ended before it could be killed"
        os.kill(job.pid, signal.SIGKILL)  # the parent alone
        job.wait()
        for _ in range(300):  # a few seconds; before the fix, forever
            if not any(_alive(w) for w in workers):
                break
            time.sleep(0.1)
        left = [w for w in workers if _alive(w)]
        assert not left, f"workers {left} outlived their parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr
    latest: dict[tuple[str, int], dict] = {}
    for rec in read_manifest(manifest):
        latest[(rec["source"], rec["copy"])] = rec
    assert len(latest) == 150 * 2 and {r["status"] for r in latest.values()} == {"ok"}
    named = Counter(rec["output"] for rec in latest.values())
    on_disk = {p.relative_to(out).as_posix(): p for p in out.rglob("*")
               if p.is_file() and "_augment" not in p.parts}
    assert set(on_disk) == set(named) and set(named.values()) == {1}  # no output without its one record
    for rec in latest.values():
        assert hashlib.sha256(on_disk[rec["output"]].read_bytes()).hexdigest() == rec["output_sha256"]


@pytest.mark.parametrize("workers", [1, 2])
def test_an_image_that_runs_out_of_memory_is_recorded_as_failed_and_the_job_goes_on(workers, small_samples,
                                                                                    tmp_path, monkeypatch):
    """Stands in for a 10000 x 10000 RGBA PNG under a tight memory limit: before, the
    MemoryError escaped, no record was written, and every resume repeated the crash."""
    from augment.engine import worker as engine

    real_write = engine.atomic_write_bytes

    def write(path, data):
        if "chelsea" in str(path):
            raise MemoryError
        real_write(path, data)

    monkeypatch.setattr(engine, "atomic_write_bytes", write)  # forked workers inherit it
    out = tmp_path / "out"
    summary = run_job("strong", small_samples, out, workers=workers, progress="off", start_method="fork",
                      max_error_rate=0.5)
    assert summary.status == "completed"
    assert summary.failed_inputs == 1 and summary.failures_by_reason == {"out_of_memory": 1}
    recs = read_manifest(out / "_augment" / "manifest-local.jsonl")
    failed = [r for r in recs if r["status"] == "failed"]
    assert {r["source"] for r in failed} == {"chelsea.jpg"} and len(failed) == summary.copies
    assert {r["reason"] for r in failed} == {"out_of_memory"} and "memory" in failed[0]["error"]
    assert len(recs) == summary.inputs * summary.copies


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_processed_resumed_and_replayed(small_samples, tmp_path):
    """Linux names are bytes: b'\\xff' is no UTF-8. Before, seed derivation raised
    UnicodeEncodeError, and every resume crashed at the same input."""
    src = tmp_path / "in"
    src.mkdir()
    raw = os.fsencode(src) + b"/caf\xff\xfe.jpg"
    with open(raw, "wb") as f:
        f.write((small_samples / "chelsea.jpg").read_bytes())
    (src / "coffee.jpg").write_bytes((small_samples / "coffee.jpg").read_bytes())
    out = tmp_path / "out"
    cmd = ["process", "--spec", "strong", "--input-dir", str(src), "--output-dir", str(out), "--workers", "2",
           "--copies", "2", "--progress", "off"]
    r = _cli(*cmd)
    assert r.returncode == 0, r.stderr
    manifest = out / "_augment" / "manifest-local.jsonl"
    text = manifest.read_bytes().decode("utf-8")  # still UTF-8: the name is escaped
    assert "caf\\udcff\\udcfe.jpg" in text
    recs = read_manifest(manifest)
    odd = [rec for rec in recs if os.fsencode(rec["source"]) == b"caf\xff\xfe.jpg"]  # round-trips to the bytes
    assert len(odd) == 2 and {rec["status"] for rec in odd} == {"ok"}
    for rec in odd:
        assert os.path.isfile(os.fsencode(out) + b"/" + os.fsencode(rec["output"]))
    manifest.write_text(text.splitlines(keepends=True)[0])  # as if killed after one record
    r = _cli(*cmd, "--resume")
    assert r.returncode == 0, r.stderr
    assert sorted((rec["source"], rec["copy"]) for rec in read_manifest(manifest)) == sorted(
        (rec["source"], rec["copy"]) for rec in recs)
    for source in ["caf\\udcff\\udcfe.jpg", os.fsdecode(b"caf\xff\xfe.jpg")]:  # as the manifest shows it, or raw
        r = _cli("replay", str(manifest), "--source", source, "--copy", "1", "--out", str(tmp_path / "r.jpg"))
        assert r.returncode == 0 and "bit-exact" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("sig", [signal.SIGKILL, None])
def test_a_worker_that_dies_on_an_image_records_it_as_failed_and_the_job_goes_on(sig, small_samples, tmp_path,
                                                                                 monkeypatch):
    """The kernel's OOM killer (SIGKILL) or a worker that exits: before, the job
    failed with every later input left undone, and each resume died on the same input."""
    from augment.engine import worker as engine

    real_write = engine.atomic_write_bytes

    def write(path, data):
        if "chelsea" in str(path):
            if sig is None:
                os._exit(70)
            os.kill(os.getpid(), sig)
        real_write(path, data)

    monkeypatch.setattr(engine, "atomic_write_bytes", write)  # forked workers inherit it
    out = tmp_path / "out"
    summary = run_job("strong", small_samples, out, workers=2, progress="off", start_method="fork",
                      max_error_rate=0.5)
    reason = "out_of_memory" if sig == signal.SIGKILL else "worker_died"
    assert summary.status == "completed" and summary.failures_by_reason == {reason: 1}
    recs = read_manifest(out / "_augment" / "manifest-local.jsonl")
    assert len(recs) == summary.inputs * summary.copies  # one record per (input, copy): none lost, none twice
    assert len({(r["source"], r["copy"]) for r in recs}) == len(recs)
    failed = [r for r in recs if r["status"] == "failed"]
    assert {r["source"] for r in failed} == {"chelsea.jpg"} and {r["reason"] for r in failed} == {reason}
    for rec in recs:
        if rec["status"] == "ok":
            assert hashlib.sha256((out / rec["output"]).read_bytes()).hexdigest() == rec["output_sha256"]
