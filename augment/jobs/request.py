"""One request model: the ``CreateProcessingJob`` request as a typed, validated object.

:class:`JobRequest` renders exactly to the request dict that the SageMaker API takes
(:meth:`JobRequest.to_request`) and parses back from it or from a
``DescribeProcessingJob`` answer (:meth:`JobRequest.from_request`). The SageMaker
backend submits it; the local runtime executes it. What runs locally is what runs
on AWS.

:meth:`JobRequest.validate` checks every field against SageMaker's own limits before
anything is sent, and names the field in its message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from augment.errors import UsageError
from augment.options import check_number
from augment.storage import is_local, is_s3, valid_s3_uri

PROCESSING_ROOT = PurePosixPath("/opt/ml/processing")
MAX_RUNTIME_S = 777_600  # SageMaker's limit for processing jobs (9 days)
MAX_INSTANCES = 100
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,255}$")
INPUT_MODES = ("File", "Pipe")
DATA_TYPES = ("S3Prefix", "ManifestFile")
DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")
UPLOAD_MODES = ("EndOfJob", "Continuous")


class RequestError(UsageError):
    """A job request field is invalid; ``problems`` names each field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid job request:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Input:
    """One ``ProcessingInputs`` entry (an ``S3Input``).

    Attributes:
        name: ``InputName``.
        source: ``S3Uri``: ``s3://bucket/prefix`` (or, for the local runtime only, a
            local folder or file).
        destination: ``LocalPath`` in the container, under ``/opt/ml/processing/``.
        data_type: ``S3Prefix`` or ``ManifestFile``.
        mode: ``S3InputMode``: ``File`` or ``Pipe``.
        distribution: ``FullyReplicated`` or ``ShardedByS3Key``.
    """

    name: str
    source: str
    destination: str
    data_type: str = "S3Prefix"
    mode: str = "File"
    distribution: str = "FullyReplicated"

    def to_request(self) -> dict[str, Any]:
        return {"InputName": self.name, "AppManaged": False, "S3Input": {
            "S3Uri": self.source, "LocalPath": self.destination, "S3DataType": self.data_type,
            "S3InputMode": self.mode, "S3DataDistributionType": self.distribution}}  # fmt: skip


@dataclass(frozen=True)
class Output:
    """One ``ProcessingOutputConfig.Outputs`` entry (an ``S3Output``).

    Attributes:
        name: ``OutputName``.
        source: ``LocalPath`` in the container, under ``/opt/ml/processing/``.
        destination: ``S3Uri`` (or, for the local runtime only, a local folder).
        upload_mode: ``EndOfJob`` or ``Continuous``.
    """

    name: str
    source: str
    destination: str
    upload_mode: str = "EndOfJob"

    def to_request(self) -> dict[str, Any]:
        return {"OutputName": self.name, "AppManaged": False, "S3Output": {
            "S3Uri": self.destination, "LocalPath": self.source, "S3UploadMode": self.upload_mode}}  # fmt: skip


