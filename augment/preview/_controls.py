"""The spec being edited, as a tree of ops, and the controls the op schema generates.

Every control comes from the registry's schema (:class:`augment.schema.Param`): a range
slider for a range, a slider for a bounded number, a dropdown for a choice, a checkbox for
a boolean, and a text box (YAML flow style) for sizes and the other list-shaped values.
Nothing here is written op by op. The widget (:mod:`augment.preview._widget`) lays the
controls out and wires them; this module makes one control at a time and knows no layout.
"""

from __future__ import annotations

import copy as _copy
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w
import yaml

from augment.ops import REGISTRY
from augment.schema import Param


@dataclass
class Op:
    """One op of the spec being edited."""

    name: str
    params: dict[str, Any]
    enabled: bool = True
    children: list[Op] = field(default_factory=list)

    @classmethod
    def from_canonical(cls, op: dict[str, dict[str, Any]]) -> Op:
        (name, params), = op.items()
        children = [cls.from_canonical(c) for c in params.get("ops", [])]
        return cls(name, {k: v for k, v in params.items() if k != "ops"}, True, children)

    @classmethod
    def new(cls, name: str) -> Op:
        """An op as the registry's defaults make it (required ones get their start value)."""
        opdef = REGISTRY[name]
        params = {p.name: _copy.deepcopy(p.default) for p in opdef.params if p.kind != "ops"}
        if opdef.name == "RandomChoice":
            params["p"] = None
        children = [cls.new("RandomHorizontalFlip")] if opdef.is_container else []
        return cls(name, params, True, children)

    def to_spec(self) -> dict[str, dict[str, Any]] | None:
        if not self.enabled:
            return None
        params = dict(self.params)
        if REGISTRY[self.name].is_container:
            params["ops"] = [c for c in (child.to_spec() for child in self.children) if c is not None]
            if self.name == "RandomChoice":
                params["p"] = self.used_weights()
        return {self.name: params}

    def used_weights(self) -> Any:
        """A RandomChoice's ``p`` as the spec gets it: ``params["p"]`` holds one weight
        per child, on or off, so that turning a child off and on again keeps its weight;
        the spec gets the weights of the children that are on (their relative weights
        unchanged). Anything else (null, or a list of another length) goes as it is, for
        the spec to accept or refuse."""
        p = self.params.get("p")
        if isinstance(p, list) and len(p) == len(self.children):
            return [weight for weight, child in zip(p, self.children, strict=True) if child.enabled]
        return p

    def set(self, name: str, value: Any) -> None:
        """Set a parameter as its control gives it. A RandomChoice's ``p`` box shows the
        weights of the children that are on (:meth:`used_weights`), so a list of that
        length is spread back over them, the weights of the children that are off kept."""
        if self.name == "RandomChoice" and name == "p" and isinstance(value, list):
            on = [k for k, child in enumerate(self.children) if child.enabled]
            full = self.params.get("p")
            if len(on) < len(self.children) and len(value) == len(on):
                full = list(full) if isinstance(full, list) and len(full) == len(self.children) else \
                    [1.0] * len(self.children)
                for k, weight in zip(on, value, strict=True):
                    full[k] = weight
                value = full
        self.params[name] = value


def make_control(p: Param, value: Any) -> w.Widget:
    """The control for one parameter, chosen by its kind and bounds in the schema,
    showing ``value`` (``None``: the default)."""
    start = value if value is not None else p.default
    common = {"description": p.name, "continuous_update": False, "style": {"description_width": "110px"},
              "layout": w.Layout(width="330px")}
    if p.kind in ("range", "int_range") or (p.kind in ("int", "float") and p.min is not None):
        numbers = [float(v) for v in (start if isinstance(start, list) else [start] if start is not None else [])]
        lo, hi = _soft_bounds(p, numbers)
        if p.kind == "int_range":
            return w.IntRangeSlider(value=start or [int(lo), int(hi)], min=int(lo), max=int(hi), **common)
        if p.kind == "int":
            if hi - lo > 1000:
                return w.BoundedIntText(value=start if start is not None else int(lo), min=int(lo), max=int(hi),
                                        **common)
            return w.IntSlider(value=start if start is not None else int(lo), min=int(lo), max=int(hi), **common)
        step = _step(lo, hi)
        if p.kind == "float":
            return w.FloatSlider(value=start if start is not None else lo, min=lo, max=hi, step=step,
                                 readout_format=".2f", **common)
        if start is None:
            start = [lo + (hi - lo) / 4, lo + (hi - lo) * 3 / 4]
        return w.FloatRangeSlider(value=start, min=lo, max=hi, step=step, readout_format=".2f", **common)
    if p.kind == "bool":
        return w.Checkbox(value=bool(start), description=p.name, indent=False)
    if p.kind == "choice":
        return w.Dropdown(options=list(p.choices or ()), value=start, description=p.name,
                          style=common["style"], layout=common["layout"])
    text = "" if start is None else as_text(start)
    return w.Text(value=text, placeholder=p.describe(), **common)


def control_value(control: w.Widget) -> Any:
    """What a control holds, as the spec takes it: a text box read as YAML (empty: null),
    a slider's tuple as a list.

    Raises:
        yaml.YAMLError: a text box that is not YAML.
    """
    value = control.value
    if isinstance(control, w.Text):
        return yaml.safe_load(value) if value.strip() else None
    return list(value) if isinstance(value, tuple) else value


def as_text(value: Any) -> str:
    """A list-shaped value as a text box shows it: YAML's flow style, ``[224, 224]``."""
    return yaml.safe_dump(value, default_flow_style=True).strip()


def _soft_bounds(p: Param, values: list[float]) -> tuple[float, float]:
    """Slider bounds: the schema's, except that an upper bound far above any useful
    value (a factor allowed up to 100) is brought down to a few times the default."""
    lo = p.min if p.min is not None else min([0.0, *values])
    hi = p.max if p.max is not None else max([1.0, *values]) * 4
    if hi >= 100 and p.kind in ("range", "float"):
        default = p.default if isinstance(p.default, list) else [p.default] if p.default is not None else []
        hi = max(3 * max([abs(v) for v in default] + [1.0]), *values, lo + 1)
    return float(lo), float(hi)


def _step(lo: float, hi: float) -> float:
    span = hi - lo
    return 0.01 if span <= 10 else 0.1 if span <= 100 else 0.5


def op_path(ops: list[dict[str, Any]], error: str, prefix: str = "") -> str:
    """``ops[i].Name: `` of the op an OpFailed message names (its first occurrence)."""
    for i, op in enumerate(ops):
        (name, params), = op.items()
        if error.startswith(f"{name} failed"):
            return f"{prefix}ops[{i}].{name}: "
        found = op_path(params.get("ops", []), error, f"{prefix}ops[{i}].{name}.")
        if found:
            return found
    return ""
