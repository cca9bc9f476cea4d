"""A spec as plain torchvision v2 Python, for a training script that does not use the kit.

It sits beside the spec model and the op registry because it reads only them: each op's
canonical parameters are the torchvision constructor's arguments (the registry's
``make`` converters name the few that are not, such as AutoAugment's policy), so the code
builds the very classes with the very arguments :class:`~augment.pipeline.Pipeline`
builds. The preview shows it (:func:`augment.preview.to_code` is this function).
"""

from __future__ import annotations

from typing import Any

from augment.ops import REGISTRY
from augment.spec import Spec, load_spec
from augment.text import plural


def to_code(spec: Spec | str | dict[str, Any]) -> str:
    """The spec's ops as plain torchvision v2 Python, for a training script: the same
    classes with the same arguments the kit builds (without the kit's per-image seeding
    and parameter capture).

    Args:
        spec: anything :func:`~augment.spec.load_spec` takes.

    Returns:
        Python source that imports ``v2`` and binds ``transform``.

    Raises:
        SpecError: the spec is invalid.
    """
    spec = load_spec(spec)
    body = "".join(f"    {_call(op, '')},\n" for op in spec.ops)
    outputs = plural(spec.copies, "output")
    return ("from torchvision.transforms import v2\n\n"
            f"# spec digest {spec.digest[:12]}; {outputs} per image, seed {spec.seed} (the kit seeds\n"
            "# each image from the spec's seed, its path and the copy; here torch's global generator decides).\n"
            "# Pixel values (fill, threshold) are on the 0-255 scale: apply it to PIL or uint8 images.\n"
            + (f"transform = v2.Compose([\n{body}])\n" if body else
               "transform = v2.Identity()  # ops: [] (v2.Compose refuses an empty list)\n"))


def _call(op: dict[str, dict[str, Any]], indent: str) -> str:
    """One canonical op as a constructor call; a container's ops on lines of their own."""
    (name, params), = op.items()
    opdef = REGISTRY[name]
    args = []
    if opdef.is_container:
        inner = "".join(f"{indent}        {_call(c, indent + '    ')},\n" for c in params["ops"])
        args.append(f"[\n{inner}{indent}    ]")
    for key, value in params.items():
        if key == "ops":
            continue
        text = f"v2.AutoAugmentPolicy({value!r})" if key in opdef.make else repr(value)
        args.append(f"{key}={text}")
    return f"v2.{name}({', '.join(args)})"
