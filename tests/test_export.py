"""augment.export: a spec as plain torchvision v2 code, built from the spec and the registry alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from augment.export import to_code
from augment.ops import extract_params
from augment.spec import load_spec
from tests.op_cases import OP_CASES

CONTAINERS = {
    "version": 1, "seed": 11, "copies": 3,
    "ops": [
        {"RandomApply": {"p": 0.6, "ops": [{"GaussianBlur": {"kernel_size": 3}}, "RandomInvert"]}},
        {"RandomChoice": {"ops": [{"ColorJitter": {"brightness": 0.5}}, "TrivialAugmentWide"], "p": [2, 1]}},
        {"RandomOrder": {"ops": [{"RandomHorizontalFlip": {"p": 0.5}}, {"RandomErasing": {"p": 0.5}}]}},
        {"AutoAugment": {"policy": "svhn"}},
    ],
}  # fmt: skip


def _built(spec) -> list:
    namespace: dict = {}
    exec(to_code(spec), namespace)
    return namespace["transform"].transforms


@pytest.mark.parametrize("spec", ["light", "strong", "defense", CONTAINERS], ids=["light", "strong", "defense",
                                                                               "containers"])
def test_the_code_builds_the_same_transforms(spec):
    spec = load_spec(spec)
    assert [extract_params(t) for t in _built(spec)] == [dict(op) for op in spec.ops]


def test_every_op_case_builds_the_same_transform():
    for name, cases in OP_CASES.items():
        for params in cases:
            spec = load_spec({"version": 1, "ops": [{name: params}]})
            assert [extract_params(t) for t in _built(spec)] == [dict(op) for op in spec.ops], spec.ops


def test_the_code_says_what_it_leaves_out():
    code = to_code("light")
    spec = load_spec("light")
    assert code.startswith("from torchvision.transforms import v2\n")
    assert f"spec digest {spec.digest[:12]}" in code and f"seed {spec.seed}" in code


def test_the_preview_still_answers_with_it():
    from augment import preview

    assert preview.to_code is to_code


def test_it_reads_only_the_spec_and_the_registry():
    """It sits beside them: nothing above (the preview, the pipeline, torch) is imported."""
    tree = ast.parse((Path(__file__).resolve().parents[1] / "augment" / "export.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported == {"__future__", "typing", "augment.ops", "augment.spec", "augment.text"}
