"""The preview widget: thin ipywidgets wiring around :func:`augment.preview.render`.

Every control is generated from the op registry's schema (:mod:`augment.preview._controls`
makes each one; a nullable parameter gets a "set" checkbox beside it here). Nothing here
is written op by op.

The state is a tree of :class:`~augment.preview._controls.Op` (name, canonical
parameters, on/off, children for containers); the spec is derived from it on every
change, validated, rendered, and the grid, the parameter table, the YAML and the
torchvision code are updated. An invalid
spec or an op that fails shows the message, naming the field as ``augment validate``
does, and the last good grid stays.

A click on a tile (or *open*) shows that variant op by op in a strip right under the
grid, frames the tile and selects it in the *step through* list; a few lines of
JavaScript (an Output widget's ``application/javascript``, which JupyterLab, Notebook
and Voila run) scroll the strip into view once its pictures have loaded. The table of
what each op drew is folded away by default.

Given annotations, every tile and every step shows its labels (boxes, masks, keypoints)
as the job writes them; the *labels* box hides them without rendering again.
"""

from __future__ import annotations

import html
import itertools
import random
import uuid
from pathlib import Path
from typing import Any

import ipywidgets as w
import yaml

from augment.errors import SpecError, UsageError
from augment.export import to_code
from augment.ops import REGISTRY
from augment.options import masks_as_annotations
from augment.preview._controls import Op, as_text, control_value, make_control, op_path
from augment.preview._grid import PAD, cell_size, png_bytes
from augment.preview._inputs import Images
from augment.preview._labels import drawn
from augment.preview._render import Preview, labelled_steps, render
from augment.schema import Param
from augment.spec import MAX_COPIES, dump_spec, list_presets, load_spec
from augment.text import plain_html

_ADD = "+ add op"
_CUSTOM = "(edited)"
_STEP_SIDE = 160
# Slider readouts get the room their text needs (ipywidgets clips "0.50 – 1.00" at 72 px);
# scoped to the previewer, so other widgets on the page keep their look.
_STYLE = """<style>
.augment-previewer .widget-readout, .augment-previewer .jupyter-widget-readout {
  max-width: none; min-width: 84px; overflow: visible; text-overflow: clip; }
</style>"""
_SCROLL_JS = """(function () {
  var wanted = '.%(steps)s.%(gen)s', started = Date.now();
  (function look() {
    var strip = document.querySelector(wanted);
    var images = strip ? strip.querySelectorAll('img') : [];
    var loaded = images.length >= %(count)d && Array.prototype.every.call(images, function (i) {
      return i.complete && i.naturalWidth > 0; });
    if (loaded) { strip.scrollIntoView({block: 'nearest', inline: 'nearest'}); return; }
    if (Date.now() - started < 20000) { setTimeout(look, 50); }
  })();
})();"""


