"""Hostile values at every option of every subcommand (#26): numbers that are no numbers
(nan, inf, 10**400), empty and undecodable text, and paths that are a folder, garbage,
a PNG, missing, unwritable, too long or under /proc.

The subcommands and their options are read from the parser itself
(``augment.cli._parser()``), so an option added tomorrow is covered the day it is added:
each takes every hostile value in turn (strings thrown at numbers too) while the
subcommand's other arguments stay valid; Hypothesis then throws two or three at once.
Whatever a value does, the command answers with a result or one clear line: exit status
0, 1, 2 (or 141), never "internal error" or a Python traceback.

AWS cannot be reached from here (a closed port and fake credentials); ``run`` uses the
local backend, ``image`` only dry runs, ``sweep`` a one-cell notebook.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
from pathlib import Path

import PIL.Image
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from augment.cli import _parser, main
from augment.samples import list_samples, samples_dir

EXIT_STATUSES = {0, 1, 2, 141}  # done, failed, refused, the reader left
BUGS = ("internal error", "Traceback (most recent call last)")


def _png() -> bytes:
    buf = io.BytesIO()
    PIL.Image.new("RGB", (8, 8), (200, 30, 90)).save(buf, "PNG")
    return buf.getvalue()


PNG = _png()


def hostile_values(where: Path) -> dict[str, str]:
    """Every hostile value by name; the files they name are made fresh in ``where``."""
    folder = where / "a-folder"
    folder.mkdir()
    garbage = where / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    png = where / "image.png"
    png.write_bytes(PNG)
    if os.geteuid() == 0:  # root writes through any mode bits, but not into /proc
        unwritable = "/proc/version/x"
    else:
        locked = where / "locked"
        locked.mkdir(mode=0o500)
        unwritable = str(locked / "x")
    return {
        "nan": "nan", "inf": "inf", "-inf": "-inf", "negative": "-1", "zero": "0", "fraction": "0.5",
        "empty": "", "1e308": "1e308", "10**400": "1" + "0" * 400, "word": "banana",
        "undecodable": os.fsdecode(b"\xff\xfe"), "undecodable-path": str(where / os.fsdecode(b"b\xffd.yaml")),
        "folder": str(folder), "garbage": str(garbage), "png": str(png), "missing": str(where / "missing" / "x"),
        "unwritable": unwritable, "proc-file": "/proc/version", "under-proc": "/proc/self/nope/x",
        "too-long": str(where / ("n" * 300)),
    }  # fmt: skip


HOSTILE = ["nan", "inf", "-inf", "negative", "zero", "fraction", "empty", "1e308", "10**400", "word", "undecodable",
           "undecodable-path", "folder", "garbage", "png", "missing", "unwritable", "proc-file", "under-proc",
           "too-long"]


# --- the parser, walked -------------------------------------------------------------------------


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


SUBCOMMANDS = _subparsers()


def _arguments(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _flag(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


OPTIONS = [(name, a.dest) for name, p in SUBCOMMANDS.items() for a in _arguments(p)]

# where hostile values that are taken do real work: a calibration (two jobs of 200 images)
# per file or folder, a launched instance per file, a notebook run per folder, a local job
# per name or work folder, a job description read per file, a Dockerfile context per --dlc
# case. Marked slow (CI still runs them): the rest of the sweep stays within a minute here.
HEAVY = {("plan", "calibrate"), ("run", "input"), ("sweep", "out"), ("local-run", "job_name"),
         ("local-run", "workdir"), ("image", "dlc"), ("plan", "compare")}


# --- valid-ish arguments, one hostile value at a time --------------------------------------------


NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "parameters", "metadata": {"tags": ["parameters"]},
               "outputs": [], "source": "x = 1"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small real photos, a finished job's manifest, a one-cell notebook and its grid."""
    root = tmp_path_factory.mktemp("hostile_cli")
    photos = root / "photos"
    photos.mkdir()
    for name in list_samples()[:2]:
        with PIL.Image.open(samples_dir() / name) as img:
            img.thumbnail((48, 48))
            img.save(photos / name, quality=90)
    job = root / "job"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUGMENT_OPT_ML", str(root / "opt-ml"))
        assert main(["process", "--spec", "light", "--input-dir", str(photos), "--output-dir", str(job),
                     "--workers", "1", "--progress", "off"]) == 0
    (root / "sweep.ipynb").write_text(json.dumps(NOTEBOOK))
    (root / "grid.yaml").write_text("x: [1]\n")
    (root / "empty").mkdir()
    return {"photos": photos, "manifest": job / "_augment" / "manifest-local.jsonl", "source": Path(list_samples()[0]),
            "notebook": root / "sweep.ipynb", "grid": root / "grid.yaml", "empty": root / "empty"}


