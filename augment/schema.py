"""An op's parameters: :class:`Param`, the kinds of value one takes, and the canonical
form of one value (:func:`canonical_value`).

The registry (:mod:`augment.ops`) is written in these terms: each op is a list of
``Param``. Validation brings every value of a spec to one canonical JSON form here, with
its defaults, before any image is touched; the preview builds its widgets from the same
``Param`` (kind, bounds or choices, default, help). Nothing here imports torch,
torchvision or the rest of the package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic")
"""Interpolation modes that work under both kernels (PIL images and uint8 tensors)."""

KINDS = (
    "int", "float", "bool", "choice", "size", "resize", "range", "int_range", "pair",
    "fill", "padding", "shear", "point", "erase_value", "weights", "ops",
)  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One parameter of an op.

    Attributes:
        name: keyword of the torchvision constructor (and the spec field).
        kind: one of :data:`KINDS`; says which JSON shapes are accepted and how a
            widget edits it.
        default: canonical default; for ``required`` params only the widget's start value.
        help: one line for ``augment ops`` and the preview.
        min, max: inclusive bounds of each number in the value.
        choices: allowed strings for ``choice``.
        required: the spec must give it (torchvision has no default).
        nullable: ``null`` is allowed (means "off" for that parameter).
        scalar: for ``range``: how one number ``v`` expands to ``[lo, hi]``:
            ``"sym"`` -> ``[-v, v]``, ``"center1"`` -> ``[max(0, 1 - v), 1 + v]``,
            ``"same"`` -> ``[v, v]``; ``None``: a number is not accepted.
    """

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    nullable: bool = False
    scalar: str | None = None

    def describe(self) -> str:
        """Say in words what values are allowed (used in error messages and help)."""
        bounds = ""
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else _num(self.min)
            hi = "inf" if self.max is None else _num(self.max)
            bounds = f" in [{lo}, {hi}]"
        text = {
            "int": f"an integer{bounds}",
            "float": f"a number{bounds}",
            "bool": "true or false",
            "choice": "one of " + ", ".join(repr(c) for c in self.choices or ()),
            "size": f"an integer or [height, width]{bounds}",
            "resize": f"an integer (shorter side) or [height, width]{bounds}",
            "range": f"[min, max] with min <= max{bounds}"
            + ("" if self.scalar is None else f", or one number v{_SCALAR_TEXT[self.scalar]}"),
            "int_range": f"an integer or [min, max] integers{bounds}",
            "pair": f"a number or [x, y]{bounds}",
            "fill": f"a number or one number per channel{bounds}",
            "padding": "an integer >= 0, [left/right, top/bottom] or [left, top, right, bottom]",
            "shear": "a number v (-> [-v, v]), [min, max] along x, or [xmin, xmax, ymin, ymax]",
            "point": "[x, y] in pixels",
            "erase_value": f"'random' or a number or one number per channel{bounds}",
            "weights": "one weight > 0 per op",
            "ops": "a non-empty list of ops",
        }[self.kind]
        return text + (" or null" if self.nullable else "")


_SCALAR_TEXT = {"sym": " (-> [-v, v])", "center1": " (-> [1 - v, 1 + v])", "same": " (-> [v, v])"}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# ---------------------------------------------------------------------------
# Canonicalisation of single values. Each returns the canonical value or raises
# BadValue with a message that says what was expected.


class BadValue(Exception):
    """A value that does not fit its parameter; the message says how (the caller adds
    the field and the allowed values)."""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _bounded(p: Param, x: float) -> None:
    if (p.min is not None and x < p.min) or (p.max is not None and x > p.max):
        raise BadValue(f"{_num(x)} is out of range")


def _number(p: Param, x: Any, integer: bool = False) -> float | int:
    if integer:
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        if not _is_int(x):
            raise BadValue("not an integer")
    elif not _is_number(x):
        raise BadValue("not a number")
    _bounded(p, x)
    return int(x) if integer else float(x)


