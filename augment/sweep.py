"""Parameter sweeps: run one notebook over a grid with papermill, and collect what
every run did.

A grid is a mapping from parameter names to lists of values (their product is run)
or an explicit list of runs (mappings). For each run the sweep writes, under ``out``:

* ``<run>.ipynb``: the executed notebook, ``<run>`` a readable slug of its parameters;
* ``<run>.json``: the run's parameters, status, papermill's metadata (duration,
  exception, the failing cell) and the notebook's own results, which the notebook
  wrote to the ``results_path`` the sweep injected (see :func:`write_results`);
* ``outputs/<run>/``: the run's images, where the notebook has an ``output`` parameter
  left at ``None`` and runs on the local backend (so nothing is left in the temporary
  folder);

and for the sweep, ``sweep.json`` (its claim on the folder: notebook, grid and fixed
parameters), ``summary.csv`` (every field of every run), ``summary.md`` and
``figure.png`` (one sample image under every parameter set, and each run's
throughput). A failed run is recorded and the sweep goes on. Unknown parameter names
are refused before any run: papermill only warns about them, and a typo would run the
whole grid with the defaults.

**Claim.** A sweep claims its folder as a job claims its output (see
:func:`augment.engine.create_once`): a second sweep into the same folder is refused,
naming the first, and ``resume`` goes on only with the same notebook, grid and
fixed parameters. The claim is locked while the sweep runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import datetime as dt
import hashlib
import html
import io
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO

from augment.errors import UsageError
from augment.storage import expand, is_s3
from augment.text import plain_html, plural

RESULTS = "_results"  # where each run's notebook writes its own results, before the sweep merges them
KERNEL = "python3"
KIT_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
"""The kit's notebooks, where the package is installed from a checkout (``pip install -e .``)."""


@dataclass(frozen=True)
class Terms:
    """How a sweep's refusals name what it was given: notebook 05's parameters
    (``out=/x: ...``, ``resume=True``), the default, or ``augment sweep``'s flags
    (``--out /x: ...``, ``--resume``): see :func:`cli_terms`."""

    names: Mapping[str, str]
    flags: bool = False

    def __call__(self, name: str, *value: Any) -> str:
        """``name`` as these terms say it, with ``value`` when one is given (``out=/x``, ``--out /x``)."""
        said = self.names.get(name, name)
        if not value:
            return said
        return f"{said} {value[0]}" if self.flags else f"{said}={value[0]}"


NOTEBOOK_TERMS = Terms({"resume": "resume=True"})
CLI_TERMS = Terms({"out": "--out", "grid": "--grid", "notebook": "NOTEBOOK", "params": "-p", "resume": "--resume",
                   "parallel": "--parallel"}, flags=True)
_TERMS: contextvars.ContextVar[Terms] = contextvars.ContextVar("augment_sweep_terms", default=NOTEBOOK_TERMS)


@contextlib.contextmanager
def cli_terms() -> Any:
    """Within it, a sweep's refusals name ``augment sweep``'s flags, not a notebook's parameters."""
    token = _TERMS.set(CLI_TERMS)
    try:
        yield
    finally:
        _TERMS.reset(token)


def _t(name: str, *value: Any) -> str:
    return _TERMS.get()(name, *value)


def write_results(path: str | os.PathLike[str] | None, results: Mapping[str, Any] | None = None,
                  **fields: Any) -> Path | None:
    """Write a run's results as JSON, for a sweep to collect (a notebook's last cell).

    Args:
        path: the notebook's ``results_path`` parameter; ``None`` writes nothing.
        results: a mapping of results (e.g. :func:`augment.jobs.results`).
        fields: more fields, added to ``results``.

    Returns:
        The path written, or ``None``.
    """
    if not path:
        return None
    from augment.files import write_output

    text = json.dumps(_locations_redacted({**(results or {}), **fields}), indent=2, default=str)
    return write_output(path, text, flag="results_path")


def _locations_redacted(value: Any) -> Any:
    """``value`` with the account id taken out of every S3 URI, ARN and AWS host in it (Studio's
    default bucket is named after the account); digests and other numbers are left alone."""
    from augment.redact import redact

    if isinstance(value, str):
        return redact(value) if value.startswith(("s3://", "arn:")) or ".amazonaws.com" in value else value
    if isinstance(value, Mapping):
        return {k: _locations_redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_locations_redacted(v) for v in value]
    return value


