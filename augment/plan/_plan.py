"""What :func:`~augment.plan.estimate` returns: the options (:class:`Option`), the plan
that holds them with its recommendation and assumptions (:class:`Plan`), and how both are
shown: a text table, HTML for a notebook, a plot (:mod:`augment.plan._plot`)."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from augment.plan._data import format_duration
from augment.plan._plot import draw
from augment.text import plain_html, plural


@dataclass
class Option:
    """One way of running the work: a mode on an instance type and count.

    For ``batched`` and ``prefetch``, every job has one instance and ``instance_count``
    is how many run at once (``max_in_flight``, or ``ahead``). Times are seconds; the
    ``_low``/``_high`` figures take the start-up range and the throughput range.
    """

    mode: str
    instance_type: str
    instance_count: int
    jobs: int
    wall_s: float
    billed_instance_s: float
    cost_usd: float
    startup_share: float
    throughput_img_s: float
    throughput_source: str
    price_usd_per_h: float
    price_source: str
    wall_s_low: float = 0.0
    wall_s_high: float = 0.0
    cost_usd_low: float = 0.0
    cost_usd_high: float = 0.0
    billed_startup_s: float = 0.0
    sustained_img_s: float = 0.0
    burst_img_s: float = 0.0
    batch_size: int | None = None
    stall_s: float | None = None
    workers: int = 1
    memory_need_mb: float = 0.0
    memory_available_mb: float = 0.0
    memory_fits: bool = True
    proposed_workers: int = 1
    disk_need_gb: int = 0
    volume_gb: int = 0
    volume_cost_usd: float = 0.0
    within_quota: bool = True
    meets_deadline: bool = True
    within_max_cost: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """Within the quota, the deadline and the cost limit."""
        return self.within_quota and self.meets_deadline and self.within_max_cost

    @property
    def label(self) -> str:
        return f"{self.mode} {self.instance_count} x {self.instance_type}"

    def __getitem__(self, key: str) -> Any:  # dict-style access, as in the --json output
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class Plan:
    """Options, the recommended one (an index into ``options``, or ``None``) and why, and
    every assumption behind the figures."""

    options: list[Option]
    recommended: int | None
    reason: str
    assumptions: dict[str, Any]

    @property
    def best(self) -> Option | None:
        return None if self.recommended is None else self.options[self.recommended]

    def option(self, mode: str, instance_type: str | None = None, instance_count: int | None = None) -> Option:
        """The first option of ``mode`` (and type and count, when given).

        Raises:
            KeyError: no such option in this plan.
        """
        for o in self.options:
            if o.mode == mode and instance_type in (None, o.instance_type) \
                    and instance_count in (None, o.instance_count):
                return o
        raise KeyError(f"no {mode} option for {instance_type or 'any type'} x {instance_count or 'any count'}")

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"options": [...], "recommended": i, "reason": ..., "assumptions": {...}}``."""
        return {"options": [o.to_dict() for o in self.options], "recommended": self.recommended,
                "reason": self.reason, "assumptions": self.assumptions}

    def rows(self) -> list[list[str]]:
        """The table's cells, one list per option, header first."""
        head = ["#", "mode", "instances at once", "jobs", "wall", "billed inst-h", "cost (low-high)",
                "start-up share", "img/s per instance", "disk per instance", "notes"]
        body = []
        for i, o in enumerate(self.options):
            flags = [] if o.within_quota else ["over quota"]
            flags += [] if o.meets_deadline else ["misses deadline"]
            flags += [] if o.within_max_cost else ["over max cost"]
            flags += [] if o.memory_fits else [f"memory: {o.proposed_workers} workers"]
            flags += ["burstable"] if o.burst_img_s > o.sustained_img_s else []
            mark = "*" if i == self.recommended else ""
            body.append([f"{mark}{i}", o.mode, f"{o.instance_count} x {o.instance_type}", f"{o.jobs:,}",
                         format_duration(o.wall_s), f"{o.billed_instance_s / 3600:,.2f}",
                         f"{usd(o.cost_usd)} ({usd(o.cost_usd_low)}-{usd(o.cost_usd_high)})",
                         percent(o.startup_share), f"{o.throughput_img_s:,.0f}", f"{o.volume_gb:,} GB",
                         ", ".join(flags)])
        return [head, *body]

    def footer(self) -> list[str]:
        a = self.assumptions
        return [
            f"recommended: {self.reason}",
            f"work: {plural(a['images'], 'image')} x {plural(a['copies'], 'copy')} = "
            f"{plural(a['outputs'], 'output')} "
            f"({a['images_source']})",
            f"throughput: {a['throughput_per_vcpu']:,.1f} output images/s per vCPU "
            f"(range {a['throughput_per_vcpu_low']:,.1f}-{a['throughput_per_vcpu_high']:,.1f}); "
            f"{a['throughput_source']}",
            f"start-up: {a['startup_s']:.0f} s per job (range {a['startup_range_s'][0]:.0f}-"
            f"{a['startup_range_s'][1]:.0f} s), billed ({a['startup_source']})",
            f"prices: {a['price_source']}",
            f"disk: {a['disk']}",
            *self._labels_lines(),
            *self._per_type_lines(),
        ]

    def _labels_lines(self) -> list[str]:
        """A labelled job's annotations: their format, problems and the inputs they do not name."""
        labels = self.assumptions.get("labels")
        if not labels:
            return []
        reasons = ", ".join(f"{n} {r}" for r, n in labels["problems_by_reason"].items())
        problems = plural(labels["problems"], "annotation problem") + (
            f" ({reasons}), each left out of its image's labels" if reasons else "")
        if not labels.get("problems_counted", True):
            problems = (f"{problems} in its YAML; its label files' problems not counted (they are on S3: the job "
                        "records each, and augment validate --annotations on a local copy names them)")
        unlabelled = labels["unlabelled_inputs"]
        missing = (f"; {plural(unlabelled, 'input')} without labels (kept, with no objects: check that the "
                   "annotations name the inputs' paths)") if unlabelled else ""
        return [f"labels: {labels['format']} ({labels['annotations']}), {plural(labels['categories'], 'category')}, "
                f"{problems}{missing}"]

    def _per_type_lines(self) -> list[str]:
        """One line per burstable type (sustained against full speed) and per memory warning."""
        lines: dict[str, None] = {}  # ordered and without repeats
        for o in self.options:
            if o.burst_img_s > o.sustained_img_s:
                lines[f"{o.instance_type} (burstable): sustained {o.sustained_img_s:,.0f} images/s per instance at "
                      f"its CPU baseline ({o.sustained_img_s / o.burst_img_s:.0%}), {o.burst_img_s:,.0f} at full "
                      "speed while CPU credits last; the table uses the sustained figure"] = None
            for note in o.notes:
                if "do not fit" in note:
                    lines[f"memory on {o.instance_type}: {note}"] = None
        if any("burstable" in line for line in lines):
            lines[f"burstable assumption: {self.assumptions['burstable']}"] = None
        return list(lines)

    def __str__(self) -> str:
        return "\n".join([text_table(self.rows()), "", *self.footer()])

    def _repr_html_(self) -> str:
        return plain_html(html_table(self.rows(), self.recommended, 'class="augment-plan"') + html_list(self.footer()))

    def plot(self, path: str | Path | None = None) -> Any:
        """Cost and wall time against instance count: a line per mode (colour) and instance type (marker).

        Args:
            path: also save the figure there, in the format its extension names (PNG,
                SVG, PDF...: see :func:`check_plot_path`), written whole or not at all.

        Returns:
            The :class:`matplotlib.figure.Figure`. It is made without pyplot, so no
            figure stays open in pyplot's registry, saved or not.

        Raises:
            UsageError: an extension matplotlib cannot write, or a path that cannot be
                written (naming it and why), checked before anything is drawn.
        """
        return draw(self, path)


def text_table(rows: list[list[str]]) -> str:
    """Rows (header first) as aligned columns, a rule under the header."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def html_table(rows: list[list[str]], highlight: int | None = None, attributes: str = "") -> str:
    """Rows (header first) as an HTML table; body row ``highlight`` shaded and bold."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = []
    for i, r in enumerate(rows[1:]):
        style = ' style="background-color:#d9f2d9;font-weight:bold"' if i == highlight else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
    return f"<table {attributes}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_list(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def percent(value: float) -> str:
    """``18%``; ``99.9%`` rather than a rounded ``100%`` that is not all."""
    text = f"{value:.0%}"
    return f"{value:.1%}" if text in ("0%", "100%") and 0 < value < 1 else text


def usd(value: float) -> str:
    """``$1,234``, ``$12.34``, ``$0.093``: enough digits to tell small costs apart."""
    if value >= 100:
        return f"${value:,.0f}"
    return f"${value:.2f}" if value >= 1 else f"${value:.3f}"
