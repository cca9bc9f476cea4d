"""Launch modes and backends: the SageMaker backend against moto's server, batched
jobs, prefetching, groups, and stopping a job."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import PIL.Image
import pytest

from augment.errors import JobFailed, UsageError
from augment.jobs import LocalBackend, Prefetch, build_request, run_batched, run_local
from augment.jobs.sagemaker import CODE_PATH, SageMakerBackend
from augment.manifest import read_manifest
from augment.samples import list_samples, samples_dir
from tests.aws import recorded

AUGMENT = Path(sys.executable).with_name("augment")
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0"
FLIP = "version: 1\nseed: 9\ncopies: 1\nops: [RandomHorizontalFlip]\n"




@pytest.fixture()
def backend(bucket):
    return SageMakerBackend(boto_session=boto3.Session(), role=ROLE, bucket=bucket)


def _keys(bucket: str, prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _upload_samples(bucket: str, prefix: str) -> None:
    for name in list_samples():
        boto3.client("s3").upload_file(str(samples_dir() / name), bucket, f"{prefix}{name}")


def _tiny_folder(tmp_path: Path, n: int) -> Path:
    """A local input folder of ``n`` tiny real photos."""
    src = tmp_path / "in"
    src.mkdir()
    for name, data in _tiny_images(n):
        (src / name).write_bytes(data)
    return src


def _tiny_images(n: int) -> list[tuple[str, bytes]]:
    """``n`` small real photos (the samples, shrunk, under numbered names)."""
    out = []
    names = list_samples()
    for i in range(n):
        with PIL.Image.open(samples_dir() / names[i % len(names)]) as img:
            img = img.convert("RGB").resize((24 + i % 7, 20 + i % 5))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=85)
        out.append((f"img-{i:04d}.jpg", buf.getvalue()))
    return out


# --- the SageMaker backend ---------------------------------------------------------------


def test_submit_creates_the_request_with_the_spec_uploaded(backend, bucket, tmp_path):
    spec = tmp_path / "my-spec.yaml"
    spec.write_text(FLIP)
    request = build_request(str(spec), f"s3://{bucket}/train/", f"s3://{bucket}/out/", mode="sharded",
                            instance_count=3, image_uri=IMAGE, role_arn=ROLE)
    job = backend.submit(request)
    described = job.describe()
    spec_input = next(i for i in described["ProcessingInputs"] if i["InputName"] == "spec")
    assert spec_input["S3Input"]["S3Uri"] == f"s3://{bucket}/augment/{job.name}/spec/my-spec.yaml"
    body = boto3.client("s3").get_object(Bucket=bucket, Key=f"augment/{job.name}/spec/my-spec.yaml")["Body"]
    assert body.read().decode() == FLIP, "the spec travels with the job"
    assert job.request.to_request()["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    assert described["AppSpecification"]["ContainerEntrypoint"] == ["augment", "process"]
    assert job.status() == "Completed" and job.wait(timeout=5, poll=0.1)["ProcessingJobStatus"] == "Completed"
    assert job.outputs() == [f"s3://{bucket}/out/"]


def test_local_annotations_travel_with_a_sagemaker_job_as_its_input(backend, bucket, tmp_path):
    """A local annotations file (or folder) is uploaded next to the spec and staged at the
    /opt/ml/processing path the container's --annotations names: not refused up front."""
    from augment import samples
    from augment.jobs.launch import ANNOTATIONS_PATH, launch

    _upload_samples(bucket, "train/")
    job = launch(backend, "light", f"s3://{bucket}/train/", f"s3://{bucket}/out/", image_uri=IMAGE,
                 annotations=str(samples.annotations_path()), prices="offline")
    described = job.describe()
    staged = next(i for i in described["ProcessingInputs"] if i["InputName"] == "annotations")
    key = staged["S3Input"]["S3Uri"].removeprefix(f"s3://{bucket}/")
    assert re.fullmatch(r"augment/annotations/[0-9a-f]{16}/annotations\.json", key), "named by its content"
    assert staged["S3Input"]["LocalPath"] == ANNOTATIONS_PATH
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == samples.annotations_path().read_bytes(), "the very file"
    arguments = described["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--annotations") + 1] == f"{ANNOTATIONS_PATH}/annotations.json"
    masks = tmp_path / "masks"
    (masks / "sub").mkdir(parents=True)
    PIL.Image.new("L", (4, 4)).save(masks / "sub" / "a.png")
    folder = backend.submit(build_request("light", f"s3://{bucket}/train/", f"s3://{bucket}/out2/", image_uri=IMAGE,
                                          role_arn=ROLE, masks=str(masks)))
    staged = next(i for i in folder.describe()["ProcessingInputs"] if i["InputName"] == "annotations")
    prefix = staged["S3Input"]["S3Uri"].removeprefix(f"s3://{bucket}/")
    assert re.fullmatch(r"augment/annotations/[0-9a-f]{16}/", prefix) and prefix not in key
    assert _keys(bucket, prefix) == [f"{prefix}sub/a.png"]


def test_a_local_annotations_file_is_uploaded_once_for_every_batch(aws, backend, bucket, tmp_path, monkeypatch):
    """Batched and prefetch jobs are a job per batch: the annotations go under a prefix named
    by their content, uploaded by the first and found there by the others (and by a later
    launch of the same file), where every batch uploaded its own copy."""
    import requests
    from moto.moto_api import recorder

    from augment import samples
    from augment.jobs.launch import launch

    _upload_samples(bucket, "train/")
    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    requests.post(f"{aws}/moto-api/recorder/reset-recording", timeout=30).raise_for_status()
    requests.post(f"{aws}/moto-api/recorder/start-recording", timeout=30).raise_for_status()
    try:
        for out in ("out", "again"):
            report = launch(backend, "light", f"s3://{bucket}/train/", f"s3://{bucket}/{out}/", mode="batched",
                            batch_size=3, image_uri=IMAGE, annotations=str(samples.annotations_path()),
                            prices="offline", poll=0.01)
            assert len(report.batches) == 3 and not report.failed
    finally:
        requests.post(f"{aws}/moto-api/recorder/stop-recording", timeout=30).raise_for_status()
    text = requests.get(f"{aws}/moto-api/recorder/download-recording", timeout=30).text
    puts = [r["url"] for r in recorded(text) if r["method"] == "PUT" and "/augment/annotations/" in r["url"]]
    assert len(puts) == 1 and puts[0].endswith("/annotations.json"), puts
    staged = {i["S3Input"]["S3Uri"] for job in report.jobs for i in job.describe()["ProcessingInputs"]
              if i["InputName"] == "annotations"}
    assert len(staged) == 1 and puts[0].endswith(next(iter(staged)).removeprefix("s3://"))


