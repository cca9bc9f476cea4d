"""Notebook 01's one call, :func:`build_image`: the image built here (Docker or podman),
on AWS CodeBuild, or not at all (the AWS PyTorch Deep Learning Container), showing every
command and AWS call with account ids redacted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

from augment import aws, engines
from augment.container._codebuild import codebuild
from augment.container._local import build, login_command, push_commands
from augment.container._local import push as push_image  # build_image's push says whether to
from augment.container._runner import Runner
from augment.container._sources import BUILDSPEC, context_zip, image_tags
from augment.errors import UsageError
from augment.redact import Redacting
from augment.sagemaker_sdk import dlc_image_uri

METHODS = ("local", "codebuild", "dlc")


@dataclass(frozen=True)
class Built:
    """What :func:`build_image` did.

    Attributes:
        uri: the image to pass on: the ECR URI when pushed (``<account>`` in a dry run),
            else the local name, or the DLC's URI.
        local: the local image built here (``None``: nothing was built here).
        engine: the engine that built it (``None``: nothing was built here).
    """

    uri: str
    local: str | None = None
    engine: str | None = None

    def __str__(self) -> str:
        return self.uri


def build_image(method: str, target: Any, *, variant: str = "cpu", dry_run: bool = True, push: bool = True,
                engine: str = "auto", bucket: str | None = None, role: str | None = None,
                torch_index_url: str | None = None, base_image: str | None = None, network: str | None = None,
                out: TextIO | None = None) -> Built:
    """Build (and push) the processing image, or name the no-build image, showing every
    command and AWS call; account ids are redacted from what is shown.

    Args:
        method: ``local`` (build here with Docker or podman, then push to ECR),
            ``codebuild`` (build and push on AWS CodeBuild, for Studio without Docker) or
            ``dlc`` (no build: the AWS PyTorch Deep Learning Container, with this package
            shipped as code). ``docker`` and ``podman`` are ``local`` with that engine.
        target: from :func:`augment.notebooks.image_target`.
        variant: ``cpu`` or ``gpu``.
        dry_run: show the commands and calls, run nothing. ``local`` where no engine
            answers is always a dry run, and says so.
        push: ``local``: push the built image to ``target``; ``False`` builds only, to
            try it here (``augment run --backend local --image``).
        engine: ``local``: ``auto`` (Docker, else podman), ``docker`` or ``podman``.
        bucket, role: ``codebuild``: the bucket for the zipped build context and the
            project's service role (default: the SageMaker session's bucket and the
            Studio execution role).
        torch_index_url, base_image, network: ``local``: build arguments (see
            :func:`augment.build`).
        out: where the commands go (default stdout).

    Returns:
        What was done (see :class:`Built`): the image to pass on, and the one built here.

    Raises:
        UsageError: an unknown method or engine.
        BuildFailed: a build or push step failed.
    """
    shown = Redacting(out)
    if method in ("docker", "podman"):
        method, engine = "local", method
    if method == "local":
        if not dry_run and engines.find(engine) is None:
            print("No container engine answers here (neither Docker nor podman, or not the one chosen): nothing is "
                  "built. This is what the build would run. In SageMaker Studio, enable Docker access for the "
                  "domain, or use method='codebuild'.", file=shown)
            dry_run = True
        run = Runner(dry_run=dry_run, out=shown)
        names = build(target.repository, variant, run, network, engine=engine,
                                torch_index_url=torch_index_url, base_image=base_image)
        local = None if dry_run else names[0]
        if not push:
            return Built(names[0], local, None if dry_run else run.engine)
        if not dry_run:
            return Built(push_image(target, variant, run, engine=engine), local, run.engine)
        registry = target.uri("x").split("/")[0]
        print(f"would call: ecr.create_repository(repositoryName={target.repository!r}) unless it exists", file=shown)
        print("would call: ecr.get_authorization_token()", file=shown)
        run(login_command(registry, run.engine), stdin="")
        tags = image_tags(variant)
        for tag in tags:
            for cmd in push_commands(f"{target.repository}:{tag}", target.uri(tag), run.engine):
                run(cmd)
        return Built(target.uri(tags[0]))
    if method == "codebuild":
        if not push:
            raise UsageError("push=False builds here only (method='local'); CodeBuild builds and pushes to ECR")
        if dry_run:
            return Built(_codebuild_calls(target, variant, bucket, role, shown))
        if bucket is None or role is None:  # the SageMaker session's, as a job's
            from augment.sagemaker_sdk import session_defaults

            _, role, bucket = session_defaults(aws.session(target.region), role, bucket)
        return Built(codebuild(target, bucket, role, variant, out=shown))
    if method == "dlc":
        uri = dlc_image_uri(target.region if not target.region.startswith("<") else "us-east-1")
        print(f"no build: jobs run on {uri} with this package shipped as code (ship_code=True)", file=shown)
        return Built(uri)
    raise UsageError(f"method must be one of {', '.join(METHODS)} (or docker, podman), got {method!r}")


def _codebuild_calls(target: Any, variant: str, bucket: str | None, role: str | None, out: TextIO) -> str:
    tags = image_tags(variant)
    bucket = bucket or "<the session's default bucket>"
    role = role or "<the Studio execution role>"
    size = len(context_zip())
    key = f"augment/codebuild/{tags[0]}.zip"
    print(f"would call: ecr.create_repository(repositoryName={target.repository!r}) unless it exists", file=out)
    print(f"would call: s3.put_object(Bucket={bucket!r}, Key={key!r}, Body=<build context, {size / 1e6:.1f} MB zip>)",
          file=out)
    print(f"would call: codebuild.create_project(name='augment-image', serviceRole={role!r}, privilegedMode=True) "
          "unless it exists", file=out)
    print(f"would call: codebuild.start_build(projectName='augment-image', IMAGE_URI={target.uri(tags[0])!r})",
          file=out)
    print("the build runs this buildspec:\n" + BUILDSPEC, file=out)
    return target.uri(tags[0])