def sweep_folder(out: str | os.PathLike[str] | None = None) -> Path:
    """A sweep's folder, created: ``out``, or a new one under the temporary directory for ``None``.

    Raises:
        UsageError: ``out`` is a file, or cannot be created.
    """
    import tempfile

    path = Path(expand(out)) if out is not None else Path(tempfile.mkdtemp(prefix="augment-sweep-"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{_t('out', out)}: a file is in the way, not a folder; name a folder for the sweep") \
            from None
    except OSError as e:
        raise UsageError(f"{_t('out', out)}: cannot create it ({e.strerror or e}); name a folder you may write to") \
            from None
    return path


def find_notebook(notebook: str | os.PathLike[str], beside: str | os.PathLike[str] | None = None) -> Path:
    """The notebook a sweep runs: a path as given; a bare name beside the notebook that runs
    the sweep first, then in the current folder.

    A notebook's kernel starts in the folder papermill or Jupyter started in, not always
    the notebook's own (``papermill notebooks/05_parameter_sweep.ipynb out.ipynb`` from the
    repository's root), where an executed copy of the swept notebook may lie. So a relative
    name is looked for in ``beside`` (notebook 05 passes :func:`notebook_folder`), then
    beside the running notebook as Jupyter names it (``JPY_SESSION_NAME``), then in the
    current folder, then among the kit's notebooks (the ``notebooks/`` folder of the
    checkout the package is installed from).

    Returns:
        The notebook's absolute path.

    Raises:
        UsageError: it is in none of those places (each is named).
    """
    path = Path(expand(notebook))
    if path.is_absolute():
        places = [path]
    else:
        folders = [] if beside is None else [Path(expand(beside))]
        session = _session_folder()
        if session is not None:
            folders.append(session)
        folders += [Path.cwd(), KIT_NOTEBOOKS]
        places = list(dict.fromkeys(folder.resolve() / path for folder in folders))
    for place in places:
        if place.is_file():
            return place.resolve()
    raise UsageError(f"{_t('notebook', repr(str(notebook)))}: not found; looked for "
                     f"{', '.join(map(str, places))}. Pass its path")


def _session_folder() -> Path | None:
    """The folder of the notebook whose kernel this is, where Jupyter says (``JPY_SESSION_NAME``)."""
    name = os.environ.get("JPY_SESSION_NAME", "")
    return Path(name).parent if name.endswith(".ipynb") else None


def notebook_folder(name: str = "05_parameter_sweep.ipynb") -> Path | None:
    """The folder of the running notebook ``name``, as far as its kernel can tell: Jupyter's
    session (``JPY_SESSION_NAME``); else the current folder, where it holds ``name`` (JupyterLab,
    ``papermill --cwd``); else the kit's notebooks, where they hold it (papermill from the
    checkout's root); else ``None``. Notebook 05 passes it to :func:`find_notebook`, so that
    its sibling wins over a notebook of that name in the folder papermill started in."""
    session = _session_folder()
    if session is not None:
        return session
    for folder in (Path.cwd(), KIT_NOTEBOOKS):
        if (folder / name).is_file():
            return folder.resolve()
    return None


# --- grids -----------------------------------------------------------------------------------


def parse_value(text: str, what: str) -> Any:
    """A value given as YAML text (``2``, ``true``, ``null``, ``[a, b]``, plain text), read as
    strictly as a spec (a key given twice is refused).

    Args:
        text: the YAML.
        what: names the value in errors (``-p copies``).

    Raises:
        UsageError: not valid YAML, naming ``what`` and where.
    """
    from augment.spec import YAMLRefused, load_yaml_strict

    try:
        return load_yaml_strict(text)
    except YAMLRefused as e:
        raise UsageError(f"{what}: {e}") from None


MAX_GRID_BYTES = 1_000_000
"""The largest grid file read (a grid is a few lines)."""


def load_grid(grid: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The runs of a grid: a YAML file, a mapping name -> list of values (the product),
    or a list of mappings (one run each).

    Raises:
        UsageError: a file that is missing, not UTF-8 or not valid YAML, a key given
            twice, a grid of another shape, or with no runs.
    """
    if isinstance(grid, (str, os.PathLike)):
        named = _t("grid", grid)
        path = Path(expand(grid))
        if not path.is_file():
            raise UsageError(f"{named}: no such file")
        try:
            with path.open("rb") as f:
                data = f.read(MAX_GRID_BYTES + 1)
        except OSError as e:
            raise UsageError(f"{named}: cannot read it ({e.strerror or e})") from None
        if len(data) > MAX_GRID_BYTES:
            raise UsageError(f"{named}: over {MAX_GRID_BYTES:,} bytes; is this the right file?")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise UsageError(f"{named}: not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}); "
                             "save it as UTF-8 YAML") from None
        grid = parse_value(text, named)
    if isinstance(grid, Mapping):
        names = list(grid)
        values = [v if isinstance(v, list) else [v] for v in grid.values()]
        runs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
        if not names:
            runs = []
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and all(isinstance(r, Mapping) for r in grid):
        runs = [dict(r) for r in grid]
    else:
        raise UsageError(f"{_t('grid')}: a mapping of parameter names to lists of values, or a list of runs "
                         "(mappings)")
    if not runs:
        raise UsageError(f"{_t('grid')}: no runs (an empty list of values?)")
    bad = next((k for run in runs for k in run if not isinstance(k, str)), None)
    if bad is not None:
        raise UsageError(f"{_t('grid')}: parameter names are text; {bad!r} is not one")
    return runs


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares in its cell tagged ``parameters``, by name
    (``papermill.inspect_notebook``: inferred type, default, help).

    Raises:
        UsageError: no such notebook, a file that is not a Jupyter notebook, or no
            ``parameters`` cell.
    """
    import papermill

    path = Path(notebook)
    if not path.is_file():
        raise UsageError(f"{_t('notebook', notebook)}: no such file")
    _check_notebook(path)
    found = papermill.inspect_notebook(str(path))
    if not found:
        raise UsageError(f"{_t('notebook', notebook)}: no cell tagged 'parameters'; tag the cell that sets the "
                         "defaults (papermill injects a run's values after it)")
    return dict(found)


def _check_notebook(path: Path) -> None:
    """Refuse a file that is not a Jupyter notebook (version 4) before papermill reads it."""
    import nbformat

    def refuse(why: str) -> UsageError:
        return UsageError(f"{_t('notebook', path)}: not a Jupyter notebook ({why}); name an .ipynb file")

    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text)
    except OSError as e:
        raise UsageError(f"{_t('notebook', path)}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise refuse(f"not JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise refuse("no list of cells")
    if not isinstance(data.get("nbformat"), int) or data["nbformat"] < 4:
        raise refuse(f"nbformat {data.get('nbformat')!r}; papermill needs version 4")
    try:
        nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat's validation raises jsonschema's errors, among others
        raise refuse(f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None


def check_parameters(notebook: str | os.PathLike[str], names: Iterable[str]) -> None:
    """Refuse parameter names the notebook does not declare.

    Raises:
        UsageError: naming the unknown names and the notebook's parameters.
    """
    known = notebook_parameters(notebook)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UsageError(f"{Path(notebook).name} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters: {', '.join(known)}")


def slug(params: Mapping[str, Any], limit: int = 80) -> str:
    """A readable, file-safe name for a run: ``spec-light_copies-2`` (paths by their
    stem; a hash is added when the name would be longer than ``limit``)."""
    parts = []
    for name, value in params.items():
        is_path = isinstance(value, str) and ("/" in value or Path(value).suffix in (".yaml", ".yml", ".json"))
        text = Path(value).stem if is_path else str(value)
        parts.append(f"{name}-{text}")
    name = re.sub(r"[^A-Za-z0-9.=-]+", "_", "_".join(parts)).strip("_.") or "run"
    if len(name) > limit:
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
        name = f"{name[: limit - 9]}-{digest}"
    return name


def jitter_specs(strengths: Sequence[float], base: str = "light", folder: str | os.PathLike[str] = ".") -> list[str]:
    """Spec files that differ from ``base`` only in ColorJitter's strength (brightness,
    contrast and saturation all set to each value), for a grid's ``spec`` values.

    Args:
        strengths: one spec per strength, from 0 (no jitter).
        base: a preset name or spec file (a ColorJitter is added at the end when it has none).
        folder: where the files go (``<base>-jitter<strength>.yaml``).

    Returns:
        The files' paths.

    Raises:
        SpecError: a strength ColorJitter refuses.
    """
    from augment.spec import load_spec

    spec = load_spec(base)  # "~/my.yaml" too
    stem = Path(expand(base)).stem
    folder = Path(expand(folder))
    paths = []
    for strength in strengths:
        jitter = {"brightness": strength, "contrast": strength, "saturation": strength}
        ops = [dict(op) for op in spec.ops]
        where = [i for i, op in enumerate(ops) if "ColorJitter" in op]
        if where:
            ops[where[0]] = {"ColorJitter": {**ops[where[0]]["ColorJitter"], **jitter}}
        else:
            ops.append({"ColorJitter": jitter})
        path = folder / f"{stem}-jitter{strength:g}.yaml"
        _write_once(path, spec.replace(ops=ops).to_yaml())
        paths.append(str(path))
    return paths


def _write_once(path: Path, text: str) -> None:
    """Write ``path``, unless it holds ``text`` already; never over other contents: a sweep's
    ``specs/`` are what its runs read, and a second sweep into its folder (refused when it
    claims the folder, after this) must leave them as they are.

    Raises:
        UsageError: ``path`` holds something else, or cannot be written.
    """
    from augment.locations import create_once

    try:
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if create_once(path, text.encode("utf-8")):
            return
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}; name a folder you may write to") from None
    raise UsageError(f"{path} already holds another spec (a sweep's, whose runs read it): it is left as it is. "
                     f"Give the sweep a new {_t('out')}, or another folder")


# --- running ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One run of a sweep and what came of it."""

    name: str
    parameters: dict[str, Any]
    status: str = "pending"
    duration_s: float | None = None
    error: str | None = None
    failed_cell: int | None = None
    failed_source: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    notebook: str = ""
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "parameters": self.parameters,
                "papermill": {"duration_s": self.duration_s, "exception": self.error,
                              "failed_cell": self.failed_cell, "failed_source": self.failed_source,
                              "notebook": self.notebook},
                "results": self.results}


MIN_WORK_S = 5.0
"""A run that worked less than this many seconds says more about start-up and timer
granularity than about throughput: its images/s is not shown as a measurement."""


@dataclass
class Sweep:
    """A sweep's runs and where they went.

    Attributes:
        axes: the parameters the grid varies (the table's columns; the fixed ones are
            in every run's record and in ``summary.csv``).
    """

    notebook: str
    out: Path
    runs: list[Run]
    seconds: float = 0.0
    axes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.status != "completed"]

    def rows(self) -> list[dict[str, Any]]:
        """Everything about every run, one row each (``summary.csv``): name, status, duration,
        parameters, the notebook's results (lists and mappings as JSON; a name that is
        already a column gets ``results.`` before it), error."""
        rows = []
        for r in self.runs:
            row: dict[str, Any] = {"run": r.name, "status": r.status, "duration_s": r.duration_s, **r.parameters}
            for key, value in r.results.items():
                column = f"results.{key}" if key in row else key  # the run's own status and parameters win
                row[column] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
            row["error"] = r.error or ""
            rows.append(row)
        return rows

    def table(self) -> list[dict[str, Any]]:
        """What a user compares, one row per run: run, status, the swept parameters (a file
        by its name), ``outputs`` (images written) and ``images/s`` where the notebook
        reports them (``-`` for a run that worked too little to measure, see :meth:`note`),
        error. Everything else is in :meth:`rows`."""
        shows_written = any("written" in r.results for r in self.runs)
        shows_rate = any("images_per_s" in r.results for r in self.runs)
        rows = []
        for r in self.runs:
            row: dict[str, Any] = {"run": r.name, "status": r.status}
            row.update({axis: _shown(r.parameters.get(axis)) for axis in self.axes})
            if shows_written:
                row["outputs"] = r.results.get("written")
            if shows_rate:
                rate = r.results.get("images_per_s")
                row["images/s"] = "-" if rate is not None and _too_little_work(r) else rate
            row["error"] = r.error or ""
            rows.append(row)
        return rows

    def note(self) -> str:
        """Why some runs show no images/s (empty when all do)."""
        small = [r for r in self.runs if "images_per_s" in r.results and _too_little_work(r)]
        if not small:
            return ""
        seconds = sorted(float(r.results["work_s"]) for r in small)
        span = f"{seconds[0]:.2g} s" if seconds[0] == seconds[-1] else f"{seconds[0]:.2g}-{seconds[-1]:.2g} s"
        who = "every run" if len(small) == len(self.runs) else plural(len(small), "run")
        return (f"images/s not shown: {who} worked {span}, under {MIN_WORK_S:g} s, too little work to measure a "
                "throughput (start-up and timing dominate). To compare speeds, sweep more inputs or copies.")

    def line(self) -> str:
        return (f"sweep of {Path(self.notebook).name}: {plural(len(self.runs), 'run')}, "
                f"{len(self.runs) - len(self.failed)} completed, {len(self.failed)} failed, in {self.seconds:.1f} s "
                f"-> {self.out}")

    def text(self) -> str:
        """The line, the table as aligned plain text, and the note."""
        parts = [self.line(), "", text_table(self.table())]
        if self.note():
            parts.append(self.note())
        return "\n".join(parts).rstrip("\n") + "\n"

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        # HTML, not Markdown: JupyterLab typesets $...$ in Markdown (and bare HTML) as LaTeX
        note = f"<p>{html.escape(self.note())}</p>" if self.note() else ""
        return plain_html(f"<p>{html.escape(self.line())}</p>{html_table(self.table())}{note}")


def _too_little_work(run: Run) -> bool:
    work = run.results.get("work_s")
    return isinstance(work, int | float) and work < MIN_WORK_S


def _shown(value: Any) -> Any:
    """A parameter as the table shows it: a file or folder by its name (the full path is in the CSV)."""
    if isinstance(value, str) and os.path.isabs(value):
        return Path(value).name
    return value


def _kernel_options() -> dict[str, Any]:
    """papermill's options for a kernel that talks over local sockets (IPC) in a folder of
    its own: over TCP every kernel logs a warning (in red, in a notebook) that its traffic
    is not encrypted."""
    if os.name != "posix":
        return {}
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = Config()
    config.KernelManager.transport = "ipc"
    # the sockets' path prefix: unique, as runs in parallel would pick the same names (jupyter_client's
    # default is "kernel-ipc" in the current folder)
    config.KernelManager.ip = str(runtime / f"augment-{uuid.uuid4().hex[:12]}-ipc")
    return {"config": config}


def _run_one(notebook: str, output: str, parameters: dict[str, Any], cwd: str, kernel_name: str,
             execution_timeout: float | None) -> dict[str, Any]:
    """Execute one run with papermill; return its outcome (this may run in another process)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.monotonic()
    outcome: dict[str, Any] = {"status": "completed", "error": None, "failed_cell": None, "failed_source": None}
    try:
        papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=kernel_name, cwd=cwd,
                                   progress_bar=False, execution_timeout=execution_timeout, **_kernel_options())
    except PapermillExecutionError as e:
        outcome.update(status="failed", error=f"{e.ename}: {e.evalue}", failed_source=e.source,
                       failed_cell=_failed_cell(output))
    except Exception as e:  # a kernel that died or never started: the run failed; the sweep goes on
        outcome.update(status="failed", error=f"{type(e).__name__}: {e}")
    outcome["duration_s"] = round(time.monotonic() - start, 2)
    return outcome


def _failed_cell(notebook: str) -> int | None:
    """The index, in the executed notebook as saved (papermill adds cells to it), of the
    first code cell with an error output."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return None
    return next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                 and any(o.get("output_type") == "error" for o in cell.get("outputs", []))), None)


