"""torchvision's private names: all behind augment._torchvision, each working here, and each
present, with the same arguments, in every torchvision release the package declares."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import PIL.Image
import pytest
from torchvision.transforms import v2
from torchvision.transforms.v2 import InterpolationMode

from augment import _torchvision as tvp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "augment"


def test_every_private_name_behaves_as_augment_relies_on():
    assert tvp.compute_resized_output_size((100, 200), [50], None) == [50, 100]
    assert tvp.compute_resized_output_size((100, 200), [50], 80) == [40, 80]
    assert tvp.check_interpolation(InterpolationMode.NEAREST) == InterpolationMode.NEAREST
    assert tvp.check_interpolation(2) == InterpolationMode.BILINEAR  # PIL's int code, as torchvision maps it
    assert isinstance(tvp.do_native_uint8_resize_on_cpu(InterpolationMode.BILINEAR), bool)
    rotate = v2.RandomRotation(10, fill=(10, 20, 30))
    fill = tvp.get_fill(tvp.fill_of(rotate), PIL.Image.Image)
    assert tvp.parse_fill(fill, PIL.Image.new("RGB", (4, 4)))["fillcolor"] == (10, 20, 30)
    assert issubclass(v2.RandomHorizontalFlip, tvp.RandomApplyTransform)
    assert not issubclass(v2.RandomResizedCrop, tvp.RandomApplyTransform)
    for policy in (v2.AutoAugment(), v2.RandAugment(), v2.TrivialAugmentWide(), v2.AugMix()):
        assert callable(getattr(policy, tvp.attribute(policy, "apply_policy_op")))
    assert callable(getattr(v2.AugMix(), tvp.attribute(v2.AugMix(), "sample_dirichlet")))


def test_a_missing_private_name_is_one_clear_import_error():
    with pytest.raises(ImportError, match=r"torchvision's private torchvision\.transforms\.v2\._utils\._gone "
                                          r"\(why\).*install torchvision>=0\.24,<0\.30"):
        tvp.resolve("torchvision.transforms.v2._utils", "_gone", "why")
    with pytest.raises(ImportError, match=r"RandomHorizontalFlip\._fill .*install torchvision"):
        tvp.fill_of(v2.RandomHorizontalFlip())


def _private_uses(path: Path) -> list[str]:
    """Private torchvision names imported by ``path``, and private attributes of the table read there."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    attributes = {name for name, _ in tvp.ATTRIBUTES.values()}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torchvision":
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private or any(part.startswith("_") for part in node.module.split(".")):
                names = ", ".join(a.name for a in node.names)
                found.append(f"{path.name}:{node.lineno}: from {node.module} import {names}")
        elif isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("torchvision.") and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr in attributes:
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_nothing_else_uses_a_private_torchvision_name():
    found = [use for path in sorted(PACKAGE.rglob("*.py")) if path.name != "_torchvision.py"
             for use in _private_uses(path)]
    assert not found, "private torchvision names belong in augment/_torchvision.py:\n" + "\n".join(found)


def test_the_scan_finds_a_private_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from torchvision.transforms.v2._utils import _get_fill\nx = t._fill\n")
    assert len(_private_uses(probe)) == 2


def _declared_minors() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    low, high = re.search(r'"torchvision>=0\.(\d+),<0\.(\d+)"', text).groups()
    assert f">=0.{low},<0.{high}" == tvp.RANGE, "augment._torchvision.RANGE says what pyproject.toml declares"
    return [f"0.{minor}" for minor in range(int(low), int(high))]


def _download(version: str, folder: Path) -> Path:
    """The release's newest patch wheel for CPython 3.11 on x86-64 Linux, from the package index
    (this machine's pip is capped at the tested release: the cap is lifted for the download)."""
    env = {**os.environ, "PIP_CONSTRAINT": os.devnull}
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
           "--python-version", "3.11", "--platform", "manylinux1_x86_64", "--platform", "manylinux_2_17_x86_64",
           "--platform", "manylinux_2_28_x86_64", "-d", str(folder), f"torchvision=={version}.*"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    wheels = sorted(folder.glob(f"torchvision-{version}.*.whl"))
    assert done.returncode == 0 and wheels, f"cannot download torchvision {version}: {done.stderr[-600:]}"
    return wheels[-1]


def _arguments(function: object) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


@pytest.mark.slow
@pytest.mark.parametrize("version", _declared_minors())
def test_every_declared_release_has_the_private_names(version, tmp_path_factory):
    """Each minor release in ``torchvision>=0.24,<0.30`` (its newest patch), read from its wheel:
    every private function with the arguments augment passes, the private class, the private
    attributes assigned or defined where augment reads them, the public ``make_params``, and
    geometry kernels that move keypoints without clamping them to the image (whose arrival,
    in 0.24, is the range's floor: augment.labels tells a keypoint that left the image by
    where it went)."""
    folder = tmp_path_factory.getbasetemp() / "torchvision-wheels"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(_download(version, folder)) as wheel:
        def tree(module: str) -> ast.Module:
            return ast.parse(wheel.read(module.replace(".", "/") + ".py"))

        for key, (module, name, _why) in tvp.PRIVATE.items():
            defined = {n.name: n for n in ast.walk(tree(module))
                       if isinstance(n, ast.FunctionDef | ast.ClassDef)}
            assert name in defined, f"torchvision {version}: {module}.{name} is gone"
            if isinstance(defined[name], ast.FunctionDef):
                args = [a.arg for a in (*defined[name].args.posonlyargs, *defined[name].args.args)]
                assert args == _arguments(getattr(tvp, key)), f"torchvision {version}: {module}.{name}{args}"
        geometry = ast.unparse(tree("torchvision.transforms.v2._geometry"))
        assert geometry.count("self._fill = ") >= 2, f"torchvision {version}: RandomRotation/RandomAffine._fill"
        policies = ast.unparse(tree("torchvision.transforms.v2._auto_augment"))
        for name, _why in (tvp.ATTRIBUTES["apply_policy_op"], tvp.ATTRIBUTES["sample_dirichlet"]):
            assert f"def {name}(" in policies, f"torchvision {version}: {name} is gone"
        assert "def make_params(" in ast.unparse(tree("torchvision.transforms.v2._transform")), version
        kernels = ast.unparse(tree("torchvision.transforms.v2.functional._geometry"))
        assert "clamp_keypoints(" not in kernels, f"torchvision {version} clamps keypoints to the image"
