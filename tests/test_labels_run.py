"""augment run carries labels (#28): the hosts of a local job read the annotations the launch
named, relative to where it was launched, and a sharded job's parts are merged into the one
file a standalone job writes, when the job completes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from augment import samples
from augment.errors import UsageError
from augment.jobs.build import ANNOTATIONS_PATH, build_request

pytestmark = pytest.mark.slow

AUGMENT = Path(sys.executable).with_name("augment")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(AUGMENT), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_sharded_local_run_merges_its_hosts_labels_into_the_standalone_file(tmp_path):
    shutil.copytree(samples.samples_dir(), tmp_path / "photos")
    shutil.copy(samples.annotations_path(), tmp_path / "instances.json")  # named relative to the launch
    alone = _run("process", "--spec", "light", "--input-dir", "photos", "--annotations", "instances.json",
                 "--output-dir", "alone", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    sharded = _run("run", "--backend", "local", "--mode", "sharded", "--instance-count", "2", "--spec", "light",
                   "--input", "photos", "--annotations", "instances.json", "--output", "sharded", cwd=tmp_path)
    assert sharded.returncode == 0, sharded.stderr
    parts = sorted(p.name for p in (tmp_path / "sharded" / "_augment").glob("labels-*.json"))
    assert parts == ["labels-algo-1.json", "labels-algo-2.json"], "each host wrote its part"
    merged = (tmp_path / "sharded" / "annotations.json").read_bytes()
    assert merged == (tmp_path / "alone" / "annotations.json").read_bytes(), "the bytes one host writes"
    assert "annotations.json" in sharded.stdout


def test_a_local_annotations_file_is_checked_before_the_job_and_staged_for_s3_jobs(tmp_path):
    with pytest.raises(UsageError, match=r"^annotations=.*nope\.json: no such file or folder"):
        build_request("light", str(tmp_path), str(tmp_path / "out"), annotations=str(tmp_path / "nope.json"))
    with pytest.raises(UsageError, match=r"^annotations=.*nope\.json: no such file or folder"):
        build_request("light", "s3://b/in/", "s3://b/out/", annotations=str(tmp_path / "nope.json"))
    remote = build_request("light", "s3://b/in/", "s3://b/out/", annotations=str(samples.annotations_path()))
    staged = next(i for i in remote.inputs if i.name == "annotations")
    assert (staged.source, staged.destination) == (str(samples.annotations_path().resolve()), ANNOTATIONS_PATH)
    at = remote.arguments.index("--annotations")
    assert remote.arguments[at + 1] == f"{ANNOTATIONS_PATH}/annotations.json", "where its hosts find it"
    request = build_request("light", str(tmp_path), str(tmp_path / "out"), annotations=str(samples.annotations_path()))
    at = request.arguments.index("--annotations")
    assert request.arguments[at + 1] == str(samples.annotations_path().resolve())
    with pytest.raises(UsageError, match=r"^annotations=.*: a job whose hosts are containers"):
        build_request("light", str(tmp_path), str(tmp_path / "out"), annotations=str(samples.annotations_path()),
                      image_uri="augment:0.4.0")


def test_a_labelled_job_killed_mid_way_resumes_with_its_annotations(tmp_path):
    """The first summary names the annotations: a job killed before its last summary (a
    SIGKILL, the OOM killer, a lost spot instance) resumes with them and writes its file."""
    import json
    import os
    import signal
    import time

    shutil.copytree(samples.samples_dir(), tmp_path / "photos")
    shutil.copy(samples.annotations_path(), tmp_path / "instances.json")
    args = ["process", "--spec", "light", "--copies", "40", "--workers", "1", "--input-dir", "photos",
            "--annotations", "instances.json", "--output-dir", "out"]
    proc = subprocess.Popen([str(AUGMENT), *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    manifest, deadline = tmp_path / "out/_augment/manifest-local.jsonl", time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not (manifest.exists() and manifest.stat().st_size):
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = json.loads((tmp_path / "out/_augment/summary-local.json").read_text())
    assert first["status"] == "running" and first["labels"]["annotations"].endswith("instances.json")
    resumed = _run(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads((tmp_path / "out/annotations.json").read_text())
    assert len(doc["images"]) == 7 * 40


def test_a_job_on_s3_inputs_reads_a_local_annotations_file_staged_as_its_input(bucket, tmp_path):
    """The local runtime stages the annotations input as SageMaker would, at its /opt/ml path, where the
    hosts read it: the job on s3:// inputs writes the labels a local job does."""
    import boto3

    from augment.engine import run_job
    from augment.jobs import LocalBackend, launch

    s3 = boto3.client("s3")
    for name in samples.list_samples():
        s3.upload_file(str(samples.samples_dir() / name), bucket, f"in/{name}")
    job = launch(LocalBackend(), "light", f"s3://{bucket}/in/", f"s3://{bucket}/out/", workers=1,
                 annotations=str(samples.annotations_path()), attached=True)
    assert job.status() == "Completed", job.describe().get("FailureReason")
    run_job("light", samples.samples_dir(), tmp_path / "alone", workers=1, annotations=str(samples.annotations_path()),
            progress="off")
    written = s3.get_object(Bucket=bucket, Key="out/annotations.json")["Body"].read()
    assert written == (tmp_path / "alone/annotations.json").read_bytes()