def test_local_folders_are_refused_for_sagemaker(backend, tmp_path):
    request = build_request("light", str(tmp_path), "s3://x-bucket/out/", image_uri=IMAGE, role_arn=ROLE)
    with pytest.raises(UsageError, match=r"ProcessingInputs\[0\] \(images\)\.S3Input\.S3Uri: must be an s3:// URI"):
        backend.submit(request)


def test_logs_are_read_from_cloudwatch_with_a_host_prefix(backend, bucket):
    job = backend.submit(build_request("light", f"s3://{bucket}/in/", f"s3://{bucket}/out/", image_uri=IMAGE,
                                       role_arn=ROLE))
    logs = boto3.client("logs")
    group = "/aws/sagemaker/ProcessingJobs"
    if group not in [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]:
        logs.create_log_group(logGroupName=group)
    for host in ("algo-1", "algo-2"):
        stream = f"{job.name}/{host}-1700000000"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": f"hello from {host}"}])
    assert job.logs() == ["[algo-1] hello from algo-1", "[algo-2] hello from algo-2"]


def test_stop_and_failure_reason_surface_in_wait(backend, bucket):
    job = backend.submit(build_request("light", f"s3://{bucket}/in/", f"s3://{bucket}/out/", image_uri=IMAGE,
                                       role_arn=ROLE))
    job.stop()
    with pytest.raises(JobFailed, match=f"job {job.name} Stopped"):
        job.wait(timeout=5, poll=0.1)
    assert backend.attach(job.name).status() == "Stopped"


@pytest.mark.slow
def test_what_the_backend_submits_runs_on_the_local_runtime(backend, bucket):
    """Kit -> SageMaker API -> `augment local-run`: the request is the single source of truth."""
    _upload_samples(bucket, "train/")
    job = backend.submit(build_request("light", f"s3://{bucket}/train/", f"s3://{bucket}/aug/", mode="sharded",
                                       instance_count=2, image_uri=IMAGE, role_arn=ROLE, workers=1))
    result = subprocess.run([str(AUGMENT), "local-run", job.name, "--instance-count", "2"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert result.returncode == 0, result.stderr
    keys = _keys(bucket, "aug/")
    assert len([k for k in keys if ".aug" in k]) == 14
    assert {"aug/_augment/manifest-algo-1.jsonl", "aug/_augment/manifest-algo-2.jsonl"} <= set(keys)
    assert job.output_keys() == [f"s3://{bucket}/{k}" for k in keys]


@pytest.mark.slow
def test_ship_code_runs_the_uploaded_package(backend, bucket, tmp_path):
    _upload_samples(bucket, "train/")
    request = build_request("light", f"s3://{bucket}/train/", f"s3://{bucket}/shipped/", image_uri=IMAGE,
                            role_arn=ROLE, workers=1)
    job = backend.submit(request, ship_code=True)
    assert job.request.entrypoint == ("python3", "-m", "augment", "process")
    assert job.request.environment["PYTHONPATH"] == CODE_PATH
    code = next(i for i in job.request.inputs if i.name == "code")
    shipped = _keys(bucket, "augment/code/")
    prefix = code.source.removeprefix(f"s3://{bucket}/")
    assert {f"{prefix}augment/engine/job.py", f"{prefix}augment/_native.c"} <= set(shipped)
    assert not [k for k in shipped if k.endswith(".so")], "no extension built for this machine's Python"
    log = io.StringIO()
    description = run_local(job.request, workdir=tmp_path, log=log)  # moto does not describe Environment
    assert description["ProcessingJobStatus"] == "Completed", log.getvalue()
    assert "processing/input/code/augment)" in log.getvalue(), "the job ran the shipped package"
    assert len([k for k in _keys(bucket, "shipped/") if ".aug" in k]) == 14


# --- batched, prefetch, groups -------------------------------------------------------


@pytest.mark.slow
def test_batched_jobs_read_only_their_batch_and_bad_inputs_are_not_retried(bucket, tmp_path):
    s3 = boto3.client("s3")
    images = _tiny_images(298)
    for name, data in images:
        s3.put_object(Bucket=bucket, Key=f"train/{name}", Body=data)
    for name in ("zz-bad-1.jpg", "zz-bad-2.jpg"):  # both sort into the last batch, and fail it
        s3.put_object(Bucket=bucket, Key=f"train/{name}", Body=b"not a jpeg")
    report = run_batched(LocalBackend(), "light", f"s3://{bucket}/train/", f"s3://{bucket}/aug/", batch_size=128,
                         max_in_flight=2, retries=1, poll=0.2, progress="off", workers=1)
    assert [len(b.keys) for b in report.batches] == [128, 128, 44]
    for b in report.batches:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"aug/_batches/batch-{b.index:05d}.json")["Body"]
                              .read())
        assert manifest == [{"prefix": f"s3://{bucket}/train/"}, *b.keys], "a ManifestFile of exactly its batch"
    first, second, last = report.batches
    assert first.status == second.status == "Completed" and len(first.attempts) == 1
    for b in (first, second):
        body = s3.get_object(Bucket=bucket, Key=f"aug/batch-{b.index:05d}/_augment/manifest-algo-1.jsonl")["Body"]
        records = [json.loads(line) for line in body.read().decode().splitlines()]
        assert sorted({r["source"] for r in records}) == b.keys, "each job saw only its batch"
    assert last.status == "Failed" and len(last.attempts) == 1, "bad inputs fail a retry too: reported once"
    assert "bad inputs: 2 of 44 inputs failed" in last.failures[-1] and last.not_retried == "bad inputs"
    assert report.retried == [] and report.failed == [last]
    saved = json.loads(s3.get_object(Bucket=bucket, Key="aug/_batches/report.json")["Body"].read())
    assert saved["summary"] == report.line() and saved["batches"][2]["not_retried"] == "bad inputs"
    assert "3 batches of 300 inputs: 2 completed, 1 failed (1 not retried: bad inputs), 0 retried" in report.line()


@pytest.mark.slow
def test_a_batch_of_corrupt_images_runs_once_and_the_report_says_why(tmp_path, capsys):
    """More bad inputs than --max-error-rate allows fail every attempt the same way: one
    attempt, not the 1 + --retries the run allows, and the reasons in the report."""
    src = _tiny_folder(tmp_path, 2)
    for name in ("broken-1.jpg", "broken-2.jpg"):
        (src / name).write_bytes(b"not a jpeg")
    report = run_batched(LocalBackend(), "light", str(src), str(tmp_path / "out"), batch_size=10, retries=2,
                         poll=0.1, progress="off", workers=1)
    (batch,) = report.batches
    assert batch.status == "Failed" and len(batch.attempts) == 1 and report.retried == []
    assert batch.not_retried == "bad inputs"
    (failure,) = batch.failures
    assert "bad inputs: 2 of 4 inputs failed (50.0%)" in failure
    assert "broken-1.jpg" in failure and "not an image" in failure, "the reasons, not only a count"
    assert "1 failed (1 not retried: bad inputs), 0 retried" in report.line()
    saved = json.loads((tmp_path / "out" / "_batches" / "report.json").read_text())
    assert saved["batches"][0]["attempts"] == batch.attempts and saved["batches"][0]["not_retried"] == "bad inputs"
    message = report.failure_message()
    assert message.startswith("1 batch failed and not retried, since a retry fails the same way: job ")
    assert "broken-1.jpg" in message and "after every retry" not in message


