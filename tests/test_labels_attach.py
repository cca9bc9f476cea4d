"""A sharded, labelled job's labels are merged on a handle attached to it (review of #28,
finding 5): a job launched with --no-wait, or from another process, gets its hosts' parts
merged when attach(name)'s handle sees it completed, as launch()'s handle does."""

from __future__ import annotations

import json
from typing import Any

import boto3

from augment import samples
from augment.jobs import launch
from augment.jobs.sagemaker import SageMakerBackend

ROLE = "arn:aws:iam::123456789012:role/R"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0"
PART = {"images": [{"id": 1, "file_name": "{name}", "width": 4, "height": 4}], "annotations": [],
        "categories": [{"id": 1, "name": "cat"}]}


def _backend(bucket: str) -> SageMakerBackend:
    """A backend whose describe_processing_job returns the job's ProcessingResources, as
    SageMaker does and moto does not (an attached handle reads its instance count there)."""
    backend = SageMakerBackend(boto_session=boto3.Session(), role=ROLE, bucket=bucket)
    client, created = backend.client, {}
    create, describe = client.create_processing_job, client.describe_processing_job

    def create_processing_job(**kwargs: Any) -> Any:
        created[kwargs["ProcessingJobName"]] = kwargs["ProcessingResources"]
        return create(**kwargs)

    def describe_processing_job(ProcessingJobName: str) -> Any:
        return {"ProcessingResources": created[ProcessingJobName], **describe(ProcessingJobName=ProcessingJobName)}

    client.create_processing_job, client.describe_processing_job = create_processing_job, describe_processing_job
    return backend


def test_attach_to_a_sharded_labelled_job_merges_its_hosts_labels(bucket):
    s3 = boto3.client("s3")
    for name in samples.list_samples()[:2]:
        s3.upload_file(str(samples.samples_dir() / name), bucket, f"in/{name}")
    s3.put_object(Bucket=bucket, Key="ann.json", Body=samples.annotations_path().read_bytes())
    backend = _backend(bucket)
    out = f"s3://{bucket}/out/"
    job = launch(backend, "light", f"s3://{bucket}/in/", out, mode="sharded", instance_count=2, image_uri=IMAGE,
                 annotations=f"s3://{bucket}/ann.json", prices="offline")
    for n, name in ((1, "a.jpg.aug0.jpg"), (2, "b.jpg.aug0.jpg")):  # what the job's two hosts write
        part = {**PART, "images": [{**PART["images"][0], "file_name": name}]}
        s3.put_object(Bucket=bucket, Key=f"out/_augment/labels-algo-{n}.json", Body=json.dumps(part).encode())
    attached = backend.attach(job.name)
    assert attached.wait(timeout=5)["ProcessingJobStatus"] == "Completed"
    assert attached.labels == ["annotations.json"] and attached.finish is None
    merged = json.loads(s3.get_object(Bucket=bucket, Key="out/annotations.json")["Body"].read())
    assert [i["file_name"] for i in merged["images"]] == ["a.jpg.aug0.jpg", "b.jpg.aug0.jpg"]


def test_attach_to_an_unlabelled_job_leaves_it_alone(bucket):
    s3 = boto3.client("s3")
    for name in samples.list_samples()[:2]:
        s3.upload_file(str(samples.samples_dir() / name), bucket, f"in/{name}")
    backend = _backend(bucket)
    job = launch(backend, "light", f"s3://{bucket}/in/", f"s3://{bucket}/out/", mode="sharded", instance_count=2,
                 image_uri=IMAGE, prices="offline")
    attached = backend.attach(job.name)
    assert attached.finish is None and attached.labels == []
