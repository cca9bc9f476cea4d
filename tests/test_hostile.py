"""Off the happy path on purpose: jobs racing for one output folder, output folders that
cannot be used, damaged manifests, resumes pointed at another input folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import PIL.Image
import pytest

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
