"""What a variant drew, in a few words: the grid's captions and the table's lines.

The manifest keeps each op's whole record; these read it back for a person:
:func:`summarize` for a tile (``crop 243×258 @ (33,17) · flip · rot −7.2°``) and
:func:`record_text` for one op's line in the table. Containers are opened
(:func:`flatten`), so what is described is what ran, in the order it ran.
"""

from __future__ import annotations

import math
from typing import Any


def _num(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}".replace("-", "\u2212")


def record_text(rec: dict[str, Any]) -> str:
    """One op's record in a line, to read: ``RandomResizedCrop: top 33, left 17, height 243,
    width 258``; ``AugMix: ops Contrast −0.1, Solarize 1.0; ...`` (the manifest keeps the
    whole record)."""
    params = rec.get("params")
    if not rec.get("applied"):
        return f"{rec['op']}: not applied"
    if not params:
        return f"{rec['op']}: applied"
    text = ", ".join(f"{k} {_value_text(v)}" for k, v in params.items() if v is not None)
    return f"{rec['op']}: {text if len(text) <= 300 else text[:299] + chr(0x2026)}"


def _value_text(value: Any) -> str:
    """A drawn value in a few characters: numbers rounded, named magnitudes as
    ``Name m``, a tensor by its shape; no JSON quotes or braces."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and not math.isfinite(value):  # int() of them raises
        return "nan" if math.isnan(value) else "\u2212inf" if value < 0 else "inf"
    if isinstance(value, float):
        return _num(value, 4).rstrip("0").rstrip(".") if value != int(value) else _num(value, 1)
    if isinstance(value, int):
        return str(value).replace("-", "\u2212")
    if isinstance(value, dict):
        if "tensor" in value:
            shape = "\u00d7".join(map(str, value["tensor"]))
            return f"{shape} {value.get('dtype', '')} tensor".replace("  ", " ")
        rest = [_value_text(v) if k == "name" else f"{k} {_value_text(v)}" if "name" not in value else _value_text(v)
                for k, v in value.items() if v is not None]
        return " ".join(rest) if "name" in value else "(" + ", ".join(rest) + ")"
    if isinstance(value, list | tuple):
        while len(value) == 1 and isinstance(value[0], list | tuple):  # [[[0.0]]]: one value
            value = value[0]
        if value and all(isinstance(v, dict) for v in value):
            return "; ".join(_value_text(v) for v in value)
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def flatten(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Applied leaf records, containers opened, in the order they ran."""
    out = []
    for rec in records:
        if not rec.get("applied"):
            continue
        children = rec.get("ops")
        if children is not None and rec["op"] in ("RandomApply", "RandomChoice", "RandomOrder"):
            if rec["op"] == "RandomOrder":
                children = [children[i] for i in rec["order"]]
            out += flatten(children)
        else:
            out.append(rec)
    return out


def _short(rec: dict[str, Any]) -> str:
    op, p = rec["op"], rec.get("params") or {}
    if op in ("RandomResizedCrop", "RandomCrop") and "width" in p:
        return f"crop {p['width']}\u00d7{p['height']} @ ({p['left']},{p['top']})"
    if op == "RandomRotation":
        return f"rot {_num(p['angle'], 1)}\u00b0"
    if op == "RandomAffine":
        parts = [f"affine {_num(p['angle'], 1)}\u00b0"]
        if any(p.get("translate", [0, 0])):
            parts.append(f"t({p['translate'][0]},{p['translate'][1]})")
        if p.get("scale", 1.0) != 1.0:
            parts.append(f"s{_num(p['scale'])}")
        if any(p.get("shear", [0, 0])):
            parts.append(f"sh{_num(p['shear'][0], 1)}")
        return " ".join(parts)
    if op == "ColorJitter":
        factors = [(k, p.get(f"{name}_factor")) for k, name in
                   (("b", "brightness"), ("c", "contrast"), ("s", "saturation"), ("h", "hue"))]
        return "jitter " + " ".join(f"{k}{_num(v)}" for k, v in factors if v is not None)
    if op == "GaussianBlur":
        return f"blur \u03c3{_num(p['sigma'][0])}"
    if op == "JPEG":
        return f"jpeg q{p['quality']}"
    if op == "RandomErasing":
        return f"erase {p['w']}\u00d7{p['h']}"
    if op in ("AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"):
        names = [o["name"] for o in p.get("ops", [])]
        label = {"AutoAugment": "auto", "RandAugment": "rand", "TrivialAugmentWide": "trivial", "AugMix": "augmix"}[op]
        return f"{label} " + (", ".join(names[:3]) + ("\u2026" if len(names) > 3 else "") if names else "identity")
    return _WORDS.get(op, op)


_WORDS = {
    "RandomHorizontalFlip": "flip", "RandomVerticalFlip": "vflip", "RandomPerspective": "perspective",
    "RandomGrayscale": "gray", "GaussianNoise": "noise", "RandomInvert": "invert", "RandomPosterize": "posterize",
    "RandomSolarize": "solarize", "RandomAdjustSharpness": "sharpen", "RandomAutocontrast": "autocontrast",
    "RandomEqualize": "equalize", "Resize": "resize", "CenterCrop": "center crop", "ElasticTransform": "elastic",
}  # fmt: skip


def summarize(records: list[dict[str, Any]]) -> str:
    """What was drawn, in a few words: ``crop 243×258 @ (33,17) · flip · rot −7.2°``."""
    return " \u00b7 ".join(_short(r) for r in flatten(records))

