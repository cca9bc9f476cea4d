"""Shared fixtures: real sample photos, at full size and shrunk for speed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import pytest

# moto's request recorder writes to the working folder unless told otherwise (read when
# moto is first imported): keep it out of the checkout.
os.environ.setdefault("MOTO_RECORDER_FILEPATH", os.path.join(tempfile.gettempdir(), f"moto_recording-{os.getpid()}"))
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from augment.images import Source, open_image
from augment.kernels import NATIVE
from augment.pipeline import Pipeline, derive_seed
from augment.samples import list_samples, samples_dir

needs_native = pytest.mark.skipif(NATIVE is None and bool(os.environ.get("AUGMENT_ALLOW_NO_NATIVE")),
                                  reason="compares with the compiled kernels, which this install lacks")
"""For tests that compare with ``augment._native``. Without it they fail (CI must not lose
the compiled kernels silently) unless ``AUGMENT_ALLOW_NO_NATIVE`` is set."""


@pytest.fixture(scope="session")
def small_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled photos shrunk to at most 160 px (JPEG q 90), in a read-only input folder.

    Real photographs (brick.jpg is grayscale) at a size that keeps per-op tests fast.
    """
    root = tmp_path_factory.mktemp("small_samples")
    for name in list_samples():
        with PIL.Image.open(samples_dir() / name) as img:
            img.thumbnail((160, 160))
            img.save(root / name, quality=90)
    return root


@pytest.fixture()
def inputs(tmp_path: Path, small_samples: Path) -> Path:
    """A fresh copy of the small samples that a test may add files to."""
    dst = tmp_path / "in"
    shutil.copytree(small_samples, dst)
    return dst


@pytest.fixture(scope="session")
def rgb_image(small_samples: Path) -> tv_tensors.Image:
    with PIL.Image.open(small_samples / "chelsea.jpg") as img:
        return tv_tensors.Image(F.pil_to_tensor(img.convert("RGB")))


@pytest.fixture(scope="session")
def gray_image(small_samples: Path) -> tv_tensors.Image:
    with PIL.Image.open(small_samples / "brick.jpg") as img:
        assert img.mode == "L"
        return tv_tensors.Image(F.pil_to_tensor(img))


def through_the_job_path(fast: Pipeline, reference: Pipeline, copies: int, spec_seed: int) -> Iterator[tuple]:
    """Every bundled photo at full size, ``copies`` seeds each, as a job passes it (a
    :class:`~augment.images.Source` for one output) through ``fast`` and through
    ``reference``: yields (photo, the fast path's source, (image, records),
    (reference image, records))."""
    for photo in list_samples():
        data = (samples_dir() / photo).read_bytes()
        for copy in range(copies):
            seed = derive_seed(spec_seed, photo, copy)
            source: Source = open_image(data)
            yield photo, source, fast.apply(source, seed), reference.apply(open_image(data), seed)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except the job's metadata, by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "_augment" not in p.parts}



def pytest_configure(config: pytest.Config) -> None:
    """Pin the ``python3`` kernel to this Python, and, for an nbval pass over the
    notebooks (whose cells get no fixtures), start moto's server for the session so that
    any AWS call a notebook makes goes to it."""
    stack = contextlib.ExitStack()
    config.add_cleanup(stack.close)
    _pin_python3_kernel(stack)
    _isolate_cache(stack)
    if config.getoption("nbval", default=False) or config.getoption("nbval_lax", default=False):
        from tests.aws import moto_server

        stack.enter_context(moto_server())


def _isolate_cache(stack: contextlib.ExitStack) -> None:
    """Point ``AUGMENT_CACHE_DIR`` (the measured throughput and output ratio that plans and
    launches read) at an empty folder for the whole run, notebook kernels included (they
    inherit the environment): a developer's own measurements would change what tests see."""
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="augment-cache-"))
    saved = os.environ.get("AUGMENT_CACHE_DIR")
    os.environ["AUGMENT_CACHE_DIR"] = folder
    stack.callback(lambda: os.environ.pop("AUGMENT_CACHE_DIR", None) if saved is None
                   else os.environ.__setitem__("AUGMENT_CACHE_DIR", saved))


def _pin_python3_kernel(stack: contextlib.ExitStack) -> None:
    """Papermill and nbval start kernels by name: make ``python3`` this interpreter's (a
    kernelspec on ``JUPYTER_PATH``, which comes before the user's and the system's)."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="augment-kernels-")))
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(folder), saved) if p)
    stack.callback(lambda: os.environ.pop("JUPYTER_PATH") if saved is None
                   else os.environ.__setitem__("JUPYTER_PATH", saved))


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    """moto's server on 127.0.0.1 as the AWS peer (S3, ECR, STS, SageMaker, Logs, CodeBuild)."""
    from tests.aws import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture()
def bucket(aws: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on moto, named after the test."""
    import boto3

    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    boto3.client("s3").create_bucket(Bucket=name)
    return name
