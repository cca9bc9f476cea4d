"""The request model, and the local runtime against moto's server as the AWS peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from functools import partial
from pathlib import Path

import boto3
import pytest

from augment.errors import UsageError
from augment.jobs import Input, JobRequest, Output, RequestError, build_request, run_local
from augment.jobs.local import each_concurrently, safe_rel, shard
from augment.manifest import read_manifest
from augment.samples import list_samples, samples_dir

AUGMENT = Path(sys.executable).with_name("augment")
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"




def _upload_samples(bucket: str, prefix: str, copies: int = 1) -> list[str]:
    s3 = boto3.client("s3")
    keys = []
    for i in range(copies):
        for name in list_samples():
            key = f"{prefix}set{i}/{name}" if copies > 1 else f"{prefix}{name}"
            s3.upload_file(str(samples_dir() / name), bucket, key)
            keys.append(key)
    return keys


def _keys(bucket: str, prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _manifest(bucket: str, key: str) -> list[dict]:
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


# --- the request model -------------------------------------------------------------


def _request(**changes) -> JobRequest:
    base = JobRequest(job_name="augment-test", image_uri="123.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0",
                      role_arn=ROLE, arguments=("--spec", "light"),
                      inputs=(Input("images", "s3://bucket/train/", "/opt/ml/processing/input/images"),),
                      outputs=(Output("output", "/opt/ml/processing/output", "s3://bucket/out/"),))
    return base.with_changes(**changes)


def test_request_renders_exactly_to_create_processing_job():
    request = _request(instance_count=3, environment={"A": "1"}, tags=({"Key": "k", "Value": "v"},),
                       network={"EnableNetworkIsolation": True}).validate()
    data = request.to_request()
    assert data["ProcessingResources"] == {"ClusterConfig": {"InstanceCount": 3, "InstanceType": "ml.m5.large",
                                                             "VolumeSizeInGB": 30}}
    assert data["AppSpecification"] == {"ImageUri": request.image_uri, "ContainerEntrypoint": ["augment", "process"],
                                        "ContainerArguments": ["--spec", "light"]}
    assert data["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert data["Environment"] == {"A": "1"} and data["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert data["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert JobRequest.from_request(data) == request, "the request parses back to the same object"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"job_name": "bad_name!"}, "ProcessingJobName"),
        ({"job_name": "x" * 64}, "ProcessingJobName"),
        ({"instance_count": 0}, "ProcessingResources.ClusterConfig.InstanceCount"),
        ({"instance_count": 101}, "ProcessingResources.ClusterConfig.InstanceCount"),
        ({"instance_type": "m5.large"}, "ProcessingResources.ClusterConfig.InstanceType"),
        ({"max_runtime_s": 777_601}, "StoppingCondition.MaxRuntimeInSeconds"),
        ({"role_arn": "SageMakerRole"}, "RoleArn"),
        ({"image_uri": ""}, "AppSpecification.ImageUri"),
        ({"environment": {"1BAD": "x"}}, "Environment.1BAD"),
        ({"inputs": (Input("images", "s3://bucket/train/", "/data/images"),)},
         "ProcessingInputs[0] (images).S3Input.LocalPath"),
        ({"inputs": (Input("images", "s3://bucket/train/", "/opt/ml/processing/../x"),)},
         "ProcessingInputs[0] (images).S3Input.LocalPath"),
        ({"inputs": (Input("images", "s3://bucket/train/", "/opt/ml/processing/input", mode="FastFile"),)},
         "ProcessingInputs[0] (images).S3Input.S3InputMode"),
        ({"inputs": (Input("images", "s3://bucket/t/", "/opt/ml/processing/i", distribution="Sharded"),)},
         "ProcessingInputs[0] (images).S3Input.S3DataDistributionType"),
        ({"inputs": (Input("images", "/local/folder", "/opt/ml/processing/input"),)},
         "ProcessingInputs[0] (images).S3Input.S3Uri"),
        ({"outputs": (Output("output", "/tmp/out", "s3://bucket/out/"),)},
         "ProcessingOutputConfig.Outputs[0] (output).S3Output.LocalPath"),
        ({"inputs": (Input("a", "s3://bucket/x/", "/opt/ml/processing/a"),
                     Input("a", "s3://bucket/y/", "/opt/ml/processing/b"))}, "ProcessingInputs: InputName"),
    ],
)  # fmt: skip
def test_request_rejects_each_invalid_field_by_name(changes, field):
    with pytest.raises(RequestError) as info:
        _request(**changes).validate()
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith(field), info.value.problems


def test_local_folders_are_only_allowed_for_the_local_runtime():
    request = _request(inputs=(Input("images", "/data/photos", "/opt/ml/processing/input/images"),))
    with pytest.raises(RequestError):
        request.validate()
    request.validate(local=True)


def test_moto_accepts_the_rendered_request(aws):
    request = _request(job_name="augment-accepted", instance_count=2).validate()
    sm = boto3.client("sagemaker")
    sm.create_processing_job(**request.to_request())
    described = sm.describe_processing_job(ProcessingJobName="augment-accepted")
    parsed = JobRequest.from_request(described)
    # moto drops ProcessingResources and Environment from describe; the rest round-trips
    assert parsed.with_changes(instance_count=2) == request


def test_paths_that_escape_are_refused():
    for bad in ["../x.jpg", "a/../../x.jpg", "/etc/passwd", "", "a//b.jpg", "a/./b.jpg"]:
        with pytest.raises(UsageError, match="cannot be staged as a file of its own"):
            safe_rel(bad, "manifest key")
    assert safe_rel("a/b c/ü.jpg", "key") == "a/b c/ü.jpg"
    assert safe_rel("a\\..\\x", "key") == "a\\..\\x", "a backslash is a plain character in a Linux file name"


def test_sharding_is_disjoint_and_complete():
    keys = [f"k{i:03d}" for i in range(100)]
    shards = [shard(keys, i, 3, key=str) for i in range(3)]
    assert sorted(k for s in shards for k in s) == keys and sum(map(len, shards)) == 100
    assert [len(s) for s in shards] == [34, 33, 33]



# --- transfers: many objects at once, a plain loop's guarantees ----------------------


class _InFlight:
    """Counts S3 calls of each operation that are under way at once, through botocore's own
    events on the runtime's real client (the requests still go to moto's server)."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.lock = threading.Lock()

    def client(self) -> object:
        client = boto3.client("s3")
        client.meta.events.register("before-call.s3", self._start)
        client.meta.events.register("after-call.s3", self._end)
        return client

    def _start(self, model, **_) -> None:
        with self.lock:
            self.now[model.name] += 1
            self.most[model.name] = max(self.most[model.name], self.now[model.name])

    def _end(self, model, **_) -> None:
        with self.lock:
            self.now[model.name] -= 1