class Previewer(w.VBox):
    """Tune a spec on your own images; what it shows is what the job writes.

    Args:
        spec: a preset name, a spec file, a dict or a :class:`~augment.spec.Spec`.
        source: ``None`` (the bundled samples), a folder or an ``s3://`` prefix.
        n: images shown.
        copies: variants per image (``None``: the spec's own).
        pick_seed: which images are picked.
        export_path: the Export button's default path.
        max_side: the grid's tile size, in pixels.
        annotations: the images' labels, drawn on every tile: a path or ``s3://`` URI
            of the annotations, or an index already open (``None``: no labels).
        annotation_format: the annotations' format, instead of detecting it.
        masks: semantic PNG masks mirroring the images' paths: the same as
            ``annotations=DIR, annotation_format="masks"`` (not with ``annotations=``).

    Attributes:
        preview: the last :class:`~augment.preview.Preview` rendered without an error.
        message: what the status line says (an error, or nothing).
    """

    def __init__(self, spec: Any = "light", source: str | None = None, n: int = 4, copies: int | None = None,
                 pick_seed: int = 0, export_path: str = "spec.yaml", max_side: int = 192, annotations: Any = None,
                 annotation_format: str | None = None, masks: str | None = None) -> None:
        if masks is not None:
            annotations, annotation_format = masks_as_annotations(
                {"masks": str(masks), "annotations": annotations, "annotation_format": annotation_format})
        loaded = load_spec(spec)
        self._top = loaded.to_dict()
        self._ops = [Op.from_canonical(op) for op in loaded.ops]
        self._images = Images(source, annotations=annotations, annotation_format=annotation_format)
        self.max_side = max_side
        self.pick_seed = pick_seed
        self.preview: Preview | None = None
        self.message = ""
        self.controls: dict[str, w.Widget] = {}
        self.rows: dict[str, dict[str, w.Widget]] = {}
        self._quiet = False
        style = {"description_width": "initial"}

        presets = list_presets()
        self.preset = w.Dropdown(options=[*presets, _CUSTOM], value=spec if spec in presets else _CUSTOM,
                                 description="preset", style=style, layout=w.Layout(width="180px"))
        self.seed = w.IntText(value=loaded.seed, description="seed", style=style, layout=w.Layout(width="220px"))
        self.resample = w.Button(description="resample", tooltip="draw a new seed", icon="random")
        self.copies = w.BoundedIntText(value=copies or loaded.copies, min=1, max=MAX_COPIES, description="copies",
                                       style=style, layout=w.Layout(width="110px"))
        self.n_images = w.BoundedIntText(value=n, min=1, max=16, description="images", style=style,
                                         layout=w.Layout(width="110px"))
        self.source = w.Text(value="" if source is None else str(source), description="source",
                             placeholder="bundled samples; or a folder, or s3://bucket/prefix/",
                             continuous_update=False, style=style, layout=w.Layout(width="340px"))
        self.other = w.Button(description="other images", tooltip="pick other images", icon="images")
        self.show_labels = w.Checkbox(value=True, description="labels", indent=False,
                                      tooltip="draw each tile's boxes, masks and keypoints (untick to hide them)",
                                      layout=w.Layout(width="80px",
                                                      display=None if annotations is not None else "none"))
        self.show_labels.add_class("augment-show-labels")
        self.status = w.HTML()
        self.grid = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.grid.add_class("augment-grid")
        self.table = w.HTML()
        self.table_fold = w.Accordion(children=[self.table], selected_index=None)  # folded: it is long
        self.table_fold.set_title(0, "what each op drew, per variant")
        self.table_fold.add_class("augment-table")
        self.step_choice = w.Dropdown(description="step through", style=style, layout=w.Layout(width="360px"))
        self.step_choice.add_class("augment-step-choice")
        self.step_button = w.Button(description="open", tooltip="show this variant op by op")
        self.steps = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.steps.add_class("augment-steps")
        self._steps_class = f"augment-steps-{uuid.uuid4().hex[:12]}"  # this previewer's, for the scroll
        self.steps.add_class(self._steps_class)
        self._generations = itertools.count(1)
        self._scroll = w.Output(layout=w.Layout(height="0px", overflow="hidden"))
        self.highlighted: int | None = None
        """The index of the variant being stepped through (framed in the grid), or None."""
        self.last_labelled_steps: list[Any] = []
        """The steps last shown, undrawn, each with its labels (see :func:`labelled_steps`)."""
        self.yaml = w.HTML()
        self.code = w.HTML()
        self.export_path = w.Text(value=export_path, description="export to", style=style,
                                  layout=w.Layout(width="300px"))
        self.export_button = w.Button(description="Export", button_style="primary", icon="save",
                                      tooltip="validate and write the spec")
        self.export_status = w.Label()
        self.ops_box = w.VBox()

        self.preset.observe(self._on_preset, "value")
        for control in (self.seed, self.copies, self.n_images):
            control.observe(lambda _change: self.refresh(), "value")
        self.source.observe(self._on_source, "value")
        self.resample.on_click(lambda _b: setattr(self.seed, "value", random.randrange(2**31)))
        self.other.on_click(self._on_other)
        self.show_labels.observe(lambda _change: self._on_show_labels(), "value")
        self.step_button.on_click(lambda _b: self.open_steps(self.step_choice.value))
        self.export_button.on_click(self._on_export)
        self._click_events()

        spec_tabs = w.Tab(children=[self.yaml, self.code])
        spec_tabs.set_title(0, "spec (YAML)")
        spec_tabs.set_title(1, "torchvision code")
        header = w.HBox([self.preset, self.seed, self.resample, self.copies, self.n_images, self.source, self.other,
                         self.show_labels], layout=w.Layout(flex_flow="row wrap"))
        left = w.VBox([w.HTML("<b>ops</b>"), self.ops_box], layout=w.Layout(width="400px", min_width="340px"))
        # The step-through strip sits right under the grid, where a click on a tile leaves
        # the eye; the long table of parameters comes after it, folded.
        right = w.VBox([self.status, self.grid, w.HBox([self.step_choice, self.step_button]), self.steps,
                        self.table_fold], layout=w.Layout(flex="1 1 auto"))
        export = w.HBox([self.export_path, self.export_button, self.export_status])
        super().__init__([w.HTML(_STYLE), header, w.HBox([left, right]), export, spec_tabs, self._scroll])
        self.add_class("augment-previewer")
        self._build_ops()
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, and the grid as a picture for where no widget can show (papermill,
        nbval, a static render); a live frontend shows the widget."""
        import base64

        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict) and self.preview is not None:
            grid = self.preview.png(self.max_side, labels=self.show_labels.value)
            data["image/png"] = base64.b64encode(grid).decode()
        return data

    # -- the spec ----------------------------------------------------------------------------

    def spec_data(self) -> dict[str, Any]:
        """The spec being edited, as data (not validated)."""
        return {**self._top, "seed": self.seed.value, "copies": self.copies.value,
                "ops": [op for op in (o.to_spec() for o in self._ops) if op is not None]}

    @property
    def spec(self) -> Any:
        """The current :class:`~augment.spec.Spec`.

        Raises:
            SpecError: the current settings are not a valid spec.
        """
        return load_spec(self.spec_data())

    def export(self, path: str | Path | None = None) -> Path:
        """Validate the current spec and write it (YAML, or JSON for a ``.json`` path).

        Raises:
            SpecError: the current settings are not a valid spec (nothing is written).
        """
        from augment.pipeline import Pipeline

        spec = Pipeline(self.spec).spec  # torchvision accepts every op, as `augment validate` checks
        return dump_spec(spec, path or self.export_path.value)

    # -- ops: the tree and its rows ----------------------------------------------------------------

    def _find(self, path: str) -> tuple[list[Op], int]:
        """The list holding the op at ``path`` (``ops[2]`` or ``ops[2].ops[0]``) and its index."""
        parts = [part for part in path.split(".") if part.startswith("ops[")]  # ops[2].RandomChoice.ops[0]
        ops = self._ops
        for part in parts[:-1]:
            ops = ops[int(part[4:-1])].children
        return ops, int(parts[-1][4:-1])

    def op(self, path: str) -> Op:
        ops, i = self._find(path)
        return ops[i]

    def _weights(self, path: str) -> list[Any] | None:
        """The per-child weights of the RandomChoice holding the op at ``path``, or None."""
        if "." not in path:
            return None
        parent = self.op(path.rsplit(".", 2)[0])
        p = parent.params.get("p")
        if parent.name == "RandomChoice" and isinstance(p, list) and len(p) == len(parent.children):
            return p
        return None

    def add_op(self, name: str, parent: str | None = None) -> None:
        """Append op ``name`` with its defaults, at the top or inside container ``parent``."""
        target = self.op(parent).children if parent else self._ops
        weights = self.op(parent).params.get("p") if parent else None
        if isinstance(weights, list) and len(weights) == len(target) and weights:
            weights.append(sum(weights) / len(weights))  # a RandomChoice's new op: an average weight
        target.append(Op.new(name))
        self._changed_structure()

    def remove_op(self, path: str) -> None:
        ops, i = self._find(path)
        weights = self._weights(path)
        if weights is not None:
            del weights[i]  # the other ops keep theirs
        del ops[i]
        self._changed_structure()

    def move_op(self, path: str, by: int) -> None:
        ops, i = self._find(path)
        j = i + by
        if 0 <= j < len(ops):
            weights = self._weights(path)
            if weights is not None:
                weights[i], weights[j] = weights[j], weights[i]
            ops[i], ops[j] = ops[j], ops[i]
            self._changed_structure()

    def toggle_op(self, path: str, enabled: bool) -> None:
        self.op(path).enabled = enabled
        if "." in path:
            self._show_weights(path.rsplit(".", 2)[0])
        self._changed_structure(rebuild=False)

    def _show_weights(self, path: str) -> None:
        """The RandomChoice ``p`` box at ``path`` shows the weights the spec uses."""
        op = self.op(path)
        control = self.controls.get(f"{path}.{op.name}.p")
        used = op.used_weights()
        if op.name == "RandomChoice" and control is not None and isinstance(used, list):
            self._set_quietly(control, as_text(used))

    def _changed_structure(self, rebuild: bool = True) -> None:
        self._set_quietly(self.preset, _CUSTOM)
        if rebuild:
            self._build_ops()
        self.refresh()

    def _build_ops(self) -> None:
        self.controls, self.rows = {}, {}
        self.ops_box.children = [*self._op_rows(self._ops, "", 0), self._add_dropdown(None)]

    def _add_dropdown(self, parent: str | None) -> w.Dropdown:
        add = w.Dropdown(options=[_ADD, *REGISTRY], value=_ADD, layout=w.Layout(width="200px"),
                         tooltip="add an op with its defaults")

        def on_add(change: dict[str, Any]) -> None:
            if change["new"] != _ADD:
                self.add_op(change["new"], parent)

        add.observe(on_add, "value")
        self.rows.setdefault(parent or "", {})["add"] = add
        return add

    def _op_rows(self, ops: list[Op], prefix: str, depth: int) -> list[w.Widget]:
        rows: list[w.Widget] = []
        for i, op in enumerate(ops):
            path = f"{prefix}ops[{i}]"
            toggle = w.Checkbox(value=op.enabled, description=op.name, indent=False,
                                tooltip=f"{REGISTRY[op.name].help} (untick to leave it out)",
                                layout=w.Layout(width="210px"))
            up = w.Button(icon="arrow-up", tooltip="move up", layout=w.Layout(width="32px"))
            down = w.Button(icon="arrow-down", tooltip="move down", layout=w.Layout(width="32px"))
            remove = w.Button(icon="times", tooltip="remove", layout=w.Layout(width="32px"))
            toggle.observe(lambda c, p=path: self.toggle_op(p, c["new"]), "value")
            up.on_click(lambda _b, p=path: self.move_op(p, -1))
            down.on_click(lambda _b, p=path: self.move_op(p, +1))
            remove.on_click(lambda _b, p=path: self.remove_op(p))
            toggle.add_class("augment-op-toggle")
            toggle.add_class(f"augment-toggle-{op.name}")
            self.rows[path] = {"toggle": toggle, "up": up, "down": down, "remove": remove}
            params = [self._param_control(path, op, p) for p in REGISTRY[op.name].params if p.kind != "ops"]
            inner: list[w.Widget] = [w.HBox([toggle, up, down, remove]), *params]
            if REGISTRY[op.name].is_container:
                inner += [*self._op_rows(op.children, f"{path}.{op.name}.", depth + 1), self._add_dropdown(path)]
            rows.append(w.VBox(inner, layout=w.Layout(margin=f"0 0 6px {16 * depth}px",
                                                      border="1px solid #ddd", padding="2px")))
        return rows

    def _param_control(self, path: str, op: Op, p: Param) -> w.Widget:
        key = f"{path}.{op.name}.{p.name}"
        value = op.used_weights() if op.name == "RandomChoice" and p.name == "p" else op.params.get(p.name)
        control = make_control(p, value)
        control.tooltip = p.help
        control.add_class(f"augment-{op.name}-{p.name}")  # for a page's tests and styles
        self.controls[key] = control
        enabled: w.Checkbox | None = None
        if p.nullable:
            enabled = w.Checkbox(value=value is not None, description="set", indent=False,
                                 tooltip=f"{p.name}: unticked means null ({p.help})", layout=w.Layout(width="60px"))
            control.disabled = value is None
            self.controls[f"{key}:set"] = enabled

        def on_value(change: dict[str, Any]) -> None:
            if self._quiet or (enabled is not None and not enabled.value):
                return
            self._set_param(op, p, control)

        def on_set(change: dict[str, Any]) -> None:
            control.disabled = not change["new"]
            if change["new"]:
                self._set_param(op, p, control)
            else:
                op.params[p.name] = None
                self.refresh()

        control.observe(on_value, "value")
        if enabled is not None:
            enabled.observe(on_set, "value")
            return w.HBox([control, enabled])
        return control

    def _set_param(self, op: Op, p: Param, control: w.Widget) -> None:
        try:
            value = control_value(control)
        except yaml.YAMLError as e:
            self._show_error(f"{op.name}.{p.name}: cannot read {control.value!r}: {e}")
            return
        op.set(p.name, value)
        self._set_quietly(self.preset, _CUSTOM)
        self.refresh()

    # -- events -----------------------------------------------------------------------------------

    def _set_quietly(self, widget: w.Widget, value: Any) -> None:
        self._quiet = True
        try:
            widget.value = value
        finally:
            self._quiet = False

    def _on_preset(self, change: dict[str, Any]) -> None:
        if self._quiet or change["new"] == _CUSTOM:
            return
        loaded = load_spec(change["new"])
        self._top = loaded.to_dict()
        self._ops = [Op.from_canonical(op) for op in loaded.ops]
        self._quiet = True
        try:
            self.seed.value, self.copies.value = loaded.seed, loaded.copies
        finally:
            self._quiet = False
        self._build_ops()
        self.refresh()

    def _on_source(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        try:
            self._images = Images(None if text in ("", "samples") else text, annotations=self._images.annotations)
        except UsageError as e:
            self._show_error(str(e))
            return
        self.refresh()

    def _on_other(self, _button: Any) -> None:
        self.pick_seed += 1
        self.refresh()

    def _on_export(self, _button: Any) -> None:
        try:
            path = self.export()
        except (SpecError, UsageError, OSError) as e:
            self.export_status.value = f"not written: {e}"
            return
        self.export_status.value = f"wrote {path} (valid)"

    def _on_show_labels(self) -> None:
        """Draw the grid, and the strip where one is open, with or without labels (no render)."""
        if self.preview is None:
            return
        self._draw_grid()
        if self.steps.children and self.last_labelled_steps:
            self._show_steps(self.last_labelled_steps)

    def _click_events(self) -> None:
        """A click on a tile opens it op by op, where ipyevents is installed."""
        try:
            from ipyevents import Event
        except ImportError:
            return
        self._events = Event(source=self.grid, watched_events=["click"])
        self._events.on_dom_event(self._on_click)

    def _on_click(self, event: dict[str, Any]) -> None:
        if "dataX" in event:  # ipyevents gives an Image's own pixel coordinates
            index = self.tile_at(event["dataX"], event["dataY"])
        else:
            index = self.tile_at(event.get("relativeX", 0), event.get("relativeY", 0), event.get("boundingRectWidth"))
        if index is not None:
            self.open_steps(index)

    def tile_at(self, x: float, y: float, shown_width: float | None = None) -> int | None:
        """The variant under a point of the grid (in the grid's pixels, or scaled from
        ``shown_width`` when the page shows it smaller); None for an original or a gap."""
        if self.preview is None:
            return None
        cell_w, cell_h = cell_size(self.max_side)
        cols = 1 + max((len(items) for _rel, items in self.preview.rows()), default=0)
        if shown_width:
            width = cols * cell_w + PAD
            x, y = x * width / shown_width, y * width / shown_width
        col, row = int((x - PAD) // cell_w), int((y - PAD) // cell_h)
        rows = self.preview.rows()
        if not (0 <= row < len(rows)) or not (1 <= col <= len(rows[row][1])):
            return None
        return self.preview.items.index(rows[row][1][col - 1])

    # -- rendering ---------------------------------------------------------------------------------

    def _show_error(self, text: str) -> None:
        self.message = text
        self.status.value = plain_html(f"<div style='color:#a00;white-space:pre-wrap;font-family:monospace'>"
                                       f"{html.escape(text)}</div>")

    def refresh(self) -> None:
        """Render the current spec; on an error show it and keep the last good grid."""
        if self._quiet:
            return
        data = self.spec_data()
        self.yaml.value = plain_html(
            f"<pre>{html.escape(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))}</pre>")
        try:
            spec = load_spec(data)
            preview = render(spec, self._images, n=self.n_images.value, pick_seed=self.pick_seed)
        except (SpecError, UsageError) as e:
            self._show_error(str(e))
            return
        except Exception as e:  # torchvision refused an argument the schema let through, or S3 refused us
            self._show_error(f"cannot render: {type(e).__name__}: {e}")
            return
        self.yaml.value = plain_html(f"<pre>{html.escape(spec.to_yaml())}</pre>")
        self.code.value = plain_html(f"<pre>{html.escape(to_code(spec))}</pre>")
        self._images.keep(list(preview.originals))
        failed = [i for i in preview.items if i.reason == "op_failed"]
        if failed:
            self._show_error(op_path(spec.to_dict()["ops"], failed[0].error or "") + (failed[0].error or ""))
            if self.preview is not None:
                return  # the last good grid stays
        else:
            self.message = ""
            self.status.value = ""
        self.preview = preview
        self.highlighted = None
        self._draw_grid()
        self.table.value = plain_html(preview.html_table())
        choices = [(f"{i.rel_path} #{i.copy}", n) for n, i in enumerate(preview.items) if i.error is None]
        chosen = self.step_choice.value
        self._quiet = True
        try:
            self.step_choice.options = choices
            # a choice is always made (ipywidgets leaves a first list empty), so "open" opens something
            self.step_choice.value = chosen if chosen in [n for _label, n in choices] else \
                (choices[0][1] if choices else None)
        finally:
            self._quiet = False
        self.steps.children = []

    def _draw_grid(self) -> None:
        assert self.preview is not None
        grid = self.preview.grid(self.max_side, self.highlighted, labels=self.show_labels.value)
        self.grid.width = str(grid.width)  # shown at its own size: never enlarged
        self.grid.value = png_bytes(grid)

    def open_steps(self, index: int | None) -> None:
        """Show variant ``index`` op by op (one render with its seed; the last step is its
        tile) under the grid, frame its tile, select it in the list, and scroll the strip
        into view."""
        if self.preview is None:
            return
        if index is None:
            self._show_error("choose a variant under 'step through' first (every variant shown failed)"
                             if not self.step_choice.options else "choose a variant under 'step through' first")
            return
        try:
            steps = labelled_steps(self.preview, index)
        except UsageError as e:
            self._show_error(str(e))
            return
        if self.message.startswith("choose a variant"):
            self.message, self.status.value = "", ""
        self.highlighted = index
        self._draw_grid()
        if index in [n for _label, n in self.step_choice.options]:
            self._set_quietly(self.step_choice, index)
        self._show_steps(steps)

    def _show_steps(self, labelled: list[Any]) -> None:
        """The strip of steps, with their labels drawn where the labels box is ticked."""
        assert self.preview is not None
        show = self.show_labels.value
        steps = [(text, drawn(image, labels, self.preview.categories) if show else image, record)
                 for text, image, record, labels in labelled]
        tiles = []
        for label, image, _record in steps:
            thumb = image.copy()
            thumb.thumbnail((_STEP_SIDE, _STEP_SIDE))
            caption = plain_html(f"<div style='width:{_STEP_SIDE}px;font-size:11px'>{html.escape(label)}</div>")
            tiles.append(w.VBox([w.Image(value=png_bytes(thumb), format="png"), w.HTML(caption)]))
        generation = f"augment-gen-{next(self._generations)}"
        for name in [c for c in self.steps._dom_classes if c.startswith("augment-gen-")]:
            self.steps.remove_class(name)
        self.steps.children = tiles
        self.steps.add_class(generation)
        self.last_steps = steps
        self.last_labelled_steps = labelled
        js = _SCROLL_JS % {"steps": self._steps_class, "gen": generation, "count": len(tiles)}
        self._scroll.outputs = ({"output_type": "display_data", "metadata": {},
                                 "data": {"application/javascript": js, "text/plain": ""}},)