class _ScriptedJob:
    """A finished job whose description is given: what the group sees of a job."""

    def __init__(self, request, description):
        self.name, self.request = request.job_name, request
        self._description = {**request.to_request(), **description}

    def describe(self):
        return self._description

    def status(self):
        return self._description["ProcessingJobStatus"]

    def wait(self, timeout=None, poll=0.0):
        from augment.jobs.handles import wait_for

        return wait_for(self, timeout, poll)


class _ScriptedBackend:
    """Ends each attempt as the script says, in order."""

    def __init__(self, *outcomes):
        self.outcomes, self.submitted = list(outcomes), []

    def submit(self, request):
        self.submitted.append(request.job_name)
        return _ScriptedJob(request, self.outcomes.pop(0))


@pytest.mark.parametrize(("failure", "attempts"), [
    ({"FailureReason": "AlgorithmError: a worker process died (killed for memory? see the logs) (host algo-1)"}, 2),
    ({"FailureReason": "MaxRuntimeExceeded (host algo-1)"}, 2),
    ({"FailureReason": "InternalServerError: We encountered an internal error. Please try again."}, 2),
    ({"FailureReason": "EndpointConnectionError: Could not connect to the endpoint URL"}, 2),  # staging
    ({"FailureReason": "AlgorithmError: bad inputs: 3 of 4 inputs failed (75.0%) (host algo-1)",
      "ExitMessage": "bad inputs: 3 of 4 inputs failed (75.0%)"}, 1),
    ({"FailureReason": "AlgorithmError: See job logs for more information",
      "ExitMessage": "usage error: invalid spec: ops[0]: unknown op 'Flip'"}, 1),
    ({"FailureReason": "usage error: CredentialsError: no AWS credentials found"}, 1),  # a local job's own error
])  # fmt: skip
def test_only_failures_that_can_pass_on_a_second_try_are_retried(tmp_path, failure, attempts):
    from augment.jobs import JobGroup
    from augment.jobs.batch import Batch

    backend = _ScriptedBackend({"ProcessingJobStatus": "Failed", **failure}, {"ProcessingJobStatus": "Completed"})
    (item,) = items = [Batch(0, ["a.jpg"], "", str(tmp_path / "out"))]
    JobGroup(backend, retries=2, poll=0, progress="off").run(
        items, lambda b: build_request("light", str(tmp_path), b.output_uri, name=f"g-a{len(b.attempts)}"))
    assert len(backend.submitted) == len(item.attempts) == attempts
    assert item.status == ("Completed" if attempts == 2 else "Failed")
    assert item.not_retried == ("" if attempts == 2 else failure.get("ExitMessage", failure["FailureReason"])
                                .split(":")[0])


@pytest.mark.slow
def test_prefetch_yields_in_order_while_later_batches_run(tmp_path):
    src = _tiny_folder(tmp_path, 40)
    prefetch = Prefetch(LocalBackend(), "light", str(src), str(tmp_path / "out"), batch_size=10, ahead=2, poll=0.1,
                        workers=1)
    seen = []
    for batch in prefetch:
        running = prefetch.in_flight()
        seen.append((batch.index, running))
        records = read_manifest(Path(batch.output_uri) / "_augment" / "manifest-algo-1.jsonl")
        assert sorted({r["source"] for r in records}) == batch.keys
    assert [i for i, _ in seen] == [0, 1, 2, 3], "in order"
    assert all(any(j > i for j in running) for i, running in seen[:-2]), "later batches were running"
    assert len(prefetch.jobs) == 4


@pytest.mark.slow
def test_a_local_job_stops_gracefully(tmp_path, small_samples):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(60):  # long enough that the stop arrives mid-run on a busy machine
        for p in small_samples.iterdir():
            (src / f"{i}-{p.name}").write_bytes(p.read_bytes())
    job = LocalBackend(str(tmp_path / "work")).submit(
        build_request("strong", str(src), str(tmp_path / "out"), workers=1))
    deadline = time.monotonic() + 60
    while not any("progress" in line or "inputs to do" in line for line in job.logs()):
        assert time.monotonic() < deadline and job.status() == "InProgress"
        time.sleep(0.05)
    job.stop()
    with pytest.raises(JobFailed, match="Stopped"):
        job.wait(timeout=120)
    summary = json.loads((tmp_path / "out" / "_augment" / "summary-algo-1.json").read_text())
    assert summary["status"] == "stopped"


