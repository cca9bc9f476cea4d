"""Off the happy path of launching: run_job from a plain script, a relative --workdir, an
output location already used or overlapping the input, and messages that name what the
user can act on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

from augment.samples import list_samples, samples_dir

ROOT = Path(__file__).resolve().parents[1]


def _photos(folder: Path, n: int = 3, side: int = 64) -> Path:
    """A folder of ``n`` small real photos, as a reader's ``photos/``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in list_samples()[:n]:
        with PIL.Image.open(samples_dir() / name) as img:
            img.thumbnail((side, side))
            img.save(folder / name, quality=90)
    return folder


def _env() -> dict[str, str]:
    """The child finds this checkout's package, as the tests do."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
            "PYTHONWARNINGS": "ignore"}


# --- run_job from a plain script (issue 19, item 8) --------------------------------------


def _readme_run_job_lines() -> str:
    """The README's Python example, from its first line to its ``run_job`` call, as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    block = next(b for b in blocks if "augment.run_job(" in b)
    lines = block.splitlines()
    end = next(i for i, line in enumerate(lines) if "augment.run_job(" in line)
    return "\n".join(lines[: end + 1]) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_the_readme_run_job_example_runs_as_a_plain_script(how, tmp_path):
    """No ``if __name__ == "__main__":`` guard, and ``python -``: the workers must not re-run
    the caller's script (today they die, and the job fails with "a worker process died")."""
    code = _readme_run_job_lines()
    assert "__main__" not in code and "workers=2" in code, "the example starts worker processes, unguarded"
    _photos(tmp_path / "photos")
    code += "print('outputs:', summary.written)\n"
    if how == "file":
        (tmp_path / "example.py").write_text(code)
        result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                                env=_env(), timeout=300)
    else:
        result = subprocess.run([sys.executable, "-"], input=code, cwd=tmp_path, capture_output=True, text=True,
                                env=_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "outputs: 6" in result.stdout, "3 photos x 2 copies of light"
    assert result.stdout.count("outputs:") == 1, "the script ran once, not again in each worker"
    assert len(list((tmp_path / "out").glob("*.aug[01].jpg"))) == 6


# --- a relative --workdir (issue 19, item 1) ---------------------------------------------


def _augment(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augment", *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(), timeout=300)


@pytest.mark.slow
def test_run_with_a_relative_workdir_and_a_spec_file(tmp_path):
    """Each host runs in its own root: a relative AUGMENT_OPT_ML pointed nowhere (today every
    host fails: with a spec file "--spec is required", with a preset "--input-dir ... not a
    directory")."""
    _photos(tmp_path / "photos", n=2)
    (tmp_path / "my.yaml").write_text("version: 1\nseed: 3\ncopies: 1\nops: [RandomHorizontalFlip]\n")
    result = _augment("run", "--backend", "local", "--input", "photos", "--output", "out", "--spec", "my.yaml",
                      "--workdir", "wd", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("*.aug0.jpg"))) == 2
    roots = list((tmp_path / "wd").glob("*/algo-1/opt/ml"))
    assert len(roots) == 1 and (roots[0] / "processing" / "output" / "_augment" / "spec.yaml").is_file(), \
        "the host's root is kept under the relative --workdir"