def base_arguments(command: str, world: dict[str, Path], case: Path, *, launch: bool = True) -> dict[str, str | bool]:
    """Arguments that make ``command`` work (by dest), small and quick: the required ones,
    and those that keep the work tiny. A new subcommand needs an entry here.

    Without ``launch``, ``run`` gets an empty input folder: it checks every argument and
    builds its request, then refuses ("no files found") instead of starting an instance
    (a Python process, seconds each) whose `augment process` the sweep covers in-process."""
    out = str(case / "out")
    bases: dict[str, dict[str, str | bool]] = {
        "process": {"spec": "light", "input_dir": str(world["photos"]), "output_dir": out, "workers": "1"},
        "run": {"backend": "local", "input": str(world["photos"] if launch else world["empty"]), "output": out,
                "spec": "light", "workers": "1"},
        "plan": {"images": "10", "prices": "offline", "mode": "standalone", "instance_type": "ml.m5.large"},
        "local-run": {"job_name": "augment-hostile-1"},
        # a dry run: nothing is built, pushed or asked of AWS
        "image": {"action": "push", "dry_run": True},
        "validate": {"spec": "light"},
        "preview": {"spec": "light", "input": str(world["photos"]), "n": "1", "max_side": "16",
                    "out": str(case / "grid.png")},
        "replay": {"manifest": str(world["manifest"]), "source": str(world["source"]), "out": str(case / "again.jpg")},
        "presets": {},
        "ops": {},
        "samples": {},
        "sweep": {"notebook": str(world["notebook"]), "grid": str(world["grid"]), "out": out},
    }  # fmt: skip
    return bases[command]


def _argv(command: str, base: dict[str, str | bool], hostile: dict[str, str | bool]) -> list[str]:
    """``command`` with ``base`` less what ``hostile`` replaces (and what excludes it), then
    ``hostile``: options as ``--flag=value`` (a value may start with '-'), positionals after '--'."""
    p = SUBCOMMANDS[command]
    args = dict(base)
    for group in p._mutually_exclusive_groups:  # --record instead of --source, not beside it
        dests = {a.dest for a in group._group_actions}
        if dests & hostile.keys():
            for dest in dests - hostile.keys():
                args.pop(dest, None)
    args.update(hostile)
    options: list[str] = []
    by_dest = {a.dest: a for a in reversed(_arguments(p))}
    for dest, value in args.items():
        action = by_dest[dest]
        if not action.option_strings:
            continue
        if not _takes_value(action):
            options.append(str(value) if isinstance(value, str) else _flag(action))
        else:
            options.append(f"{_flag(action)}={value}")
    positionals = [str(args[a.dest]) for a in _arguments(p) if not a.option_strings and a.dest in args]
    return [command, *options, "--", *positionals] if positionals else [command, *options]


@pytest.fixture(autouse=True)
def no_aws_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS at a closed port, with fake credentials and one attempt; caches and an /opt/ml root in tmp."""
    for name in ("AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard",
                        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                        "AUGMENT_CACHE_DIR": str(tmp_path / "cache"),
                        "AUGMENT_OPT_ML": str(tmp_path / "opt-ml")}.items():
        monkeypatch.setenv(name, value)
    # as inside a container: `process` writes its failure to /opt/ml/output/message too
    (tmp_path / "opt-ml" / "output").mkdir(parents=True)
    work = tmp_path / "cwd"  # where relative values ("nan", "0") land
    work.mkdir()
    monkeypatch.chdir(work)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str | None:
    """What is wrong with the command's answer to ``argv``, or ``None``."""
    try:
        code = main(argv)
    except SystemExit as e:  # main() returns its status; a SystemExit escaping it is a finding too
        code = f"SystemExit({e.code!r}) escaped main()"
    out, err = capsys.readouterr()
    found = [bug for bug in BUGS if bug in out or bug in err]
    if code in EXIT_STATUSES and not found:
        return None
    return f"{argv!r} -> exit {code}{', ' + ', '.join(found) if found else ''}:\n{(out + err)[-2500:]}"


