"""Every command line the guides show works as shown.

The guides are README.md, benchmarks/README.md, container/README.md, augment/KERNELS.md and
augment/PROCESSING.md.
From their fenced shell blocks (``bash``, ``sh``, ``shell``, ``console`` or none) this takes
every line that starts with ``augment `` or ``$ augment `` (joined across ``\\`` continuations,
``# comments`` dropped) and every ``make`` line. Nothing here names a particular command, so
lines added to the guides are checked without a change to this file.

How an ``augment`` line runs, the first rule that matches deciding:

1. **--help**, when running it would reach AWS, need a built image or run long: an ``s3://``
   argument, ``--image`` (tests/test_image.py runs it), ``--backend sagemaker``, ``local-run``
   (reads ``DescribeProcessingJob``), ``image push`` and ``image uri`` (they ask STS; ``--dlc``
   imports the SageMaker SDK, slow, and is tested in test_container.py), ``--codebuild``,
   ``--no-wait``.
2. **for real, in a subprocess** of the installed ``augment``: ``process``, and ``run`` on the
   local backend (they start workers or simulated hosts).
3. **for real, in this process** (``augment.cli.main``): ``validate``, ``presets``, ``ops``,
   ``samples``, ``replay``, and the top-level ``--help`` and ``--version``.
4. **--dry-run**, appended, when the subcommand's help offers it (``image build``); otherwise
   **--help**. New subcommands fall here until they are listed above.

A ``--help`` run passes when argparse exits 0, the usage names the subcommand, and every
``--flag`` of the line appears in that help: argparse stops at ``--help`` without complaining
about an unknown flag before it, so the last check is what catches a misspelt one. Any other
run passes when it exits 0, or, for a ``$ augment`` transcript that shows an error, when its
first line of stderr is the one shown.

Real runs happen in order, one guide at a time, in a scratch folder that stands in for the
reader's (the substitutions):

- ``photos/``, which the guides call "a folder of your images": a copy of the bundled sample
  photos; ``$(augment samples --dir)`` becomes ``photos/`` too;
- ``instances.json``, "a COCO file" for them: a copy of the samples' own annotations;
- ``NAME.yaml``: written from the guide's own ``yaml`` block whose lead-in text names
  ``NAME.yaml`` (``my_spec.yaml``, ``broken.yaml``);
- anything else stays as written: placeholders such as ``s3://bucket/...`` or ``ROLE_ARN``
  only ever reach a ``--help`` run.

A ``make`` line passes when every target it names is a rule in the Makefile. And since the
guides link to each other (the README's detail moved to the other three), every relative link
must name a file that exists and, with ``#anchor``, a heading in it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from augment.cli import main
from augment.samples import annotations_path, samples_dir

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ["README.md", "benchmarks/README.md", "container/README.md", "augment/KERNELS.md",
          "augment/PROCESSING.md"]
_SCRIPT = Path(sys.executable).with_name("augment")  # the console script, as a reader types it
AUGMENT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "augment"]
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}

HELP_RULES = [r"\bs3://", r"--image[ =]", r"--backend[ =]sagemaker\b", r"^local-run\b", r"^image push\b",
              r"^image uri\b", r"--codebuild\b", r"--no-wait\b"]
SUBPROCESS = {"process", "run"}
IN_PROCESS = {"validate", "presets", "ops", "samples", "replay"}
SUBSTITUTIONS = {"$(augment samples --dir)": "photos/"}


@dataclass(frozen=True)
class Line:
    guide: str
    number: int  # the line in the guide where the command starts
    text: str  # without "$ ", continuations joined, comment dropped
    shown: str | None = None  # a transcript's output, as the guide shows it

    def __str__(self) -> str:
        return f"{self.guide}:{self.number}: {self.text}"


def command_lines(guide: str) -> list[Line]:
    """The ``augment`` and ``make`` lines of the guide's shell blocks, in order."""
    lines = (ROOT / guide).read_text().splitlines()
    found: list[Line] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        raw = lines[i]
        if raw.startswith("```"):
            fence = raw[3:].strip() if fence is None else None
            i += 1
            continue
        start = i
        transcript = raw.startswith("$ augment ")
        if fence is not None and (transcript or (fence in SHELL_FENCES and re.match(r"(augment|make) ", raw))):
            text = raw.removeprefix("$ ")
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1].rstrip() + " " + lines[i].strip()
            shown = None
            if transcript:
                out = []
                while i + 1 < len(lines) and not lines[i + 1].startswith(("```", "$ ")):
                    i += 1
                    out.append(lines[i])
                shown = "\n".join(out)
            words = shlex.split(text, comments=True)
            found.append(Line(guide, start + 1, shlex.join(words), shown))
        i += 1
    return found


