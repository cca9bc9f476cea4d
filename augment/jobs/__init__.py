"""Launching jobs: the request model, the local runtime and the launch modes."""

from augment.jobs.launch import build_request
from augment.jobs.local import run_local
from augment.jobs.request import Input, JobRequest, Output, RequestError

__all__ = ["Input", "JobRequest", "Output", "RequestError", "build_request", "run_local"]