@pytest.mark.slow
def test_the_local_runtime_moves_objects_concurrently_and_loses_none(bucket, tmp_path, monkeypatch):
    """Staging and uploading went one object at a time: 2,000 tiny objects took about 50 s for
    3 s of work. Now several are in flight at once, and every object still arrives once."""
    import PIL.Image

    s3 = boto3.client("s3")
    with PIL.Image.open(samples_dir() / list_samples()[0]) as img:
        img.thumbnail((24, 24))
        tiny = tmp_path / "tiny.jpg"
        img.convert("RGB").save(tiny, quality=80)
    for i in range(48):
        s3.upload_file(str(tiny), bucket, f"in/d{i % 3}/{i:03d}.jpg")
    counter = _InFlight()
    monkeypatch.setattr("augment.storage.s3_client", counter.client)  # the real client, counted
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nseed: 3\ncopies: 1\nops: [RandomHorizontalFlip]\n")
    request = build_request(str(spec), f"s3://{bucket}/in/", f"s3://{bucket}/out/", workers=1)
    assert run_local(request, workdir=tmp_path / "work")["ProcessingJobStatus"] == "Completed"
    assert counter.most["GetObject"] > 1, f"inputs staged one at a time: {dict(counter.most)}"
    assert counter.most["PutObject"] > 1, f"outputs uploaded one at a time: {dict(counter.most)}"
    outputs = [k for k in _keys(bucket, "out/") if k.endswith(".jpg")]
    assert len(outputs) == len(set(outputs)) == 48
    records = _manifest(bucket, "out/_augment/manifest-algo-1.jsonl")
    assert sorted(r["source"] for r in records) == sorted(f"d{i % 3}/{i:03d}.jpg" for i in range(48))


