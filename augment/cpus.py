"""How many CPUs this process may use: the one default for ``--workers``, shared by the
job (:func:`augment.engine.run_job`) and the planner (:mod:`augment.plan`). Torch-free,
so the planner can ask without importing the engine."""

from __future__ import annotations

import os


def default_workers() -> int:
    """One worker per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1
