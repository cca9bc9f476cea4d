"""The ops of a spec that cannot carry labels, and why (``augment validate`` names them).

Torch-free, like :mod:`augment.spec` and :mod:`augment.ops`: checking a spec imports
neither torch nor torchvision. Every other registered op carries labels: torchvision has
kernels for boxes, masks and keypoints for each geometric op, and the photometric ones
(``RandomErasing`` too: the erased part of an object keeps its box) leave them as they are.
"""

from __future__ import annotations

from typing import Any

from augment.ops import REGISTRY
from augment.spec import Spec, load_spec

_POLICY_WHY = ("torchvision's {name} refuses boxes, masks and keypoints: it applies geometric ops of its own choosing "
               "(shear, translate, rotate) through image-only kernels, which no label can follow")
_MIRROR_WHY = ("RandomCrop with padding_mode {mode} mirrors the image's content into the padding, and its objects "
               "with it, where no label follows them")


def refusals(spec: Spec | str | dict[str, Any]) -> list[tuple[str, str, str]]:
    """The ops of ``spec`` that cannot carry labels.

    Returns:
        ``(where, op, why)`` per refused op, in spec order; ``where`` is its field path
        (``ops[1].RandomChoice.ops[0]``). Empty when every op carries labels.
    """
    found: list[tuple[str, str, str]] = []
    for i, op in enumerate(load_spec(spec).ops):
        _refuse(op, f"ops[{i}]", found)
    return found


def _refuse(op: dict[str, dict[str, Any]], where: str, found: list[tuple[str, str, str]]) -> None:
    (name, params), = op.items()
    opdef = REGISTRY[name]
    if opdef.category == "policy":
        found.append((where, name, _POLICY_WHY.format(name=name)))
    elif name == "RandomCrop" and params["padding_mode"] in ("reflect", "symmetric") and (
            params["padding"] or params["pad_if_needed"]):
        found.append((where, name, _MIRROR_WHY.format(mode=params["padding_mode"])))
    if opdef.is_container:
        for j, child in enumerate(params["ops"]):
            _refuse(child, f"{where}.{name}.ops[{j}]", found)


def refusal_message(found: list[tuple[str, str, str]]) -> str:
    """The refusals as one message, one line per op."""
    return "these ops cannot carry labels:\n" + "\n".join(f"  {where} {op}: {why}" for where, op, why in found)
