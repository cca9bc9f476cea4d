"""Try an image on the sample job before paying for one (``augment.container.try_image``,
notebook 01): it launches a job, so it lives above the launchers and the local runtime, and
:mod:`augment.container`, which they import, forwards the name here."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from augment.errors import JobFailed
from augment.jobs.build import build_request
from augment.jobs.local import run_local
from augment.text import plural


def try_image(image: str, engine: str = "auto", *, spec: str = "light", output: str | Path | None = None,
              out: Any = None) -> dict[str, Any]:
    """Run the sample job in ``image`` before paying for one: a sharded job of two instances
    on the local runtime, each a container of the image with a SageMaker-shaped ``/opt/ml``
    (what ``augment run --backend local --image`` does).

    Args:
        image: a local image (``augment image build`` prints its names).
        engine: ``auto`` (Docker, else podman), ``docker`` or ``podman``.
        spec: the spec or preset to run.
        output: where the outputs go (default: a new temporary folder).
        out: where the hosts' log lines and the summary go (default stdout).

    Returns:
        The job's ``DescribeProcessingJob``-shaped description.

    Raises:
        UsageError: no engine answers, or it has no such image.
        JobFailed: the job did not complete (with its ``FailureReason``).
    """
    from augment.samples import samples_dir

    out = out or sys.stdout
    output = Path(output) if output else Path(tempfile.mkdtemp(prefix="augment-try-image-"))
    request = build_request(spec, str(samples_dir()), str(output), mode="sharded", image_uri=image)
    description = run_local(request, engine=engine, log=out)
    hosts = description["LocalRuntime"]["hosts"]
    written = sum(h.get("summary", {}).get("written", 0) for h in hosts.values())
    took = (description["ProcessingEndTime"] - description["CreationTime"]).total_seconds()
    status = description["ProcessingJobStatus"]
    print(f"{request.job_name} {status} in {took:.1f} s: {plural(written, 'output')} on "
          f"{plural(len(hosts), 'instance')}, each a "
          f"container of {image} ({description['LocalRuntime']['engine']}); outputs in {output}", file=out, flush=True)
    if status != "Completed":
        raise JobFailed(f"the sample job failed in {image}: {description.get('FailureReason', status)}",
                        summary=description)
    return description
