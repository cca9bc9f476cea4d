"""A YOLO tree's own files (its label .txt files, its root YAML) are told from its images by one rule,
augment.labels.yolo.own_file: the input's exclusion, AnnotationIndex.owns, the plan's label bytes and a
calibration sample's files all ask it (a copy of the rule elsewhere could drift from it)."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import pytest

from augment.labels import yolo
from augment.labels.formats import excluded_annotations, open_annotations
from augment.plan import _labels


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    PIL.Image.new("RGB", (32, 24)).save(root / "images/train/a.png")
    (root / "labels/train/a.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    (root / "data.yaml").write_text("train: images/train\nnames: {0: cat}\n")
    return root


@pytest.fixture
def asked(monkeypatch):
    """The paths own_file is asked about, in order."""
    seen: list[str] = []
    rule = yolo.own_file

    def spy(rel: str) -> bool:
        seen.append(rel)
        return rule(rel)

    monkeypatch.setattr(yolo, "own_file", spy)
    return seen


def test_every_own_file_check_asks_own_file(tree, asked, tmp_path):
    index = open_annotations("yolo", input_dir=tree)
    assert index.owns(tree / "labels/train/a.txt") and asked == ["labels/train/a.txt"]
    asked.clear()
    rels = ["images/train/a.png", "labels/train/a.txt", "data.yaml"]
    kept, excluded = excluded_annotations(index, tree, rels)
    assert kept == ["images/train/a.png"] and [e["source"] for e in excluded] == rels[1:] and asked == rels
    asked.clear()
    assert _labels._own_bytes(index) == len("0 0.5 0.5 0.25 0.25\n") and asked == ["labels/train/a.txt"]
    asked.clear()
    assert _labels.sample_own(tree / "data.yaml", tree) and not _labels.sample_own(tree / "images/train/a.png", tree)
    assert asked == ["data.yaml", "images/train/a.png"]
    asked.clear()
    folder = tmp_path / "sample"
    (folder / "images/train").mkdir(parents=True)
    assert _labels.sample_annotations(index, str(tree), {"images/train/a.png": "images/train/a.png"}, folder,
                                      tmp_path / "dest") == "yolo"
    assert "data.yaml" in asked and (folder / "data.yaml").read_bytes() == (tree / "data.yaml").read_bytes()
    assert (folder / "labels/train/a.txt").is_file() and not Path(folder, "images/train/a.txt").exists()
