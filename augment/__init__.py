"""augment: torchvision v2 image augmentation as SageMaker Processing jobs.

The public API. Names are imported on first use, so ``augment --help`` and the
container's start-up do not pay for importing torch until they need it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.4.0"

_EXPORTS = {
    # specs and presets
    "Spec": "augment.spec",
    "load_spec": "augment.spec",
    "parse_spec": "augment.spec",
    "dump_spec": "augment.spec",
    "list_presets": "augment.spec",
    "load_preset": "augment.spec",
    # ops and pipelines
    "REGISTRY": "augment.ops",
    "op_names": "augment.ops",
    "Pipeline": "augment.pipeline",
    "derive_seed": "augment.pipeline",
    # jobs
    "run_job": "augment.engine",
    "Summary": "augment.engine",
    "read_manifest": "augment.manifest",
    "replay": "augment.replay",
    "read_context": "augment.contract",
    "output_name": "augment.engine",
    # notebooks and sweeps
    "run_sweep": "augment.sweep",
    "write_results": "augment.sweep",
    "launch": "augment.jobs",
    # planning: time and cost before launch, estimate against actual after
    "estimate": "augment.plan",
    "compare": "augment.plan",
    "calibrate": "augment.plan",
    "Plan": "augment.plan",
    # images and samples
    "open_image": "augment.images",
    "Source": "augment.images",
    "decode": "augment.images",
    "encode": "augment.images",
    "samples_dir": "augment.samples",
    "list_samples": "augment.samples",
    "load_sample": "augment.samples",
    # errors
    "AugmentError": "augment.errors",
    "SpecError": "augment.errors",
    "UsageError": "augment.errors",
    "JobFailed": "augment.errors",
    "JobStopped": "augment.errors",
}

_SUBMODULES = ("plan", "preview", "sweep", "jobs", "samples")
"""Modules a notebook reaches after a bare ``import augment`` (``augment.plan.estimate(...)``)."""

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"augment.{name}")
    raise AttributeError(f"module 'augment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
