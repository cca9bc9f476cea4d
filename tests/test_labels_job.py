"""Jobs carry labels (#28): the spec's annotations section, augment validate --annotations, and augment process /
run_job with --annotations writing the outputs' labels in the input's format, recorded in the manifest."""

from __future__ import annotations

import json

import pytest

from augment import samples
from augment.cli import main
from augment.errors import SpecError
from augment.labels import LabelRules
from augment.spec import load_spec

ANNOTATIONS = str(samples.annotations_path())


def test_the_annotations_section_is_validated_with_field_paths_and_carried_as_rules():
    spec = load_spec({"version": 1, "ops": [], "annotations": {"mode": "clamp", "min_area": 4, "min_visibility": 0.3,
                                                               "flip_pairs": [["paw_a", "paw_b"]]}})
    assert spec.annotations.rules() == LabelRules("clamp", 4.0, 0.3, (("paw_a", "paw_b"),))
    assert load_spec(spec.to_dict()) == spec
    plain = load_spec({"version": 1, "ops": []})
    assert "annotations" not in plain.to_dict() and plain.annotations.rules() == LabelRules()
    assert spec.digest != plain.digest  # the labels written differ
    with pytest.raises(SpecError) as caught:
        load_spec({"version": 1, "ops": [], "annotations": {"mode": "x", "min_visibility": 2, "min_area": -1,
                                                            "flip_pairs": [["a", "a"]], "zz": 1}})
    text = str(caught.value)
    for field in ("annotations: unknown field 'zz'", "annotations.mode:", "annotations.min_area:",
                  "annotations.min_visibility:", "annotations.flip_pairs[0]:"):
        assert field in text


def test_validate_refuses_ops_that_cannot_carry_labels(tmp_path, capsys):
    spec = tmp_path / "aa.yaml"
    spec.write_text("version: 1\nops:\n  - RandomHorizontalFlip: {}\n  - AutoAugment: {}\n")
    assert main(["validate", str(spec)]) == 0
    capsys.readouterr()
    assert main(["validate", str(spec), "--annotations", ANNOTATIONS]) == 2
    err = capsys.readouterr().err
    assert "ops[1] AutoAugment: torchvision's AutoAugment refuses boxes" in err
    assert main(["validate", "light", "--annotations", ANNOTATIONS]) == 0
    assert "labels: coco" in capsys.readouterr().out


def test_validate_counts_and_names_the_annotations_problems(tmp_path, capsys):
    doc = json.loads(samples.annotations_path().read_text())
    doc["annotations"][0]["bbox"] = [1, 1, -5, 3]
    doc["annotations"][1]["category_id"] = 999
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["validate", "light", "--annotations", str(bad)]) == 0
    err = capsys.readouterr().err
    assert "2 annotation problems (1 bad_box, 1 unknown_category)" in err
    assert f"annotation {doc['annotations'][0]['id']}: bbox" in err
    assert main(["validate", "light", "--annotations", str(tmp_path / "nope.json")]) == 2
    assert "--annotations " in capsys.readouterr().err
    assert main(["validate", "light", "--annotations", str(bad), "--annotation-format", "zz"]) == 2
    assert "--annotation-format 'zz': must be one of" in capsys.readouterr().err
