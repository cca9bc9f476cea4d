"""Every private torchvision name augment uses, in one place, each with why.

torchvision's public API does not expose these, and a release may move or change any of
them without notice. augment is tested with torchvision 0.29.1, and its declared range
(``torchvision>=0.24,<0.30``) is checked here name by name: ``tests/test_torchvision.py``
reads each release's sources in that range and fails, naming the release and the name,
where one is missing or takes other arguments. At run time a missing name is one clear
``ImportError`` naming it and the tested range, not a failure deep inside a job.

Nothing else in the package imports a private torchvision name (the same test walks the
package's imports), so this table is the whole of the exposure.
"""

from __future__ import annotations

import importlib
from typing import Any

TESTED = "0.29.1"
RANGE = ">=0.24,<0.30"

# name used in augment: (module, private name, why augment needs it)
PRIVATE: dict[str, tuple[str, str, str]] = {
    "parse_fill": ("torchvision.transforms._functional_pil", "_parse_fill",
                   "the fill colour PIL's rotate/affine take, as torchvision's PIL path builds it"),
    "get_fill": ("torchvision.transforms.v2._utils", "_get_fill",
                 "a transform's fill for one input type, as its forward reads it"),
    "check_interpolation": ("torchvision.transforms.v2.functional._geometry", "_check_interpolation",
                            "an interpolation given as int or enum, normalised as torchvision does"),
    "compute_resized_output_size": ("torchvision.transforms.v2.functional._geometry",
                                    "_compute_resized_output_size",
                                    "the output size of Resize (size, max_size), without resizing"),
    "do_native_uint8_resize_on_cpu": ("torchvision.transforms.v2.functional._geometry",
                                      "_do_native_uint8_resize_on_cpu",
                                      "whether torchvision resizes uint8 natively (its rounding, which the "
                                      "compiled kernel matches)"),
    "affine_matrix": ("torchvision.transforms.functional", "_get_inverse_affine_matrix",
                      "the matrix a rotation or affine moves boxes by (inverted=False), as its box kernel builds it"),
    "RandomApplyTransform": ("torchvision.transforms.v2._transform", "_RandomApplyTransform",
                             "the base of transforms applied with probability p (their draw of p is recorded)"),
}

# private attributes of transforms that augment reads, or wraps to observe a draw: (attribute, why)
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "fill": ("_fill", "the per-type fill RandomRotation and RandomAffine keep (their fill argument, parsed)"),
    "apply_policy_op": ("_apply_image_or_video_transform",
                        "the one call through which AutoAugment, RandAugment, TrivialAugmentWide and AugMix apply "
                        "each op they drew, observed to record the op and its magnitude"),
    "sample_dirichlet": ("_sample_dirichlet", "AugMix's draw of its mixing weights, observed to record them"),
}


def resolve(module: str, name: str, why: str) -> Any:
    """``module.name``, or an ``ImportError`` saying which private name is gone and what to do."""
    import torchvision

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ImportError(
            f"augment needs torchvision's private {module}.{name} ({why}), which torchvision "
            f"{torchvision.__version__} does not have ({e}). augment is tested with torchvision {TESTED} and "
            f"supports {RANGE}: install torchvision{RANGE}") from None


def attribute(transform: Any, key: str) -> str:
    """The name of the private attribute ``key`` of :data:`ATTRIBUTES` on ``transform``, checked
    to be there (to read it, or to wrap it with ``setattr``)."""
    name, why = ATTRIBUTES[key]
    if not hasattr(transform, name):
        import torchvision

        raise ImportError(f"augment needs {type(transform).__name__}.{name} ({why}), which torchvision "
                          f"{torchvision.__version__} does not have; augment is tested with torchvision {TESTED}: "
                          f"install torchvision{RANGE}")
    return name


def fill_of(transform: Any) -> Any:
    """A rotation's or affine's parsed ``fill`` (its private ``_fill``)."""
    return getattr(transform, attribute(transform, "fill"))


parse_fill = resolve(*PRIVATE["parse_fill"])
get_fill = resolve(*PRIVATE["get_fill"])
check_interpolation = resolve(*PRIVATE["check_interpolation"])
compute_resized_output_size = resolve(*PRIVATE["compute_resized_output_size"])
do_native_uint8_resize_on_cpu = resolve(*PRIVATE["do_native_uint8_resize_on_cpu"])
RandomApplyTransform = resolve(*PRIVATE["RandomApplyTransform"])
affine_matrix = resolve(*PRIVATE["affine_matrix"])
