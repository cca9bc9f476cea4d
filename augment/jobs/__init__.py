"""Launching jobs: the request model, the backends (local runtime, SageMaker) and the
launch modes (standalone, sharded, batched, prefetch)."""

from augment.jobs.backend import Backend, make_backend
from augment.jobs.batch import BatchReport, JobGroup, Prefetch, run_batched
from augment.jobs.dataset import AugmentedImages, classes_of
from augment.jobs.follow import (
    follow,
    instance_choice,
    locations,
    preview,
    request_options,
    results,
    show_request,
    timelines,
)
from augment.jobs.handles import LocalBackend, LocalJob
from augment.jobs.launch import build_request, check_limits, launch
from augment.jobs.local import run_local
from augment.jobs.request import Input, JobRequest, Output, RequestError

__all__ = [
    "AugmentedImages", "Backend", "BatchReport", "Input", "JobGroup", "JobRequest", "LocalBackend", "LocalJob",
    "Output", "Prefetch", "RequestError", "build_request", "check_limits", "classes_of", "follow", "instance_choice",
    "launch", "locations", "make_backend", "preview", "request_options", "results", "run_batched", "run_local",
    "show_request", "timelines",
]  # fmt: skip
