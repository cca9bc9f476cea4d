"""The SageMaker backend. Every call into the SageMaker SDK (v3) lives in
:mod:`augment.sagemaker_sdk`, so an SDK major version touches one file; this module takes its
session from there, with the role and bucket it defaults to.

The backend submits a :class:`~augment.jobs.request.JobRequest` as it is
(``create_processing_job(**request.to_request())`` through the SDK session's client),
so what runs on AWS is what the local runtime runs. Role, bucket and region come from
the Studio session by default, or from parameters. Jobs are described through the
session passed in, never through the SDK's global-client ``refresh()``/``wait()``,
which break with assumed roles and other regions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment import aws
from augment.container import source_files
from augment.errors import UsageError
from augment.jobs.handles import completed, output_uris, wait_for
from augment.jobs.labels import annotated, finish_sharded
from augment.jobs.launch import ANNOTATIONS_PATH, LOCAL_ROLE, SPEC_PATH
from augment.jobs.request import Input, JobRequest
from augment.sagemaker_sdk import session_defaults
from augment.storage import TRANSFERS, is_s3, join, list_location, s3_uri, upload_tree

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
CODE_PATH = "/opt/ml/processing/input/code"


class SageMakerBackend:
    """Submits requests to SageMaker Processing (a :class:`~augment.jobs.backend.Backend`).

    Args:
        boto_session: a ``boto3.Session`` (default: a new one, for ``region``).
        role: the job's IAM role ARN (default: the Studio notebook's execution role).
        bucket: for the spec and shipped code (default: the session's default bucket).
        region: AWS region for a new session.
        prefix: key prefix under ``bucket`` for what the kit uploads.
        image_uri: the image of its jobs (see :meth:`request_defaults`).
        connect: reach AWS now (the region, the identity, the role and bucket); with
            ``False``, at :meth:`connect`, which :func:`~augment.jobs.launch` calls once its
            checks pass.
    """

    name = "sagemaker"
    reads_s3_only = True
    poll = 15.0

    def __init__(self, *, boto_session: Any = None, role: str | None = None, bucket: str | None = None,
                 region: str | None = None, prefix: str = "augment", image_uri: str | None = None,
                 connect: bool = True) -> None:
        self._given = (boto_session, role, bucket, region)
        self.prefix = prefix.strip("/")
        self.image_uri = image_uri
        self._connected = False
        if connect:
            self.connect()

    def connect(self) -> None:
        """Reach AWS, once: the session's region and identity (before the SDK's own calls,
        some at fixed endpoints, and before anything is uploaded), the role and the bucket.

        Raises:
            UsageError, CredentialsError: no region, no identity, no execution role.
        """
        if self._connected:
            return
        boto_session, role, bucket, region = self._given
        self.boto_session = boto_session or aws.session(region)
        self.session, self.role, self.bucket = session_defaults(self.boto_session, role, bucket)
        self.client = self.session.sagemaker_client
        from botocore.config import Config

        self.s3 = self.boto_session.client("s3", config=Config(max_pool_connections=TRANSFERS))
        self.logs_client = self.boto_session.client("logs")
        self._connected = True

    def request_defaults(self, mode: str, *, image_uri: str | None = None) -> dict[str, Any]:
        """The role, and the image: ``image_uri``, else the backend's, else (standalone and
        sharded) the AWS PyTorch image with this package shipped as code (``ship_code``).

        Raises:
            UsageError: batched or prefetch jobs without an image (they cannot ship code yet).
        """
        self.connect()
        image = image_uri or self.image_uri
        if image:
            return {"role_arn": self.role, "image_uri": image}
        if mode in ("batched", "prefetch"):
            raise UsageError("image_uri: batched and prefetch jobs on SageMaker need the image notebook 01 builds")
        from augment.container import dlc_image_uri

        return {"role_arn": self.role, "image_uri": dlc_image_uri(self.boto_session.region_name), "ship_code": True}

    def prepare(self, request: JobRequest, ship_code: bool = False) -> JobRequest:
        """Fill in the role, upload a local spec (under ``<prefix>/<job name>/spec/``) and
        local annotations (a file, or a folder's files, once per content: see
        :meth:`_upload_input`), and optionally ship this package's source.

        With ``ship_code`` the local ``augment`` package is uploaded as a ``code``
        input and run with ``python3 -m augment``, so an edit takes effect without an
        image rebuild.
        """
        changes: dict[str, Any] = {}
        if request.role_arn in ("", LOCAL_ROLE):
            changes["role_arn"] = self.role
        inputs = list(request.inputs)
        for n, inp in enumerate(inputs):
            if inp.destination in (SPEC_PATH, ANNOTATIONS_PATH) and not is_s3(inp.source):  # staged from S3 only
                inputs[n] = Input(inp.name, self._upload_input(request.job_name, inp), inp.destination)
        if ship_code:
            inputs.append(Input("code", self.upload_code(), CODE_PATH))
            changes["entrypoint"] = ("python3", "-m", "augment", *request.entrypoint[1:])
            changes["environment"] = {**request.environment, "PYTHONPATH": CODE_PATH}
        changes["inputs"] = tuple(inputs)
        return request.with_changes(**changes)

    def _upload_input(self, job_name: str, inp: Input) -> str:
        """Upload the local file or folder of ``inp`` for the job; return the URI it is staged
        from. The spec goes under the job's name; annotations under a prefix named by their
        content (``<prefix>/annotations/<digest>/``), as :meth:`upload_code` does, so the
        batches of one launch (or launches of the same file) upload them once, not once per
        job."""
        local = Path(inp.source)
        files = [(f, f.relative_to(local).as_posix()) for f in sorted(local.rglob("*")) if f.is_file()] \
            if local.is_dir() else [(local, local.name)]
        if inp.destination == ANNOTATIONS_PATH:
            where = f"{self.prefix}/{inp.name}/{_digest(files)}"
        else:
            where = f"{self.prefix}/{job_name}/{inp.name}"
        uri = s3_uri(self.bucket, f"{where}/")
        upload_tree(files, uri, only_missing=inp.destination == ANNOTATIONS_PATH, s3=self.s3)
        return uri if local.is_dir() else join(uri, local.name)

    def upload_code(self) -> str:
        """Upload the local ``augment`` package under a content-addressed prefix; return its URI."""
        root = Path(__file__).resolve().parents[1]
        files = source_files(root)
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
        uri = s3_uri(self.bucket, f"{self.prefix}/code/{digest.hexdigest()[:16]}/")
        upload_tree(((f, f"augment/{f.relative_to(root).as_posix()}") for f in files), uri, only_missing=True,
                    s3=self.s3)  # once per content
        return uri

    def submit(self, request: JobRequest, ship_code: bool = False) -> SageMakerJob:
        """Validate and create the job (``wait=False``: returns at once with a handle)."""
        request = self.prepare(request, ship_code).validate()  # S3 URIs only: SageMaker reads nothing local
        self.client.create_processing_job(**request.to_request())
        return SageMakerJob(request, self)

    def attach(self, name: str) -> SageMakerJob:
        """A handle on an existing job. A sharded, labelled one merges its hosts' label parts
        when it completes, as the handle :func:`~augment.jobs.launch` returned does (a job
        launched with ``--no-wait``, or from another process): see
        :func:`~augment.jobs.labels.finish_sharded`.

        Raises:
            LabelMergeError: the job completed, but its hosts' labels could not be merged.
        """
        job = SageMakerJob(JobRequest.from_request(self.client.describe_processing_job(ProcessingJobName=name)),
                           self)
        if job.request.instance_count > 1 and annotated(job.request.arguments):
            return finish_sharded(job, job.outputs()[0])
        return job


def _digest(files: list[tuple[Path, str]]) -> str:
    """A short name for the content of ``files`` (each path and its bytes, read in blocks)."""
    digest = hashlib.sha256()
    for path, rel in files:
        digest.update(rel.encode() + b"\0")
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


class SageMakerJob:
    """A handle on one SageMaker processing job."""

    def __init__(self, request: JobRequest, backend: SageMakerBackend) -> None:
        self.name = request.job_name
        self.request = request
        self.backend = backend
        self.finish: Callable[[], None] | None = None  # see augment.jobs.labels.finish_sharded
        self.finish_error: BaseException | None = None
        self.labels: list[str] = []

    def describe(self) -> dict[str, Any]:
        return self.backend.client.describe_processing_job(ProcessingJobName=self.name)

    def status(self) -> str:
        """The job's ``ProcessingJobStatus``; once ``Completed``, after what its launch left
        to do (see :func:`~augment.jobs.handles.completed`)."""
        return completed(self, self.describe()["ProcessingJobStatus"])

    def wait(self, timeout: float | None = None, poll: float = 15.0) -> dict[str, Any]:
        """Poll until the job ends; raise :class:`~augment.errors.JobFailed` with its
        ``FailureReason`` and ``ExitMessage`` when it failed or was stopped."""
        return wait_for(self, timeout, poll)

    def logs(self) -> list[str]:
        """CloudWatch lines of every instance, each prefixed ``[algo-N]``."""
        client = self.backend.logs_client
        try:
            streams = client.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.name}/")
        except client.exceptions.ResourceNotFoundException:
            return []
        lines = []
        for stream in sorted(streams["logStreams"], key=lambda s: s["logStreamName"]):
            host = stream["logStreamName"].split("/", 1)[1].rsplit("-", 1)[0]
            kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream["logStreamName"], "startFromHead": True}
            while True:
                page = client.get_log_events(**kwargs)
                lines += [f"[{host}] {e['message'].rstrip()}" for e in page["events"]]
                if not page["events"] or page.get("nextForwardToken") == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextForwardToken"]
        return lines

    def stop(self) -> None:
        self.backend.client.stop_processing_job(ProcessingJobName=self.name)

    def outputs(self) -> list[str]:
        return output_uris(self.request)

    def output_keys(self) -> list[str]:
        """Every object written under the job's outputs, as ``s3://`` URIs."""
        return [join(uri, rel) for uri in self.outputs() for rel, _ in list_location(uri, s3=self.backend.s3)]
