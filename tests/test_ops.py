"""The op registry: completeness of the schema, validation, and the round trip
spec -> torchvision pipeline -> spec for every op."""

from __future__ import annotations

import inspect
import json
import math
import warnings
from typing import Any

import pytest
import yaml
from torchvision.transforms import v2

from augment.errors import SpecError
from augment.ops import KINDS, REGISTRY, Param, build_transform, canonical_op, canonical_value, extract_params
from augment.pipeline import Pipeline
from augment.spec import list_presets, load_spec
from tests.op_cases import OP_CASES, case_id, cases, one_op_spec

REQUIRED_OPS = {
    "geometric": ["Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip",
                  "RandomVerticalFlip", "RandomRotation", "RandomAffine", "RandomPerspective", "ElasticTransform"],
    "photometric": ["ColorJitter", "RandomGrayscale", "GaussianBlur", "GaussianNoise", "RandomInvert",
                    "RandomPosterize", "RandomSolarize", "RandomAdjustSharpness", "RandomAutocontrast",
                    "RandomEqualize", "JPEG"],
    "policy": ["AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"],
    "erasing": ["RandomErasing"],
    "container": ["RandomApply", "RandomChoice", "RandomOrder"],
}  # fmt: skip
BOUNDED_KINDS = {"int", "float", "size", "resize", "range", "int_range", "pair", "fill", "padding", "shear",
                 "erase_value"}


def test_registry_covers_the_promised_ops_in_their_categories():
    for category, names in REQUIRED_OPS.items():
        for name in names:
            assert name in REGISTRY, name
            assert REGISTRY[name].category == category
            assert REGISTRY[name].cls is getattr(v2, name), "each op is the torchvision v2 class of that name"
            assert REGISTRY[name].path == f"torchvision.transforms.v2.{name}", "what `augment ops NAME` prints"


def test_every_op_has_test_params():
    missing = sorted(set(REGISTRY) - set(OP_CASES))
    assert not missing, f"ops without test parameters in tests/op_cases.py: {missing}"
    assert not set(OP_CASES) - set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_schema_is_complete_for_widgets(name):
    op = REGISTRY[name]
    assert op.help and op.category
    signature = inspect.signature(op.cls.__init__)
    tv_params = [p for p in signature.parameters if p not in ("self", "inplace")]
    names = ["transforms" if p.kind == "ops" else p.name for p in op.params]
    assert sorted(names) == sorted(tv_params), "the schema names every constructor argument"
    for prm in op.params:
        assert prm.kind in KINDS
        assert prm.help.strip(), f"{name}.{prm.name} has no help"
        assert prm.describe()
        if prm.kind == "choice":
            assert prm.choices and prm.default in prm.choices
        if prm.kind in BOUNDED_KINDS:
            assert prm.min is not None and prm.max is not None, f"{name}.{prm.name} needs bounds for a slider"
        if prm.kind != "ops" and prm.default is not None:
            assert canonical_value(prm, prm.default) == prm.default, f"{name}.{prm.name} default not canonical"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_schema_defaults_are_torchvisions(name):
    """Building with only the required arguments and reading back gives our defaults."""
    op = REGISTRY[name]
    required = {p.name: p.default for p in op.params if p.required and p.kind != "ops"}
    if op.is_container:
        required["ops"] = [{"RandomInvert": {"p": 0.5}}]
    spec = load_spec({"version": 1, "ops": [{name: required}]})
    (canonical,) = spec.ops
    kwargs = {k: v for k, v in canonical[name].items() if k in required}
    if op.is_container:
        kwargs = {"transforms": [build_transform(c) for c in canonical[name]["ops"]]}
    tv = op.cls(**kwargs)
    assert extract_params(tv) == canonical


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_round_trip_spec_pipeline_spec(case):
    name, _, params = case
    spec = load_spec(one_op_spec(name, params))
    pipeline = Pipeline(spec)
    assert pipeline.to_spec() == spec, "spec -> pipeline -> spec is the identity on a canonical spec"
    assert load_spec(spec.to_dict()) == spec, "canonicalisation is idempotent"
    assert load_spec(yaml.safe_load(spec.to_yaml())) == spec
    assert load_spec(json.loads(spec.to_json())) == spec
    assert isinstance(pipeline.transform.transforms[0], REGISTRY[name].cls)


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_canonical_params_mean_what_torchvision_means(case):
    """The canonical values, passed to torchvision, are stored unchanged (bit for bit)."""
    name, _, params = case
    (canonical,) = load_spec(one_op_spec(name, params)).ops
    assert extract_params(build_transform(canonical)) == canonical


