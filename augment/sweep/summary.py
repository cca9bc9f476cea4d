"""What a sweep did, for a user to compare: :class:`Sweep` (every field of every run, the
table of what was swept, a note where a run worked too little to measure a throughput), the
table as Markdown, HTML or text, and ``summary.csv``, ``summary.md`` and ``figure.png`` (one
sample image under every parameter set, and each run's throughput)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augment.storage import is_s3
from augment.sweep.record import Run
from augment.text import plain_html, plural

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
    write_output(sweep.out / "summary.csv", buf.getvalue(), flag="out=")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = f"\n{sweep.note()}\n" if sweep.note() else ""
    head = f"# Sweep of {Path(sweep.notebook).name}\n\n{sweep.line()} ({stamp})\n\n".replace("$", "\\$")
    md = f"{head}{markdown_table(sweep.table())}{note}\nEvery field of every run: summary.csv.\n"
    write_output(sweep.out / "summary.md", md, flag="out=")
    png = io.BytesIO()
    figure(sweep).savefig(png, format="png", dpi=110)
    write_output(sweep.out / "figure.png", png.getvalue(), flag="out=")


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
