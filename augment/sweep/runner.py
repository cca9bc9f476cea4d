""":func:`run_sweep`: a notebook once per point of a grid, each run in the sweep's claimed
folder with its images beside it, one at a time or several in processes of their own; then
the summary. The grid, the claim, one run and the summary are each a module of their own."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.storage import expand
from augment.sweep.claim import _claim, _file_digests
from augment.sweep.execute import KERNEL, _run_one
from augment.sweep.grid import _from_here, _named_runs, load_grid
from augment.sweep.notebook import check_parameters, notebook_parameters
from augment.sweep.record import RESULTS, Run, _finish, _restored
from augment.sweep.summary import Sweep, write_summary


def run_sweep(notebook: str | os.PathLike[str], grid: Any, out: str | os.PathLike[str], *,
              params: Mapping[str, Any] | None = None, parallel: int = 1, resume: bool = False,
              kernel_name: str = KERNEL, execution_timeout: float | None = None, progress: bool = True) -> Sweep:
    """Run ``notebook`` once per grid point with papermill and collect the results.

    Args:
        notebook: the notebook to run (its folder is each run's working directory).
        grid: see :func:`~augment.sweep.grid.load_grid`.
        out: the sweep's folder (created, and claimed: see :mod:`augment.sweep`).
        params: parameters every run gets (a grid point's own values win).
        parallel: notebooks running at once (each in a process of its own).
        resume: finish the sweep that ``out`` holds (the same notebook, grid and ``params``):
            runs whose ``<run>.json`` records a completed run are kept, the others run.
        kernel_name: the Jupyter kernel (``python3``: this environment's).
        execution_timeout: seconds a cell may run (default: no limit).
        progress: one ``tqdm.auto`` bar across the runs.

    Returns:
        The :class:`~augment.sweep.summary.Sweep`; ``summary.csv``, ``summary.md`` and ``figure.png`` are written.

    Raises:
        UsageError: an unknown parameter name, a bad grid or notebook, ``parallel < 1``,
            an ``out`` that holds another sweep (or this one, without ``resume``), or one
            that is running: all before any run.
    """
    from tqdm.auto import tqdm

    if parallel < 1:
        raise UsageError(f"parallel={parallel}: must be >= 1")
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
