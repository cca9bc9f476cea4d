"""Parameter sweeps: run one notebook over a grid with papermill, and collect what
every run did.

A grid is a mapping from parameter names to lists of values (their product is run)
or an explicit list of runs (mappings). For each run the sweep writes, under ``out``:

* ``<run>.ipynb``: the executed notebook, ``<run>`` a readable slug of its parameters;
* ``<run>.json``: the run's parameters, status, papermill's metadata (duration,
  exception, the failing cell) and the notebook's own results, which the notebook
  wrote to the ``results_path`` the sweep injected (see :func:`write_results`);

and for the sweep, ``summary.csv``, ``summary.md`` and ``figure.png`` (one sample image
under every parameter set, and each run's throughput). A failed run is recorded and
the sweep goes on. Unknown parameter names are refused before any run: papermill
only warns about them, and a typo would run the whole grid with the defaults.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from augment.errors import UsageError
from augment.text import plural

RESULTS = "_results"  # where each run's notebook writes its own results, before the sweep merges them
KERNEL = "python3"


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_locations_redacted({**(results or {}), **fields}), indent=2, default=str))
    tmp.replace(path)
    return path


def _locations_redacted(value: Any) -> Any:
    """``value`` with the account id taken out of every S3 URI, ARN and AWS host in it (Studio's
    default bucket is named after the account); digests and other numbers are left alone."""
    from augment.notebooks import redact

    if isinstance(value, str):
        return redact(value) if value.startswith(("s3://", "arn:")) or ".amazonaws.com" in value else value
    if isinstance(value, Mapping):
        return {k: _locations_redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_locations_redacted(v) for v in value]
    return value


def sweep_folder(out: str | os.PathLike[str] | None = None) -> Path:
    """A sweep's folder, created: ``out``, or a new one under the temporary directory for ``None``."""
    import tempfile

    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="augment-sweep-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- grids -----------------------------------------------------------------------------------


def load_grid(grid: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The runs of a grid: a YAML file, a mapping name -> list of values (the product),
    or a list of mappings (one run each).

    Raises:
        UsageError: a grid of another shape, or with no runs.
    """
    if isinstance(grid, (str, os.PathLike)):
        path = Path(grid)
        if not path.is_file():
            raise UsageError(f"--grid {grid}: no such file")
        grid = yaml.safe_load(path.read_text())
    if isinstance(grid, Mapping):
        names = list(grid)
        values = [v if isinstance(v, list) else [v] for v in grid.values()]
        runs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and all(isinstance(r, Mapping) for r in grid):
        runs = [dict(r) for r in grid]
    else:
        raise UsageError("--grid: a mapping of parameter names to lists of values, or a list of runs (mappings)")
    if not runs:
        raise UsageError("--grid: no runs (an empty list of values?)")
    return runs


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares in its cell tagged ``parameters``, by name
    (``papermill.inspect_notebook``: inferred type, default, help).

    Raises:
        UsageError: no such notebook, or no ``parameters`` cell.
    """
    import papermill

    path = Path(notebook)
    if not path.is_file():
        raise UsageError(f"NOTEBOOK {notebook}: no such file")
    found = papermill.inspect_notebook(str(path))
    if not found:
        raise UsageError(f"NOTEBOOK {notebook}: no cell tagged 'parameters'")
    return dict(found)


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
    from augment.spec import dump_spec, load_spec

    spec = load_spec(base)
    stem = Path(base).stem
    paths = []
    for strength in strengths:
        jitter = {"brightness": strength, "contrast": strength, "saturation": strength}
        ops = [dict(op) for op in spec.ops]
        where = [i for i, op in enumerate(ops) if "ColorJitter" in op]
        if where:
            ops[where[0]] = {"ColorJitter": {**ops[where[0]]["ColorJitter"], **jitter}}
        else:
            ops.append({"ColorJitter": jitter})
        path = Path(folder) / f"{stem}-jitter{strength:g}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(str(dump_spec(spec.replace(ops=ops), path)))
    return paths


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


@dataclass
class Sweep:
    """A sweep's runs and where they went."""

    notebook: str
    out: Path
    runs: list[Run]
    seconds: float = 0.0

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.status != "completed"]

    def table(self) -> list[dict[str, Any]]:
        """One row per run: name, status, duration, parameters, the notebook's results
        (lists and mappings as JSON; a name that is already a column gets ``results.``
        before it), error."""
        rows = []
        for r in self.runs:
            row: dict[str, Any] = {"run": r.name, "status": r.status, "duration_s": r.duration_s, **r.parameters}
            for key, value in r.results.items():
                column = f"results.{key}" if key in row else key  # the run's own status and parameters win
                row[column] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
            row["error"] = r.error or ""
            rows.append(row)
        return rows

    def line(self) -> str:
        return (f"sweep of {Path(self.notebook).name}: {plural(len(self.runs), 'run')}, "
                f"{len(self.runs) - len(self.failed)} completed, {len(self.failed)} failed, in {self.seconds:.1f} s "
                f"-> {self.out}")

    def _repr_markdown_(self) -> str:
        return f"{self.line()}\n\n{markdown_table(self.table())}"