def run_sweep(notebook: str | os.PathLike[str], grid: Any, out: str | os.PathLike[str], *,
              params: Mapping[str, Any] | None = None, parallel: int = 1, resume: bool = False,
              kernel_name: str = KERNEL, execution_timeout: float | None = None, progress: bool = True) -> Sweep:
    """Run ``notebook`` once per grid point with papermill and collect the results.

    Args:
        notebook: the notebook to run (its folder is each run's working directory).
        grid: see :func:`load_grid`.
        out: the sweep's folder (created, and claimed: see the module's notes).
        params: parameters every run gets (a grid point's own values win).
        parallel: notebooks running at once (each in a process of its own).
        resume: finish the sweep that ``out`` holds (the same notebook, grid and ``params``):
            runs whose ``<run>.json`` records a completed run are kept, the others run.
        kernel_name: the Jupyter kernel (``python3``: this environment's).
        execution_timeout: seconds a cell may run (default: no limit).
        progress: one ``tqdm.auto`` bar across the runs.

    Returns:
        The :class:`Sweep`; ``summary.csv``, ``summary.md`` and ``figure.png`` are written.

    Raises:
        UsageError: an unknown parameter name, a bad grid or notebook, ``parallel < 1``,
            an ``out`` that holds another sweep (or this one, without ``resume``), or one
            that is running: all before any run.
    """
    from tqdm.auto import tqdm

    if parallel < 1:
        raise UsageError(f"{_t('parallel')} must be >= 1, got {parallel}")
    notebook = Path(expand(notebook)).resolve()
    points = load_grid(grid)
    check_parameters(notebook, {name for p in [*points, params or {}] for name in p})
    declared = notebook_parameters(notebook)
    out = Path(expand(out)).resolve()
    runs = _named_runs(points, params or {})
    axes = list(dict.fromkeys(name for point in points for name in point))
    fixed = {key: _from_here(value) for key, value in (params or {}).items()}
    grid_points = [{"run": run.name, **{key: _from_here(value) for key, value in point.items()}}
                   for run, point in zip(runs, points, strict=True)]
    files = _file_digests([*fixed.values(), *(v for point in grid_points for v in point.values())])
    claim = _claim(out, {"notebook": str(notebook), "grid": grid_points, "params": fixed, "files": files}, resume)
    with claim:
        (out / RESULTS).mkdir(exist_ok=True)
        todo = [run for run in runs if not (resume and _restored(run, out / f"{run.name}.json"))]
        start = time.monotonic()
        bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run", desc=f"sweep {notebook.stem}",
                   disable=not progress)

        def args(run: Run) -> tuple[Any, ...]:
            parameters = dict(run.parameters)
            if "results_path" in declared:
                results = out / RESULTS / f"{run.name}.json"
                results.unlink(missing_ok=True)  # an earlier attempt's: a run that fails early must not show it
                parameters["results_path"] = str(results)
            images = _images_folder(out, run, declared)
            if images is not None:
                shutil.rmtree(images, ignore_errors=True)  # an earlier attempt's, which the job would refuse
                parameters["output"] = str(images)
            return (str(notebook), str(out / f"{run.name}.ipynb"), parameters, str(notebook.parent), kernel_name,
                    execution_timeout)

        def done(run: Run, outcome: dict[str, Any]) -> None:
            _finish(run, outcome, out)
            bar.update()
            bar.set_postfix(failed=sum(r.status == "failed" for r in runs), refresh=False)

        try:
            if parallel == 1:
                for run in todo:
                    done(run, _run_one(*args(run)))
            else:
                # each run in a process of its own: kernels, event loops and papermill's state stay apart
                with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
                    futures = {pool.submit(_run_one, *args(run)): run for run in todo}
                    for future in as_completed(futures):
                        done(futures[future], future.result())
        finally:
            bar.close()
        sweep = Sweep(str(notebook), out, runs, round(time.monotonic() - start, 2), axes)
        write_summary(sweep)
    return sweep


