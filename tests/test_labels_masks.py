"""Semantic PNG masks in and out (augment.labels.masks): class ids as one object per class, the identity round trip
byte for byte, moved masks never mixing ids, and each bad mask named."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest

from augment.labels.follow import LabelRules
from augment.labels.masks import encode_png, read_masks, to_classes, to_labels, write_mask
from augment.labels.model import LabelError
from augment.pipeline import Pipeline
from tests.labels_helpers import IDENTITY, png, through


def test_semantic_masks_round_trip_and_move_without_mixing(tmp_path):
    classes = np.zeros((30, 40), np.uint8)
    classes[5:15, 5:20], classes[18:, 22:] = 3, 200
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/a.png").write_bytes(encode_png(classes))
    (tmp_path / "notes.txt").write_text("x")
    index = read_masks(tmp_path)
    assert [(p.where, p.reason) for p in index.problems] == [("notes.txt", "not_a_mask")]
    entry = index.image("sub/a.jpg")
    labels = entry.labels((40, 30))
    assert list(labels.categories) == [3, 200]
    assert write_mask(through(IDENTITY, (40, 30), labels)) == (tmp_path / "sub/a.png").read_bytes()
    rotate = Pipeline({"version": 1, "ops": [{"RandomRotation": {"degrees": [30, 30]}}, {"Resize": {"size": 45}}]})
    moved = np.asarray(PIL.Image.open(io.BytesIO(write_mask(through(rotate, (40, 30), labels)))))
    assert set(np.unique(moved)) == {0, 3, 200}, "nearest only: no value between classes"
    assert moved.shape == (45, 60)
    assert [p.where for p in index.orphans(["other.jpg"])] == ["sub/a.png"]


def test_semantic_mask_problems(tmp_path):
    (tmp_path / "rgb.png").write_bytes(png(np.zeros((30, 40, 3), np.uint8)))
    (tmp_path / "a.png").write_bytes(encode_png(np.ones((30, 40), np.uint8)))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    index = read_masks(tmp_path)
    assert index.image("rgb.jpg").problem((40, 30)).reason == "bad_mask"
    assert index.image("bad.jpg").problem((40, 30)).reason == "bad_mask"
    assert index.image("a.jpg").problem((40, 30)) is None
    with pytest.raises(LabelError, match=r"a\.png: a 40x30 mask on a 80x60 image"):
        index.image("a.jpg").labels((80, 60))
    palette = PIL.Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8))
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    out = io.BytesIO()
    palette.save(out, format="PNG")
    assert PIL.Image.open(io.BytesIO(out.getvalue())).mode == "P"
    assert list(to_labels(np.asarray(PIL.Image.open(io.BytesIO(out.getvalue())))).categories) == [1, 2, 255]


def test_min_area_and_min_visibility_never_drop_a_class_region(tmp_path):
    """A semantic mask's class is a region, not an instance: the spec's min_area and min_visibility (which drop
    small or mostly cut instances) leave it whole, in drop and clamp mode alike; it goes only with its last pixel."""
    classes = np.zeros((30, 40), np.uint8)
    classes[0:20, 0:30], classes[25:27, 36:38], classes[28:, 0:2] = 3, 7, 9  # 7: 4 px; 9: cut away below
    labels = to_labels(classes)
    crop = Pipeline({"version": 1, "ops": [{"CenterCrop": {"size": [24, 34]}}]})  # rows 3..26, cols 3..36
    expected = classes[3:27, 3:37]
    for mode in ("drop", "clamp"):
        rules = LabelRules(mode, min_area=100.0, min_visibility=0.9)
        _, _, out, counts = crop.apply_labelled(PIL.Image.new("RGB", (40, 30)), 0, labels, rules)
        # 3 keeps 17 of 20 rows, 7 two pixels: both kept; 9 has none left (clamp keeps it marked, with no pixel)
        assert list(out.categories) == ([3, 7] if mode == "drop" else [3, 7, 9]), mode
        assert (counts.dropped, counts.marked) == (({"outside": 1}, {}) if mode == "drop" else ({}, {"outside": 1}))
        np.testing.assert_array_equal(to_classes(out), expected)
    instance = to_labels(classes)
    instance.attrs = None  # the same objects as instances: the rules apply
    _, _, out, counts = crop.apply_labelled(PIL.Image.new("RGB", (40, 30)), 0, instance,
                                            LabelRules(min_area=100.0, min_visibility=0.9))
    assert list(out.categories) == [] and counts.dropped == {"min_area": 1, "min_visibility": 1, "outside": 1}


def test_a_masks_job_carries_every_class_whatever_the_spec_drops(tmp_path):
    from augment.engine import run_job

    inputs, masks = tmp_path / "in", tmp_path / "masks"
    inputs.mkdir()
    masks.mkdir()
    PIL.Image.new("RGB", (40, 30), (50, 60, 70)).save(inputs / "a.png")
    classes = np.zeros((30, 40), np.uint8)
    classes[0:20, 0:30], classes[25:27, 36:38] = 3, 7
    (masks / "a.png").write_bytes(encode_png(classes))
    spec = {"version": 1, "ops": [{"CenterCrop": {"size": [24, 34]}}],
            "annotations": {"min_area": 100, "min_visibility": 0.9}}
    out = tmp_path / "out"
    run_job(spec, inputs, out, workers=1, annotations=str(masks), progress="off")
    written = np.asarray(PIL.Image.open(out / "masks/a.png.aug0.png"))
    np.testing.assert_array_equal(written, classes[3:27, 3:37])