def yaml_files(guide: str) -> dict[str, str]:
    """``NAME.yaml`` -> the text of the ``yaml`` block whose lead-in names it."""
    text = (ROOT / guide).read_text()
    files = {}
    for m in re.finditer(r"```yaml\n(.*?)```", text, flags=re.S):
        lead_in = text[max(0, m.start() - 300):m.start()].split("```")[-1]
        names = re.findall(r"`([\w.-]+\.ya?ml)`", lead_in)
        if names:
            files[names[-1]] = m.group(1)
    return files


def subcommand(words: list[str]) -> str:
    """``process``, ``image uri`` ...: the subcommand, with an ``image`` action."""
    sub = words[1] if len(words) > 1 else ""
    if sub == "image" and len(words) > 2:
        return f"image {words[2]}"
    return sub


def how(line: Line) -> str:
    words = shlex.split(line.text)
    rest = " ".join(words[1:])
    if any(re.search(rule, rest) for rule in HELP_RULES):
        return "help"
    sub = subcommand(words)
    if sub in SUBPROCESS:
        return "subprocess"
    if sub in IN_PROCESS or not sub or sub.startswith("-"):  # ``augment --version``, ``--help``
        return "in-process"
    return "dry-run" if "--dry-run" in help_text(words) else "help"


def help_text(words: list[str]) -> str:
    """The help of the line's subcommand (``augment image --help`` for ``image build``)."""
    sub = [w for w in words[1:3] if not w.startswith("-")][:1]
    return run_in_process([*sub, "--help"])[1]


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as e:  # argparse: --help exits 0, a bad argument 2
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def run_line(line: Line, workdir: Path) -> tuple[str, int, str, str]:
    """Run one line as the rules above say; return (how, exit status, stdout, stderr)."""
    mode = how(line)
    text = line.text
    for placeholder, value in SUBSTITUTIONS.items():
        text = text.replace(shlex.quote(placeholder), value).replace(placeholder, value)
    args = shlex.split(text)[1:]
    if mode == "help":
        return mode, *run_in_process([*args, "--help"])
    if mode == "dry-run" and "--dry-run" not in args:
        args.append("--dry-run")
    if mode == "subprocess":
        result = subprocess.run([*AUGMENT, *args], cwd=workdir, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return mode, result.returncode, result.stdout, result.stderr
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        return mode, *run_in_process(args)
    finally:
        os.chdir(cwd)


def check(line: Line, mode: str, code: int, out: str, err: str) -> None:
    if mode == "help":
        words = shlex.split(line.text)
        sub = subcommand(words).split(" ")[0]
        usage = "usage: augment" + ("" if sub.startswith("-") or not sub else f" {sub}")
        assert code == 0, f"{line}\nargparse refused it (exit {code}):\n{err}"
        assert re.search(rf"^{re.escape(usage)}\b", out, flags=re.M), f"{line}\n{out}"
        for flag in {w.split("=")[0] for w in words if w.startswith("--")}:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", out), f"{line}\nno {flag} in:\n{out}"
        return
    if line.shown is not None and ": error:" in line.shown:
        assert code != 0 and "usage:" not in err, f"{line}\n{err}"
        assert err.splitlines()[:1] == line.shown.splitlines()[:1], f"{line}\n{err}"
        return
    assert code == 0, f"{line}\n({mode}) exit {code}\nstdout:\n{out}\nstderr:\n{err}"


LINES = [line for guide in GUIDES for line in command_lines(guide)]
AUGMENT_LINES = [line for line in LINES if line.text.startswith("augment ")]
MAKE_LINES = [line for line in LINES if line.text.startswith("make ")]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[Line, tuple[str, int, str, str]]:
    """Every guide's lines, run in order in a scratch folder of its own, as a reader would."""
    results = {}
    for guide in GUIDES:
        workdir = tmp_path_factory.mktemp(guide.replace("/", "_").replace(".", "_"))
        shutil.copytree(samples_dir(), workdir / "photos")
        shutil.copy(annotations_path(), workdir / "instances.json")
        for name, text in yaml_files(guide).items():
            (workdir / name).write_text(text)
        for line in (x for x in AUGMENT_LINES if x.guide == guide):
            results[line] = run_line(line, workdir)
    return results


def test_the_guides_show_the_commands_this_test_relies_on():
    readme = [line.text for line in LINES if line.guide == "README.md"]
    assert "make demo" in readme and "make test" in readme
    assert {subcommand(shlex.split(x)) for x in readme if x.startswith("augment ")} >= {
        "process", "run", "local-run", "image build", "validate", "replay", "presets", "ops", "samples"}
    assert {"my_spec.yaml", "broken.yaml"} <= yaml_files("README.md").keys()


@pytest.mark.parametrize("line", MAKE_LINES, ids=str)
def test_make_targets_exist(line):
    targets = set(re.findall(r"^([\w.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), flags=re.M))
    named = [w for w in shlex.split(line.text)[1:] if not w.startswith("-") and "=" not in w]
    assert named and set(named) <= targets, f"{line}: the Makefile has {sorted(targets)}"


@pytest.mark.slow
@pytest.mark.parametrize("line", AUGMENT_LINES, ids=str)
def test_augment_line_runs(line, sessions):
    check(line, *sessions[line])


@pytest.mark.parametrize("text", [
    "augment process --spec light --input-dir photos/ --output-dir out/ --no-such-flag",
    "augment no-such-command",
    "augment run --backend sagemaker --no-such-flag --input s3://b/ --output s3://b/o/ --spec light",
    "augment image push --codebuild --no-such-flag",
    "augment presets --json",
])
def test_a_line_with_a_flag_or_subcommand_that_does_not_exist_fails(text, tmp_path):
    line = Line("example", 1, text)
    with pytest.raises(AssertionError):
        if how(line) == "subprocess":  # argparse refuses before any work: no need to start one
            check(line, "in-process", *run_in_process(shlex.split(text)[1:]))
        else:
            check(line, *run_line(line, tmp_path))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("guide", GUIDES)
def test_relative_links_reach_a_file_and_heading(guide):
    text = re.sub(r"```.*?```", "", (ROOT / guide).read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = ((ROOT / guide).parent / path).resolve() if path else ROOT / guide
        assert file.exists(), f"{guide}: {target} links to a missing file"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.M)
            assert anchor in {slug(h) for h in headings}, f"{guide}: no heading for #{anchor} in {file.name}"


def test_every_guarantee_names_tests_that_exist():
    """The "What is guaranteed" table (augment/PROCESSING.md, which the README points at)
    points at real tests (``file::name``, or ``::name`` for the file named before it in the row)."""
    text = (ROOT / "augment/PROCESSING.md").read_text(encoding="utf-8")
    table = text.split("## What is guaranteed", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "::" in line]
    assert len(rows) >= 10
    for row in rows:
        current = None
        for ref in re.findall(r"`([^`]*::[^`]+)`", row):
            path, _, name = ref.partition("::")
            current = path or current
            source = (ROOT / current).read_text(encoding="utf-8")
            assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{ref} in: {row}"
