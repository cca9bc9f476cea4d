"""The library's messages name the parameters of its Python API; the command line names its
flags, mapped in one place (augment.cli._errors.in_command_terms)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from augment.errors import UsageError

PACKAGE = Path(__file__).resolve().parent.parent / "augment"
# a flag, not inside a word, an option of its own (--no-x) or a quoted command
_FLAG = re.compile(r"(?<![\w`-])--[a-z][a-z-]+")
# a command of the CLI quoted as advice keeps its flags: `augment run --input`, augment run --input
_COMMAND = re.compile(r"`[^`]*`|\baugment [a-z-]+(?: --?[a-z][a-z-]*)+")
NOT_YET = frozenset({
    # modules whose messages still name flags (to convert: plan, the image tooling)
    "augment/sagemaker_sdk.py", "augment/container/_sources.py", "augment/plan/_data.py", "augment/plan/_estimate.py",
    "augment/plan/_measure.py",
})
# where the library speaks for another program or is the command line's own: not library messages
OUTSIDE = ("augment/cli/", "augment/pipeline.py", "augment/variant.py", "augment/labels/")


def _raised_texts(path: Path):
    """Each string constant inside a ``raise`` statement's exception, with its line."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for n in ast.walk(node.exc):
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    yield n.lineno, n.value


def _flags_raised(rel: str) -> list[str]:
    return [f"{rel}:{line}: {text!r}" for line, text in _raised_texts(PACKAGE.parent / rel)
            if _FLAG.search(_COMMAND.sub("", text))]


def test_library_messages_name_parameters_not_flags():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if not rel.startswith(OUTSIDE) and rel not in NOT_YET:
            found += _flags_raised(rel)
    assert not found, "a library message names a command-line flag:\n" + "\n".join(found)


def test_the_list_of_modules_not_yet_converted_only_shrinks():
    converted = [rel for rel in sorted(NOT_YET) if not _flags_raised(rel)]
    assert not converted, f"these raise no flag any more: take them off NOT_YET: {converted}"


@pytest.mark.parametrize(("command", "message", "shown"), [
    ("run", "instance_count=3 exceeds quota=2 (instances at once)",
     "--instance-count 3 exceeds --quota 2 (instances at once)"),
    ("run", "mode='x': must be one of standalone, sharded", "--mode 'x': must be one of standalone, sharded"),
    ("run", "ship_code=True is not supported with mode=batched yet",
     "--ship-code is not supported with --mode batched yet"),
    ("run", "input=s3://b/in/: no objects found", "--input s3://b/in/: no objects found"),
    ("run", "keep_original=False; lower max_pixels=", "--no-keep-original; lower --max-pixels"),
    ("process", "pass input_dir=PATH, or resume=True", "pass --input-dir PATH, or --resume"),
    ("process", "output_dir=/x: cannot write there; use a new output_dir=.",
     "--output-dir /x: cannot write there; use a new --output-dir."),
    ("plan", "max_cost=nan: must be a finite number >= 0", "--max-cost nan: must be a finite number >= 0"),
    ("replay", "give exactly one of record=N and source=PATH (with copy=C)",
     "give exactly one of --record N and --source PATH (with --copy C)"),
    ("replay", "no spec.yaml beside the manifest m; pass spec= with the job's spec",
     "no spec.yaml beside the manifest m; pass --spec with the job's spec"),
    ("preview", "paths=: x.jpg not under y", "--paths: x.jpg not under y"),
    ("process", "holds a job started with the input filters exclude='*.json'",
     "holds a job started with the input filters --exclude='*.json'"),
    # what the command has no option for, a spec's field, and a quoted command stay as written
    ("replay", "input_uri=s3://x: output.format=png, `augment run --input x`",
     "input_uri=s3://x: output.format=png, `augment run --input x`"),
])  # fmt: skip
def test_the_command_line_names_its_flags(command, message, shown):
    from augment.cli._errors import in_command_terms

    assert in_command_terms(message, command) == shown


def test_a_library_call_names_the_parameter(tmp_path):
    from augment.engine import run_job
    from augment.jobs import LocalBackend, launch
    from augment.samples import samples_dir

    with pytest.raises(UsageError, match=r"^invalid job option:\n  - copies=0: must be"):
        launch(LocalBackend(), "light", str(samples_dir()), str(tmp_path / "out"), copies=0)
    with pytest.raises(UsageError, match=r"^workers=0: must be"):
        run_job("light", samples_dir(), tmp_path / "o", workers=0, progress="off")
    with pytest.raises(UsageError, match=r"^mode='fast': must be one of "):
        launch(LocalBackend(), "light", str(samples_dir()), str(tmp_path / "out"), mode="fast")


def test_a_command_names_the_flag_for_the_same_refusal(tmp_path, capsys):
    from augment.cli import main
    from augment.samples import samples_dir

    assert main(["process", "--spec", "light", "--input-dir", str(samples_dir()), "--output-dir",
                 str(tmp_path / "o"), "--workers", "1", "--progress", "off", "--verify"]) == 2
    assert "--verify checks the work of an earlier run: pass it with --resume" in capsys.readouterr().err