def test_concurrent_transfers_fail_as_a_loop_would():
    """The first failure in the list's order is the one raised, after every started call has
    ended; no call runs twice, and calls not started when one failed are not started."""
    ran: Counter[int] = Counter()
    release = threading.Event()

    def call(i: int) -> None:
        ran[i] += 1
        if i == 1:
            release.wait(5)
            raise OSError("first in order")
        if i == 2:
            release.set()
            raise ValueError("first in time")

    with pytest.raises(OSError, match="first in order"):
        each_concurrently([partial(call, i) for i in range(200)], workers=4)
    assert max(ran.values()) == 1 and ran[0] == ran[1] == ran[2] == 1, "a call before the failure was skipped"
    assert len(ran) < 200, "calls queued after a failure still ran"
    done: list[int] = []
    each_concurrently([partial(done.append, i) for i in range(100)], workers=8)
    assert sorted(done) == list(range(100))


# --- the local runtime ---------------------------------------------------------------


@pytest.mark.slow
def test_local_folders_standalone(tmp_path):
    out = tmp_path / "out"
    request = build_request("light", str(samples_dir()), str(out), workers=1, name="augment-local-folders")
    description = run_local(request)
    assert description["ProcessingJobStatus"] == "Completed"
    assert description["ProcessingJobName"] == "augment-local-folders"
    assert description["ProcessingEndTime"] >= description["ProcessingStartTime"]
    assert len(read_manifest(out / "_augment" / "manifest-algo-1.jsonl")) == 14
    assert len(list(out.glob("*.aug[01].jpg"))) == 14


@pytest.mark.slow
def test_sharded_with_3_instances_on_s3(bucket, tmp_path):
    keys = _upload_samples(bucket, "train/", copies=3)
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nseed: 5\ncopies: 1\nops: [RandomHorizontalFlip]\n")
    request = build_request(str(spec), f"s3://{bucket}/train/", f"s3://{bucket}/out/", mode="sharded",
                            instance_count=3, workers=1)
    assert request.inputs[0].distribution == "ShardedByS3Key"
    logs = tmp_path / "logs.txt"
    with open(logs, "w") as log:
        description = run_local(request, log=log)
    assert description["ProcessingJobStatus"] == "Completed", description.get("FailureReason")
    manifests = {h: _manifest(bucket, f"out/_augment/manifest-{h}.jsonl") for h in ("algo-1", "algo-2", "algo-3")}
    sources = {h: {r["source"] for r in recs} for h, recs in manifests.items()}
    assert all(sources.values()), "every host got a shard"
    assert not (sources["algo-1"] & sources["algo-2"] or sources["algo-1"] & sources["algo-3"]
                or sources["algo-2"] & sources["algo-3"]), "the shards are disjoint"
    assert set().union(*sources.values()) == {k.removeprefix("train/") for k in keys}, "their union is the input"
    assert sum(map(len, manifests.values())) == len(keys), "the manifests are complete"
    outputs = _keys(bucket, "out/")
    assert len([k for k in outputs if ".aug0." in k]) == len(keys)
    assert "out/_augment/spec.yaml" in outputs, "the spec lands next to the outputs"
    text = logs.read_text()
    assert all(f"[algo-{i}] augment:" in text for i in (1, 2, 3)), "logs stream with a host prefix"


@pytest.mark.slow
def test_manifest_file_input_stages_exactly_its_keys(bucket, tmp_path):
    keys = _upload_samples(bucket, "pool/")
    chosen = [k.removeprefix("pool/") for k in keys[:3]]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="batches/b0.json",
                  Body=json.dumps([{"prefix": f"s3://{bucket}/pool/"}, *chosen]).encode())
    request = build_request("light", f"s3://{bucket}/batches/b0.json", str(tmp_path / "out"), workers=1)
    request = request.with_changes(inputs=(Input("images", f"s3://{bucket}/batches/b0.json",
                                                 "/opt/ml/processing/input/images", data_type="ManifestFile"),))
    assert run_local(request)["ProcessingJobStatus"] == "Completed"
    records = read_manifest(tmp_path / "out" / "_augment" / "manifest-algo-1.jsonl")
    assert sorted({r["source"] for r in records}) == sorted(chosen)