def _edge_values(p: Param) -> list[Any]:
    """Values at and around the schema's bounds, in every shape the kind might take
    (many are refused by the schema: those are skipped by the caller)."""
    lo = p.min if p.min is not None else -1e6
    hi = p.max if p.max is not None else 1e6
    nums = sorted({lo, hi, -1, 0, 0.5, 1, (lo + hi) / 2})
    ints = sorted({math.ceil(lo), math.floor(hi), -1, 0, 1, 2, 3, int((lo + hi) // 2)})
    pairs = [[a, b] for a in nums for b in nums]
    int_pairs = [[a, b] for a in ints for b in ints]
    values: list[Any] = [None, "random", True, False, [], [1, 2, 3, 4, 5], *(p.choices or ())]
    values += {
        "int": ints, "float": nums, "size": ints + int_pairs, "resize": ints + int_pairs, "range": nums + pairs,
        "int_range": ints + int_pairs, "pair": nums + pairs, "point": nums + pairs,
        "fill": nums + [[a] for a in nums] + [[a, a, a] for a in nums],
        "erase_value": nums + [[a] for a in nums] + [[a, a, a] for a in nums],
        "padding": ints + int_pairs + [[a, 0, 0, a] for a in ints],
        "shear": nums + pairs + [[a, b, a, b] for a in nums for b in nums],
        "weights": [[1], [1, 2], [0.5, 0.5], [0, 1]],
    }.get(p.kind, [])
    return values


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_value_the_schema_accepts_torchvision_accepts(name):
    """`augment validate` checks a spec with the schema alone (no torch import): each
    value it accepts, at and around every bound and in every shape, must also build,
    without a warning, or a job would fail where validate said ok."""
    op = REGISTRY[name]
    base: dict[str, Any] = {p.name: p.default for p in op.params if p.required}
    if op.is_container:
        base["ops"] = ["RandomInvert", "RandomEqualize"]
    accepted = 0
    for p in op.params:
        if p.kind == "ops":
            continue
        for value in _edge_values(p):
            problems: list[str] = []
            canonical = canonical_op({name: {**base, p.name: value}}, "ops[0]", problems)
            if canonical is None:
                continue
            accepted += 1
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    build_transform(canonical)
                except Exception as e:  # the failure is the finding
                    pytest.fail(f"{name}.{p.name}={value!r} validates but torchvision refuses it: {e}")
    assert accepted >= len(op.params) - op.is_container


@pytest.mark.parametrize("spec", [*list_presets(), *(one_op_spec(n, p) for n, _, p in cases())],
                         ids=[*list_presets(), *(case_id(c) for c in cases())])
def test_every_preset_and_op_case_that_validates_builds_a_pipeline(spec):
    """validate and process cannot drift: what load_spec accepts, Pipeline builds."""
    loaded = load_spec(spec)
    assert Pipeline(loaded).to_spec() == loaded


def test_shorthands_expand_like_torchvision():
    (op,) = load_spec(one_op_spec("ColorJitter", {"brightness": 0.4, "hue": 0.1})).ops
    assert op["ColorJitter"]["brightness"] == [0.6, 1.4]
    assert op["ColorJitter"]["hue"] == [-0.1, 0.1]
    assert op["ColorJitter"]["contrast"] == [1.0, 1.0]
    (op,) = load_spec(one_op_spec("RandomRotation", {"degrees": 15})).ops
    assert op["RandomRotation"]["degrees"] == [-15.0, 15.0]
    (op,) = load_spec(one_op_spec("RandomCrop", {"size": 32, "padding": [1, 2]})).ops
    assert op["RandomCrop"]["size"] == [32, 32]
    assert op["RandomCrop"]["padding"] == [1, 2, 1, 2]
    (op,) = load_spec(one_op_spec("RandomChoice", {"ops": ["RandomInvert", "RandomEqualize"], "p": [1, 3]})).ops
    assert op["RandomChoice"]["p"] == [0.25, 0.75]
    assert op["RandomChoice"]["ops"] == [{"RandomInvert": {"p": 0.5}}, {"RandomEqualize": {"p": 0.5}}]


def _problems(spec) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    return info.value.problems


def test_unknown_op_suggests_closest_names():
    (msg,) = _problems(one_op_spec("RandomHorizontalFlp", {}))
    assert "ops[0]" in msg and "'RandomHorizontalFlp'" in msg
    assert "did you mean 'RandomHorizontalFlip'" in msg
    (msg,) = _problems(one_op_spec("colorjitter", {}))
    assert "'ColorJitter'" in msg


@pytest.mark.parametrize(
    ("name", "params", "field", "expect"),
    [
        ("ColorJitter", {"hue": 0.7}, "ops[0].ColorJitter.hue", "[-0.5, 0.5]"),
        ("ColorJitter", {"brightness": "lots"}, "ops[0].ColorJitter.brightness", "[min, max]"),
        ("ColorJitter", {"brightness": [1.5, 0.5]}, "ops[0].ColorJitter.brightness", "min > max"),
        ("RandomHorizontalFlip", {"p": 1.5}, "ops[0].RandomHorizontalFlip.p", "[0, 1]"),
        ("RandomHorizontalFlip", {"p": True}, "ops[0].RandomHorizontalFlip.p", "a number"),
        ("RandomRotation", {}, "ops[0].RandomRotation.degrees", "required"),
        ("RandomResizedCrop", {"size": [224, 224, 3]}, "ops[0].RandomResizedCrop.size", "[height, width]"),
        ("RandomResizedCrop", {"size": 224, "interpolation": "lanczos"}, "ops[0].RandomResizedCrop.interpolation",
         "'bilinear'"),
        ("GaussianBlur", {"kernel_size": 4}, "ops[0].GaussianBlur.kernel_size", "odd"),
        ("RandomPosterize", {"bits": 9}, "ops[0].RandomPosterize.bits", "[0, 8]"),
        ("JPEG", {"quality": 0}, "ops[0].JPEG.quality", "[1, 100]"),
        ("AutoAugment", {"policy": "coco"}, "ops[0].AutoAugment.policy", "'imagenet'"),
        ("RandAugment", {"magnitude": 40}, "ops[0].RandAugment.magnitude", "num_magnitude_bins"),
        ("RandomChoice", {"ops": ["RandomInvert"], "p": [1, 2]}, "ops[0].RandomChoice.p", "one weight per op"),
        ("RandomApply", {"ops": []}, "ops[0].RandomApply.ops", "non-empty list"),
        ("RandomErasing", {"value": "noise"}, "ops[0].RandomErasing.value", "'random'"),
        ("Resize", {"size": [10, 20], "max_size": 30}, "ops[0].Resize.max_size", "one integer"),
    ],
)  # fmt: skip
def test_bad_values_name_the_op_the_field_and_what_is_allowed(name, params, field, expect):
    problems = _problems(one_op_spec(name, params))
    assert len(problems) == 1, problems
    assert problems[0].startswith(field + ":"), problems[0]
    assert expect in problems[0]


def test_unknown_field_suggests_the_right_one():
    (msg,) = _problems(one_op_spec("ColorJitter", {"brightnes": 0.2}))
    assert msg.startswith("ops[0].ColorJitter:")
    assert "unknown field 'brightnes'" in msg and "did you mean 'brightness'" in msg


def test_errors_inside_containers_have_the_full_path_and_all_are_reported():
    spec = {"version": 1, "ops": [
        {"RandomApply": {"ops": [{"GaussianBlur": {"kernel_size": 5}}, {"RandomInvrt": {}}]}},
        {"RandomChoice": {"ops": [{"ColorJitter": {"hue": 2}}]}},
    ]}  # fmt: skip
    problems = _problems(spec)
    assert any(p.startswith("ops[0].RandomApply.ops[1]: unknown op 'RandomInvrt'") for p in problems)
    assert any(p.startswith("ops[1].RandomChoice.ops[0].ColorJitter.hue:") for p in problems)
    assert len(problems) == 2


def test_bare_name_and_null_params_mean_defaults():
    a = load_spec({"version": 1, "ops": ["RandomInvert", {"RandomEqualize": None}]})
    assert a.ops == ({"RandomInvert": {"p": 0.5}}, {"RandomEqualize": {"p": 0.5}})


def test_the_schema_is_a_module_of_its_own_that_imports_nothing_of_the_package():
    """augment.schema (Param, the canonical form of a value) is what the registry, the
    spec and the preview's widgets are written in: it stands below them, torch-free, and
    augment.ops still answers for its names."""
    import subprocess
    import sys

    from augment import ops, schema

    assert (ops.Param, ops.KINDS, ops.INTERPOLATIONS, ops.canonical_value) == \
        (schema.Param, schema.KINDS, schema.INTERPOLATIONS, schema.canonical_value)
    code = "import sys, augment.schema; print(sorted(m for m in sys.modules if m.startswith(('augment.', 'torch'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['augment.schema']"
    with pytest.raises(schema.BadValue, match="out of range"):
        schema.canonical_value(schema.Param("p", "float", 0.5, "probability", min=0.0, max=1.0), 1.5)