@dataclass(frozen=True)
class JobRequest:
    """A processing job, exactly as ``CreateProcessingJob`` takes it.

    Attributes:
        job_name: ``ProcessingJobName`` (1-63 letters, digits and hyphens).
        image_uri: ``AppSpecification.ImageUri``.
        entrypoint: ``AppSpecification.ContainerEntrypoint``.
        arguments: ``AppSpecification.ContainerArguments``.
        role_arn: ``RoleArn``.
        inputs, outputs: ``ProcessingInputs`` and ``ProcessingOutputConfig.Outputs``.
        instance_count, instance_type, volume_gb: ``ProcessingResources.ClusterConfig``.
        max_runtime_s: ``StoppingCondition.MaxRuntimeInSeconds`` (at most 9 days).
        environment: ``Environment``.
        tags: ``Tags``, as ``{"Key": ..., "Value": ...}`` dicts.
        network: ``NetworkConfig`` as SageMaker spells it, or ``None``.
    """

    job_name: str
    image_uri: str
    role_arn: str
    entrypoint: tuple[str, ...] = ("augment", "process")
    arguments: tuple[str, ...] = ()
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    instance_count: int = 1
    instance_type: str = "ml.m5.large"
    volume_gb: int = 30
    max_runtime_s: int = 86_400
    environment: dict[str, str] = field(default_factory=dict)
    tags: tuple[dict[str, str], ...] = ()
    network: dict[str, Any] | None = None

    def with_changes(self, **changes: Any) -> JobRequest:
        return replace(self, **changes)

    def validate(self, local: bool = False) -> JobRequest:
        """Check every field; return ``self``.

        Args:
            local: allow local folders where S3 URIs go (the local runtime's convenience).

        Raises:
            RequestError: listing each invalid field by its request name.
        """
        problems: list[str] = []
        add = problems.append
        if not JOB_NAME.match(self.job_name or ""):
            add(f"ProcessingJobName: must be 1-63 letters, digits and hyphens, starting and ending with a letter "
                f"or digit, got {self.job_name!r}")
        if not self.image_uri or len(self.image_uri) > 255:
            add(f"AppSpecification.ImageUri: must be 1-255 characters, got {self.image_uri!r}")
        if not 1 <= len(self.entrypoint) <= 100:
            add("AppSpecification.ContainerEntrypoint: must have 1-100 items")
        if len(self.arguments) > 100 or any(len(a) > 256 for a in self.arguments):
            add("AppSpecification.ContainerArguments: at most 100 items of at most 256 characters")
        if not ROLE_ARN.match(self.role_arn or ""):
            add(f"RoleArn: must be an IAM role ARN like arn:aws:iam::123456789012:role/Name, got {self.role_arn!r}")
        if isinstance(self.instance_count, bool) or not isinstance(self.instance_count, int) \
                or not 1 <= self.instance_count <= MAX_INSTANCES:
            add(f"ProcessingResources.ClusterConfig.InstanceCount: must be 1-{MAX_INSTANCES}, "
                f"got {self.instance_count!r}")
        if not INSTANCE_TYPE.match(self.instance_type or ""):
            add(f"ProcessingResources.ClusterConfig.InstanceType: must look like ml.m5.xlarge, "
                f"got {self.instance_type!r}")
        try:
            check_number("ProcessingResources.ClusterConfig.VolumeSizeInGB", self.volume_gb, min=1, max=16384,
                         integer=True)
        except UsageError as e:
            add(str(e).replace("VolumeSizeInGB must be", "VolumeSizeInGB: must be", 1))
        if not isinstance(self.max_runtime_s, int) or not 1 <= self.max_runtime_s <= MAX_RUNTIME_S:
            add(f"StoppingCondition.MaxRuntimeInSeconds: must be 1-{MAX_RUNTIME_S} (SageMaker's limit, 9 days), "
                f"got {self.max_runtime_s!r}")
        if len(self.environment) > 100:
            add("Environment: at most 100 variables")
        for key, value in self.environment.items():
            if not ENV_KEY.match(key) or not isinstance(value, str) or len(value) > 256:
                add(f"Environment.{key}: names are letters, digits and _, values strings of at most 256 characters")
        if len(self.tags) > 50 or any(set(t) != {"Key", "Value"} for t in self.tags):
            add("Tags: at most 50, each {'Key': ..., 'Value': ...}")
        if len(self.inputs) > 10:
            add("ProcessingInputs: at most 10")
        if len(self.outputs) > 10:
            add("ProcessingOutputConfig.Outputs: at most 10")
        _unique([i.name for i in self.inputs], "ProcessingInputs", "InputName", add)
        _unique([o.name for o in self.outputs], "ProcessingOutputConfig.Outputs", "OutputName", add)
        _unique([i.destination for i in self.inputs], "ProcessingInputs", "S3Input.LocalPath", add)
        for n, i in enumerate(self.inputs):
            where = f"ProcessingInputs[{n}] ({i.name})"
            _check_local_path(i.destination, f"{where}.S3Input.LocalPath", add)
            _check_uri(i.source, f"{where}.S3Input.S3Uri", local, add)
            if i.mode not in INPUT_MODES:
                add(f"{where}.S3Input.S3InputMode: must be File or Pipe, got {i.mode!r}")
            if i.data_type not in DATA_TYPES:
                add(f"{where}.S3Input.S3DataType: must be S3Prefix or ManifestFile, got {i.data_type!r}")
            if i.distribution not in DISTRIBUTIONS:
                add(f"{where}.S3Input.S3DataDistributionType: must be FullyReplicated or ShardedByS3Key, "
                    f"got {i.distribution!r}")
        for n, o in enumerate(self.outputs):
            where = f"ProcessingOutputConfig.Outputs[{n}] ({o.name})"
            _check_local_path(o.source, f"{where}.S3Output.LocalPath", add)
            _check_uri(o.destination, f"{where}.S3Output.S3Uri", local, add)
            if o.upload_mode not in UPLOAD_MODES:
                add(f"{where}.S3Output.S3UploadMode: must be EndOfJob or Continuous, got {o.upload_mode!r}")
        if problems:
            raise RequestError(problems)
        return self

    def to_request(self) -> dict[str, Any]:
        """The ``CreateProcessingJob`` request, field for field."""
        request: dict[str, Any] = {
            "ProcessingJobName": self.job_name,
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": self.instance_count, "InstanceType": self.instance_type,
                "VolumeSizeInGB": self.volume_gb}},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime_s},
            "AppSpecification": {"ImageUri": self.image_uri, "ContainerEntrypoint": list(self.entrypoint)},
            "RoleArn": self.role_arn,
        }  # fmt: skip
        if self.arguments:
            request["AppSpecification"]["ContainerArguments"] = list(self.arguments)
        if self.inputs:
            request["ProcessingInputs"] = [i.to_request() for i in self.inputs]
        if self.outputs:
            request["ProcessingOutputConfig"] = {"Outputs": [o.to_request() for o in self.outputs]}
        if self.environment:
            request["Environment"] = dict(self.environment)
        if self.tags:
            request["Tags"] = [dict(t) for t in self.tags]
        if self.network:
            request["NetworkConfig"] = dict(self.network)
        return request

    @classmethod
    def from_request(cls, data: dict[str, Any]) -> JobRequest:
        """Parse a ``CreateProcessingJob`` request or a ``DescribeProcessingJob`` answer.

        Fields a describe answer may lack (moto drops ``ProcessingResources`` and
        ``Environment``) take the defaults.
        """
        app = data.get("AppSpecification", {})
        cluster = data.get("ProcessingResources", {}).get("ClusterConfig", {})
        inputs = tuple(
            Input(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"],
                  i["S3Input"].get("S3DataType", "S3Prefix"), i["S3Input"].get("S3InputMode", "File"),
                  i["S3Input"].get("S3DataDistributionType", "FullyReplicated"))
            for i in data.get("ProcessingInputs", []) if "S3Input" in i
        )  # fmt: skip
        outputs = tuple(
            Output(o["OutputName"], o["S3Output"]["LocalPath"], o["S3Output"]["S3Uri"],
                   o["S3Output"].get("S3UploadMode", "EndOfJob"))
            for o in data.get("ProcessingOutputConfig", {}).get("Outputs", []) if "S3Output" in o
        )  # fmt: skip
        return cls(
            job_name=data["ProcessingJobName"],
            image_uri=app.get("ImageUri", ""),
            role_arn=data.get("RoleArn", ""),
            entrypoint=tuple(app.get("ContainerEntrypoint") or ()),
            arguments=tuple(app.get("ContainerArguments") or ()),
            inputs=inputs,
            outputs=outputs,
            instance_count=cluster.get("InstanceCount", 1),
            instance_type=cluster.get("InstanceType", "ml.m5.large"),
            volume_gb=cluster.get("VolumeSizeInGB", 30),
            max_runtime_s=data.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86_400),
            environment=dict(data.get("Environment") or {}),
            tags=tuple(data.get("Tags") or ()),
            network=data.get("NetworkConfig"),
        )


def _unique(values: list[str], where: str, name: str, add: Any) -> None:
    seen = {v for v in values if values.count(v) > 1}
    if seen:
        add(f"{where}: {name} must be unique, repeated: {', '.join(sorted(seen))}")


def _check_local_path(path: str, where: str, add: Any) -> None:
    p = PurePosixPath(path or "")
    if not p.is_absolute() or PROCESSING_ROOT not in p.parents or ".." in p.parts:
        add(f"{where}: must be a path under {PROCESSING_ROOT}/ without '..', got {path!r}")


def _check_uri(uri: str, where: str, local: bool, add: Any) -> None:
    if is_s3(uri):
        if not valid_s3_uri(uri):
            add(f"{where}: not a valid S3 URI (s3://bucket/prefix), got {uri!r}")
    elif not local:
        add(f"{where}: must be an s3:// URI, got {uri!r}")
    elif not uri:
        add(f"{where}: empty")
    elif not is_local(uri):  # the local runtime reads and writes S3 and this machine's paths
        add(f"{where}: must be an s3:// URI or a local path, got {uri!r}")