OUTPUTS = "outputs"
"""Where, under a sweep's folder, each run's images go (``outputs/<run>/``)."""


def _images_folder(out: Path, run: Run, declared: Mapping[str, Mapping[str, Any]]) -> Path | None:
    """Where the sweep puts a run's images: ``<out>/outputs/<run>/`` for a notebook with an
    ``output`` parameter that the run leaves at ``None`` (a new folder under the temporary
    directory, for notebooks 03 and 04), on the local backend; else ``None`` (the
    notebook's own choice: S3 on SageMaker, or the folder given)."""
    if "output" not in declared or _value(run, "output", declared) is not None:
        return None
    if "backend" in declared and _value(run, "backend", declared) != "local":
        return None
    return out / OUTPUTS / run.name


def _value(run: Run, name: str, declared: Mapping[str, Mapping[str, Any]]) -> Any:
    """A run's value of a parameter: its own, else the notebook's default (as papermill read its source)."""
    import ast

    if name in run.parameters:
        return run.parameters[name]
    try:
        return ast.literal_eval(str(declared[name].get("default")))
    except (ValueError, SyntaxError):
        return object()  # an expression: not a value the sweep can judge


CLAIM = "sweep.json"


def _claim(out: Path, identity: dict[str, Any], resume: bool) -> BinaryIO:
    """Claim ``out`` for this sweep, before any run: ``sweep.json`` (the notebook, the grid
    with its run names, the fixed parameters, when it started) is created whole and only
    once (:func:`~augment.locations.create_once`), then locked while the sweep runs.

    Returns:
        ``sweep.json``, open and locked: closing it ends the claim.

    Raises:
        UsageError: ``out`` is a file or cannot be written; it holds another sweep (named);
            it holds this one and ``resume`` is false; or a sweep is running there.
    """
    from augment.locations import create_once

    identity = json.loads(json.dumps(identity, default=str))  # as it reads back: tuples are lists, paths text
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    path = out / CLAIM
    named_out, new_out = _t("out", out), f"use a new {_t('out')}"
    sweep_folder(out)
    try:
        created = create_once(path, json.dumps({**identity, "started": stamp}, indent=1).encode())
        lock = open(path, "rb")  # the claim, held until the sweep ends
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise UsageError(f"{named_out}: {path} is in the way (not a sweep's file); {new_out}") from None
    except OSError as e:
        raise UsageError(f"{named_out}: cannot write there ({e.strerror or e}); name a folder you may write to") \
            from None
    if not _locked(lock):
        lock.close()
        raise UsageError(f"{named_out}: a sweep is running there (another process); wait for it to end, or "
                         f"{new_out}") from None
    if created:
        return lock
    try:
        first = json.loads(lock.read().decode("utf-8"))
        if not isinstance(first, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        lock.close()
        raise UsageError(f"{named_out}: its {CLAIM} is damaged ({e}); {new_out}") from None
    differ = [what for key, what in (("notebook", "another notebook"), ("grid", "another grid"),
                                     ("params", f"other fixed parameters ({_t('params')})"))
              if first.get(key) != identity[key]]
    if not differ and first.get("files") != identity["files"]:
        before = first.get("files") if isinstance(first.get("files"), dict) else {}
        edited = [name for name, digest in identity["files"].items() if before.get(name) != digest]
        differ.append(f"files whose contents changed since ({', '.join(edited) or 'none recorded then'})")
    grid = first.get("grid") if isinstance(first.get("grid"), list) else []
    named = (f"the sweep of {Path(str(first.get('notebook'))).name} started {first.get('started', '?')}, "
             f"{plural(len(grid), 'run')}")
    if differ:
        lock.close()
        raise UsageError(f"{named_out} holds another sweep ({named}; this one has {' and '.join(differ)}): its "
                         f"records would mix with this one's. {new_out[0].upper()}{new_out[1:]}")
    if not resume:
        lock.close()
        raise UsageError(f"{named_out} already holds this sweep ({named}): pass {_t('resume')} to finish it, or "
                         f"{new_out}")
    return lock


def _locked(claim: BinaryIO) -> bool:
    """Lock the open claim for this process; ``False`` when another process holds it. Where
    there are no such locks (not POSIX, a file system without them), the claim alone
    refuses another sweep."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return True
    try:
        fcntl.flock(claim.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        pass
    return True


def _file_digests(values: Iterable[Any]) -> dict[str, str]:
    """The SHA-256 of every file among ``values`` (absolute paths, as :func:`_from_here`
    makes them): a sweep's identity holds what its spec files say, not only their names,
    so a spec edited between a sweep and its resume is not mixed into one summary."""
    digests = {}
    for value in values:
        if isinstance(value, str) and os.path.isabs(value) and os.path.isfile(value):
            try:
                digests[value] = hashlib.sha256(Path(value).read_bytes()).hexdigest()
            except OSError:
                continue  # unreadable here: the run that reads it says why
    return dict(sorted(digests.items()))


def _named_runs(points: list[dict[str, Any]], params: Mapping[str, Any]) -> list[Run]:
    """A run per grid point, named by the point's own values (``params``, the same for
    every run, are left out of the name, not out of the run)."""
    runs: list[Run] = []
    seen: set[str] = set()
    for point in points:
        name = slug(point)
        if name in seen:  # two points that read the same (e.g. two files named alike)
            name = f"{name}-{hashlib.sha256(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:6]}"
        seen.add(name)
        runs.append(Run(name, {key: _from_here(value) for key, value in {**params, **point}.items()}))
    return runs


def _from_here(value: Any) -> Any:
    """A relative path that exists here, made absolute: each run's working folder is the
    notebook's, where ``-p input=photos/`` or a grid's ``spec: my.yaml`` would not be found.

    A preset's name stays a name unless a *file* of that name is here, as
    :func:`~augment.spec.load_spec` reads it: a folder called ``light`` is no spec.
    """
    if not isinstance(value, str) or not value or is_s3(value) or os.path.isabs(value) \
            or not os.path.exists(value):
        return value
    from augment.spec import list_presets

    if value in list_presets() and not os.path.isfile(value):
        return value
    return os.path.abspath(value)


def _restored(run: Run, path: Path) -> bool:
    """Take a completed run's outcome from its record; ``False`` (run it again) for a
    record that is missing, damaged, of another run, or of a run that did not complete."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("status") != "completed" \
            or record.get("parameters") != _as_recorded(run.parameters):
        return False
    meta = record.get("papermill") if isinstance(record.get("papermill"), dict) else {}
    results = record.get("results") if isinstance(record.get("results"), dict) else {}
    run.status, run.results, run.skipped = "completed", dict(results), True
    run.duration_s, run.error = meta.get("duration_s"), meta.get("exception")
    run.failed_cell, run.failed_source, run.notebook = meta.get("failed_cell"), meta.get("failed_source"), \
        meta.get("notebook", "")
    return True


