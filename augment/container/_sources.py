"""What the image is built from and called: the build context (the package, the Dockerfile,
pyproject, README, and CodeBuild's buildspec), its tags from the package version and the git
revision, and the entrypoint its Dockerfile declares. The SageMaker backend ships the same
source files as code (``ship_code``)."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

from augment import __version__
from augment.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "container/Dockerfile"
VARIANTS = {"cpu": "https://download.pytorch.org/whl/cpu", "gpu": "https://download.pytorch.org/whl/cu128"}
CONTEXT_FILES = ("pyproject.toml", "setup.py", "README.md", "container", "augment")


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
        raise UsageError(f"variant={variant!r}: must be one of {', '.join(VARIANTS)}")
    suffix = "" if variant == "cpu" else f"-{variant}"
    revision = revision or git_revision()
    return [f"{__version__}-{revision}{suffix}", f"{__version__}{suffix}"]


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
