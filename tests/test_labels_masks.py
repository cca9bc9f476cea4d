"""Semantic PNG masks in and out (augment.labels.masks): class ids as one object per class, the identity round trip
byte for byte, moved masks never mixing ids, and each bad mask named."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest

from augment.labels.masks import encode_png, read_masks, to_labels, write_mask
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