def _seq(x: Any, lengths: Sequence[int]) -> list[Any]:
    if not isinstance(x, (list, tuple)) or len(x) not in lengths:
        raise BadValue("wrong shape")
    return list(x)


def canonical_value(p: Param, value: Any) -> Any:
    """Return ``value`` in canonical form for parameter ``p``.

    Raises:
        BadValue: the value does not fit the schema (the caller adds field and allowed values).
    """
    if value is None:
        if p.nullable:
            return None
        raise BadValue("null is not allowed")
    kind = p.kind
    if kind == "int":
        return _number(p, value, integer=True)
    if kind == "float":
        return _number(p, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise BadValue("not a boolean")
        return value
    if kind == "choice":
        if not isinstance(value, str) or value.lower() not in (p.choices or ()):
            raise BadValue("not an allowed choice")
        return value.lower()
    if kind in ("size", "resize"):
        if _is_int(value) or (isinstance(value, float) and value.is_integer()):
            v = _number(p, value, integer=True)
            return v if kind == "resize" else [v, v]
        return [_number(p, v, integer=True) for v in _seq(value, (2,))]
    if kind == "range":
        if _is_number(value):
            if p.scalar is None:
                raise BadValue("a single number is not accepted")
            if value < 0:
                raise BadValue("a single number must be >= 0")
            v = float(value)
            lo, hi = {"sym": (0.0 - v, v), "center1": (max(1.0 - v, 0.0), 1.0 + v), "same": (v, v)}[p.scalar]
        else:
            lo, hi = (float(_number(p, v)) for v in _seq(value, (2,)))
        if lo > hi:
            raise BadValue("min > max")
        try:
            _bounded(p, lo)
            _bounded(p, hi)
        except BadValue:
            if _is_number(value):
                raise BadValue(f"{_num(value)} expands to [{_num(lo)}, {_num(hi)}], which is out of range") from None
            raise
        return [lo, hi]
    if kind == "int_range":
        if _is_int(value):
            value = [value, value]
        lo, hi = (_number(p, v, integer=True) for v in _seq(value, (2,)))
        if lo > hi:
            raise BadValue("min > max")
        return [lo, hi]
    if kind == "pair":
        if _is_number(value):
            value = [value, value]
        return [_number(p, v) for v in _seq(value, (2,))]
    if kind == "fill":
        if _is_number(value):
            return _number(p, value)
        return [_number(p, v) for v in _seq(value, (1, 3))]
    if kind == "padding":
        if _is_int(value):
            value = [value]
        vals = [_number(p, v, integer=True) for v in _seq(value, (1, 2, 4))]
        if len(vals) == 1:
            vals = vals * 4
        elif len(vals) == 2:
            vals = vals * 2
        return vals
    if kind == "shear":
        if _is_number(value):
            if value < 0:
                raise BadValue("a single number must be >= 0")
            return [0.0 - value, float(value)]
        vals = [float(_number(p, v)) for v in _seq(value, (2, 4))]
        if vals[0] > vals[1] or (len(vals) == 4 and vals[2] > vals[3]):
            raise BadValue("min > max")
        return vals
    if kind == "point":
        return [float(_number(p, v)) for v in _seq(value, (2,))]
    if kind == "erase_value":
        if value == "random":
            return "random"
        if _is_number(value):
            value = [value]
        return [_number(p, v) for v in _seq(value, (1, 3))]
    if kind == "weights":
        vals = [float(_number(p, v)) for v in _seq(value, range(1, 1000))]
        if any(v <= 0 for v in vals):
            raise BadValue("weights must be > 0")
        # v2.RandomChoice divides by the sum again; iterate to a fixed point of that
        # normalisation so that building from the canonical weights keeps them bit-exact.
        for _ in range(10):
            total = sum(vals)
            new = [v / total for v in vals]
            if new == vals:
                break
            vals = new
        return vals
    raise AssertionError(f"unhandled kind {kind}")  # pragma: no cover - registry bug
