"""Test parameters for every registered op.

Each op needs at least one entry; ``test_every_op_has_test_params`` fails when an op
is registered without one. Cases use non-default values and every input shorthand the
schema accepts, so the round trip and replay tests cover the normalisation too.
"""

from __future__ import annotations

from typing import Any

OP_CASES: dict[str, list[dict[str, Any]]] = {
    "Resize": [{"size": 96}, {"size": [80, 120], "interpolation": "bicubic", "antialias": False},
               {"size": 64, "max_size": 100}, {"size": None, "max_size": 90}],
    "CenterCrop": [{"size": 100}, {"size": [90, 140]}],
    "RandomCrop": [{"size": 96}, {"size": [64, 80], "padding": [4, 8], "padding_mode": "reflect"},
                   {"size": 96, "padding": 3, "fill": [10, 20, 30]}],
    "RandomResizedCrop": [{"size": 96}, {"size": [64, 96], "scale": [0.3, 0.9], "ratio": [0.5, 2.0],
                                         "interpolation": "nearest"}],
    "RandomHorizontalFlip": [{"p": 0.5}, {"p": 1.0}],
    "RandomVerticalFlip": [{"p": 0.5}, {"p": 0.0}],
    "RandomRotation": [{"degrees": 30}, {"degrees": [-10, 45], "interpolation": "bilinear", "expand": True,
                                         "fill": 128}, {"degrees": 20, "center": [10, 20]}],
    "RandomAffine": [{"degrees": 15, "translate": [0.1, 0.2], "scale": [0.8, 1.2], "shear": 10},
                     {"degrees": [0, 90], "shear": [-5, 5, -3, 3], "interpolation": "bilinear", "fill": 255}],
    "RandomPerspective": [{"distortion_scale": 0.3, "p": 0.9}, {"p": 1.0, "fill": [0, 128, 255]}],
    "ElasticTransform": [{"alpha": 30.0, "sigma": 4.0}, {"alpha": [20, 60], "sigma": [3, 6], "fill": 64}],
    "ColorJitter": [{"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
                    {"brightness": [0.5, 1.5], "hue": [-0.2, 0.3]}, {"contrast": 1.5}],
    "RandomGrayscale": [{"p": 0.5}, {"p": 1.0}],
    "GaussianBlur": [{"kernel_size": 5}, {"kernel_size": [3, 7], "sigma": 1.5}],
    "GaussianNoise": [{"sigma": 0.05}, {"mean": 0.1, "sigma": 0.2, "clip": True}],
    "RandomInvert": [{"p": 0.5}],
    "RandomPosterize": [{"bits": 3}, {"bits": 6, "p": 1.0}],
    "RandomSolarize": [{"threshold": 128}, {"threshold": 200.5, "p": 1.0}],
    "RandomAdjustSharpness": [{"sharpness_factor": 2}, {"sharpness_factor": 0.2, "p": 1.0}],
    "RandomAutocontrast": [{"p": 0.7}],
    "RandomEqualize": [{"p": 0.7}],
    "JPEG": [{"quality": 50}, {"quality": [20, 90]}],
    "AutoAugment": [{}, {"policy": "cifar10", "fill": 128}, {"policy": "svhn", "interpolation": "bilinear"}],
    "RandAugment": [{}, {"num_ops": 3, "magnitude": 5, "num_magnitude_bins": 11, "fill": [1, 2, 3]}],
    "TrivialAugmentWide": [{}, {"num_magnitude_bins": 15, "interpolation": "bilinear"}],
    "AugMix": [{}, {"severity": 5, "mixture_width": 2, "chain_depth": 2, "alpha": 0.5, "all_ops": False}],
    "RandomErasing": [{"p": 0.9}, {"p": 1.0, "scale": [0.1, 0.2], "ratio": [0.5, 2], "value": [255, 0, 0]},
                      {"p": 1.0, "value": "random"}],
    "RandomApply": [{"ops": [{"GaussianBlur": {"kernel_size": 3}}, "RandomInvert"], "p": 0.5},
                    {"ops": [{"RandomRotation": {"degrees": 10}}], "p": 1.0}],
    "RandomChoice": [{"ops": ["RandomHorizontalFlip", {"ColorJitter": {"brightness": 0.5}}, "RandomEqualize"]},
                     {"ops": [{"RandomHorizontalFlip": {"p": 1.0}}, {"RandomVerticalFlip": {"p": 1.0}}],
                      "p": [1, 3]}],
    "RandomOrder": [{"ops": [{"RandomRotation": {"degrees": 5}}, {"ColorJitter": {"hue": 0.05}},
                             {"RandomHorizontalFlip": {"p": 1.0}}]}],
}  # fmt: skip


def cases() -> list[tuple[str, int, dict[str, Any]]]:
    """(op name, case index, params) for every case, for ``pytest.mark.parametrize``."""
    return [(name, i, params) for name, lst in OP_CASES.items() for i, params in enumerate(lst)]


def case_id(case: tuple[str, int, dict[str, Any]]) -> str:
    return f"{case[0]}-{case[1]}"


def one_op_spec(name: str, params: dict[str, Any], copies: int = 2, seed: int = 7) -> dict[str, Any]:
    """A spec that applies one op (after a resize that keeps tests fast)."""
    return {"version": 1, "seed": seed, "copies": copies, "ops": [{name: params}]}