def _action(command: str, dest: str) -> argparse.Action:
    return next(a for a in _arguments(SUBCOMMANDS[command]) if a.dest == dest)


def _cases(command: str, dest: str) -> list[str]:
    """What one argument takes: every hostile value's name where it takes a value; else
    each of its flags alone (--keep-original, --no-keep-original)."""
    action = _action(command, dest)
    return list(HOSTILE) if _takes_value(action) else list(action.option_strings)


def _value(command: str, dest: str, name: str, values: dict[str, str]) -> str:
    """The argument ``name`` stands for: a hostile value, or the flag itself."""
    return values[name] if _takes_value(_action(command, dest)) else name


@pytest.mark.parametrize(("command", "dest"), [
    pytest.param(c, d, id=f"{c}-{d}", marks=[pytest.mark.slow] if (c, d) in HEAVY else []) for c, d in OPTIONS])
def test_every_option_takes_every_hostile_value(command, dest, world, tmp_path, capsys):
    findings = []
    for i, name in enumerate(_cases(command, dest)):
        case = tmp_path / f"case{i}"
        case.mkdir()
        argv = _argv(command, base_arguments(command, world, case, launch=False),
                     {dest: _value(command, dest, name, hostile_values(case))})
        problem = _run(argv, capsys)
        if problem:
            findings.append(f"[{name}] {problem}")
    assert not findings, "\n\n".join(findings)


def test_every_subcommand_and_option_is_swept(world, tmp_path):
    """The sweep reads the parser: every subcommand has working arguments, which the parser takes."""
    assert {"process", "run", "plan", "replay", "sweep"} <= SUBCOMMANDS.keys()
    assert len(OPTIONS) > 80
    for command in SUBCOMMANDS:
        argv = _argv(command, base_arguments(command, world, tmp_path), {})
        SUBCOMMANDS[command].parse_args(argv[1:])  # exits (fails) when the base is no longer valid


@pytest.mark.slow
def test_the_base_arguments_work(world, tmp_path, capsys):
    """Each subcommand's own arguments succeed, so a hostile value is what any refusal is about."""
    for command in SUBCOMMANDS:
        if command in ("run", "sweep"):
            continue  # the sweep's tests run them
        case = tmp_path / command
        case.mkdir()
        argv = _argv(command, base_arguments(command, world, case), {})
        code = main(argv)
        out, err = capsys.readouterr()
        expected = 2 if command == "local-run" else 0  # no AWS here: one clear line
        assert code == expected, (argv, out, err)


# --- two or three at once ------------------------------------------------------------------------


def _parses(action: argparse.Action, value: str) -> bool:
    """Whether argparse takes ``value`` for ``action`` (its type and choices)."""
    try:
        converted = action.type(value) if callable(action.type) else value
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return False
    return action.choices is None or converted in action.choices


def _past_the_parser(command: str, dest: str) -> list[str]:
    """The names from :func:`_cases` that argparse lets through to the command: in
    combination, a value argparse refuses would end the command before the others count."""
    action = _action(command, dest)
    if not _takes_value(action):
        return _cases(command, dest)
    with tempfile.TemporaryDirectory() as folder:
        values = hostile_values(Path(folder))
        return [name for name in HOSTILE if _parses(action, values[name])]


COMBINABLE = {command: {d: names for c, d in OPTIONS if c == command and (names := _past_the_parser(c, d))}
              for command in SUBCOMMANDS}