def _as_recorded(value: Any) -> Any:
    """``value`` as a run's record holds it (:func:`_finish`): locations redacted, JSON's types."""
    return json.loads(json.dumps(_locations_redacted(value), default=str))


def _finish(run: Run, outcome: Mapping[str, Any], out: Path) -> None:
    run.status, run.duration_s, run.error = outcome["status"], outcome["duration_s"], outcome["error"]
    run.failed_cell, run.failed_source = outcome["failed_cell"], outcome["failed_source"]
    run.notebook = str(out / f"{run.name}.ipynb")
    written = out / RESULTS / f"{run.name}.json"
    run.results = {}
    if written.is_file():
        try:
            results = json.loads(written.read_text(encoding="utf-8"))
            if not isinstance(results, dict):
                raise ValueError(f"a JSON {type(results).__name__}, not an object")
            run.results = results
        except (OSError, ValueError) as e:  # the run's fault, not the sweep's: recorded, and the others go on
            if run.status == "completed":
                run.status = "failed"
                run.error = f"its results_path {written} is not a JSON object ({e}); write it with " \
                            "augment.sweep.write_results"
    from augment.files import write_output

    write_output(out / f"{run.name}.json", json.dumps(_locations_redacted(run.to_dict()), indent=2, default=str),
                 flag=_t("out"))


