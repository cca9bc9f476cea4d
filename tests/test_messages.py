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
# module-level texts that are another program's input, not a message
PROGRAMS = frozenset({"augment/container/_sources.py:BUILDSPEC"})
# where the library speaks for another program or is the command line's own: not library messages
OUTSIDE = ("augment/cli/", "augment/pipeline.py", "augment/variant.py", "augment/labels/")


def _raised_texts(path: Path):
    """Each string constant inside a ``raise`` statement's exception, with its line."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for n in ast.walk(node.exc):
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    yield n.lineno, n.value


def _constant_texts(path: Path, rel: str):
    """Each module-level text constant (``HOW_TO_REGION = "..."``), built into messages
    elsewhere: a string or f-string assigned to a name, not a list of arguments."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and f"{rel}:{t.id}" in PROGRAMS for t in targets):
                continue
            for n in ast.walk(node.value):
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    yield n.lineno, n.value


def _flags_named(rel: str) -> list[str]:
    path = PACKAGE.parent / rel
    return [f"{rel}:{line}: {text!r}" for line, text in [*_raised_texts(path), *_constant_texts(path, rel)]
            if _FLAG.search(_COMMAND.sub("", text))]


def test_library_messages_name_parameters_not_flags():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if not rel.startswith(OUTSIDE):
            found += _flags_named(rel)
    assert not found, "a library message names a command-line flag:\n" + "\n".join(found)


def test_the_scan_sees_raised_and_module_level_texts(tmp_path):
    """The scan is no vacuous pass: a flag raised, or in a message constant, is found."""
    global PACKAGE
    module = tmp_path / "augment" / "m.py"
    module.parent.mkdir()
    module.write_text('HOW = "pass --region"\nARGS = ["--x"]\n'
                      'def f():\n    raise ValueError(f"--copies {1}: bad; `augment run --input x`")\n')
    saved, PACKAGE = PACKAGE, tmp_path / "augment"
    try:
        found = _flags_named("augment/m.py")
    finally:
        PACKAGE = saved
    assert [f.split(": ", 1)[0] for f in found] == ["augment/m.py:4", "augment/m.py:1"]


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
    # plan's parameters that its options name otherwise (estimate's lists, compare's job)
    ("plan", "instance_types=: unknown instance type 'ml.x'", "--instance-type: unknown instance type 'ml.x'"),
    ("plan", "instance_counts=: a sharded job has at most 100", "--instance-count: a sharded job has at most 100"),
    ("plan", "startup_s=-1: must be", "--startup -1: must be"),
    ("plan", "job=/j.json: not a text file", "--compare /j.json: not a text file"),
    ("plan", "deadline=: cannot read 'soon' as a duration", "--deadline: cannot read 'soon' as a duration"),
    ("plan", "prices=api: the Price List API did not answer", "--prices api: the Price List API did not answer"),
    ("image", "region='mars-1': no AWS PyTorch container", "--region 'mars-1': no AWS PyTorch container"),
    ("image", "needed for the account of the image's registry; or pass account=",
     "needed for the account of the image's registry; or pass --account"),
    ("process", "holds a job started with the input filters exclude='*.json'",
     "holds a job started with the input filters --exclude='*.json'"),
    # what the command has no option for, a spec's field, and a quoted command stay as written
    ("replay", "input_uri=s3://x: output.format=png, `augment run --input x`",
     "input_uri=s3://x: output.format=png, `augment run --input x`"),
    # a parameter's name inside a path or URL is part of the value (hive-style folders, query strings)
    ("process", "input_dir=/data/copies=3/x: no such folder", "--input-dir /data/copies=3/x: no such folder"),
    ("process", "annotations=/d/run=1/seed=5/i.json: bad", "--annotations /d/run=1/seed=5/i.json: bad"),
    ("run", "output=s3://b/p?workers=2&seed=1: bad", "--output s3://b/p?workers=2&seed=1: bad"),
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


def test_the_planner_names_its_parameters(tmp_path):
    from augment import plan

    with pytest.raises(UsageError, match=r"^max_cost=nan: must be a finite number >= 0 USD$"):
        plan.estimate("light", images=10, max_cost=float("nan"), prices="offline")
    with pytest.raises(UsageError, match=r"^startup_s=-1: must be"):
        plan.estimate("light", images=10, startup_s=-1, prices="offline")
    with pytest.raises(UsageError, match=r"^modes=: 'fast' is not one of standalone, "):
        plan.estimate("light", images=10, modes=["fast"], prices="offline")
    (tmp_path / "job.json").write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match=r"^job=\S+job\.json: not a text file"):
        plan.compare(str(tmp_path / "job.json"))
    with pytest.raises(UsageError, match=r"^path=\S+x\.xyz: cannot draw a plot"):
        plan.check_plot_path(tmp_path / "x.xyz", "path")


def test_the_region_advice_names_a_parameter_only_where_there_is_one():
    from types import SimpleNamespace

    from augment import aws

    nowhere = SimpleNamespace(region_name=None)
    with pytest.raises(aws.CredentialsError, match=r"\): pass region=, set AWS_DEFAULT_REGION, or set one"):
        aws.require_region("x", nowhere, "region")
    with pytest.raises(aws.CredentialsError, match=r"\(needed for x\): set AWS_DEFAULT_REGION, or set one"):
        aws.require_region("x", nowhere)


def test_a_command_names_the_flag_for_the_same_refusal(tmp_path, capsys):
    from augment.cli import main
    from augment.samples import samples_dir

    assert main(["process", "--spec", "light", "--input-dir", str(samples_dir()), "--output-dir",
                 str(tmp_path / "o"), "--workers", "1", "--progress", "off", "--verify"]) == 2
    assert "--verify checks the work of an earlier run: pass it with --resume" in capsys.readouterr().err
