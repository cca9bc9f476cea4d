"""Set-up: environment.yml agrees with pyproject.toml; the package data ships;
`make demo` works end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalise(reqs: list[str]) -> dict[str, str]:
    out = {}
    for text in reqs:
        req = Requirement(text)
        out[re.sub(r"[-_.]+", "-", req.name).lower()] = str(req.specifier)
    return out


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group
              if not r.startswith("augment[")]  # the package's own extras are listed by name
    declared = _normalise(project["dependencies"] + extras)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("python") for d in conda) and "pip" in conda
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert "-e ." in pip, "the environment installs the package itself"
    listed = _normalise([p for p in pip if p != "-e ."])
    assert listed == declared, "environment.yml and pyproject.toml disagree; update both together"


def test_declared_ranges_admit_the_tested_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = {Requirement(r).name: Requirement(r) for r in project["dependencies"]}
    assert reqs["torch"].specifier.contains("2.14.1")
    assert reqs["torchvision"].specifier.contains("0.29.1")


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"augment": "augment.cli:main"}


@pytest.mark.slow
def test_wheel_ships_presets_samples_and_licences(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("augment-*.whl")
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ["augment/presets/light.yaml", "augment/presets/strong.yaml", "augment/presets/defense.yaml",
                     "augment/samples/LICENSES.md", "augment/samples/photos/chelsea.jpg",
                     "augment/samples/photos/brick.jpg", "augment/samples/annotations.json",
                     "augment/plan/prices.json"]:
        assert required in names
    assert [n for n in names if n.startswith("augment/_native.") and n.endswith(".so")], "the compiled kernels"
    assert [n for n in names if n.startswith("augment/_jpeg.") and n.endswith(".so")], "partial JPEG decoding"
    assert not [n for n in names if n.startswith("augment/_vendor/")], "the vendored headers are for the build only"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_augments_the_samples(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(["make", "-s", "demo", f"DEMO_OUT={out}", f"VENV={Path(sys.prefix)}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, env={**os.environ})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4, "a short summary, as the README's Quick start shows; the description is --json's"
    assert re.fullmatch(r"job:       augment-sharded-[\d-]+-[0-9a-f]{6} Completed in [\d.]+ s", lines[0])
    assert re.fullmatch(r"augment: 7 inputs x 2 copies -> 14 outputs on 2 instances, 0 failed inputs, in [\d.]+ s "
                        r"\([\d.]+ outputs/s\)", lines[1])
    assert lines[2] == f"outputs:   {out}"
    assert lines[3] == (f"manifests: {out}/_augment/manifest-algo-1.jsonl, "
                        f"{out}/_augment/manifest-algo-2.jsonl")
    assert "[algo-1] augment:" in result.stderr and "[algo-2] augment:" in result.stderr
    assert len(list(out.glob("*.aug[01].jpg"))) == 14
    records = [json.loads(line) for h in (1, 2) for line in
               (out / "_augment" / f"manifest-algo-{h}.jsonl").read_text().splitlines()]
    assert len(records) == 14 and len({(r["source"], r["copy"]) for r in records}) == 14


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_installs_the_package_alone_and_make_test_the_dev_extras(tmp_path):
    def plan(target: str, *extra: str) -> str:  # what make would run in a fresh clone (a venv not made yet)
        result = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}", *extra], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    demo = plan("demo")
    assert re.search(r"pip install --quiet +-e \.$", demo, re.M) and "[dev]" not in demo, demo
    assert "[dev]" in plan("test") and "[dev]" in plan("test-fast")
    assert "-m 'not slow'" in plan("test-fast").replace('"', "'")
    cpu = plan("demo", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu -e ." in cpu
