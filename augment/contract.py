"""The SageMaker Processing container contract: the one module that knows ``/opt/ml``.

What SageMaker gives a processing container, and what it expects back:

* inputs and outputs under ``/opt/ml/processing/`` (their ``LocalPath``);
* ``/opt/ml/config/processingjobconfig.json``: the ``CreateProcessingJob`` request
  (job name, ``ProcessingInputs``, ``ProcessingOutputConfig``, resources...);
* ``/opt/ml/config/resourceconfig.json``: ``{"current_host": "algo-1", "hosts": [...]}``;
* exit status 0 for success; on failure a UTF-8 reason of at most 1 KB in
  ``/opt/ml/output/message``, shown as the job's ``ExitMessage``;
* logs on stdout/stderr, line by line (CloudWatch keeps one event per line).

The environment variable ``AUGMENT_OPT_ML`` moves the whole root (default ``/opt/ml``),
so the local runtime can run several simulated hosts side by side, each with its own
root. ``LocalPath`` values in the job config, which always say ``/opt/ml/...``, are
mapped onto that root.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from augment.errors import UsageError

ROOT_ENV = "AUGMENT_OPT_ML"
SAGEMAKER_ROOT = PurePosixPath("/opt/ml")
MESSAGE_LIMIT = 1024
"""SageMaker reads at most this many bytes of ``/opt/ml/output/message``."""
RESERVED_INPUTS = ("code", "spec", "unstaged")
"""Processing inputs that carry the package, the spec, or the keys not staged (see
:mod:`augment.keys`), not images."""
NOT_RETRYABLE = ("bad inputs", "usage error")
"""Labels that start the exit message of a failure that running the job again repeats: more
bad inputs than ``--max-error-rate`` allows, a bad spec or argument. A launcher
(:mod:`augment.jobs.batch`) retries every other failure: a host killed, a time-out, a
stage or upload error."""


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
"""A host name: SageMaker's are ``algo-1``, ``algo-2``...; more is allowed, but a name
becomes part of file names (``manifest-<host>.jsonl``), so it is one plain file-name
component: no ``/``, no ``..``, nothing hidden, at most 63 characters."""


def check_host(name: Any, where: str) -> str:
    """Return ``name`` if it is a valid host name (see :data:`HOST_NAME`); else raise
    :class:`UsageError` naming ``where`` (a flag or a file)."""
    if not isinstance(name, str) or not HOST_NAME.fullmatch(name) or ".." in name:
        from augment.text import brief

        shown = brief(name, 80)
        raise UsageError(f"{where}: {shown} is not a host name: use letters, digits, '-', '_' and '.' "
                         "(no '/' or '..', at most 63 characters, not starting with '.' or '-'), "
                         "like SageMaker's algo-1")
    return name


def ml_root() -> Path:
    """The ``/opt/ml`` root, or where ``AUGMENT_OPT_ML`` moved it."""
    return Path(os.environ.get(ROOT_ENV, str(SAGEMAKER_ROOT)))


def local_path(sagemaker_path: str) -> Path:
    """Map a ``LocalPath`` from the job config (``/opt/ml/...``) onto :func:`ml_root`."""
    p = PurePosixPath(sagemaker_path)
    if p == SAGEMAKER_ROOT or SAGEMAKER_ROOT in p.parents:
        return ml_root() / p.relative_to(SAGEMAKER_ROOT)
    return Path(sagemaker_path)


def default_input_dir() -> Path:
    return ml_root() / "processing" / "input"


def default_output_dir() -> Path:
    return ml_root() / "processing" / "output"


def in_container() -> bool:
    """True where an ``/opt/ml`` root exists: a SageMaker job or a local-runtime host."""
    return ml_root().is_dir()


@dataclass(frozen=True)
class JobContext:
    """What the job's config files say. Every field has a stand-alone default.

    Attributes:
        job_name: ``ProcessingJobName``, or ``None`` outside a job.
        current_host: this instance (``algo-1``...), or ``local``.
        hosts: every instance of the job.
        instance_type: ``ml.m5.xlarge``..., or ``None``.
        inputs: ``InputName`` -> local path, for each ``ProcessingInputs`` entry.
        outputs: ``OutputName`` -> local path, for each output.
        output_uris: ``OutputName`` -> ``S3Uri``: where each output ends up once the
            job uploads it (the local runtime: an ``s3://`` URI or a local folder).
        sharded: the ``InputName`` of each input whose objects are split between the
            hosts (``S3DataDistributionType: ShardedByS3Key``).
    """

    job_name: str | None = None
    current_host: str = "local"
    hosts: tuple[str, ...] = ("local",)
    instance_type: str | None = None
    inputs: dict[str, Path] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    output_uris: dict[str, str] = field(default_factory=dict)
    sharded: frozenset[str] = frozenset()

    @property
    def host_index(self) -> int:
        return self.hosts.index(self.current_host) if self.current_host in self.hosts else 0

    def image_input(self) -> Path:
        """The local folder of the images input.

        The inputs named ``code``, ``spec`` and ``unstaged`` are not images. Of the others, the one
        named ``images`` or ``input`` wins, else the only one.

        Raises:
            UsageError: none, or several that cannot be told apart.
        """
        candidates = {k: v for k, v in self.inputs.items() if k not in RESERVED_INPUTS}
        return _pick(candidates, ("images", "input"), "ProcessingInputs", "input_dir")

    def image_input_sharded(self) -> bool:
        """Whether this host gets only its share of the images input (``ShardedByS3Key``
        with more than one host): a share may be empty when hosts outnumber the objects."""
        if len(self.hosts) < 2 or not self.inputs:
            return False
        image = self.image_input()
        return any(name in self.sharded for name, path in self.inputs.items() if path == image)

    def image_output(self) -> Path:
        """The local folder of the output (named ``output`` or ``images``, else the only one)."""
        return _pick(self.outputs, ("output", "images"), "ProcessingOutputConfig.Outputs", "output_dir")

    def output_uri(self, folder: Path) -> str | None:
        """Where the job uploads ``folder``, when it is one of the job's outputs: the
        location a user can look at (this host's folder is gone when the job ends)."""
        for name, path in self.outputs.items():
            if name in self.output_uris and Path(path).resolve() == Path(folder).resolve():
                return self.output_uris[name]
        return None

    def unstaged_path(self) -> Path | None:
        """The list of input keys that could not be staged as files, delivered by a
        processing input named ``unstaged`` (see :mod:`augment.keys`), if any."""
        folder = self.inputs.get("unstaged")
        if folder is None or folder.is_file():
            return folder
        found = sorted(p for p in folder.iterdir() if p.suffix == ".json") if folder.is_dir() else []
        if len(found) != 1:
            raise UsageError(f"the 'unstaged' processing input at {folder} must hold one .json file, "
                             f"found {len(found)}")
        return found[0]

    def spec_path(self) -> Path | None:
        """The spec file delivered by a processing input named ``spec``, if any."""
        folder = self.inputs.get("spec")
        if folder is None:
            return None
        if folder.is_file():
            return folder
        found = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json")) if folder.is_dir() else []
        if len(found) != 1:
            raise UsageError(f"the 'spec' processing input at {folder} must hold one .yaml/.yml/.json file, "
                             f"found {len(found)}")
        return found[0]


def _pick(paths: dict[str, Path], preferred: tuple[str, ...], where: str, flag: str) -> Path:
    for name in preferred:
        if name in paths:
            return paths[name]
    if len(paths) == 1:
        return next(iter(paths.values()))
    names = ", ".join(sorted(paths)) or "none"
    raise UsageError(f"cannot tell which of the job's {where} to use ({names}); name it "
                     f"{' or '.join(repr(p) for p in preferred)}, or pass {flag}=")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return data


def read_context() -> JobContext:
    """Read the job's config files under :func:`ml_root`; defaults where they are absent."""
    config = ml_root() / "config"
    kwargs: dict[str, Any] = {}
    resource = config / "resourceconfig.json"
    if resource.is_file():
        data = _read_json(resource)
        where = f"{resource} current_host"
        kwargs["current_host"] = check_host(data.get("current_host", "local"), where)
        hosts = data.get("hosts") or [kwargs["current_host"]]
        if not isinstance(hosts, list):
            raise UsageError(f"{resource} hosts: expected a list of host names, got {type(hosts).__name__}")
        kwargs["hosts"] = tuple(check_host(h, f"{resource} hosts") for h in hosts)
    job = config / "processingjobconfig.json"
    if job.is_file():
        data = _read_json(job)
        kwargs["job_name"] = data.get("ProcessingJobName")
        cluster = data.get("ProcessingResources", {}).get("ClusterConfig", {})
        kwargs["instance_type"] = cluster.get("InstanceType")
        kwargs["inputs"] = {
            i.get("InputName", f"input-{n}"): local_path(i["S3Input"]["LocalPath"])
            for n, i in enumerate(data.get("ProcessingInputs") or [])
            if "S3Input" in i
        }
        kwargs["sharded"] = frozenset(
            i.get("InputName", f"input-{n}") for n, i in enumerate(data.get("ProcessingInputs") or [])
            if (i.get("S3Input") or {}).get("S3DataDistributionType") == "ShardedByS3Key")
        outputs = [(o.get("OutputName", f"output-{n}"), o["S3Output"])
                   for n, o in enumerate((data.get("ProcessingOutputConfig") or {}).get("Outputs") or [])
                   if "S3Output" in o]
        kwargs["outputs"] = {name: local_path(o["LocalPath"]) for name, o in outputs}
        kwargs["output_uris"] = {name: str(o["S3Uri"]) for name, o in outputs if o.get("S3Uri")}
    return JobContext(**kwargs)


def write_failure_message(message: str) -> Path | None:
    """Write the job's exit message (UTF-8, cut to 1 KB on a character boundary).

    Only where an ``/opt/ml`` root exists: on a laptop nothing is written.

    Returns:
        The message file, or ``None`` when not in a container.
    """
    if not in_container():
        return None
    from augment.text import utf8

    data = utf8(message)  # a path's undecodable bytes as \xff: the message is the job's last word
    if len(data) > MESSAGE_LIMIT:
        data = data[: MESSAGE_LIMIT - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."
    path = ml_root() / "output" / "message"
    from augment.images import atomic_write_bytes

    atomic_write_bytes(path, data)
    return path


def failure_message(error: BaseException, message: str) -> str:
    """The exit message for ``error``: labelled (``bad inputs: ...``, ``usage error: ...``)
    when running the job again would fail the same way."""
    from augment.errors import TooManyBadInputs

    if isinstance(error, TooManyBadInputs):
        return f"{NOT_RETRYABLE[0]}: {message}"
    if getattr(error, "exit_code", None) == 2 and not getattr(error, "transient", False):  # a full disk is not
        return f"{NOT_RETRYABLE[1]}: {message}"  # a usage error: a new instance may have room
    return message


def not_retryable(text: str) -> str | None:
    """The label of a failure that a retry would repeat, read from a job's ``ExitMessage`` or
    ``FailureReason`` (``AlgorithmError: bad inputs: ...``); ``None`` for any other failure."""
    for part in (text, text.partition(": ")[2]):
        for label in NOT_RETRYABLE:
            if part.startswith(f"{label}: "):
                return label
    return None
