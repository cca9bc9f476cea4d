"""The notebooks' housekeeping, and what notebook 01 (the image) calls besides the build itself
(:func:`~augment.container.build_image`, image tooling, answers here too).

**Committed notebooks carry no outputs** and use the kernel name ``python3``: Studio
saves its own kernel names, which break papermill and nbval elsewhere, and outputs
carry account ids, paths and timings. :func:`strip` cleans a notebook,
:func:`problems` says what is wrong with one; from the shell::

    python -m augment.notebooks strip notebooks/*.ipynb     # make strip-notebooks
    python -m augment.notebooks check notebooks/*.ipynb     # exit 1 when one is not clean

**Account ids never appear in outputs**: :func:`redact` and :class:`Redacting` replace
them with ``<account>``, and a dry run of the image build uses that placeholder
instead of asking STS.

**The kit's errors are one line**: :func:`show_errors` (every notebook's first code cell
calls it) shows an :class:`~augment.errors.AugmentError` as its message in the notebook's
terms (``copies=0``, not ``--copies 0``), with ``%tb`` for the traceback. Importing this
module changes nothing in the kernel: :func:`redact` and the rest work in a user's own
session without installing the handler.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augment.container import METHODS, Built, build_image  # noqa: F401  (augment.notebooks.build_image... stay importable)
from augment.redact import ACCOUNT, PLACEHOLDER, Redacting, public_accounts, redact  # noqa: F401  (augment.notebooks.redact... stay importable)

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
_CELL_METADATA_DROPPED = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")


# --- clean notebooks --------------------------------------------------------------------------


def strip(path: str | Path) -> bool:
    """Remove outputs, execution counts and run metadata; set the kernel to ``python3``.

    Returns:
        True when the file changed.
    """
    import nbformat

    path = Path(path)
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":  # a python3 one is left as it is
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for key in ("widgets", "papermill", "execution"):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in _CELL_METADATA_DROPPED:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def problems(path: str | Path) -> list[str]:
    """What keeps a notebook from being committed: outputs, execution counts, a kernel
    other than ``python3``, no cell tagged ``parameters``. Empty when clean."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    found = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        found.append(f"kernel name {kernel!r}, not 'python3'")
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.outputs:
            found.append(f"cell {n} has outputs")
        if cell.execution_count is not None:
            found.append(f"cell {n} has an execution count")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1 or tagged[0].cell_type != "code":
        found.append(f"{len(tagged)} cells tagged 'parameters', not one code cell")
    return found


# --- account ids (augment.redact) ------------------------------------------------------------


class Redacted:
    """Shows ``obj`` as it shows itself in a notebook (HTML, Markdown, text), with
    account ids redacted: e.g. a plan whose footer names an input in Studio's default
    bucket (``sagemaker-<region>-<account>``). Its HTML and Markdown read as text in
    JupyterLab, which typesets ``$...$`` as LaTeX otherwise."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def _show(self, method: str) -> str | None:
        show = getattr(self.obj, method, None)
        text = show() if callable(show) else None
        return redact(text) if isinstance(text, str) else None

    def _repr_html_(self) -> str | None:
        from augment.text import plain_html

        shown = self._show("_repr_html_")
        return shown if shown is None or shown.startswith(plain_html("")[:-len("</div>")]) else plain_html(shown)

    def _repr_markdown_(self) -> str | None:
        shown = self._show("_repr_markdown_")
        return None if shown is None else plain_markdown(shown)

    def __repr__(self) -> str:
        return redact(str(self.obj))


def plain_markdown(text: str) -> str:
    """Markdown whose ``$`` signs JupyterLab shows as they are, not as LaTeX delimiters.

    A backslash does not do it: JupyterLab takes ``$...$`` out of the Markdown before
    parsing it and MathJax typesets the page after. So each ``$`` becomes ``&#36;`` (no
    ``$`` left in the source) inside an element MathJax skips (none in the page).
    """
    from augment.text import MATHJAX_IGNORE

    return text.replace("$", f'<span class="{MATHJAX_IGNORE}">&#36;</span>')


# --- errors, in the notebook's terms --------------------------------------------------------

_PARAMETER = re.compile(r"(?<![\w.=-])([a-z][a-z0-9_]*)=")
"""A parameter as the kit's messages name it: ``copies=0``, ``input_dir=PATH``, ``region=``."""
_ALIASES = {"input": ("input", "source"), "input_uri": ("input", "source"), "input_dir": ("input", "source"),
            "output_dir": ("output",)}