def test_a_batched_run_says_where_its_batches_labels_were_merged(tmp_path):
    shutil.copytree(samples.samples_dir(), tmp_path / "photos")
    run = _run("run", "--backend", "local", "--mode", "batched", "--batch-size", "4", "--spec", "light", "--input",
               "photos", "--annotations", str(samples.annotations_path()), "--output", "out", "--workers", "1",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "labels:    out/annotations.json" in run.stdout
    doc = json.loads((tmp_path / "out/annotations.json").read_text())
    assert sorted({i["file_name"].split("/")[0] for i in doc["images"]}) == ["batch-00000", "batch-00001"]
    assert len(doc["images"]) >= len(samples.list_samples())
    assert all((tmp_path / "out" / i["file_name"]).is_file() for i in doc["images"]), "named from out/"


def test_a_sharded_job_of_a_yolo_tree_writes_the_label_files_of_a_standalone_job(tmp_path):
    """ShardedByS3Key deals a tree's files to the instances apart, so every instance gets the tree's
    labels again as the job's annotations input (FullyReplicated): an image's labels are found whichever
    instance its label file went to, and the outputs' label files and data.yaml are one job's, byte for byte."""
    from tests.labels_helpers import yolo_tree

    yolo_tree(tmp_path / "tree", {"train": ["a", "b", "d"], "val": ["c", "e"]})
    spec = tmp_path / "crop.yaml"
    spec.write_text(json.dumps({"version": 1, "seed": 3, "copies": 2, "ops": [
        {"RandomResizedCrop": {"size": [48, 48], "scale": [0.4, 1.0]}}, "RandomHorizontalFlip"]}))
    alone = _run("process", "--spec", "crop.yaml", "--input-dir", "tree", "--annotations", "yolo",
                 "--output-dir", "alone", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    run = _run("run", "--backend", "local", "--mode", "sharded", "--instance-count", "2", "--spec", "crop.yaml",
               "--input", "tree", "--output", "sharded", "--annotations", "yolo", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = sorted(p.relative_to(tmp_path / "alone").as_posix() for p in (tmp_path / "alone").rglob("*")
                     if p.suffix == ".txt" or p.name == "data.yaml")
    assert len(written) == 11 and sum(1 for r in written if (tmp_path / "alone" / r).read_text()) == 11
    assert sorted(p.relative_to(tmp_path / "sharded").as_posix() for p in (tmp_path / "sharded").rglob("*")
                  if (p.suffix == ".txt" or p.name == "data.yaml") and "_augment" not in p.parts) == written
    for rel in written:
        assert (tmp_path / "sharded" / rel).read_bytes() == (tmp_path / "alone" / rel).read_bytes(), rel
    for host in ("algo-1", "algo-2"):
        summary = json.loads((tmp_path / "sharded" / "_augment" / f"summary-{host}.json").read_text())
        assert summary["labels"]["unlabelled_inputs"] == 0 and summary["labels"]["problems"] == 0, host
    assert "sharded/data.yaml" in run.stdout
