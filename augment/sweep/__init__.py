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
:func:`augment.locations.create_once`): a second sweep into the same folder is refused,
naming the first, and ``resume`` goes on only with the same notebook, grid and
fixed parameters. The claim is locked while the sweep runs.

A package of one idea per module, the imports going downhill from :mod:`.runner`:

* :mod:`augment.sweep.runner`: :func:`run_sweep`, the runs of a grid and their images.
* :mod:`augment.sweep.grid`: a grid's runs, their names and paths; ColorJitter specs.
* :mod:`augment.sweep.notebook`: the notebook swept, found, checked, its parameters.
* :mod:`augment.sweep.claim`: the sweep's folder, ``sweep.json``, its lock.
* :mod:`augment.sweep.execute`: one run, executed by papermill.
* :mod:`augment.sweep.summary`: :class:`Sweep`, its tables, CSV, Markdown and figure.
* :mod:`augment.sweep.record`: a :class:`Run`, its ``<run>.json``, :func:`write_results`.
"""

from __future__ import annotations

from augment.sweep.claim import CLAIM, sweep_folder
from augment.sweep.execute import KERNEL
from augment.sweep.grid import MAX_GRID_BYTES, jitter_specs, load_grid, parse_value, slug
from augment.sweep.notebook import KIT_NOTEBOOKS, check_parameters, find_notebook, notebook_folder, notebook_parameters
from augment.sweep.record import RESULTS, Run, write_results
from augment.sweep.runner import OUTPUTS, run_sweep
from augment.sweep.summary import MIN_WORK_S, Sweep, figure, html_table, markdown_table, text_table, write_summary

__all__ = [
    "CLAIM", "KERNEL", "KIT_NOTEBOOKS", "MAX_GRID_BYTES", "MIN_WORK_S", "OUTPUTS",
    "RESULTS", "Run", "Sweep", "check_parameters", "figure", "find_notebook", "html_table",
    "jitter_specs", "load_grid", "markdown_table", "notebook_folder", "notebook_parameters", "parse_value",
    "run_sweep", "slug", "sweep_folder", "text_table", "write_results", "write_summary",
]
