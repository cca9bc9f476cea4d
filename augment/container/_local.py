"""Build the image here and push it, with a container engine: Docker (a laptop, or a Studio
domain with Docker access), or podman where Docker is absent (:mod:`augment.engines`); in
SageMaker Studio on its ``sagemaker`` network."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from augment import __version__, aws, engines
from augment.container._ecr import ImageTarget, create_repository_command, ensure_repository, registry_credentials
from augment.container._runner import Runner
from augment.container._sources import DOCKERFILE, ROOT, VARIANTS, git_revision, image_tags
from augment.errors import UsageError

STUDIO_METADATA = Path("/opt/ml/metadata/resource-metadata.json")


def in_studio() -> bool:
    """True inside a SageMaker Studio app (its resource metadata file exists)."""
    return STUDIO_METADATA.is_file()


def build_command(repository: str, tags: Sequence[str], variant: str = "cpu", network: str | None = None,
                  context: Path = ROOT, revision: str | None = None, *, engine: str = "docker",
                  torch_index_url: str | None = None, base_image: str | None = None) -> list[str]:
    """The ``build`` argument list for ``engine`` (labels carry version and revision).

    Args:
        torch_index_url: where torch and torchvision come from (default: the variant's
            PyTorch index, :data:`VARIANTS`).
        base_image: the Python 3.11 image every stage starts from (default: the
            Dockerfile's ``python:3.11-slim-bookworm``).
    """
    revision = revision or git_revision(context)
    cmd = [engine, "build", "-f", str(context / DOCKERFILE),
           "--build-arg", f"TORCH_INDEX_URL={torch_index_url or VARIANTS[variant]}",
           "--build-arg", f"VERSION={__version__}",
           "--build-arg", f"GIT_REVISION={revision}"]
    if base_image:
        cmd += ["--build-arg", f"PYTHON_IMAGE={base_image}"]
    # The Dockerfile's LABEL takes them from the build arguments, but podman (buildah 1.28) reuses a
    # cached LABEL layer whose arguments differed: a rebuild of the same files kept the old revision.
    cmd += ["--label", f"org.opencontainers.image.version={__version__}",
            "--label", f"org.opencontainers.image.revision={revision}"]
    if network:
        cmd += ["--network", network]
    for tag in tags:
        cmd += ["-t", f"{repository}:{tag}"]
    return [*cmd, str(context)]


def login_command(registry: str, engine: str = "docker") -> list[str]:
    """``login`` reading the password from stdin."""
    return [engine, "login", "--username", "AWS", "--password-stdin", registry]


def push_commands(local: str, remote: str, engine: str = "docker") -> list[list[str]]:
    return [[engine, "tag", local, remote], [engine, "push", remote]]


def engine_for(choice: str, run: Runner, purpose: str = "building the image") -> str:
    """The engine a build or push runs, said once on ``run``'s output: ``choice`` where it
    answers, or with ``auto`` Docker, else podman. A dry run needs none (it shows ``docker``,
    or the engine chosen).

    Raises:
        UsageError: no engine answers (not in a dry run), saying what to do.
    """
    if run.engine is not None:
        return run.engine
    found = engines.find(choice)
    out = run.out or sys.stdout
    if found is not None:
        note = " (Docker does not answer here)" if choice == "auto" and found.name != "docker" else ""
        print(f"engine: {found}{note}", file=out, flush=True)
        run.engine = found.name
        return found.name
    if not run.dry_run:
        engines.require(choice, purpose)
    run.engine = "docker" if choice == "auto" else choice
    print(f"engine: none answers here; showing what {run.engine} would run", file=out, flush=True)
    return run.engine


def build(repository: str = "augment", variant: str = "cpu", run: Runner | None = None,
          network: str | None = None, *, engine: str = "auto", torch_index_url: str | None = None,
          base_image: str | None = None) -> list[str]:
    """Build the image here with Docker or podman; return the local ``repository:tag`` names.

    Args:
        engine: ``auto`` (Docker, else podman), ``docker`` or ``podman``; the one used is said.
        network: the build's network (in SageMaker Studio ``sagemaker``, by default).
        torch_index_url, base_image: see :func:`build_command`.

    Raises:
        UsageError: no engine answers here (not in a dry run).
        BuildFailed: the build failed.
    """
    run = run or Runner()
    name = engine_for(engine, run)
    tags = image_tags(variant)
    if network is None and in_studio():
        network = "sagemaker"  # Studio's Docker access needs the sagemaker network
    run(build_command(repository, tags, variant, network, engine=name, torch_index_url=torch_index_url,
                      base_image=base_image))
    names = [f"{repository}:{t}" for t in tags]
    found = None if run.dry_run else engines.find(name)
    if found is not None:  # every MB is pulled at the start of every job
        try:
            size = f"{found.image_size(names[0]) / 1e9:.2f} GB"
        except UsageError:  # built elsewhere than the engine's own store (a buildx builder without --load)
            size = f"not among {found.name}'s local images"
        print(f"built: {', '.join(names)} ({size})", file=run.out or sys.stdout, flush=True)
    return names


def push(target: ImageTarget, variant: str = "cpu", run: Runner | None = None, boto_session: Any = None, *,
         engine: str = "auto") -> str:
    """Create the repository, log in (password on stdin), tag and push; return the image URI.

    A dry ``run`` sends no request: it prints every step, the ECR calls as the AWS CLI
    commands that do the same, with the target's placeholders where STS would supply a value.

    Raises:
        CredentialsError: no usable AWS credentials (not in a dry run), said first, as every
            command that needs AWS says it.
        UsageError: no engine answers (not in a dry run).
        BuildFailed: an engine's step failed.
    """
    run = run or Runner()
    if not run.dry_run:
        boto_session = boto_session or aws.session(target.region)
        aws.require_credentials(f"pushing to ECR in {target.region}", boto_session)
    name = engine_for(engine, run, "pushing the image")  # before any request: a repository made for nothing
    if run.dry_run:
        run.show(create_repository_command(target.repository, target.region), note="unless it exists")
        run.show(["aws", "ecr", "get-login-password", "--region", target.region],
                 login_command(target.registry, name))
    else:
        with aws.translated(f"pushing to ECR in {target.region}"):
            ecr = boto_session.client("ecr", region_name=target.region)
            ensure_repository(ecr, target.repository)
            registry, password = registry_credentials(ecr)
        run(login_command(registry, name), stdin=password)
    tags = image_tags(variant)
    for tag in tags:
        for cmd in push_commands(f"{target.repository}:{tag}", target.uri(tag), name):
            run(cmd)
    return target.uri(tags[0])
