"""Build the job request of each launch mode.

* ``standalone``: one job, one instance.
* ``sharded``: one job, N instances, the images input ``ShardedByS3Key``, so each
  instance gets a disjoint share and the start-up is paid once.

The spec travels with the job: a spec file as a processing input named ``spec``, a
preset by name as an argument. The job writes the canonical spec next to its outputs
(``_augment/spec.yaml``), so every output can be traced to the spec that made it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from augment.errors import UsageError
from augment.jobs.request import Input, JobRequest, Output
from augment.spec import list_presets, load_spec

MODES = ("standalone", "sharded")
IMAGES_PATH = "/opt/ml/processing/input/images"
SPEC_PATH = "/opt/ml/processing/input/spec"
OUTPUT_PATH = "/opt/ml/processing/output"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/augment-local"
LOCAL_IMAGE = "augment:local"


def job_name(mode: str, seed_text: str) -> str:
    """A unique, valid job name: ``augment-<mode>-<UTC time>-<hash>``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    digest = hashlib.sha256(f"{seed_text}{stamp}".encode()).hexdigest()[:6]
    return f"augment-{mode}-{stamp}-{digest}"


def build_request(
    spec: str,
    input_uri: str,
    output_uri: str,
    *,
    mode: str = "standalone",
    instance_count: int | None = None,
    instance_type: str = "ml.m5.large",
    image_uri: str = LOCAL_IMAGE,
    role_arn: str = LOCAL_ROLE,
    name: str | None = None,
    workers: int | None = None,
    max_runtime_s: int = 86_400,
    extra_arguments: tuple[str, ...] = (),
) -> JobRequest:
    """The ``CreateProcessingJob`` request that runs ``augment process`` in one launch mode.

    Args:
        spec: a spec file (sent as the ``spec`` input) or a preset name (an argument).
        input_uri, output_uri: ``s3://`` URIs, or local folders for the local runtime.
        mode: ``standalone`` or ``sharded``.
        instance_count: instances (standalone: 1; sharded: default 2).

    Raises:
        SpecError: the spec is invalid (checked here, before any job exists).
        UsageError: a bad mode or instance count.
    """
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    count = instance_count if instance_count is not None else (2 if mode == "sharded" else 1)
    if mode == "standalone" and count != 1:
        raise UsageError("--instance-count: a standalone job has one instance; use --mode sharded for more")
    load_spec(spec)  # fail on the laptop, not minutes into a paid job
    inputs = [Input("images", input_uri, IMAGES_PATH,
                    distribution="ShardedByS3Key" if mode == "sharded" else "FullyReplicated")]
    arguments: list[str] = ["--progress", "lines"]
    if Path(spec).is_file():
        inputs.append(Input("spec", str(Path(spec).resolve()) if not spec.startswith("s3://") else spec, SPEC_PATH))
    elif spec in list_presets():
        arguments += ["--spec", spec]
    if workers is not None:
        arguments += ["--workers", str(workers)]
    return JobRequest(
        job_name=name or job_name(mode, f"{spec}{input_uri}{output_uri}"),
        image_uri=image_uri,
        role_arn=role_arn,
        entrypoint=("augment", "process"),
        arguments=(*arguments, *extra_arguments),
        inputs=tuple(inputs),
        outputs=(Output("output", OUTPUT_PATH, output_uri),),
        instance_count=count,
        instance_type=instance_type,
        max_runtime_s=max_runtime_s,
        tags=({"Key": "augment:mode", "Value": mode},),
    )