def _run_one(notebook: str, output: str, parameters: dict[str, Any], cwd: str, kernel_name: str,
             execution_timeout: float | None) -> dict[str, Any]:
    """Execute one run with papermill; return its outcome (this may run in another process)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.monotonic()
    outcome: dict[str, Any] = {"status": "completed", "error": None, "failed_cell": None, "failed_source": None}
    try:
        papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=kernel_name, cwd=cwd,
                                   progress_bar=False, execution_timeout=execution_timeout)
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
        out: the sweep's folder (created).
        params: parameters every run gets (a grid point's own values win).
        parallel: notebooks running at once (each in a process of its own).
        resume: skip runs whose ``<run>.json`` records a completed run with the same parameters.
        kernel_name: the Jupyter kernel (``python3``: this environment's).
        execution_timeout: seconds a cell may run (default: no limit).
        progress: one ``tqdm.auto`` bar across the runs.

    Returns:
        The :class:`Sweep`; ``summary.csv``, ``summary.md`` and ``figure.png`` are written.

    Raises:
        UsageError: an unknown parameter name (before any run), a bad grid, or ``parallel < 1``.
    """
    from tqdm.auto import tqdm

    if parallel < 1:
        raise UsageError(f"--parallel must be >= 1, got {parallel}")
    notebook = Path(notebook).resolve()
    points = load_grid(grid)
    check_parameters(notebook, {name for p in [*points, params or {}] for name in p})
    takes_results = "results_path" in notebook_parameters(notebook)
    out = Path(out).resolve()
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    runs = _named_runs(points, params or {})
    start = time.monotonic()
    todo = []
    for run in runs:
        record = out / f"{run.name}.json"
        previous = json.loads(record.read_text()) if resume and record.is_file() else None
        if previous and previous.get("status") == "completed" and previous.get("parameters") == run.parameters:
            _restore(run, previous)
            continue
        todo.append(run)
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run", desc=f"sweep {notebook.stem}",
               disable=not progress)

    def args(run: Run) -> tuple[Any, ...]:
        parameters = dict(run.parameters)
        if takes_results:
            results = out / RESULTS / f"{run.name}.json"
            results.unlink(missing_ok=True)  # an earlier sweep's: a run that fails early must not show it
            parameters["results_path"] = str(results)
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
    sweep = Sweep(str(notebook), out, runs, round(time.monotonic() - start, 2))
    write_summary(sweep)
    return sweep


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
    notebook's, where ``-p input=photos/`` or a grid's ``spec: my.yaml`` would not be found."""
    if isinstance(value, str) and value and not value.startswith("s3://") and not os.path.isabs(value) \
            and os.path.exists(value):
        return os.path.abspath(value)
    return value


def _restore(run: Run, record: Mapping[str, Any]) -> None:
    meta = record.get("papermill", {})
    run.status, run.results, run.skipped = record["status"], dict(record.get("results", {})), True
    run.duration_s, run.error = meta.get("duration_s"), meta.get("exception")
    run.failed_cell, run.failed_source, run.notebook = meta.get("failed_cell"), meta.get("failed_source"), \
        meta.get("notebook", "")


def _finish(run: Run, outcome: Mapping[str, Any], out: Path) -> None:
    run.status, run.duration_s, run.error = outcome["status"], outcome["duration_s"], outcome["error"]
    run.failed_cell, run.failed_source = outcome["failed_cell"], outcome["failed_source"]
    run.notebook = str(out / f"{run.name}.ipynb")
    written = out / RESULTS / f"{run.name}.json"
    run.results = json.loads(written.read_text()) if written.is_file() else {}
    write_results(out / f"{run.name}.json", run.to_dict())


# --- summary ----------------------------------------------------------------------------------


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as a Markdown table (columns in order of first appearance)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        return ("" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_summary(sweep: Sweep) -> None:
    """Write ``summary.csv``, ``summary.md`` and ``figure.png`` into the sweep's folder."""
    rows = sweep.table()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (sweep.out / "summary.csv").write_text(buf.getvalue())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    (sweep.out / "summary.md").write_text(f"# Sweep of {Path(sweep.notebook).name}\n\n{sweep.line()} ({stamp})\n\n"
                                          f"{markdown_table(rows)}")
    figure(sweep).savefig(sweep.out / "figure.png", dpi=110)


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
        sample = _sample_image(output, source) if output and not str(output).startswith("s3://") else None
        if sample is not None:
            ax.imshow(sample[0])
            ax.set_title(f"{run.name}\n{sample[1]}", fontsize="x-small")
        else:
            why = run.error or ("no local output to show" if run.status == "completed" else run.status)
            ax.text(0.5, 0.5, why[:120], ha="center", va="center", wrap=True, fontsize="x-small", color="crimson")
            ax.set_title(run.name, fontsize="x-small")
    ax = fig.add_subplot(grid[rows, :])
    names = [r.name for r in runs]
    rates = [float(r.results.get("images_per_s") or 0.0) for r in runs]
    ax.bar(range(len(runs)), rates, color=["tab:blue" if r.status == "completed" else "tab:red" for r in runs])
    ax.set_xticks(range(len(runs)), names, rotation=20, ha="right", fontsize="x-small")
    ax.set_ylabel("images / s")
    ax.set_title("throughput of each run (red: failed)", fontsize="small")
    fig.tight_layout()
    return fig
