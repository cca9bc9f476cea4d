"""A corpus of bad inputs, made here from real photos, processed under a memory limit
that decoding any of the bombs would exceed."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from augment.manifest import read_manifest
from augment.samples import sample_path
from tests.bombs import gigapixel_png, header_bomb_jpeg

AUGMENT = Path(sys.executable).with_name("augment")
HEADROOM = 768 * 2**20  # far below the 1 GiB a gigapixel decodes to, let alone 12 GiB


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory: pytest.TempPathFactory, small_samples: Path) -> Path:
    root = tmp_path_factory.mktemp("bad")
    for name in ("chelsea.jpg", "brick.jpg", "rocket.jpg"):
        (root / name).write_bytes((small_samples / name).read_bytes())
    good = (small_samples / "coffee.jpg").read_bytes()
    (root / "zero-byte.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "random.bin").write_bytes(os.urandom(4096))
    (root / "text-as.png").write_text("this is not a PNG\n" * 20)
    (root / "header-bomb.jpg").write_bytes(header_bomb_jpeg(sample_path("chelsea.jpg")))
    (root / "gigapixel-1bit.png").write_bytes(gigapixel_png())
    return root


@pytest.fixture(scope="module")
def memory_limit(small_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Address space a real job needs (measured), plus a headroom no bomb fits in."""
    out = tmp_path_factory.mktemp("probe") / "out"
    code = ("import re, sys; from augment.engine import run_job; "
            f"run_job('light', {str(small_samples)!r}, {str(out)!r}, workers=1, progress='off'); "
            "print(re.search(r'VmPeak:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    peak_kb = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                  .stdout.split()[-1])
    return peak_kb * 1024 + HEADROOM


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _process(corpus: Path, out: Path, limit: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AUGMENT), "process", "--spec", "light", "--input-dir", str(corpus), "--output-dir", str(out),
         "--workers", "1", *extra],
        capture_output=True, text=True, preexec_fn=lambda: _limited(limit), timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


@pytest.mark.slow
def test_decoding_a_bomb_would_fail_under_this_limit(memory_limit, bad_corpus):
    """The control: without the header check, the limit stops the decode."""
    for name in ("gigapixel-1bit.png", "header-bomb.jpg"):
        code = ("import sys; from augment.images import decode; "
                f"decode(open({str(bad_corpus / name)!r}, 'rb').read(), max_pixels=sys.maxsize)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                preexec_fn=lambda: _limited(memory_limit), timeout=300)
        assert result.returncode != 0, f"{name} decoded within the limit: the test would prove nothing"
        assert "MemoryError" in result.stderr, result.stderr


@pytest.mark.slow
def test_bad_corpus_is_recorded_with_reasons_under_the_memory_limit(bad_corpus, memory_limit, tmp_path):
    result = _process(bad_corpus, tmp_path / "strict", memory_limit)
    assert result.returncode == 1, result.stderr
    assert re.search(r"error: 6 of 9 inputs failed \(66\.7%\)", result.stderr)
    assert "Traceback" not in result.stderr

    result = _process(bad_corpus, tmp_path / "lenient", memory_limit, "--max-error-rate", "1")
    assert result.returncode == 0, result.stderr
    records = read_manifest(tmp_path / "lenient" / "_augment" / "manifest-local.jsonl")
    assert Counter((r["source"], r["copy"]) for r in records) == {
        (p.name, k): 1 for p in bad_corpus.iterdir() for k in (0, 1)}, "every input, once per copy"
    reasons = {r["source"]: r["reason"] for r in records if r["status"] == "failed"}
    assert reasons == {
        "zero-byte.jpg": "empty", "truncated.jpg": "undecodable", "random.bin": "not_an_image",
        "text-as.png": "not_an_image", "header-bomb.jpg": "too_large", "gigapixel-1bit.png": "too_large",
    }  # fmt: skip
    assert all(r["error"] for r in records if r["status"] == "failed")
    summary = json.loads((tmp_path / "lenient" / "_augment" / "summary-local.json").read_text())
    assert summary["failures_by_reason"] == {"empty": 1, "not_an_image": 2, "too_large": 2, "undecodable": 1}
    assert summary["written"] == 6 and summary["failed_inputs"] == 6 and summary["failed_records"] == 12