"""A parameter's names in the notebooks, first match in the kernel's namespace (notebook 02
calls the input ``source``; a job's ``input_dir`` is the notebook's ``input``)."""


def in_notebook_terms(message: str, namespace: dict[str, Any] | None = None) -> str:
    """An error message of the kit in a notebook's terms. The kit names its parameters as a
    notebook passes them (``copies=0: must be ...``); a parameter the notebooks call otherwise
    is renamed (``input=/x`` -> ``source=/x`` where the notebook has ``source``: ``namespace``,
    the kernel's variables). A command to run, in backticks or double quotes
    (```augment run --json ...```), is left as written.
    A message with one problem listed under its head reads as one line."""
    namespace = namespace or {}

    def name(m: re.Match[str]) -> str:
        names = _ALIASES.get(m[1], (m[1],))
        return next((n for n in names if n in namespace), names[0]) + "="

    parts = re.split(r"(`[^`]*`|\"[^\"]*\")", message.rstrip())  # a command to run keeps its words
    lines = "".join(part if i % 2 else _PARAMETER.sub(name, part) for i, part in enumerate(parts)).splitlines()
    if len(lines) == 2 and lines[1].lstrip().startswith("- "):  # a head and one problem: one line
        return f"{lines[0].rstrip(':')}: {lines[1].lstrip()[2:]}"
    return "\n".join(lines)


