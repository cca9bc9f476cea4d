"""One run of a sweep: its notebook executed by papermill with the run's parameters, in a
kernel of its own, and the outcome (status, duration, the exception and the failing cell). A
failed run is an outcome, not an error: the sweep goes on. This may run in another process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

KERNEL = "python3"


def _kernel_options() -> dict[str, Any]:
    """papermill's options for a kernel that talks over local sockets (IPC) in a folder of
    its own: over TCP every kernel logs a warning (in red, in a notebook) that its traffic
    is not encrypted."""
    if os.name != "posix":
        return {}
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = Config()
    config.KernelManager.transport = "ipc"
    # the sockets' path prefix: unique, as runs in parallel would pick the same names (jupyter_client's
    # default is "kernel-ipc" in the current folder)
    config.KernelManager.ip = str(runtime / f"augment-{uuid.uuid4().hex[:12]}-ipc")
    return {"config": config}


def _run_one(notebook: str, output: str, parameters: dict[str, Any], cwd: str, kernel_name: str,
             execution_timeout: float | None) -> dict[str, Any]:
    """Execute one run with papermill; return its outcome (this may run in another process)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.monotonic()
    outcome: dict[str, Any] = {"status": "completed", "error": None, "failed_cell": None, "failed_source": None}
    try:
        papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=kernel_name, cwd=cwd,
                                   progress_bar=False, execution_timeout=execution_timeout, **_kernel_options())
    except PapermillExecutionError as e:
        outcome.update(status="failed", error=f"{e.ename}: {e.evalue}", failed_source=e.source,
                       failed_cell=_failed_cell(output))
    except Exception as e:  # a kernel that died or never started: the run failed; the sweep goes on
        outcome.update(status="failed", error=f"{type(e).__name__}: {e}")
    outcome["duration_s"] = round(time.monotonic() - start, 2)
    return outcome


def _failed_cell(notebook: str) -> int | None:
    """The index, in the executed notebook as saved (papermill adds cells to it), of the
    first code cell with an error output."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return None
    return next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                 and any(o.get("output_type") == "error" for o in cell.get("outputs", []))), None)