@st.composite
def hostile_combinations(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A subcommand and two or three of its arguments, each with a name that argparse lets through."""
    command = draw(st.sampled_from(sorted(c for c, options in COMBINABLE.items() if len(options) >= 2)))
    dests = draw(st.lists(st.sampled_from(sorted(COMBINABLE[command])), min_size=2, max_size=3, unique=True))
    return command, {dest: draw(st.sampled_from(COMBINABLE[command][dest])) for dest in dests}


@pytest.mark.slow
@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hostile_combinations())
def test_hostile_values_together(world, capsys, combination):
    command, hostile = combination
    with tempfile.TemporaryDirectory() as folder:
        case = Path(folder)
        values = hostile_values(case)
        argv = _argv(command, base_arguments(command, world, case),
                     {dest: _value(command, dest, name, values) for dest, name in hostile.items()})
        problem = _run(argv, capsys)
    assert problem is None, problem


# --- what the sweep found, each pinned -----------------------------------------------------------


@pytest.mark.parametrize(("command", "dest"), [("process", "input_dir"), ("process", "output_dir"), ("plan", "input"),
                                               ("plan", "compare"), ("preview", "input"), ("replay", "manifest"),
                                               ("replay", "input_dir")])
def test_a_name_too_long_for_any_file_system_is_refused_by_its_argument(command, dest, world, tmp_path, capsys):
    """``Path.is_file()`` raises ENAMETOOLONG rather than answer: it was an internal error."""
    long = str(tmp_path / ("n" * 300))
    argv = _argv(command, base_arguments(command, world, tmp_path, launch=False), {dest: long})
    code = main(argv)
    err = capsys.readouterr().err
    action = _action(command, dest)
    named = _flag(action) if action.option_strings else dest.upper()
    assert code == 2, err
    assert f"error: {named} '{long[:40]}" in err and "the name is too long for the file system" in err, err
    assert "Traceback" not in err and "internal error" not in err


def test_run_with_a_workdir_that_is_a_file_says_so_before_any_instance_starts(world, tmp_path, capsys):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00" * 64)
    code = main(["run", "--input", str(world["photos"]), "--output", str(tmp_path / "out"), "--spec", "light",
                 "--workers", "1", "--workdir", str(garbage)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"error: --workdir '{garbage}': {garbage} is a file, not a folder; name a folder" in err, err
    assert "[algo-1]" not in err, "no instance started"


def test_files_the_kit_writes_are_utf8_even_where_a_name_is_not(tmp_path, monkeypatch):
    """A sweep's summary.md quoting an --out of undecodable bytes, a job's exit message quoting
    such an --input-dir: strict UTF-8 refused to encode them (an internal error, inside a
    container too, where the message is the job's last word)."""
    from augment import contract
    from augment.files import write_output

    name = os.fsdecode(b"b\xffd")
    assert write_output(tmp_path / "x.md", f"out: {name}\n").read_bytes() == b"out: b\\xffd\n"
    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path / "ml"))
    (tmp_path / "ml").mkdir()
    written = contract.write_failure_message(f"usage error: --input-dir {name}: no such folder")
    assert written is not None
    assert written.read_text(encoding="utf-8") == "usage error: --input-dir b\\xffd: no such folder"


def test_a_process_that_fails_on_an_undecodable_input_dir_leaves_its_message(tmp_path, capsys, monkeypatch):
    from augment import contract

    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path / "ml"))
    (tmp_path / "ml" / "output").mkdir(parents=True)
    code = main(["process", "--spec", "light", "--input-dir", str(tmp_path / os.fsdecode(b"b\xffd")),
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    message = (tmp_path / "ml" / "output" / "message").read_text(encoding="utf-8")
    assert message.startswith("usage error: --input-dir ") and "b\\xffd" in message, message


def test_one_failed_input_of_one_is_singular(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(b"not an image")
    code = main(["process", "--spec", "light", "--input-dir", str(inputs), "--output-dir", str(tmp_path / "out"),
                 "--workers", "1", "--progress", "off"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "1 of 1 input failed (100.0%)" in err and "1 of 1 inputs" not in err, err


@pytest.mark.parametrize("region", ["nan", os.fsdecode(b"\xff\xfe"), "us-east-99"])
def test_the_deep_learning_container_of_a_region_that_has_none_is_one_line(region, capsys):
    code = main(["image", "uri", "--dlc", "--region", region])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error: --region '" in err and "no AWS PyTorch Deep Learning Container is known there" in err, err
    assert "Traceback" not in err