def _one_line(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
              tb_offset: int | None = None) -> list[str]:
    """IPython's handler of the kit's own errors: the message in red, in the notebook's terms;
    ``%tb`` shows the traceback."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # what %tb shows
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    lines = redact(in_notebook_terms(str(value), getattr(shell, "user_ns", None))).splitlines() or [""]
    red, dim, off = "\x1b[1;31m", "\x1b[2m", "\x1b[0m"
    stb = [f"{red}{etype.__name__}{off}: {lines[0]}", *lines[1:]]
    stb[-1] += f"  {dim}(%tb shows the traceback){off}"
    shell._showtraceback(etype, value, stb)  # an error output, as a traceback would be: the run stops
    return stb


def show_errors(short: bool = True) -> bool:
    """In IPython (a notebook's kernel), show the kit's own errors
    (:class:`~augment.errors.AugmentError`: a bad parameter, a failed job) as one line in
    the notebook's terms instead of a traceback; ``%tb`` shows the traceback. Other
    exceptions keep their tracebacks. Every notebook of the kit calls it first; importing
    this module does not. ``short=False`` undoes it.

    Returns:
        Whether an IPython shell was there to set.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return False
    shell = get_ipython()
    if shell is None:
        return False
    from augment.errors import AugmentError

    ours = getattr(shell, "custom_exceptions", ()) in ((), (AugmentError,))
    if short and ours:
        shell.set_custom_exc((AugmentError,), _one_line)
    elif not short and getattr(shell, "custom_exceptions", ()) == (AugmentError,):
        shell.set_custom_exc((), None)
    return True


# --- notebook 01: the image ------------------------------------------------------------------


@dataclass(frozen=True)
class BuildEnvironment:
    """Where notebook 01 runs: the container engine that answers (Docker, else podman), and
    whether this is SageMaker Studio; the build method that fits (``local`` with an engine,
    ``codebuild`` in Studio without one, else ``dlc``); and, given the notebook's ``method``
    and ``dry_run``, what this run does about it."""

    engine: str | None
    studio: bool
    method: str | None = None
    dry_run: bool = True

    @property
    def suggested_method(self) -> str:
        return "local" if self.engine else "codebuild" if self.studio else "dlc"

    def this_run(self) -> str:
        """What the chosen ``method`` does here, and why when it is not the suggested one."""
        if self.method is None:
            return ""
        method = "local" if self.method in ("docker", "podman") else self.method
        suggested = self.suggested_method
        if method == "dlc":
            what = "no build: jobs run on the AWS PyTorch image, the package shipped as code"
        elif method == "local" and not self.engine:
            what = ("a dry run whatever dry_run says, since no engine answers here: it shows the commands a "
                    f"build would run; method = {suggested!r} fits this machine")
        elif self.dry_run:
            what = f"a dry run (dry_run = True): the {'CodeBuild calls' if method == 'codebuild' else 'commands'} " \
                   "are shown, nothing is built or pushed"
        else:
            what = "builds on AWS CodeBuild, then pushes to ECR" if method == "codebuild" else \
                f"builds here with {self.engine}"
        fit = "" if method == suggested or (method == "local" and not self.engine) else \
            f" (method = {suggested!r} is the one suggested here)"
        return f"method = {self.method!r}: {what}{fit}"

    def rows(self) -> list[tuple[str, str]]:
        engine = self.engine or ("none: neither Docker nor podman answers (a Docker client without its daemon is "
                                 "no engine)")
        rows = [("container engine", engine), ("SageMaker Studio", "yes" if self.studio else "no"),
                ("suggested method", self.suggested_method)]
        return [*rows, ("this run", self.this_run())] if self.method is not None else rows

    def _repr_html_(self) -> str:
        import html

        from augment.text import plain_html

        body = "".join(f'<tr><th style="text-align:left">{html.escape(k)}</th><td style="text-align:left">'
                       f"{html.escape(v)}</td></tr>" for k, v in self.rows())
        return plain_html(f'<table class="augment-where">{body}</table>')

    def __repr__(self) -> str:
        return "\n".join(f"{k + ':':<18} {v}" for k, v in self.rows())


def build_environment(method: str | None = None, dry_run: bool = True) -> BuildEnvironment:
    """Where this notebook runs, and what ``method`` does here (see :class:`BuildEnvironment`)."""
    from augment import engines
    from augment.container import in_studio

    engine = engines.find()
    return BuildEnvironment(None if engine is None else str(engine), in_studio(), method, dry_run)


def destination(target: Any, variant: str = "cpu", *, method: str = "local", push: bool = True,
                dry_run: bool = True) -> str:
    """Where the image goes, in one line: the ECR URI it is pushed to (account redacted), or
    why nothing is pushed (``push=False``, or ``method='dlc'``)."""
    from augment.container import image_tags

    tag = image_tags(variant)[0]
    if method == "dlc":
        return "nothing is pushed (method = 'dlc'): jobs run on the AWS PyTorch image"
    if not push:
        if method == "codebuild":
            return "push = False: CodeBuild always pushes; use method = 'local' to build here only"
        return f"nothing is pushed (push = False): the image stays on this machine as {target.repository}:{tag}"
    return f"{'would be pushed' if dry_run else 'pushed'} to {redact(target.uri(tag))}"


def image_target(repository: str = "augment", region: str | None = None, *, dry_run: bool = True) -> Any:
    """Where the image goes. A dry run asks no AWS service: the account is ``<account>``
    and the region, when neither given nor configured, ``<region>``.

    Returns:
        An :class:`~augment.container.ImageTarget`.
    """
    from augment.container import ImageTarget

    return ImageTarget.from_session(repository=repository, region=region, dry_run=dry_run)


# --- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m augment.notebooks strip|check NOTEBOOK...``; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m augment.notebooks",
                                     description="Strip notebooks for commit, or check that they are stripped.")
    parser.add_argument("action", choices=("strip", "check"))
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    bad = 0
    for name in args.notebooks:
        if args.action == "strip":
            print(f"{'stripped' if strip(name) else 'clean   '} {name}")
        for problem in problems(name):
            print(f"{name}: {problem}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
