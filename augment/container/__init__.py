"""Build and push the processing image, from a laptop, from SageMaker Studio, or not at all.

* **A local engine** (``_local``): Docker (a laptop, or a Studio domain with Docker
  access), or podman where Docker is absent (see :mod:`augment.engines`): ``build`` with
  argument lists (``_runner``), never a shell string; in Studio with ``--network sagemaker``.
* **CodeBuild** (``_codebuild``, Studio without Docker): the build context is zipped to S3,
  a CodeBuild project builds and pushes, and the build is polled with its logs shown.
* **No build**: jobs run on the AWS PyTorch Deep Learning Container for the region,
  with this package shipped as code (:func:`dlc_image_uri`).

:func:`build_image` (``_methods``, notebook 01's one call) does any of the three, showing
every command and AWS call. The ECR repository (``_ecr``) is created idempotently; the
registry password comes from ``get_authorization_token`` and goes to ``docker login`` on
stdin, never on a command line, in a log or in ``--dry-run`` output. Build arguments serve a
mirror or a machine without Docker Hub: ``torch_index_url`` (the index torch and torchvision
come from; the other pins still come from PyPI) and ``base_image`` (the Python 3.11 image
the stages start from). Tags come from the package version and the git revision
(``0.2.0-4296448``, ``-dirty`` when the tree has uncommitted changes), never ``latest``
alone (``_sources``, with the build context and the entrypoint).
"""

from __future__ import annotations

from typing import Any

from augment.container._codebuild import codebuild
from augment.container._ecr import (
    ACCOUNT_PLACEHOLDER,
    REGION_PLACEHOLDER,
    ImageTarget,
    create_repository_command,
    ecr_uri,
    ensure_repository,
    registry_credentials,
)
from augment.container._local import build, build_command, engine_for, in_studio, login_command, push, push_commands
from augment.container._methods import METHODS, Built, build_image
from augment.container._runner import REDACTED, BuildFailed, Runner
from augment.container._sources import (
    BUILDSPEC,
    CONTEXT_FILES,
    DOCKERFILE,
    ROOT,
    VARIANTS,
    context_zip,
    entrypoint_of,
    git_revision,
    image_tags,
    source_files,
)
from augment.sagemaker_sdk import dlc_image_uri

__all__ = [  # and try_image, through __getattr__
    "ACCOUNT_PLACEHOLDER",
    "BUILDSPEC",
    "CONTEXT_FILES",
    "DOCKERFILE",
    "METHODS",
    "REDACTED",
    "REGION_PLACEHOLDER",
    "ROOT",
    "VARIANTS",
    "BuildFailed",
    "Built",
    "ImageTarget",
    "Runner",
    "build",
    "build_command",
    "build_image",
    "codebuild",
    "context_zip",
    "create_repository_command",
    "dlc_image_uri",
    "ecr_uri",
    "engine_for",
    "ensure_repository",
    "entrypoint_of",
    "git_revision",
    "image_tags",
    "in_studio",
    "login_command",
    "push",
    "push_commands",
    "registry_credentials",
    "source_files",
]


def __getattr__(name: str) -> Any:
    # try_image runs a job, so it lives above the launchers (augment.jobs.trial), not in
    # this package: the launchers import container (source files, image URIs), never the
    # reverse. ``augment.container.try_image`` (notebook 01) still answers.
    if name == "try_image":
        import importlib

        return importlib.import_module("augment.jobs.trial").try_image
    raise AttributeError(f"module 'augment.container' has no attribute {name!r}")