@pytest.mark.slow
def test_cli_batched_on_the_local_backend(tmp_path):
    src = _tiny_folder(tmp_path, 12)
    result = subprocess.run([str(AUGMENT), "run", "--mode", "batched", "--batch-size", "5", "--input", str(src),
                             "--output", str(tmp_path / "out"), "--spec", "light", "--workers", "1"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            timeout=300)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert result.stdout.splitlines() == [
        result.stdout.splitlines()[0],
        f"outputs:   {out}/ (a folder per batch: batch-00000/ to batch-00002/, each with its _augment/ manifests)",
        f"report:    {out}/_batches/report.json"], "a short summary: the report's JSON only with --json"
    assert result.stdout.startswith("batched: 3 batches of 12 inputs: 3 completed, 0 failed, 0 retried, in ")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["_batches", "batch-00000", "batch-00001",
                                                                    "batch-00002"]


def test_cli_submits_to_sagemaker(bucket):
    jobs = boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    empty = subprocess.run([str(AUGMENT), "run", "--backend", "sagemaker", "--input", f"s3://{bucket}/train/",
                            "--output", f"s3://{bucket}/out/", "--spec", "light", "--image-uri", IMAGE, "--role", ROLE,
                            "--bucket", bucket, "--no-wait"], capture_output=True, text=True, timeout=300)
    assert empty.returncode == 2 and f"--input s3://{bucket}/train/: no objects found" in empty.stderr, \
        "a job over nothing is refused before it is sent (it would fail after the instances' start-up)"
    assert boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == jobs
    _upload_samples(bucket, "train/")
    result = subprocess.run([str(AUGMENT), "run", "--backend", "sagemaker", "--mode", "sharded", "--instance-count",
                             "3", "--input", f"s3://{bucket}/train/", "--output", f"s3://{bucket}/out/", "--spec",
                             "light", "--image-uri", IMAGE, "--role", ROLE, "--bucket", bucket, "--no-wait"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            timeout=300)
    assert result.returncode == 0, result.stderr
    name = result.stdout.strip()
    described = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert described["RoleArn"] == ROLE and described["AppSpecification"]["ImageUri"] == IMAGE
    assert described["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
    missing = subprocess.run([str(AUGMENT), "run", "--backend", "sagemaker", "--input", "s3://b/i/", "--output",
                              "s3://b/o/", "--spec", "light"], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "--image is required" in missing.stderr


@pytest.mark.slow
def test_a_group_runs_every_job_and_counts_their_states(tmp_path):
    from augment.jobs import JobGroup
    from augment.jobs.batch import Batch

    src = _tiny_folder(tmp_path, 6)
    items = [Batch(i, [], "", str(tmp_path / f"out{i}")) for i in range(3)]
    group = JobGroup(LocalBackend(), max_in_flight=2, retries=0, poll=0.1, progress="off")
    group.run(items, lambda b: build_request("light", str(src), b.output_uri, workers=1,
                                             name=f"group-{b.index}-a{len(b.attempts)}"))
    assert group.status_counts() == {"Completed": 3}
    assert [b.status for b in items] == ["Completed"] * 3 and all(len(b.attempts) == 1 for b in items)


# --- `augment run` passes the job options on ----------------------------------------------------

def test_nothing_under_jobs_plan_or_the_engine_imports_the_command_line():
    """The command line parses and presents; the library never imports it (launch.job_spec parsed job
    options with augment.cli's parser, and augment.cli imported augment.jobs back). Imports made inside
    functions count."""
    import ast

    package = Path(__import__("augment").__file__).parent
    modules = [*(package / "jobs").rglob("*.py"), *(package / "plan").rglob("*.py"), *package.glob("engine*.py"),
               *(package / "engine").rglob("*.py")]
    assert any(m.parent.name == "jobs" for m in modules) and any(m.parent.name == "plan" for m in modules)
    offenders = []
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names] \
                if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "augment":
                names += [f"augment.{a.name}" for a in node.names]
            if any(n == "augment.cli" or n.startswith("augment.cli.") for n in names):
                offenders.append(f"{module.relative_to(package)}:{node.lineno}")
    assert not offenders, offenders


def test_run_launches_through_launch_with_the_one_backend_constructor(tmp_path, small_samples, monkeypatch,
                                                                    capsys):
    """`augment run` parses, calls augment.jobs.launch() with a backend from augment.jobs.make_backend,
    and presents what it returns; it rebuilds no request, estimate or check of its own."""
    import augment.jobs
    from augment import cli

    seen = []
    real = augment.jobs.launch
    monkeypatch.setattr("augment.jobs.launch", lambda backend, *a, **k: seen.append((backend, a, k)) or
                        real(backend, *a, **k))
    assert not hasattr(cli, "_backend"), "one constructor: augment.jobs.make_backend"
    out = tmp_path / "out"
    assert cli.main(["run", "--backend", "local", "--input", str(small_samples), "--output", str(out), "--spec",
                     "light", "--workers", "1", "--copies", "1"]) == 0, capsys.readouterr().err
    (backend, args, kwargs), = seen
    assert isinstance(backend, LocalBackend) and args == ("light", str(small_samples), str(out))
    assert kwargs["copies"] == 1 and kwargs["attached"] and kwargs["mode"] == "standalone"
    assert "augment: 7 inputs x 1 copy -> 7 outputs" in capsys.readouterr().out


def _spec_reads(monkeypatch) -> list:
    """Every spec that augment.spec.load_spec reads from then on (a Spec already read is
    returned as it is, and not counted)."""
    import augment.spec

    reads = []
    real = augment.spec.load_spec

    def counted(s):
        if not isinstance(s, augment.spec.Spec):
            reads.append(s)
        return real(s)

    monkeypatch.setattr("augment.spec.load_spec", counted)
    monkeypatch.setattr("augment.jobs.batch.load_spec", counted)
    return reads


@pytest.mark.parametrize("mode", ["sharded", "batched", "prefetch"])
def test_a_launch_reads_its_spec_once(mode, tmp_path, small_samples, monkeypatch):
    """The spec given to a launch was read about five times on the way (the job options, the estimate,
    build_request, check_locations, job_spec), and by batched and prefetch once more for every batch's
    request; now once in every mode, and the file still goes to every job as its spec input."""
    from augment.jobs import launch

    spec = tmp_path / "mine.yaml"
    spec.write_text(FLIP)
    reads = _spec_reads(monkeypatch)
    batching = {"batch_size": 4, "poll": 0.1} if mode != "sharded" else {}
    launched = launch(LocalBackend(), str(spec), str(small_samples), str(tmp_path / "out"), mode=mode,
                      max_cost=100.0, prices="offline", workers=1, **batching)
    if mode == "sharded":
        assert launched.wait()["ProcessingJobStatus"] == "Completed"
        jobs = [launched]
    elif mode == "batched":
        assert len(launched.completed) == 2, launched.line()
        jobs = launched.jobs
    else:
        assert [b.status for b in launched] == ["Completed", "Completed"]
        jobs = list(launched.jobs.values())
    assert reads == [str(spec)], reads
    assert [[i.source for i in job.request.inputs if i.name == "spec"] for job in jobs] == [[str(spec)]] * len(jobs)


def test_batched_and_prefetch_called_alone_read_the_spec_once(tmp_path, small_samples, monkeypatch):
    """run_batched and Prefetch, called without launch(), read the spec themselves: once, not once
    more for every batch's request."""
    spec = tmp_path / "mine.yaml"
    spec.write_text(FLIP)
    reads = _spec_reads(monkeypatch)
    sent = []
    backend = type("Recorder", (), {"submit": lambda self, request: sent.append(request) or _Completed(request)})()
    report = run_batched(backend, str(spec), str(small_samples), str(tmp_path / "b"), batch_size=2, poll=0,
                         progress="off")
    assert len(report.completed) == 4 and reads == [str(spec)], reads
    assert [b.status for b in Prefetch(backend, str(spec), str(small_samples), str(tmp_path / "p"), batch_size=2,
                                       poll=0)] == ["Completed"] * 4
    assert reads == [str(spec)] * 2 and len(sent) == 8, reads


def test_batches_of_a_whole_bucket_name_it_in_their_manifests_prefix(bucket, tmp_path):
    """A batch's ManifestFile names the prefix its keys are relative to; for an input of a whole
    bucket written without its slash (s3://b) that was "s3://", which names no bucket."""
    from augment.jobs.batch import plan_batches

    for name in ("a.jpg", "b.jpg", "c/d.jpg"):
        boto3.client("s3").put_object(Bucket=bucket, Key=name, Body=b"x")
    for uri in (f"s3://{bucket}", f"s3://{bucket}/"):
        batches = plan_batches(uri, str(tmp_path / "out"), 2)
        root = {"prefix": f"s3://{bucket}/"}
        assert [json.loads(Path(b.manifest_uri).read_text()) for b in batches] == [[root, "a.jpg", "b.jpg"],
                                                                                  [root, "c/d.jpg"]]


def test_both_backends_say_what_a_launch_needs_of_them(backend):
    """The backend protocol: name, reads S3 only, poll, the request defaults of each mode, submit."""
    from augment.container import dlc_image_uri
    from augment.jobs import Backend, make_backend

    local = make_backend("local")
    for b, name, s3_only, poll in ((local, "local", False, 0.5), (backend, "sagemaker", True, 15.0)):
        assert isinstance(b, Backend)
        assert (b.name, b.reads_s3_only, b.poll) == (name, s3_only, poll)
    for mode in ("standalone", "sharded", "batched", "prefetch"):
        assert local.request_defaults(mode) == {}
        assert backend.request_defaults(mode, image_uri=IMAGE) == {"role_arn": ROLE, "image_uri": IMAGE}
    assert backend.request_defaults("sharded") == {
        "role_arn": ROLE, "image_uri": dlc_image_uri("us-east-1"), "ship_code": True}
    with pytest.raises(UsageError, match="batched and prefetch jobs on SageMaker need the image"):
        backend.request_defaults("batched")
    with pytest.raises(UsageError, match="backend must be one of local, sagemaker"):
        make_backend("aws")
    with pytest.raises(UsageError, match="engine= chooses what runs the image_uri="):
        make_backend("local", engine="podman")


OPTIONS = ["--copies", "3", "--seed", "7", "--format", "png", "--quality", "80", "--kernels", "torchvision",
           "--keep-original", "--max-pixels", "5000000", "--max-error-rate", "0.2", "--include", "*.jpg",
           "--include", "sub/*.jpg", "--exclude", "*.txt"]
PASSED = ("--seed", "7", "--copies", "3", "--format", "png", "--quality", "80", "--keep-original", "--kernels",
          "torchvision", "--max-pixels", "5000000", "--max-error-rate", "0.2", "--include=*.jpg",
          "--include=sub/*.jpg", "--exclude=*.txt")


def test_a_glob_that_starts_with_a_dash_reaches_the_job_as_a_glob():
    from augment.cli import _parser
    from augment.jobs.launch import job_spec
    from augment.options import process_arguments

    arguments = process_arguments("light", exclude=["-tmp*"], include=["*.jpg"])
    assert job_spec("light", arguments).input.exclude == ("-tmp*",)
    parsed = _parser().parse_args(["process", "--spec", "light", *arguments])  # as the container parses them
    assert parsed.exclude == ["-tmp*"] and parsed.include == ["*.jpg"]


@pytest.mark.parametrize("mode", ["standalone", "sharded"])
def test_run_sends_the_job_options_in_the_create_request(bucket, mode, capsys):
    from augment import cli

    _upload_samples(bucket, "train/")
    args = ["run", "--backend", "sagemaker", "--mode", mode, "--input", f"s3://{bucket}/train/", "--output",
            f"s3://{bucket}/out-{mode}/", "--spec", "light", "--image-uri", IMAGE, "--role", ROLE, "--bucket", bucket,
            "--no-wait", *OPTIONS]
    assert cli.main(args) == 0
    name = capsys.readouterr().out.strip()
    sent = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)["AppSpecification"]
    assert sent["ContainerArguments"] == ["--progress", "lines", "--spec", "light", "--input-uri",
                                          f"s3://{bucket}/train/", *PASSED], \
        "what the CreateProcessingJob request carried"


@pytest.mark.parametrize(("flags", "message"), [
    (["--quality", "101"], "argument --quality: must be in [1, 100], got 101"),
    (["--copies", "0"], "argument --copies: must be in [1, 1000], got 0"),
    (["--max-error-rate", "2"], "argument --max-error-rate: must be in [0, 1], got 2"),
    (["--max-error-rate", "nan"], "argument --max-error-rate: must be a finite number in [0, 1], got nan"),
    (["--max-pixels", "0"], "--max-pixels: must be >= 1, got 0"),
    (["--seed", "-1"], "argument --seed: must be in [0, 9223372036854775807], got -1"),
])
def test_run_refuses_a_bad_job_option_before_any_request(bucket, capsys, flags, message):
    from augment import cli

    _upload_samples(bucket, "train/")
    jobs = boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    args = ["run", "--backend", "sagemaker", "--mode", "batched", "--input", f"s3://{bucket}/train/", "--output",
            f"s3://{bucket}/bad/", "--spec", "light", "--image-uri", IMAGE, "--role", ROLE, "--bucket", bucket, *flags]
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse's own check (--max-pixels is a positive whole number, as for process)
        code = e.code
    assert code == 2 and message in capsys.readouterr().err
    assert boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == jobs, "no job was created"
    assert _keys(bucket, "bad/") == [], "no batch manifest was written"


def test_run_counts_copies_in_the_cost_limit(bucket):
    from augment import cli, plan

    _upload_samples(bucket, "train/")
    spec_cost = plan.estimate("light", f"s3://{bucket}/train/", modes=["sharded"], instance_counts=[2],
                              prices="offline").options[0].cost_usd
    args = ["run", "--backend", "sagemaker", "--mode", "sharded", "--input", f"s3://{bucket}/train/", "--output",
            f"s3://{bucket}/out/", "--spec", "light", "--image-uri", IMAGE, "--role", ROLE, "--bucket", bucket,
            "--no-wait", "--max-cost", str(spec_cost * 1.01)]
    jobs = boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    assert cli.main([*args, "--copies", "500"]) == 2, "500 copies cost more than the spec's 2"
    assert boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == jobs


class _Completed:
    """A job that has already completed."""

    def __init__(self, request):
        self.request, self.name = request, request.job_name

    def status(self):
        return "Completed"

    def wait(self, timeout=None, poll=0.0):
        return {"ProcessingJobStatus": "Completed"}


def test_batched_and_prefetch_jobs_get_the_job_options(tmp_path):
    from augment.jobs import launch

    sent = []
    backend = type("Recorder", (), {"submit": lambda self, request: sent.append(request) or _Completed(request)})()
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.jpg").write_bytes(b"x")
    options = {"copies": 3, "seed": 7, "format": "png", "quality": 80, "kernels": "torchvision", "keep_original": True,
               "max_pixels": 5000000, "max_error_rate": 0.2, "include": ["*.jpg", "sub/*.jpg"], "exclude": ["*.txt"]}
    report = launch(backend, "light", str(src), str(tmp_path / "out"), mode="batched", batch_size=2, poll=0,
                    progress="off", **options)
    assert len(report.completed) == 2
    assert [r.arguments[-len(PASSED):] for r in sent] == [PASSED, PASSED]
    for batch in Prefetch(backend, "light", str(src), str(tmp_path / "out2"), batch_size=2, poll=0, **options):
        assert batch.status == "Completed"
    assert [r.arguments[-len(PASSED):] for r in sent[2:]] == [PASSED, PASSED]
    assert build_request("light", str(src), "o", keep_original=False).arguments[-1] == "--no-keep-original"


@pytest.mark.slow
def test_run_options_take_effect_on_the_local_backend(tmp_path, small_samples, capsys):
    from augment import cli

    out = tmp_path / "out"
    code = cli.main(["run", "--input", str(small_samples), "--output", str(out), "--spec", "light", "--workers", "1",
                     "--copies", "1", "--format", "png", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    description = json.loads(captured.out)
    assert description["AppSpecification"]["ContainerArguments"][-4:] == ["--copies", "1", "--format", "png"]
    assert description["ProcessingJobStatus"] == "Completed"
    outputs = sorted(p.name for p in out.iterdir() if p.is_file())
    assert outputs == sorted(f"{p.name}.aug0.png" for p in small_samples.iterdir()), "one PNG per input"
    assert "augment: 7 inputs x 1 copy -> 7 outputs on 1 instance, 0 failed inputs, in " in captured.err
    assert f"outputs:   {out}" in captured.err.splitlines()


@pytest.mark.slow
def test_run_shows_a_failed_jobs_totals_and_exits_1_until_max_error_rate_allows_it(tmp_path, small_samples, capsys):
    from augment import cli

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes((small_samples / "rocket.jpg").read_bytes())
    (src / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    args = ["run", "--input", str(src), "--spec", "light", "--workers", "1", "--copies", "1"]
    assert cli.main([*args, "--output", str(tmp_path / "o1")]) == 1
    shown = capsys.readouterr()
    assert shown.out.splitlines()[1].startswith("augment: 2 inputs x 1 copy -> 1 output on 1 instance, 1 failed "
                                                "input, in "), "the totals, before the error"
    assert "augment run: error: job augment-standalone-" in shown.err and "1 of 2 inputs failed" in shown.err
    assert cli.main([*args, "--output", str(tmp_path / "o2"), "--max-error-rate", "0.5"]) == 0
    assert " Completed in " in capsys.readouterr().out.splitlines()[0], "--max-error-rate reached the job"


def test_a_sagemaker_jobs_summary_reads_the_hosts_summaries_from_s3(bucket):
    import datetime as dt

    from augment.cli import _job_lines, _output_summaries

    s3 = boto3.client("s3")
    for host, inputs in (("algo-1", 4), ("algo-2", 3)):
        summary = {"inputs": inputs, "copies": 2, "written": 2 * inputs, "failed_inputs": 0, "seconds": 2.0}
        s3.put_object(Bucket=bucket, Key=f"done/_augment/summary-{host}.json", Body=json.dumps(summary).encode())
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    described = {"ProcessingJobName": "j", "ProcessingJobStatus": "Completed", "CreationTime": t,
                 "ProcessingEndTime": t + dt.timedelta(seconds=400)}
    summaries, note = _output_summaries(f"s3://{bucket}/done/")
    assert note is None
    assert _job_lines(described, summaries, f"s3://{bucket}/done/") == [
        "job:       j Completed in 400.0 s",
        "augment: 7 inputs x 2 copies -> 14 outputs on 2 instances, 0 failed inputs, in 2.0 s (7.0 outputs/s)",
        f"outputs:   s3://{bucket}/done/",
        f"manifests: s3://{bucket}/done/_augment/manifest-algo-1.jsonl, s3://{bucket}/done/_augment/manifest-algo-2.jsonl"]
    summaries, note = _output_summaries("s3://no-such-bucket-here/out/")
    assert summaries == {} and note.startswith("totals:    cannot read the hosts' summaries under s3://no-such-bucket")


@pytest.mark.slow
def test_outputs_of_a_run_replay_by_source_from_its_input_after_the_staging_folder_is_gone(bucket, tmp_path):
    """`augment run` records the job's input; replay reads it there once the staged copy is deleted."""
    from augment.replay import replay

    src = _tiny_folder(tmp_path, 4)
    out = tmp_path / "out"
    run_local(build_request("light", str(src), str(out), workers=1))  # a temporary workdir, removed after
    summary = json.loads((out / "_augment" / "summary-algo-1.json").read_text())
    assert summary["input_uri"] == str(src.resolve()) and not Path(summary["input_dir"]).exists()
    result = replay(out / "_augment" / "manifest-algo-1.jsonl", source="img-0002.jpg", copy=1, out=tmp_path / "r.jpg")
    assert result.bit_exact and (tmp_path / "r.jpg").read_bytes() == (out / "img-0002.jpg.aug1.jpg").read_bytes()

    for name, data in _tiny_images(3):
        boto3.client("s3").put_object(Bucket=bucket, Key=f"train/{name}", Body=data)
    run_local(build_request("light", f"s3://{bucket}/train/", f"s3://{bucket}/aug/", workers=1))
    job = tmp_path / "job"
    for key in _keys(bucket, "aug/"):
        if "/_augment/" in key or key.endswith("img-0001.jpg.aug0.jpg"):
            (job / key).parent.mkdir(parents=True, exist_ok=True)
            boto3.client("s3").download_file(bucket, key, str(job / key))
    summary = json.loads((job / "aug" / "_augment" / "summary-algo-1.json").read_text())
    assert summary["input_uri"] == f"s3://{bucket}/train/"
    result = replay(job / "aug" / "_augment" / "manifest-algo-1.jsonl", source="img-0001.jpg", out=tmp_path / "s.jpg")
    assert result.bit_exact and result.sha256 == result.record["output_sha256"]
    assert (tmp_path / "s.jpg").read_bytes() == (job / "aug" / "img-0001.jpg.aug0.jpg").read_bytes()


@pytest.mark.slow
def test_batched_mode_batches_no_excluded_file(tmp_path):
    """Keys are batched in sorted order: without the filters, a folder of sidecars (and
    OS junk) made batches of nothing but excluded files, whose jobs failed "no inputs"."""
    src = _tiny_folder(tmp_path, 2)
    (src / "labels").mkdir()
    for name in ("a.json", "b.json"):
        (src / "labels" / name).write_text("{}")
    (src / ".DS_Store").write_bytes(b"junk")
    report = run_batched(LocalBackend(), "light", str(src), str(tmp_path / "out"), batch_size=2, retries=0,
                         poll=0.1, progress="off", workers=1, exclude=["*.json"])
    assert [b.keys for b in report.batches] == [["img-0000.jpg", "img-0001.jpg"]]
    assert report.failed == [] and len(report.completed) == 1
    excluded = json.loads((tmp_path / "out" / "_batches" / "excluded.json").read_text())
    assert {(e["source"], e["pattern"]) for e in excluded} == {
        (".DS_Store", ".DS_Store"), ("labels/a.json", "*.json"), ("labels/b.json", "*.json")}
    with pytest.raises(UsageError, match="no inputs: all 5 files are excluded"):
        run_batched(LocalBackend(), "light", str(src), str(tmp_path / "out2"), batch_size=2, poll=0.1,
                    progress="off", include=["*.png"])


@pytest.mark.parametrize(("files", "flags", "message"), [
    ({".DS_Store": b"junk", "sub/Thumbs.db": b"junk"}, [], "no inputs: all 2 files are excluded (.DS_Store: 1, "
                                                             "Thumbs.db: 1); change the spec's input.include"),
    ({"a.json": b"{}"}, ["--exclude", "*.json"], "no inputs: its one file is excluded (*.json: 1)"),
])  # fmt: skip
def test_run_refuses_an_input_of_nothing_to_do_before_any_host_starts(files, flags, message, tmp_path, capsys):
    """A folder the filters leave nothing of started the job: its host failed 16 s later,
    naming the staging folder (--input-dir /tmp/augment-local-.../images) instead of the
    user's --input. (An empty folder: tests/test_runtime.py.)"""
    from augment import cli

    src = tmp_path / "in"
    src.mkdir()
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    work = tmp_path / "work"
    assert cli.main(["run", "--backend", "local", "--input", str(src), "--output", str(tmp_path / "out"),
                     "--spec", "light", "--workdir", str(work), *flags]) == 2
    err = capsys.readouterr().err
    assert f"--input {src}: {message}" in err, err
    assert not (tmp_path / "out").exists() and not work.exists(), "no host started"


def test_launch_refuses_a_prefix_the_filters_leave_nothing_of_before_any_request(backend, bucket):
    from augment.jobs import launch

    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="junk/.DS_Store", Body=b"junk")
    s3.put_object(Bucket=bucket, Key="junk/meta.json", Body=b"{}")
    jobs = boto3.client("sagemaker").list_processing_jobs
    before = len(jobs()["ProcessingJobSummaries"])
    with pytest.raises(UsageError, match=f"input=s3://{bucket}/junk/: no inputs: all 2 objects are excluded "
                                         r"\(\.DS_Store: 1, \*\.json: 1\)"):
        launch(backend, "light", f"s3://{bucket}/junk/", f"s3://{bucket}/out-junk/", exclude=["*.json"])
    assert len(jobs()["ProcessingJobSummaries"]) == before, "no job was created"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="out-junk/").get("KeyCount") == 0


def test_sagemaker_jobs_refuse_a_local_input_or_output_before_aws_is_asked(backend, bucket, tmp_path, capsys,
                                                                          monkeypatch):
    """SageMaker reads and writes S3 alone: a local --input got "no files found" from the
    new listing, or a request-level "ProcessingInputs[0] (images).S3Input.S3Uri: must be an
    s3:// URI" once the backend was built, instead of what to do."""
    from augment import cli
    from augment.jobs import launch

    src = tmp_path / "in"
    src.mkdir()
    s3 = f"s3://{bucket}/out/"
    calls = []
    monkeypatch.setattr("augment.jobs.sagemaker.SageMakerBackend.connect", lambda self: calls.append(self))
    for inp, out, flag in ((str(src), s3, "--input"), (f"s3://{bucket}/in/", str(tmp_path / "out"), "--output")):
        for mode in ("standalone", "batched"):
            assert cli.main(["run", "--backend", "sagemaker", "--mode", mode, "--input", inp, "--output", out,
                             "--spec", "light", "--image-uri", IMAGE, "--role", ROLE]) == 2
            err = capsys.readouterr().err
            assert f"{flag} {inp if flag == '--input' else out}: SageMaker jobs " in err, err
            assert "aws s3 sync" in err and "--backend local" in err
        with pytest.raises(UsageError, match=f"{flag[2:]}=.*: SageMaker jobs"):  # before the cost is counted
            launch(backend, "light", inp, out, image_uri=IMAGE, max_cost=1e-9)
        with pytest.raises(UsageError, match=f"{flag[2:]}=.*: SageMaker jobs"):
            run_batched(backend, "light", inp, out, image_uri=IMAGE)
    assert cli.main(["run", "--backend", "sagemaker", "--input", f"S3://{bucket}/in/", "--output", s3, "--spec",
                     "light", "--image-uri", IMAGE, "--role", ROLE]) == 2
    assert f"--input S3://{bucket}/in/: write s3://{bucket}/in/" in capsys.readouterr().err, "the form, not an upload"
    assert calls == [], "refused before the backend (STS, the SDK's session) was built"
    assert boto3.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "nothing written"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["standalone", "batched"])
def test_run_takes_one_local_file_as_its_input(mode, tmp_path, capsys):
    """The local runtime stages a single file by its name; the listing before the launch
    refused it as 'neither an s3:// prefix nor a local folder'."""
    from augment import cli

    photo = samples_dir() / list_samples()[0]
    assert cli.main(["run", "--backend", "local", "--mode", mode, "--input", str(photo), "--output",
                     str(tmp_path / "out"), "--spec", "light", "--workers", "1"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.jpg")) == [
        f"{photo.name}.aug0.jpg", f"{photo.name}.aug1.jpg"]


def test_a_connection_lost_while_waiting_names_the_job_that_still_runs(bucket, capsys, monkeypatch):
    """The job was created: a user told only 'AWS could not be reached' would launch it again."""
    from botocore.exceptions import EndpointConnectionError

    from augment import cli

    boto3.client("s3").put_object(Bucket=bucket, Key="in/a.jpg", Body=(samples_dir() / list_samples()[0]).read_bytes())

    def lost(self, *args, **kwargs):
        raise EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com/")

    monkeypatch.setattr("augment.jobs.sagemaker.SageMakerJob.wait", lost)
    assert cli.main(["run", "--backend", "sagemaker", "--input", f"s3://{bucket}/in/", "--output",
                     f"s3://{bucket}/out/", "--spec", "light", "--image-uri", IMAGE, "--role", ROLE, "--bucket",
                     bucket]) == 2
    err = capsys.readouterr().err
    name = re.search(r"submitted (\S+)", err).group(1)
    assert "AWS could not be reached at https://api.sagemaker" in err, err
    assert f"Job {name} was created and may still be running" in err and "do not launch it again" in err, err
    assert boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)["ProcessingJobName"] == name


def test_augmented_images_from_s3_read_every_output_and_leave_no_download_behind(bucket, tmp_path):
    """The dataset a training loop reads downloads an S3 output into a temporary folder,
    which was never removed: one folder per batch, for the whole run."""
    import gc

    from augment.engine import run_job
    from augment.jobs import AugmentedImages

    out = tmp_path / "out"
    run_job("light", _tiny_folder(tmp_path, 3), out, workers=1, progress="off")
    for f in out.rglob("*"):
        if f.is_file():
            boto3.client("s3").upload_file(str(f), bucket, f"aug/{f.relative_to(out).as_posix()}")
    data = AugmentedImages(f"s3://{bucket}/aug/", size=16)
    image, label = data[0]
    assert len(data) == 3 * 2 and tuple(image.shape) == (3, 16, 16) and label in (0, 1, 2)
    downloaded = data.root
    assert downloaded.is_dir()
    del data, image
    gc.collect()
    assert not downloaded.exists(), "the download is removed with the dataset"


def test_the_cost_limit_prices_the_jobs_region(bucket, capsys):
    """`augment run --region X --max-cost` priced the session's region, not X."""
    from augment import cli
    from augment.jobs.launch import check_limits

    with pytest.raises(UsageError, match=r"us-east-1 figure used for eu-west-1"):
        check_limits("light", None, max_cost=1e-9, prices="offline", region="eu-west-1")
    boto3.client("s3").put_object(Bucket=bucket, Key="in/a.jpg", Body=(samples_dir() / list_samples()[0]).read_bytes())
    code = cli.main(["run", "--backend", "sagemaker", "--region", "eu-west-1", "--max-cost", "0.000000001",
                     "--input", f"s3://{bucket}/in/", "--output", f"s3://{bucket}/o/", "--spec", "light",
                     "--image-uri", IMAGE, "--role", ROLE])
    err = capsys.readouterr().err
    assert code == 2 and "--max-cost" in err and "eu-west-1" in err, err


# --- disk: every batched path sizes its jobs' volume -------------------------------------------


def _created_volumes(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Any) -> list[int]:
    """``VolumeSizeInGB`` of every CreateProcessingJob that ``run()`` sends to moto's server."""
    import base64

    import requests
    from moto.moto_api import recorder

    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    requests.post(f"{aws}/moto-api/recorder/reset-recording", timeout=30).raise_for_status()
    requests.post(f"{aws}/moto-api/recorder/start-recording", timeout=30).raise_for_status()
    try:
        run()
    finally:
        requests.post(f"{aws}/moto-api/recorder/stop-recording", timeout=30).raise_for_status()
    text = requests.get(f"{aws}/moto-api/recorder/download-recording", timeout=30).text
    return [json.loads(base64.b64decode(r["body"]))["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"]
            for r in recorded(text) if r["headers"].get("X-Amz-Target") == "SageMaker.CreateProcessingJob"]


def test_every_batched_path_sizes_the_volume_for_its_largest_batch(aws, bucket, backend, tmp_path, monkeypatch,
                                                                    capsys):
    """`augment run --mode batched` called run_batched, which asked for the default 30 GB
    whatever the batches held: only launch() sized the volume. Nothing decodes the objects
    before a job runs (and moto runs none), so their sizes alone matter here."""
    import math

    from augment import cli
    from augment.plan import _disk

    s3 = boto3.client("s3")
    sizes = [1 << 20, 1 << 20, 3 << 20, 2 << 20]  # in key order: batches of 2 hold 2 MB and 5 MB
    for n, size in enumerate(sizes):
        s3.put_object(Bucket=bucket, Key=f"in/{n}.jpg", Body=os.urandom(size))
    spec = tmp_path / "png.yaml"
    spec.write_text("version: 1\ncopies: 1000\noutput: {format: png}\nops: [RandomHorizontalFlip]\n")
    ratio = _disk.ASSUMED_OUTPUT_RATIO["png"]
    need = math.ceil((5 << 20) * (1 + 1000 * ratio) * 1.25 / 2**30 + 1)  # the largest batch, its outputs, margin
    assert need > _disk.DEFAULT_VOLUME_GB, "more than the least volume: the test needs a real sizing"
    inp = f"s3://{bucket}/in/"

    def cli_run() -> None:
        assert cli.main(["run", "--backend", "sagemaker", "--mode", "batched", "--batch-size", "2", "--input", inp,
                         "--output", f"s3://{bucket}/out-cli/", "--spec", str(spec), "--image-uri", IMAGE,
                         "--role", ROLE, "--bucket", bucket]) == 0, capsys.readouterr().err

    assert _created_volumes(aws, tmp_path, monkeypatch, cli_run) == [need, need]
    library = lambda: run_batched(backend, str(spec), inp, f"s3://{bucket}/out-lib/", batch_size=2, poll=0,  # noqa: E731
                                  image_uri=IMAGE, role_arn=ROLE)
    assert _created_volumes(aws, tmp_path, monkeypatch, library) == [need, need]
    prefetch = lambda: list(Prefetch(backend, str(spec), inp, f"s3://{bucket}/out-pre/", batch_size=2, poll=0,  # noqa: E731
                                     image_uri=IMAGE, role_arn=ROLE))
    assert _created_volumes(aws, tmp_path, monkeypatch, prefetch) == [need, need]
    own = lambda: run_batched(backend, str(spec), inp, f"s3://{bucket}/out-own/", batch_size=2, poll=0,  # noqa: E731
                              image_uri=IMAGE, role_arn=ROLE, volume_gb=need + 5)
    assert _created_volumes(aws, tmp_path, monkeypatch, own) == [need + 5, need + 5], "the user's own when enough"
    with pytest.raises(UsageError, match=f"^volume_gb=31: too small: each instance needs {need} GB"):
        run_batched(backend, str(spec), inp, f"s3://{bucket}/out-small/", batch_size=2, image_uri=IMAGE,
                    role_arn=ROLE, volume_gb=31)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="out-small/").get("KeyCount") == 0, "refused before any manifest"


def test_the_local_runtime_has_no_volume_to_refuse_a_large_need(tmp_path):
    """A disk need over SageMaker's 16,384 GB volume limit was refused on the local runtime
    too, which has no volume. A sparse file gives the size without the bytes."""
    from augment.jobs.launch import ready_request
    from augment.plan import _disk

    src = tmp_path / "in"
    src.mkdir()
    with open(src / "huge.jpg", "wb") as f:
        f.truncate(3 << 30)  # 3 GB x 1000 PNG copies: about 26,000 GB
    spec = tmp_path / "png.yaml"
    spec.write_text("version: 1\ncopies: 1000\noutput: {format: png}\nops: [RandomHorizontalFlip]\n")
    request = build_request(str(spec), str(src), str(tmp_path / "out"))
    ready, _ = ready_request(str(spec), str(src), str(tmp_path / "out"), request)
    assert ready.volume_gb == _disk.MAX_VOLUME_GB, "a valid request; the local runtime ignores the volume"
    ready.validate(local=True)
    need = _disk.disk(3 << 30, 1000, False, _disk.ASSUMED_OUTPUT_RATIO["png"])
    with pytest.raises(UsageError, match="more than SageMaker's 16,384 GB volume limit; use more instances"):
        _disk.check_volume(need, None, sagemaker=True)
    assert _disk.check_volume(need, None, sagemaker=False) == _disk.MAX_VOLUME_GB


def test_tests_never_read_the_developers_measurements():
    """ready_request reads the output-ratio cache (~/.cache/augment unless
    AUGMENT_CACHE_DIR says otherwise): a developer's cached ratio changed the volume these
    tests expect. conftest points it at an empty folder of the run's own."""
    from augment.plan import _model

    folder = _model.cache_file().parent
    assert os.environ.get("AUGMENT_CACHE_DIR") and folder.name.startswith("augment-cache-"), folder
    assert Path.home() / ".cache" not in folder.parents