# --- summary ----------------------------------------------------------------------------------


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as a Markdown table (columns in order of first appearance); ``$`` is
    escaped, as Markdown viewers (JupyterLab's) typeset ``$...$`` as LaTeX."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        return ("" if value is None else str(value)).replace("|", "\\|").replace("$", "\\$").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as an HTML table, every value escaped (wrap it with :func:`~augment.text.plain_html`)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{cell(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as plain text in aligned columns (for a terminal)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[str(c) for c in columns]] + [["" if row.get(c) is None else str(row.get(c)).replace("\n", " ")
                                           for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "".join("  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip() + "\n"
                   for line in cells)


def write_summary(sweep: Sweep) -> None:
    """Write ``summary.csv`` (every field of every run), ``summary.md`` (the table a user
    compares) and ``figure.png`` into the sweep's folder, each whole or not at all."""
    from augment.files import write_output

    rows = sweep.rows()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_output(sweep.out / "summary.csv", buf.getvalue(), flag=_t("out"))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = f"\n{sweep.note()}\n" if sweep.note() else ""
    head = f"# Sweep of {Path(sweep.notebook).name}\n\n{sweep.line()} ({stamp})\n\n".replace("$", "\\$")
    md = f"{head}{markdown_table(sweep.table())}{note}\nEvery field of every run: summary.csv.\n"
    write_output(sweep.out / "summary.md", md, flag=_t("out"))
    png = io.BytesIO()
    figure(sweep).savefig(png, format="png", dpi=110)
    write_output(sweep.out / "figure.png", png.getvalue(), flag=_t("out"))


def _sample_image(output: str, source: str | None) -> tuple[Any, str] | None:
    """The first ok output of ``source`` (or of the first source) in a run's output folder."""
    import PIL.Image

    from augment.manifest import read_manifest

    root = Path(output)
    records = [r for m in sorted(root.glob("_augment/manifest-*.jsonl")) for r in read_manifest(m)
               if r.get("status") == "ok" and r.get("copy", 0) >= 0]
    if not records:
        return None
    sources = sorted({r["source"] for r in records})
    pick = source if source in sources else sources[0]
    record = min((r for r in records if r["source"] == pick), key=lambda r: r["copy"])
    with PIL.Image.open(root / record["output"]) as img:
        return img.convert("RGB"), pick


def figure(sweep: Sweep, source: str | None = None) -> Any:
    """One sample image under every parameter set (the first copy of the same input in
    each run's output), and each run's throughput.

    Args:
        sweep: a finished sweep; a run's results name its ``output`` folder and
            ``images_per_s``.
        source: the input to show (default: the first input, by name, of each run).

    Returns:
        A matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    runs = sweep.runs
    cols = min(len(runs), 4)
    rows = -(-len(runs) // cols)
    fig = plt.figure(figsize=(3.2 * cols, 3.2 * rows + 2.8))
    plt.close(fig)  # shown once, when a notebook cell returns it (pyplot would show it again)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[3.2] * rows + [2.6])
    for i, run in enumerate(runs):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        ax.set_axis_off()
        output = run.results.get("output")
        sample = _sample_image(output, source) if output and not is_s3(str(output)) else None
        if sample is not None:
            ax.imshow(sample[0])
            ax.set_title(f"{run.name}\n{sample[1]}", fontsize="x-small")
        else:
            why = run.error or ("no local output to show" if run.status == "completed" else run.status)
            ax.text(0.5, 0.5, why[:120], ha="center", va="center", wrap=True, fontsize="x-small", color="crimson")
            ax.set_title(run.name, fontsize="x-small")
    ax = fig.add_subplot(grid[rows, :])
    names = [r.name for r in runs]
    measured = [r.status == "completed" and not _too_little_work(r) for r in runs]
    rates = [float(r.results.get("images_per_s") or 0.0) if m else 0.0 for r, m in zip(runs, measured, strict=True)]
    ax.bar(range(len(runs)), rates, color=["tab:blue" if r.status == "completed" else "tab:red" for r in runs])
    for i, run in enumerate(runs):
        if run.status == "completed" and not measured[i]:
            ax.text(i, 0, "too little work\nto measure", ha="center", va="bottom", fontsize="x-small", color="dimgray")
    ax.set_xticks(range(len(runs)), names, rotation=20, ha="right", fontsize="x-small")
    ax.set_ylabel("images / s")
    title = "throughput of each run (red: failed)"
    if not any(measured):
        title = f"no throughput measured: every run worked under {MIN_WORK_S:g} s (sweep more inputs or copies)"
        ax.set_yticks([])
    ax.set_title(title, fontsize="small")
    fig.tight_layout()
    return fig
