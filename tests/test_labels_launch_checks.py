"""A labelled launch is checked before anything is uploaded or sent (#28): a spec whose ops
cannot carry labels, a local annotations file that cannot be opened; the spec in each form
load_spec reads; max_cost costs the labels; a sharded job of a YOLO tree replicates the
tree's labels to every instance; a sharded job's status() merges its labels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from augment import samples
from augment.errors import UsageError
from augment.jobs import launch
from augment.jobs.build import ANNOTATIONS_PATH, SPEC_PATH
from augment.spec import load_spec
from tests.labels_helpers import yolo_tree

AUGMENT = Path(sys.executable).with_name("augment")
ANNOTATIONS = str(samples.annotations_path())
POLICY = {"version": 1, "seed": 3, "copies": 1, "ops": ["RandomHorizontalFlip", "AutoAugment"]}
FLIP = {"version": 1, "seed": 3, "copies": 1, "ops": ["RandomHorizontalFlip"]}


class Recorder:
    """A backend that records what it is asked, and runs nothing."""

    reads_s3_only = False

    def __init__(self) -> None:
        self.connected, self.submitted = False, []

    def connect(self) -> None:
        self.connected = True

    def submit(self, request: Any, **kwargs: Any) -> Any:
        self.submitted.append(request)
        return request


@pytest.mark.parametrize("mode", ["standalone", "sharded", "batched", "prefetch"])
def test_a_spec_whose_ops_cannot_carry_labels_is_refused_before_anything_is_sent(mode, tmp_path):
    backend = Recorder()
    with pytest.raises(UsageError, match=r"^ops\[1\]\.AutoAugment: cannot carry labels \(annotations=.*\): "
                                         r"torchvision's AutoAugment refuses boxes"):
        launch(backend, POLICY, str(samples.samples_dir()), str(tmp_path / "out"), mode=mode, annotations=ANNOTATIONS)
    with pytest.raises(UsageError, match=r"^ops\[1\]\.AutoAugment: cannot carry labels"):
        launch(backend, POLICY, str(samples.samples_dir()), str(tmp_path / "out"), mode=mode, masks=str(tmp_path))
    assert not backend.connected and not backend.submitted and not (tmp_path / "out").exists()
    launch(backend, POLICY, str(samples.samples_dir()), str(tmp_path / "plain"), mode="standalone")
    assert len(backend.submitted) == 1, "without annotations the policy is a spec like any other"


def test_augment_run_refuses_it_naming_the_op(tmp_path):
    spec = tmp_path / "policy.yaml"
    spec.write_text(json.dumps(POLICY))
    run = subprocess.run([str(AUGMENT), "run", "--backend", "local", "--mode", "sharded", "--spec", str(spec),
                          "--input", str(samples.samples_dir()), "--output", str(tmp_path / "out"),
                          "--annotations", ANNOTATIONS], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "ops[1].AutoAugment: cannot carry labels" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_a_local_annotations_file_that_cannot_be_opened_is_refused_up_front_and_an_s3_one_is_not_read(tmp_path):
    bad = tmp_path / "instances.json"
    bad.write_text("{not json")
    backend = Recorder()
    with pytest.raises(UsageError, match=r"^annotations=.*instances\.json: "):
        launch(backend, FLIP, str(samples.samples_dir()), str(tmp_path / "out"), mode="batched",
               annotations=str(bad))
    assert not backend.submitted and not (tmp_path / "out").exists()
    # not downloaded to check (this bucket does not exist): the job reads it
    request = launch(backend, FLIP, str(samples.samples_dir()), str(tmp_path / "out"),
                     annotations="s3://no-such-bucket-here/instances.json")
    at = request.arguments.index("--annotations")
    assert request.arguments[at + 1] == "s3://no-such-bucket-here/instances.json"


def test_the_spec_travels_in_every_form_load_spec_reads(tmp_path):
    path = tmp_path / "flip.yaml"
    path.write_text(json.dumps(FLIP))
    backend = Recorder()
    for n, spec in enumerate([str(path), path, FLIP, load_spec(FLIP)]):
        request = launch(backend, spec, str(samples.samples_dir()), str(tmp_path / f"out{n}"))
        shipped = next(i for i in request.inputs if i.name == "spec")
        assert shipped.destination == SPEC_PATH
        assert load_spec(shipped.source).digest == load_spec(FLIP).digest, type(spec).__name__
    preset = launch(backend, "light", str(samples.samples_dir()), str(tmp_path / "preset"))
    assert preset.arguments[preset.arguments.index("--spec") + 1] == "light"
    assert not any(i.name == "spec" for i in preset.inputs)
    for bad in (3, ["RandomHorizontalFlip"]):
        with pytest.raises(UsageError, match=r"^spec=(int|list): pass a preset name .*a spec file's path, spec data"):
            launch(backend, bad, str(samples.samples_dir()), str(tmp_path / "bad"))


def test_a_dict_spec_runs_as_a_job(tmp_path):
    from augment.jobs import LocalBackend

    job = launch(LocalBackend(), FLIP, str(samples.samples_dir()), str(tmp_path / "out"), workers=1, attached=True)
    assert job.status() == "Completed"
    assert load_spec(str(tmp_path / "out" / "_augment" / "spec.yaml")).digest == load_spec(FLIP).digest


def test_max_cost_costs_the_labelled_job(monkeypatch, tmp_path):
    import augment.plan

    seen = []
    real = augment.plan.estimate

    def estimate(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(augment.plan, "estimate", estimate)
    backend = Recorder()
    launch(backend, FLIP, str(samples.samples_dir()), str(tmp_path / "out"), max_cost=1000.0, prices="offline",
           annotations=ANNOTATIONS)
    masks = tmp_path / "masks"
    masks.mkdir()
    launch(backend, FLIP, str(samples.samples_dir()), str(tmp_path / "out2"), max_cost=1000.0, prices="offline",
           masks=str(masks))
    assert [(k["annotations"], k["annotation_format"]) for k in seen] == [(ANNOTATIONS, None), (str(masks), "masks")]
    with pytest.raises(UsageError, match=r"^max_cost=1e-09: the estimate"):
        launch(backend, FLIP, str(samples.samples_dir()), str(tmp_path / "out3"), max_cost=1e-9, prices="offline",
               annotations=ANNOTATIONS)
    assert seen[-1]["annotations"] == ANNOTATIONS and len(backend.submitted) == 2


def _yolo_tree(root: Path) -> Path:
    return yolo_tree(root, {"train": ["a", "b", "d"], "val": ["c", "e"]})


YOLO_OWN = ["data.yaml", "labels/train/a.txt", "labels/train/b.txt", "labels/train/d.txt", "labels/val/c.txt",
            "labels/val/e.txt"]


def test_a_sharded_yolo_job_on_sagemaker_gets_the_trees_labels_fully_replicated(bucket, tmp_path):
    import boto3

    from augment.jobs.sagemaker import SageMakerBackend

    _yolo_tree(tmp_path / "tree")
    s3 = boto3.client("s3")
    for path in sorted((tmp_path / "tree").rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"tree/{path.relative_to(tmp_path / 'tree').as_posix()}")
    backend = SageMakerBackend(boto_session=boto3.Session(), role="arn:aws:iam::123456789012:role/R", bucket=bucket)
    job = launch(backend, "light", f"s3://{bucket}/tree/", f"s3://{bucket}/out/", mode="sharded", instance_count=2,
                 image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0", annotations="yolo",
                 prices="offline")
    inputs = {i["InputName"]: i["S3Input"] for i in job.describe()["ProcessingInputs"]}
    assert inputs["images"]["S3Uri"] == f"s3://{bucket}/tree/"
    assert inputs["images"]["S3DataDistributionType"] == "ShardedByS3Key"
    labels = inputs["annotations"]
    assert (labels["S3DataDistributionType"], labels["S3DataType"], labels["LocalPath"]) == (
        "FullyReplicated", "ManifestFile", ANNOTATIONS_PATH)
    bucket_key = labels["S3Uri"].removeprefix(f"s3://{bucket}/")
    assert bucket_key == f"out/_augment/launch/{job.name}/annotations.manifest.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=bucket_key)["Body"].read())
    assert manifest == [{"prefix": f"s3://{bucket}/tree/"}, *YOLO_OWN], "the tree's labels and YAML, no image"
    arguments = job.describe()["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--annotations") + 1] == ANNOTATIONS_PATH
    assert arguments[arguments.index("--annotation-format") + 1] == "yolo"


def test_status_seeing_a_sharded_job_completed_merges_its_labels_without_wait(tmp_path):
    import time

    from augment.jobs import LocalBackend

    out = tmp_path / "out"
    job = launch(LocalBackend(), FLIP, str(samples.samples_dir()), str(out), mode="sharded", instance_count=2,
                 workers=1, annotations=ANNOTATIONS)
    deadline = time.monotonic() + 300
    while (status := job.status()) not in ("Completed", "Failed", "Stopped") and time.monotonic() < deadline:
        assert not (out / "annotations.json").exists()
        time.sleep(0.2)
    assert status == "Completed" and job.labels == ["annotations.json"] and job.finish is None
    merged = (out / "annotations.json").read_bytes()
    assert len(json.loads(merged)["images"]) == len(samples.list_samples())
    (out / "annotations.json").unlink()
    assert job.status() == "Completed" and job.wait(timeout=5)["ProcessingJobStatus"] == "Completed"
    assert not (out / "annotations.json").exists(), "merged once, not at every status()"


def test_run_batched_and_prefetch_called_directly_check_the_labels_and_take_spec_data(tmp_path):
    from augment.jobs import LocalBackend, Prefetch, run_batched

    for start in (run_batched, Prefetch):
        with pytest.raises(UsageError, match=r"^ops\[1\]\.AutoAugment: cannot carry labels"):
            start(Recorder(), POLICY, str(samples.samples_dir()), str(tmp_path / "out"), annotations=ANNOTATIONS)
    assert not (tmp_path / "out").exists()
    report = run_batched(LocalBackend(), FLIP, str(samples.samples_dir()), str(tmp_path / "out"), batch_size=4,
                         workers=1, poll=0.1, progress="off", retries=0)
    assert len(report.batches) == 2 and not report.failed
    shipped = [load_spec(str(Path(b.output_uri) / "_augment" / "spec.yaml")).digest for b in report.batches]
    assert shipped == [load_spec(FLIP).digest] * 2


def test_a_sharded_yolo_jobs_volume_counts_the_labels_every_instance_gets(monkeypatch, tmp_path):
    from augment.jobs.build import build_request
    from augment.jobs.launch import ready_request
    from augment.plan import _disk

    _yolo_tree(tmp_path / "tree")
    seen = []
    real = _disk.disk
    monkeypatch.setattr(_disk, "disk", lambda *a, **k: seen.append(k.get("label_bytes", 0)) or real(*a, **k))
    own = sum((tmp_path / "tree" / rel).stat().st_size for rel in YOLO_OWN)
    for mode, count, replicated in (("sharded", 2, own), ("standalone", 1, 0)):
        request = build_request("light", str(tmp_path / "tree"), str(tmp_path / mode), mode=mode,
                                instance_count=count, annotations="yolo")
        ready_request("light", str(tmp_path / "tree"), str(tmp_path / mode), request)
        assert seen[-1] == replicated, mode


def test_max_cost_costs_a_yolo_tree_on_s3_with_its_labels(monkeypatch, bucket, tmp_path):
    import boto3

    import augment.plan

    _yolo_tree(tmp_path / "tree")
    s3 = boto3.client("s3")
    for path in sorted((tmp_path / "tree").rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"tree/{path.relative_to(tmp_path / 'tree').as_posix()}")
    plans = []
    real = augment.plan.estimate
    monkeypatch.setattr(augment.plan, "estimate", lambda *a, **k: plans.append(real(*a, **k)) or plans[-1])
    with pytest.raises(UsageError, match=r"^max_cost=1e-09: the estimate"):
        launch(Recorder(), FLIP, f"s3://{bucket}/tree/", str(tmp_path / "out"), max_cost=1e-9, prices="offline",
               annotations="yolo")
    labels = plans[-1].assumptions["labels"]
    assert (labels["format"], labels["categories"], plans[-1].assumptions["images"]) == ("yolo", 2, 5)
    assert labels["bytes_per_output"] > 0, "the tree's label files are on the instance's volume too"
