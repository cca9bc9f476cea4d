"""The SageMaker Processing container contract, on a simulated /opt/ml tree."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from augment import contract
from augment.errors import UsageError
from augment.manifest import read_manifest

AUGMENT = Path(sys.executable).with_name("augment")


def make_host(root: Path, host: str, hosts: list[str], images: Path | None = None, spec: str | None = None,
              instance_type: str = "ml.t3.medium") -> Path:
    """Lay out an /opt/ml tree as SageMaker does for one instance of a processing job."""
    ml = root / "opt" / "ml"
    (ml / "config").mkdir(parents=True)
    (ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
    inputs = [{"InputName": "images", "S3Input": {"LocalPath": "/opt/ml/processing/input/images",
                                                  "S3Uri": "s3://bucket/train/", "S3DataType": "S3Prefix",
                                                  "S3InputMode": "File",
                                                  "S3DataDistributionType": "ShardedByS3Key"}}]
    if spec is not None:
        inputs.append({"InputName": "spec", "S3Input": {"LocalPath": "/opt/ml/processing/input/spec",
                                                        "S3Uri": "s3://bucket/spec.yaml", "S3DataType": "S3Prefix",
                                                        "S3InputMode": "File"}})
        (ml / "processing" / "input" / "spec").mkdir(parents=True)
        (ml / "processing" / "input" / "spec" / "spec.yaml").write_text(spec)
    config = {
        "ProcessingJobName": "augment-test-job",
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "output", "S3Output": {
            "LocalPath": "/opt/ml/processing/output", "S3Uri": "s3://bucket/out/", "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": len(hosts), "InstanceType": instance_type,
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "augment:test", "ContainerEntrypoint": ["augment", "process"]},
    }  # fmt: skip
    (ml / "config" / "processingjobconfig.json").write_text(json.dumps(config))
    target = ml / "processing" / "input" / "images"
    target.mkdir(parents=True)
    if images is not None:
        for p in sorted(images.iterdir()):
            (target / p.name).write_bytes(p.read_bytes())
    return ml


def run_in(ml: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, contract.ROOT_ENV: str(ml), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(AUGMENT), "process", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_root_env_moves_opt_ml_and_local_paths_follow(tmp_path, monkeypatch):
    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path / "ml"))
    assert contract.ml_root() == tmp_path / "ml"
    assert contract.local_path("/opt/ml/processing/input/x") == tmp_path / "ml" / "processing" / "input" / "x"
    assert contract.local_path("/data/elsewhere") == Path("/data/elsewhere")
    assert contract.default_input_dir() == tmp_path / "ml" / "processing" / "input"
    assert contract.default_output_dir() == tmp_path / "ml" / "processing" / "output"
    monkeypatch.delenv(contract.ROOT_ENV)
    assert contract.ml_root() == Path("/opt/ml")


def test_context_defaults_without_config_files(tmp_path, monkeypatch):
    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path / "nothing"))
    ctx = contract.read_context()
    assert (ctx.job_name, ctx.current_host, ctx.hosts, ctx.inputs) == (None, "local", ("local",), {})


def test_context_reads_the_job_config(tmp_path, monkeypatch):
    ml = make_host(tmp_path, "algo-2", ["algo-1", "algo-2"], spec="version: 1\nops: []\n")
    monkeypatch.setenv(contract.ROOT_ENV, str(ml))
    ctx = contract.read_context()
    assert ctx.job_name == "augment-test-job" and ctx.instance_type == "ml.t3.medium"
    assert ctx.current_host == "algo-2" and ctx.hosts == ("algo-1", "algo-2") and ctx.host_index == 1
    assert ctx.image_input() == ml / "processing" / "input" / "images"
    assert ctx.image_output() == ml / "processing" / "output"
    assert ctx.spec_path() == ml / "processing" / "input" / "spec" / "spec.yaml"


def test_ambiguous_inputs_are_refused_with_advice():
    ctx = contract.JobContext(inputs={"a": Path("/x"), "b": Path("/y"), "code": Path("/c")})
    with pytest.raises(UsageError, match=r"\(a, b\); name it 'images' or 'input', or pass input_dir="):
        ctx.image_input()
    assert contract.JobContext(inputs={"code": Path("/c"), "train": Path("/t")}).image_input() == Path("/t")


def test_failure_message_is_utf8_and_at_most_1kb(tmp_path, monkeypatch):
    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path / "absent"))
    assert contract.write_failure_message("x") is None, "nothing written outside a container"
    (tmp_path / "ml").mkdir()
    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path / "ml"))
    path = contract.write_failure_message("é" * 2000)
    data = path.read_bytes()
    assert path == tmp_path / "ml" / "output" / "message"
    assert len(data) <= 1024 and data.endswith(b"...")
    assert data.decode("utf-8").startswith("éé"), "cut on a character boundary"


@pytest.mark.slow
def test_job_without_flags_takes_everything_from_the_job_config(tmp_path, small_samples):
    ml = make_host(tmp_path, "algo-1", ["algo-1"], images=small_samples,
                   spec="version: 1\nseed: 3\ncopies: 1\nops: [RandomHorizontalFlip]\n")
    result = run_in(ml, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "job augment-test-job on ml.t3.medium, host algo-1 of algo-1" in result.stderr
    out = ml / "processing" / "output"
    records = read_manifest(out / "_augment" / "manifest-algo-1.jsonl")
    assert len(records) == 7 and all(r["status"] == "ok" for r in records)
    summary = json.loads((out / "_augment" / "summary-algo-1.json").read_text())
    assert summary["job_name"] == "augment-test-job" and summary["hosts"] == ["algo-1"]
    assert not (ml / "output" / "message").exists()


@pytest.mark.slow
def test_failures_write_the_exit_message(tmp_path, small_samples):
    ml = make_host(tmp_path, "algo-1", ["algo-1"], images=small_samples, spec="version: 1\nops: [Nope]\n")
    result = run_in(ml)
    assert result.returncode == 2
    message = (ml / "output" / "message").read_text()
    assert message.startswith("usage error: ") and "unknown op 'Nope'" in message, "labelled: a retry fails too"
    assert "Traceback" not in result.stderr
    (ml / "processing" / "input" / "images" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    result = run_in(ml, "--spec", "light", "--max-error-rate", "0")
    assert result.returncode == 1
    message = (ml / "output" / "message").read_text()
    assert message.startswith("bad inputs: 1 of 8 inputs failed") and "bad.jpg" in message


@pytest.mark.slow
def test_two_hosts_write_two_manifests_into_one_output(tmp_path, small_samples):
    """Two instances, each with its own resourceconfig.json and shard, upload to one prefix."""
    names = sorted(p.name for p in small_samples.iterdir())
    shared_out = tmp_path / "s3-prefix"
    for i, host in enumerate(["algo-1", "algo-2"]):
        shard = tmp_path / f"shard-{host}"
        shard.mkdir()
        for name in names[i::2]:
            (shard / name).write_bytes((small_samples / name).read_bytes())
        ml = make_host(tmp_path / host, host, ["algo-1", "algo-2"], images=shard)
        result = run_in(ml, "--spec", "light", "--output-dir", str(shared_out), "--workers", "1")
        assert result.returncode == 0, result.stderr
    meta = shared_out / "_augment"
    assert sorted(p.name for p in meta.iterdir()) == [
        "excluded-algo-1.jsonl", "excluded-algo-2.jsonl", "manifest-algo-1.jsonl", "manifest-algo-2.jsonl", "spec.yaml",
        "summary-algo-1.json", "summary-algo-2.json"]
    one, two = read_manifest(meta / "manifest-algo-1.jsonl"), read_manifest(meta / "manifest-algo-2.jsonl")
    assert {r["source"] for r in one} | {r["source"] for r in two} == set(names)
    assert not {r["source"] for r in one} & {r["source"] for r in two}
    assert len(one) + len(two) == 14


@pytest.mark.parametrize(("err", "label"), [(errno.ENOSPC, None), (errno.EROFS, None), (errno.EDQUOT, None),
                                            (errno.EACCES, "usage error"), (errno.ENOTDIR, "usage error")])
def test_an_output_a_new_instance_may_write_is_no_usage_error(tmp_path, err, label):
    """Exit 2 was labelled 'usage error' whatever its cause, and a batch so labelled is never
    retried: a full or read-only disk on the instance is the machine's, and another attempt
    (a new instance) may pass; a folder the user may not write to fails again."""
    from augment.engine import _cannot_write

    error = _cannot_write(tmp_path, OSError(err, os.strerror(err)))
    assert error.exit_code == 2, "still refused before any work"
    assert contract.not_retryable(contract.failure_message(error, str(error))) == label


def test_the_unstaged_input_is_one_json_file_and_no_images(tmp_path):
    folder = tmp_path / "unstaged"
    images = tmp_path / "images"
    folder.mkdir()
    images.mkdir()
    ctx = contract.JobContext(inputs={"images": images, "unstaged": folder})
    assert ctx.image_input() == images, "not taken for a second images input"
    with pytest.raises(UsageError, match=r"must hold one \.json file, found 0"):
        ctx.unstaged_path()
    (folder / "batch-00003.unstaged.json").write_text("{}")
    assert ctx.unstaged_path() == folder / "batch-00003.unstaged.json"
    assert contract.JobContext(inputs={"images": images}).unstaged_path() is None
