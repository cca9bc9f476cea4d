"""Build and push the processing image, from a laptop, from SageMaker Studio, or not at all.

* **A local engine**: Docker (a laptop, or a Studio domain with Docker access), or podman
  where Docker is absent (see :mod:`augment.engines`): ``build`` with argument lists,
  never a shell string; in Studio with ``--network sagemaker``.
* **CodeBuild** (Studio without Docker): the build context is zipped to S3, a CodeBuild
  project builds and pushes, and the build is polled with its logs shown.
* **No build**: jobs run on the AWS PyTorch Deep Learning Container for the region,
  with this package shipped as code (:func:`dlc_image_uri`).

The ECR repository is created idempotently; the registry password comes from
``get_authorization_token`` and goes to ``docker login`` on stdin, never on a command
line, in a log or in ``--dry-run`` output. Build arguments serve a mirror or a machine without
Docker Hub: ``torch_index_url`` (the index torch and torchvision come from; the other pins still
come from PyPI) and ``base_image`` (the Python 3.11 image the stages start from). Tags come
from the package version and the git revision (``0.2.0-4296448``, ``-dirty`` when the tree has
uncommitted changes), never ``latest`` alone.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augment import __version__, aws, engines
from augment.errors import AugmentError, UsageError

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = "container/Dockerfile"
VARIANTS = {"cpu": "https://download.pytorch.org/whl/cpu", "gpu": "https://download.pytorch.org/whl/cu128"}
CONTEXT_FILES = ("pyproject.toml", "setup.py", "README.md", "container", "augment")
STUDIO_METADATA = Path("/opt/ml/metadata/resource-metadata.json")
REDACTED = "<password from ecr:GetAuthorizationToken, on stdin>"
ACCOUNT_PLACEHOLDER = "<account>"
REGION_PLACEHOLDER = "<region>"
"""What a dry run shows where an AWS call would supply the value (it sends no request)."""


class BuildFailed(AugmentError):
    """A docker or CodeBuild step failed; the message says which."""


def git_revision(root: Path = ROOT) -> str:
    """Short git revision of ``root``, with ``-dirty`` for uncommitted changes; ``nogit`` outside git."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "nogit"
    return f"{rev}-dirty" if dirty else rev


