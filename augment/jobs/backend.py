"""What runs a job: the backend protocol, and the one constructor of backends.

A backend says what a launch must know of it (:class:`Backend`): its ``name``, whether its
jobs read and write S3 alone (``reads_s3_only``), how often to look at them (``poll``), the
request defaults of each launch mode (``request_defaults``), and ``submit``. The local
runtime (:class:`~augment.jobs.handles.LocalBackend`) and SageMaker
(:class:`~augment.jobs.sagemaker.SageMakerBackend`) implement it; :func:`make_backend`
makes either, for the command line and the notebooks alike.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from augment.errors import UsageError
from augment.jobs.request import JobRequest

BACKENDS = ("local", "sagemaker")


@runtime_checkable
class Backend(Protocol):
    """What a launch asks of the thing that runs its jobs."""

    name: str
    """``local`` or ``sagemaker``."""
    reads_s3_only: bool
    """Its jobs read and write S3 alone (SageMaker's; the local runtime also takes folders)."""
    poll: float
    """Seconds between looks at its jobs' status."""

    def connect(self) -> None:
        """Reach what the jobs run on (AWS, a container engine), once; refusals are said here."""

    def request_defaults(self, mode: str, *, image_uri: str | None = None) -> dict[str, Any]:
        """Keyword arguments for :func:`~augment.jobs.launch.launch` that a ``mode``'s jobs
        need on this backend (the image, the role, shipping code), ``image_uri`` overriding
        the backend's image."""

    def submit(self, request: JobRequest, **kwargs: Any) -> Any:
        """Create the job; return its handle (:class:`~augment.jobs.handles.Job`)."""


def make_backend(name: str = "local", *, role: str | None = None, bucket: str | None = None,
                 region: str | None = None, workdir: str | None = None, image_uri: str | None = None,
                 engine: str | None = None, connect: bool = True) -> Any:
    """The backend named ``name``: the one constructor of the command line (``augment run
    --backend``) and of the notebooks (their ``backend`` parameter).

    Args:
        name: ``local`` (this machine, no AWS) or ``sagemaker``.
        role, bucket, region: SageMaker only; ``None`` takes the Studio session's
            execution role, default bucket and region.
        workdir: local only: keep each job's ``/opt/ml`` roots here.
        image_uri: the image of its jobs. SageMaker: an ECR URI (``None``: standalone and
            sharded jobs run on the AWS PyTorch image with this package shipped as code).
            Local: with ``engine``, each instance runs in a container of this image instead
            of as a process here; without, it is not used (a notebook's ``image_uri`` is
            SageMaker's).
        engine: local with ``image_uri``: ``auto`` (Docker, else podman), ``docker`` or
            ``podman``.
        connect: reach AWS (SageMaker) or the engine (local with an image) now; with
            ``False``, :func:`~augment.jobs.launch.launch` does it once its checks pass, so a
            refused launch asks AWS nothing.

    Returns:
        A :class:`~augment.jobs.LocalBackend` or a
        :class:`~augment.jobs.sagemaker.SageMakerBackend`.

    Raises:
        UsageError: an unknown backend name, an engine without a local image; with
            ``connect``, what :meth:`Backend.connect` refuses.
    """
    from augment.locations import expand

    if name not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if engine and (name != "local" or not image_uri):
        raise UsageError("engine= chooses what runs the image_uri= of a local job; without image_uri= the instances "
                         "run as processes here" if name == "local" else
                         "engine= is for backend=local with image_uri=: SageMaker runs the image itself")
    backend: Any
    if name == "local":
        from augment.jobs.handles import LocalBackend

        backend = LocalBackend(None if workdir is None else expand(workdir), engine=engine,
                               image_uri=image_uri if engine else None)
    else:
        from augment.jobs.sagemaker import SageMakerBackend

        backend = SageMakerBackend(role=role, bucket=bucket, region=region, image_uri=image_uri, connect=False)
    if connect:
        backend.connect()
    return backend
