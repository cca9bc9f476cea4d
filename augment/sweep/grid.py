"""A sweep's grid: a YAML file, a mapping of names to lists of values (their product) or a
list of runs; each point named by its own values (:func:`slug`), its relative paths made
absolute where the sweep started; and the ColorJitter specs notebook 05 sweeps."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.storage import expand, is_s3
from augment.sweep.record import Run


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
        named = f"grid={grid}"
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
        raise UsageError("grid=: a mapping of parameter names to lists of values, or a list of runs "
                         "(mappings)")
    if not runs:
        raise UsageError("grid=: no runs (an empty list of values?)")
    bad = next((k for run in runs for k in run if not isinstance(k, str)), None)
    if bad is not None:
        raise UsageError(f"grid=: parameter names are text; {bad!r} is not one")
    return runs


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
                     f"Give the sweep a new out=, or another folder")