def test_manifest_key_with_dotdot_is_refused(bucket, tmp_path):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="m.json", Body=json.dumps([{"prefix": f"s3://{bucket}/p/"}, "../secret"]))
    request = _request(inputs=(Input("images", f"s3://{bucket}/m.json", "/opt/ml/processing/input/images",
                                     data_type="ManifestFile"),), outputs=())
    with pytest.raises(UsageError, match=r"'\.\./secret': the key cannot be staged as a file of its own"):
        run_local(request, workdir=tmp_path)
    assert not list(tmp_path.rglob("secret"))


def test_pipe_mode_is_refused_locally(tmp_path):
    request = _request(inputs=(Input("images", str(tmp_path), "/opt/ml/processing/input/images", mode="Pipe"),))
    with pytest.raises(UsageError, match="Pipe"):
        run_local(request)


@pytest.mark.slow
def test_failure_reason_and_exit_message_come_from_the_host(tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not an image")
    request = build_request("light", str(bad), str(tmp_path / "out"), workers=1)
    description = run_local(request)
    assert description["ProcessingJobStatus"] == "Failed"
    assert description["ExitMessage"].startswith("bad inputs: 1 of 1 input failed")
    assert description["FailureReason"].startswith("AlgorithmError: bad inputs: 1 of 1 input failed")
    assert description["FailureReason"].endswith("(host algo-1)")


@pytest.mark.slow
def test_a_job_made_by_plain_sdk_code_runs_locally_by_name(bucket, tmp_path):
    """ScriptProcessor-style user code, SageMaker SDK v3, no kit code: then `augment local-run`."""
    _upload_samples(bucket, "train/")
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output

    session = Session(boto_session=boto3.Session(), default_bucket=bucket)  # default_bucket: no STS call
    processor = Processor(role=ROLE, image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0",
                          instance_count=2, instance_type="ml.m5.xlarge", entrypoint=["augment", "process"],
                          sagemaker_session=session)
    processor.run(
        inputs=[ProcessingInput(input_name="images", s3_input=ProcessingS3Input(
            s3_uri=f"s3://{bucket}/train/", local_path="/opt/ml/processing/input/images", s3_data_type="S3Prefix",
            s3_input_mode="File", s3_data_distribution_type="ShardedByS3Key"))],
        outputs=[ProcessingOutput(output_name="output", s3_output=ProcessingS3Output(
            s3_uri=f"s3://{bucket}/augmented/", local_path="/opt/ml/processing/output", s3_upload_mode="EndOfJob"))],
        arguments=["--spec", "light", "--workers", "1"], wait=False, logs=False, job_name="sdk-made-job",
    )  # fmt: skip
    result = subprocess.run([str(AUGMENT), "local-run", "sdk-made-job", "--instance-count", "2"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            timeout=300)
    assert result.returncode == 0, result.stderr
    description = json.loads(result.stdout)
    assert description["ProcessingJobStatus"] == "Completed"
    assert "[algo-2] augment:" in result.stderr
    outputs = _keys(bucket, "augmented/")
    assert len([k for k in outputs if ".aug" in k]) == 14, "the outputs land in moto's S3"
    records = _manifest(bucket, "augmented/_augment/manifest-algo-1.jsonl") + \
        _manifest(bucket, "augmented/_augment/manifest-algo-2.jsonl")
    assert Counter((r["source"], r["copy"]) for r in records) == {(n, k): 1 for n in list_samples() for k in (0, 1)}


def test_local_run_of_an_unknown_job_is_a_clear_error(aws):
    result = subprocess.run([str(AUGMENT), "local-run", "no-such-job"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=120)
    assert result.returncode == 2 and "cannot describe processing job 'no-such-job'" in result.stderr


def test_container_mode_mounts_what_sagemaker_mounts_and_nothing_of_this_machine(tmp_path, monkeypatch):
    """Each host's container sees SageMaker's /opt/ml: config and inputs read-only, outputs and
    /opt/ml/output writable; the request's Environment alone; its ENTRYPOINT in place of the
    image's. (tests/test_image.py runs it for real.)"""
    from augment.engines import Engine
    from augment.jobs.local import container_command

    request = _request(environment={"A": "1"}, inputs=(
        Input("images", "s3://bucket/train/", "/opt/ml/processing/input/images"),
        Input("spec", "s3://bucket/spec.yaml", "/opt/ml/processing/input/spec")))
    monkeypatch.setattr(os, "getuid", lambda: 0)
    cmd = container_command(Engine("podman", "4.3.1"), request, "algo-2", tmp_path)
    assert cmd[:3] == ["podman", "run", "--rm"] and cmd[cmd.index("--name") + 1] == "augment-test-algo-2"
    mounts = [cmd[i + 1] for i, c in enumerate(cmd) if c == "-v"]
    root = tmp_path.resolve()
    assert mounts == [f"{root}/config:/opt/ml/config:ro,z", f"{root}/output:/opt/ml/output:rw,z",
                      f"{root}/processing/input/images:/opt/ml/processing/input/images:ro,z",
                      f"{root}/processing/input/spec:/opt/ml/processing/input/spec:ro,z",
                      f"{root}/processing/output:/opt/ml/processing/output:rw,z"]
    assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "-e"] == ["A=1"], "nothing of this machine's environment"
    assert cmd[cmd.index("--hostname") + 1] == "algo-2" and cmd[cmd.index("--network") + 1] == "host"
    tail = cmd[cmd.index("--entrypoint") + 1 :]
    assert tail == ["augment", request.image_uri, "process", "--spec", "light"], "ENTRYPOINT, image, its arguments"
    assert "--user" not in cmd
    isolated = container_command(Engine("docker", "27.0"), request.with_changes(
        network={"EnableNetworkIsolation": True}), "algo-1", tmp_path)
    assert isolated[isolated.index("--network") + 1] == "none"
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    as_user = container_command(Engine("docker", "27.0"), request, "algo-1", tmp_path)
    assert as_user[as_user.index("--user") + 1] == f"1000:{os.getgid()}", "what it writes stays the caller's"
    assert "--user" not in container_command(Engine("podman", "4.3.1", rootless=True), request, "algo-1", tmp_path)


def test_container_mode_without_an_engine_is_refused_before_anything_is_staged(tmp_path, monkeypatch):
    from augment import engines
    from augment.jobs import LocalBackend

    request = _request(inputs=(Input("images", str(samples_dir()), "/opt/ml/processing/input/images"),),
                       outputs=(Output("output", "/opt/ml/processing/output", str(tmp_path / "out")),))
    monkeypatch.setenv("PATH", str(tmp_path / "no-engines-here"))
    engines._cached.cache_clear()
    try:
        with pytest.raises(UsageError, match="needs a container engine, and neither Docker nor podman answers"):
            run_local(request, engine="auto", workdir=tmp_path / "work")
        with pytest.raises(UsageError, match="podman does not answer here"):
            LocalBackend(engine="podman").submit(request)
    finally:
        engines._cached.cache_clear()
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists(), "nothing staged or written"


@pytest.mark.slow
def test_a_folder_is_uploaded_for_sagemaker_concurrently_and_once(bucket, tmp_path):
    """A local input goes to S3 several files at a time, each once; the same files again
    upload nothing (the prefix is named by their content)."""
    from augment.jobs.follow import upload_folder
    from augment.jobs.sagemaker import SageMakerBackend

    folder = tmp_path / "photos"
    for i in range(40):
        (folder / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (folder / f"d{i % 4}" / f"{i:02d}.bin").write_bytes(os.urandom(64) + bytes([i]))
    backend = SageMakerBackend(boto_session=boto3.Session(), role=ROLE, bucket=bucket)
    counter = _InFlight()
    backend.s3.meta.events.register("before-call.s3", counter._start)
    backend.s3.meta.events.register("after-call.s3", counter._end)
    uri = upload_folder(backend, folder)
    assert counter.most["PutObject"] > 1, f"uploaded one at a time: {dict(counter.most)}"
    prefix = uri.removeprefix(f"s3://{bucket}/")
    assert _keys(bucket, prefix) == sorted(prefix + p.relative_to(folder).as_posix()
                                           for p in folder.rglob("*.bin"))
    puts = Counter(counter.most)
    counter.most.clear()
    assert upload_folder(backend, folder) == uri and counter.most["PutObject"] == 0, (puts, dict(counter.most))
