"""Hostile conditions (issue 20): odd host names, long and undecodable file names, a
worker out of memory, and a parent killed alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from augment import contract
from augment.engine import run_job
from augment.errors import UsageError
from augment.manifest import read_manifest

PYTHON = [sys.executable, "-m", "augment"]


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYTHON, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, **kwargs)


@pytest.mark.parametrize("host", ["x/../../../victim/pwn", "..", "a/b", "", "a\0b", ".hidden", "-x", "a" * 64])
def test_a_host_name_that_is_not_one_file_name_component_is_refused_before_any_work(host, small_samples,
                                                                                     tmp_path):
    out = tmp_path / "o" / "out"
    with pytest.raises(UsageError, match="--host"):
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
