"""A plan drawn: cost and wall time against instance count, and where a plot may be saved."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augment.errors import UsageError
from augment.plan._model import MODES
from augment.text import plural

if TYPE_CHECKING:
    from augment.plan._plan import Plan

PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp", "tif", "tiff", "eps", "ps", "svgz")
"""The extensions :meth:`Plan.plot <augment.plan.Plan.plot>` writes (a subset of
matplotlib's, without its raw and LaTeX-only formats)."""


def check_plot_path(path: str | Path, parameter: str = "plot") -> Path:
    """``path`` if a plot can be saved there: a known extension, and a folder that exists
    and can be written.

    Raises:
        UsageError: naming ``parameter``, the path, and what is wrong.
    """
    target = Path(path)
    ext = target.suffix.lower().lstrip(".")
    if ext not in PLOT_FORMATS:
        drawn = "." + ext if ext else "a file without an extension"
        raise UsageError(f"{parameter}={path}: cannot draw a plot as {drawn}; name a file ending in one of "
                         f"{', '.join('.' + f for f in PLOT_FORMATS)}")
    folder = target.parent
    if target.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"cannot write {path}: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"cannot write {path}: permission denied")
    return target


def _save_atomically(fig: Any, target: Path) -> None:
    """Draw the plot, then write it as the kit writes every file (:func:`augment.files.write_output`):
    a reader never sees half a plot."""
    import io

    from augment.files import write_output

    buf = io.BytesIO()
    fig.savefig(buf, format=target.suffix.lower().lstrip("."))  # a pyplot-free Figure: nothing stays open
    write_output(target, buf.getvalue())


def draw(plan: Plan, path: str | Path | None = None) -> Any:
    """:meth:`Plan.plot <augment.plan.Plan.plot>`: the figure, saved to ``path`` when given
    (checked before anything is drawn)."""
    if path is not None:
        check_plot_path(path, "path")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    cost_ax, wall_ax = fig.subplots(1, 2)
    types = sorted({o.instance_type for o in plan.options})
    colors = {m: f"C{i}" for i, m in enumerate(MODES)}  # colour: the mode; marker: the instance type
    markers = dict(zip(types, "osD^vPX*<>", strict=False))
    for mode in MODES:
        for t in types:
            points = sorted((o.instance_count, o.cost_usd, o.wall_s / 3600) for o in plan.options
                            if o.mode == mode and o.instance_type == t)
            if not points:
                continue
            xs, costs, walls = zip(*points, strict=True)
            style = {"color": colors[mode], "marker": markers.get(t, "o"), "label": f"{mode} {t}",
                     "linestyle": "--" if mode == "prefetch" else "-"}  # prefetch often lies on batched
            cost_ax.plot(xs, costs, **style)
            wall_ax.plot(xs, walls, **style)
    handles = [Line2D([], [], color=colors[m], label=m, linestyle="--" if m == "prefetch" else "-")
               for m in MODES if any(o.mode == m for o in plan.options)]
    handles += [Line2D([], [], color="black", marker=markers.get(t, "o"), linestyle="none", label=t) for t in types]
    best = plan.best
    if best is not None:
        cost_ax.plot([best.instance_count], [best.cost_usd], marker="*", markersize=18, color="gold",
                     markeredgecolor="black", linestyle="none")
        handles.append(Line2D([], [], marker="*", markersize=12, color="gold", markeredgecolor="black",
                              linestyle="none", label=f"recommended: {best.label}"))
    counts = sorted({o.instance_count for o in plan.options})
    for ax, label, title in ((cost_ax, "cost (USD)", "cost"), (wall_ax, "wall time (h)", "wall time")):
        ax.set(xlabel="instances at once", ylabel=label, title=title, xscale="log", yscale="log")
        ax.set_xticks(counts)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")
    a = plan.assumptions
    fig.suptitle(f"{plural(a['images'], 'image')} x {plural(a['copies'], 'copy')}, "
                 f"start-up {a['startup_s']:.0f} s per job")
    if path is not None:
        _save_atomically(fig, Path(path))
    return fig

