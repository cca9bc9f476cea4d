"""The notebook a sweep runs: where it is (beside notebook 05, beside the running notebook,
in the current folder, among the kit's notebooks), that it is a Jupyter notebook, and the
parameters it declares, so that a name it does not know is refused before any run (papermill
only warns, and a typo would run the whole grid with the defaults)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.storage import expand

KIT_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
"""The kit's notebooks, where the package is installed from a checkout (``pip install -e .``)."""


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
    raise UsageError(f"notebook={str(notebook)!r}: not found; looked for "
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
        raise UsageError(f"notebook={notebook}: no such file")
    _check_notebook(path)
    found = papermill.inspect_notebook(str(path))
    if not found:
        raise UsageError(f"notebook={notebook}: no cell tagged 'parameters'; tag the cell that sets the "
                         "defaults (papermill injects a run's values after it)")
    return dict(found)


def _check_notebook(path: Path) -> None:
    """Refuse a file that is not a Jupyter notebook (version 4) before papermill reads it."""
    import nbformat

    def refuse(why: str) -> UsageError:
        return UsageError(f"notebook={path}: not a Jupyter notebook ({why}); name an .ipynb file")

    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text)
    except OSError as e:
        raise UsageError(f"notebook={path}: cannot read it ({e.strerror or e})") from None
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