def image_tags(variant: str = "cpu", revision: str | None = None) -> list[str]:
    """Tags of a build: ``<version>-<revision>[-gpu]`` (unique) and ``<version>[-gpu]``."""
    if variant not in VARIANTS:
        raise UsageError(f"--variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    suffix = "" if variant == "cpu" else f"-{variant}"
    revision = revision or git_revision()
    return [f"{__version__}-{revision}{suffix}", f"{__version__}{suffix}"]


def ecr_uri(account: str, region: str, repository: str, tag: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"


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


@dataclass
class Runner:
    """Runs argument lists, or with ``dry_run`` only prints them.

    A step's secret goes to the process on stdin; printed commands never contain it.
    """

    dry_run: bool = False
    out: Any = None
    ran: list[list[str]] = field(default_factory=list)
    engine: str | None = None
    """The container engine its steps run (set by :func:`engine_for`, said once)."""

    def __call__(self, cmd: list[str], stdin: str | None = None) -> None:
        out = self.out or sys.stdout
        shown = " ".join(_quote(c) for c in cmd) + (f"   # stdin: {REDACTED}" if stdin is not None else "")
        print(("would run: " if self.dry_run else "+ ") + shown, file=out, flush=True)
        self.ran.append(list(cmd))
        if self.dry_run:
            return
        result = subprocess.run(cmd, input=stdin, text=True)
        if result.returncode != 0:
            raise BuildFailed(f"`{' '.join(cmd[:2])}` failed with exit status {result.returncode}")

    def show(self, *pipeline: list[str], note: str | None = None) -> None:
        """In a dry run, print a step that a real run does through an AWS API (or a shell
        pipeline), as the AWS CLI command that does the same; a real run prints nothing."""
        if not self.dry_run:
            return
        shown = " | ".join(" ".join(_quote(c) for c in cmd) for cmd in pipeline)
        print(f"would run: {shown}" + (f"   # {note}" if note else ""), file=self.out or sys.stdout, flush=True)
        self.ran.extend(list(cmd) for cmd in pipeline)


URL_USERINFO = re.compile(r"://[^/@\s]+@")


def _quote(arg: str) -> str:
    """``arg`` as a shell would need it, with the user and password of a URL (a private
    index's token, ``https://aws:TOKEN@...`` or ``https://TOKEN@...``) shown as
    ``<redacted>``: printed commands end up in logs and in saved notebooks."""
    arg = URL_USERINFO.sub("://<redacted>@", arg)
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def create_repository_command(repository: str, region: str) -> list[str]:
    """The AWS CLI equivalent of :func:`ensure_repository`'s call (what a dry run shows)."""
    return ["aws", "ecr", "create-repository", "--repository-name", repository, "--image-scanning-configuration",
            "scanOnPush=true", "--image-tag-mutability", "MUTABLE", "--region", region]


def ensure_repository(ecr: Any, name: str) -> str:
    """Create the ECR repository if missing (idempotent); return its URI."""
    try:
        repo = ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True},
                                     imageTagMutability="MUTABLE")["repository"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    return repo["repositoryUri"]


def registry_credentials(ecr: Any) -> tuple[str, str]:
    """(registry host, password) from ``get_authorization_token``."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if user != "AWS" or not password:
        raise BuildFailed("unexpected ECR authorization token")
    return data["proxyEndpoint"].removeprefix("https://"), password


def in_studio() -> bool:
    """True inside a SageMaker Studio app (its resource metadata file exists)."""
    return STUDIO_METADATA.is_file()


@dataclass
class ImageTarget:
    """Where an image goes: account, region and repository (from the session by default)."""

    account: str
    region: str
    repository: str = "augment"

    @classmethod
    def from_session(cls, boto_session: Any = None, repository: str = "augment", account: str | None = None,
                     region: str | None = None, dry_run: bool = False) -> ImageTarget:
        """The target for ``account`` and ``region``, each from the session where not given:
        the region from its configuration, the account from STS ``GetCallerIdentity``.

        With ``dry_run`` no request is sent: a missing account is ``<account>``, and a
        region neither given nor configured ``<region>``.

        Raises:
            CredentialsError: no region, or no usable credentials to ask STS for the account.
        """
        boto_session = boto_session or aws.session(region)
        region = region or boto_session.region_name
        if dry_run:
            return cls(account or ACCOUNT_PLACEHOLDER, region or REGION_PLACEHOLDER, repository)
        region = aws.require_region("the image's registry", boto_session)
        if not account:
            with aws.translated("the account of the image's registry; or pass --account"):
                account = boto_session.client("sts").get_caller_identity()["Account"]
        return cls(str(account), region, repository)

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def uri(self, tag: str) -> str:
        return ecr_uri(self.account, self.region, self.repository, tag)


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


# --- CodeBuild, for Studio without Docker -----------------------------------------------------

BUILDSPEC = """\
version: 0.2
phases:
  pre_build:
    commands:
      - aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin $REGISTRY
  build:
    commands:
      - docker build -f container/Dockerfile --build-arg TORCH_INDEX_URL=$TORCH_INDEX_URL
        --build-arg VERSION=$VERSION --build-arg GIT_REVISION=$GIT_REVISION -t $IMAGE_URI -t $IMAGE_URI_VERSION .
  post_build:
    commands:
      - docker push $IMAGE_URI
      - docker push $IMAGE_URI_VERSION
"""


def source_files(folder: Path) -> list[Path]:
    """The files under ``folder`` that belong in a build context or shipped code, sorted:
    not bytecode, and not extension modules built here for this machine's Python (the
    image compiles its own; shipped code runs torchvision's kernels instead)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".so", ".pyd", ".pyc"))


def context_zip(root: Path = ROOT) -> bytes:
    """The build context (package, Dockerfile, pyproject, README) as a zip, in a stable order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in CONTEXT_FILES:
            path = root / name
            files = [path] if path.is_file() else source_files(path)
            for f in files:
                info = zipfile.ZipInfo(f.relative_to(root).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, f.read_bytes())
        zf.writestr("buildspec.yml", BUILDSPEC)
    return buf.getvalue()


def codebuild(target: ImageTarget, bucket: str, role_arn: str, variant: str = "cpu", boto_session: Any = None,
              project: str = "augment-image", poll: float = 10.0, timeout: float = 3600.0,
              out: Any = None, dry_run: bool = False) -> str:
    """Build and push with AWS CodeBuild; return the image URI.

    Zips the context to ``s3://bucket/augment/codebuild/<revision>.zip``, creates the
    project if missing, starts a build, polls it and shows its logs. With ``dry_run``
    it sends no request and prints each call as the AWS CLI command that does the same.

    Raises:
        BuildFailed: the build ended in another state than ``SUCCEEDED``.
        CredentialsError: no usable AWS credentials (not in a dry run).
    """
    out = out or sys.stdout
    tags = image_tags(variant)
    key = f"augment/codebuild/{tags[0]}.zip"
    env = {"AWS_REGION": target.region, "REGISTRY": target.registry,
           "TORCH_INDEX_URL": VARIANTS[variant], "VERSION": __version__, "GIT_REVISION": git_revision(),
           "IMAGE_URI": target.uri(tags[0]), "IMAGE_URI_VERSION": target.uri(tags[1])}
    if dry_run:
        _codebuild_dry_run(target, bucket, key, role_arn, project, env, Runner(dry_run=True, out=out))
        return env["IMAGE_URI"]
    with aws.translated("CodeBuild"):
        return _codebuild(target, bucket, key, role_arn, project, env, boto_session, poll, timeout, out)


def _codebuild_dry_run(target: ImageTarget, bucket: str, key: str, role_arn: str, project: str, env: dict[str, str],
                       run: Runner) -> None:
    run.show(create_repository_command(target.repository, target.region), note="unless it exists")
    run.show(["aws", "s3", "cp", "<build context zip>", f"s3://{bucket}/{key}"],
             note=f"{len(context_zip()) / 1e6:.1f} MB: {', '.join(CONTEXT_FILES)}, buildspec.yml")
    run.show(["aws", "codebuild", "create-project", "--name", project, "--source",
              f"type=S3,location={bucket}/{key}", "--artifacts", "type=NO_ARTIFACTS", "--environment",
              "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_MEDIUM,"
              "privilegedMode=true", "--service-role", role_arn, "--region", target.region], note="unless it exists")
    overrides = " ".join(f"name={k},value={v},type=PLAINTEXT" for k, v in env.items())
    run.show(["aws", "codebuild", "start-build", "--project-name", project, "--source-location-override",
              f"{bucket}/{key}", "--environment-variables-override", overrides, "--region", target.region])
    run.show(["aws", "codebuild", "batch-get-builds", "--ids", "<build id>", "--region", target.region],
             note="polled until the build ends; its logs are shown")


def _codebuild(target: ImageTarget, bucket: str, key: str, role_arn: str, project: str, env: dict[str, str],
               boto_session: Any, poll: float, timeout: float, out: Any) -> str:
    session = boto_session or aws.session(target.region)
    ensure_repository(session.client("ecr", region_name=target.region), target.repository)
    session.client("s3").put_object(Bucket=bucket, Key=key, Body=context_zip())
    cb = session.client("codebuild", region_name=target.region)
    existing = {p["name"] for p in cb.batch_get_projects(names=[project]).get("projects", [])}
    if project not in existing:
        cb.create_project(
            name=project, source={"type": "S3", "location": f"{bucket}/{key}"}, artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_MEDIUM", "privilegedMode": True},
            serviceRole=role_arn, logsConfig={"cloudWatchLogs": {"status": "ENABLED"}},
        )  # fmt: skip
    build_id = cb.start_build(
        projectName=project, sourceLocationOverride=f"{bucket}/{key}",
        environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in env.items()],
    )["build"]["id"]  # fmt: skip
    print(f"codebuild: started {build_id}", file=out, flush=True)
    deadline = time.monotonic() + timeout
    shown = 0
    while True:
        info = cb.batch_get_builds(ids=[build_id])["builds"][0]
        shown = _show_build_logs(session, info, shown, out)
        status = info["buildStatus"]
        if status != "IN_PROGRESS":
            break
        if time.monotonic() > deadline:
            raise BuildFailed(f"CodeBuild {build_id} still running after {timeout:.0f} s")
        print(f"codebuild: {info.get('currentPhase', status)}", file=out, flush=True)
        time.sleep(poll)
    if status != "SUCCEEDED":
        raise BuildFailed(f"CodeBuild {build_id} ended {status}; see its logs above or in the CodeBuild console")
    print(f"codebuild: {status}: {env['IMAGE_URI']}", file=out, flush=True)
    return env["IMAGE_URI"]


def _show_build_logs(session: Any, info: dict[str, Any], shown: int, out: Any) -> int:
    logs = info.get("logs") or {}
    group, stream = logs.get("groupName"), logs.get("streamName")
    if not group or not stream:
        return shown
    client = session.client("logs")
    try:
        events = client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    except client.exceptions.ResourceNotFoundException:
        return shown
    for event in events[shown:]:
        print(f"[codebuild] {event['message'].rstrip()}", file=out, flush=True)
    return len(events)


# --- no build ----------------------------------------------------------------------------------


def dlc_image_uri(region: str, framework_version: str = "2.6", py_version: str = "py312",
                  instance_type: str = "ml.m5.xlarge") -> str:
    """The AWS PyTorch Deep Learning Container (CPU) for ``region``, resolved by the SDK.

    Run jobs on it with ``ship_code=True``: the package then travels as code. Its
    runtime dependencies (torch, torchvision, numpy, Pillow, PyYAML, tqdm) are part of
    that image, so the job needs no pip access.

    Raises:
        UsageError: a region the SDK knows no such image in.
    """
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve("pytorch", region=region, version=framework_version, py_version=py_version,
                                   instance_type=instance_type, image_scope="training")
    except ValueError as e:  # the SDK's table of regions lacks it: a typo, or a region newer than the SDK
        if not str(e).startswith("Unsupported region"):
            raise
        from augment.text import brief

        raise UsageError(f"--region {brief(region)}: no AWS PyTorch Deep Learning Container is known there; name an "
                         "AWS region such as us-east-1 (a region newer than the sagemaker package needs its upgrade)"
                         ) from None


def entrypoint_of(dockerfile: Path = ROOT / DOCKERFILE) -> list[str]:
    """The exec-form ``ENTRYPOINT`` of the Dockerfile's final stage.

    Raises:
        UsageError: none, or not in exec (JSON) form.
    """
    entry: list[str] | None = None
    for line in dockerfile.read_text().splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            entry = None  # a new stage starts
        elif line.upper().startswith("ENTRYPOINT"):
            try:
                value = json.loads(line[len("ENTRYPOINT"):].strip())
            except json.JSONDecodeError:
                raise UsageError(f"{dockerfile}: ENTRYPOINT must be in exec form (a JSON list)") from None
            entry = [str(v) for v in value]
    if not entry:
        raise UsageError(f"{dockerfile}: the final stage has no ENTRYPOINT")
    return entry


def __getattr__(name: str) -> Any:
    # try_image runs a job, so it lives above the launchers (augment.jobs.trial), not in
    # this module: the launchers import container (source files, image URIs), never the
    # reverse. ``augment.container.try_image`` (notebook 01) still answers.
    if name == "try_image":
        import importlib

        return importlib.import_module("augment.jobs.trial").try_image
    raise AttributeError(f"module 'augment.container' has no attribute {name!r}")
