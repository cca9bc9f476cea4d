"""Job handles: one interface over a job on SageMaker or on the local runtime.

A handle has ``status()``, ``describe()``, ``wait(timeout)``, ``logs()`` (lines with a
host prefix), ``stop()`` and ``outputs()``. Launchers (batched, prefetch, groups) use
only this interface, so they run the same on both backends.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from augment.contract import failure_message
from augment.errors import JobFailed
from augment.jobs.local import run_local
from augment.jobs.request import JobRequest

TERMINAL = ("Completed", "Failed", "Stopped")


class Job(Protocol):
    """What a launched job offers, whatever runs it.

    ``finish``, where set, is what the launch left to do once the job completed (merge a
    sharded job's labels: see :mod:`augment.jobs.labels`): :meth:`wait` calls it, and so
    does :meth:`status` when it sees the job completed (see :func:`completed`), so a job
    launched in the background and only polled gets its labels too. It stays set until
    it succeeds; ``wait()`` raises its error, ``status()`` does not.
    """

    name: str
    request: JobRequest
    finish: Callable[[], None] | None

    def describe(self) -> dict[str, Any]: ...

    def status(self) -> str: ...

    def logs(self) -> list[str]: ...

    def stop(self) -> None: ...

    def outputs(self) -> list[str]: ...

    def wait(self, timeout: float | None = None, poll: float = 5.0) -> dict[str, Any]: ...


def wait_for(job: Job, timeout: float | None, poll: float) -> dict[str, Any]:
    """Poll ``job`` until it ends; return its description.

    Raises:
        TimeoutError: still running after ``timeout`` seconds (the job goes on).
        JobFailed: it ended ``Failed`` or ``Stopped``; the message carries SageMaker's
            ``FailureReason`` and the container's ``ExitMessage``.
        LabelMergeError: it completed, but what its launch left to do once it did
            (``job.finish``: merge its hosts' labels) failed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        description = job.describe()
        status = description["ProcessingJobStatus"]
        if status in TERMINAL:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"job {job.name} still {status} after {timeout} s")
        time.sleep(poll)
    if status != "Completed":
        reason = description.get("FailureReason") or status
        exit_message = description.get("ExitMessage")
        detail = f"; exit message: {exit_message}" if exit_message and exit_message not in reason else ""
        raise JobFailed(f"job {job.name} {status}: {reason}{detail}", summary=description)
    finish = getattr(job, "finish", None)
    if finish is not None:
        finish()
    return description


def completed(job: Job, status: str) -> str:
    """``status``, read by ``job.status()``, after doing what the launch left to do once
    the job completed (``job.finish``: merge its hosts' labels). ``status()`` is polled
    (``follow``, job groups, widgets), so it never raises for that: a merge that failed
    is kept in ``job.finish_error`` and tried again at the next ``status()`` or
    ``wait()``, which raises it.
    """
    from augment.jobs.labels import LabelMergeError

    finish = getattr(job, "finish", None)
    if status == "Completed" and finish is not None:
        try:
            finish()
        except LabelMergeError as e:
            job.finish_error = e  # type: ignore[attr-defined]
    return status


def output_uris(request: JobRequest) -> list[str]:
    return [o.destination for o in request.outputs]


class LocalJob:
    """A job running on the local runtime in a background thread."""

    def __init__(self, request: JobRequest, workdir: str | None = None, engine: str | None = None, *,
                 attached: bool = False) -> None:
        self.name = request.job_name
        self.request = request
        self.engine = engine
        self.finish: Callable[[], None] | None = None
        self.finish_error: BaseException | None = None
        self.labels: list[str] = []
        self._log = io.StringIO()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._result: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(workdir,), name=f"local-{self.name}", daemon=True)
        if attached:  # here, the hosts' lines on this process's stderr, an error raised: as `augment run` shows it
            self._result = run_local(request, workdir=workdir, engine=engine)
        else:
            self._thread.start()

    def _run(self, workdir: str | None) -> None:
        try:
            self._result = run_local(self.request, workdir=workdir, log=_Locked(self._log, self._lock),
                                     stop=self._stop, engine=self.engine)
        except BaseException as e:  # kept and reported as this job's failure by describe()
            from augment.aws import aws_error

            self._error = aws_error(e) or e

    def describe(self) -> dict[str, Any]:
        if self._thread.is_alive():
            return {**self.request.to_request(), "ProcessingJobStatus": "Stopping" if self._stop.is_set()
                    else "InProgress"}
        if self._error is not None:  # labelled, as a host's exit message is, when a retry cannot pass
            reason = failure_message(self._error, f"{type(self._error).__name__}: {self._error}")
            return {**self.request.to_request(), "ProcessingJobStatus": "Failed", "FailureReason": reason}
        assert self._result is not None
        return self._result

    def status(self) -> str:
        return completed(self, self.describe()["ProcessingJobStatus"])

    def logs(self) -> list[str]:
        with self._lock:
            return self._log.getvalue().splitlines()

    def stop(self) -> None:
        """Send SIGTERM to every host (a graceful stop, as StopProcessingJob does)."""
        self._stop.set()

    def outputs(self) -> list[str]:
        return output_uris(self.request)

    def wait(self, timeout: float | None = None, poll: float = 0.2) -> dict[str, Any]:
        return wait_for(self, timeout, poll)


class _Locked(io.TextIOBase):
    """A text stream that many host threads write whole lines to."""

    def __init__(self, target: io.StringIO, lock: threading.Lock) -> None:
        self.target, self.lock = target, lock

    def write(self, text: str) -> int:
        with self.lock:
            return self.target.write(text)


class LocalBackend:
    """Submits requests to the local runtime (a :class:`~augment.jobs.backend.Backend`).

    Args:
        workdir: keep each job's ``/opt/ml`` roots under this folder (default: temporary).
        engine: run each host in a container of the request's image (``auto``: Docker,
            else podman; or ``docker``, ``podman``), as SageMaker would; ``None`` runs
            hosts as subprocesses of this Python environment. See
            :func:`~augment.jobs.local.run_local`.
        image_uri: the image of its jobs' requests (for ``engine``); ``None``: the request's.
    """

    name = "local"
    reads_s3_only = False
    poll = 0.5

    def __init__(self, workdir: str | None = None, engine: str | None = None, image_uri: str | None = None) -> None:
        self.workdir = workdir
        self.engine = engine
        self.image_uri = image_uri

    def connect(self) -> None:
        """With an engine and an image: refuse, before any input is listed or anything written,
        an engine that does not answer or lacks the image."""
        if self.engine is not None and self.image_uri:
            from augment.jobs.local import check_image

            check_image(self.engine, self.image_uri)

    def request_defaults(self, mode: str, *, image_uri: str | None = None) -> dict[str, Any]:
        """The backend's image, where it runs one (``image_uri`` is SageMaker's: the local
        runtime runs its jobs as processes here unless it was made with an image)."""
        return {"image_uri": self.image_uri} if self.image_uri else {}

    def submit(self, request: JobRequest, attached: bool = False) -> LocalJob:
        """Start ``request`` on the local runtime.

        Args:
            attached: run it here and return when it ended (its hosts' lines on stderr,
                an error raised), as ``augment run`` does; else in a background thread.

        Raises:
            RequestError: an invalid request.
            UsageError: with an ``engine``, none answers or it lacks the request's image.
        """
        request.validate(local=True)
        if self.engine is not None:  # said now, not as the job's failure a moment later
            from augment.jobs.local import check_image

            check_image(self.engine, request.image_uri)
        return LocalJob(request, self.workdir, self.engine, attached=attached)
