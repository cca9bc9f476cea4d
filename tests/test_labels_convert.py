"""augment.labels.convert.to_yolo: labelled images as an Ultralytics detection tree, read
back by the kit's YOLO reader and by supervision's."""

from __future__ import annotations

import shutil

import numpy as np
import PIL.Image
import pytest
import yaml

from augment.errors import UsageError
from augment.labels.coco import read_coco
from augment.labels.convert import to_yolo
from augment.labels.formats import open_annotations
from augment.samples import annotations_path, list_samples, samples_dir


def test_the_samples_coco_file_becomes_a_yolo_tree_with_the_same_boxes(tmp_path):
    root = to_yolo(annotations_path(), samples_dir(), tmp_path / "tree")
    coco = read_coco(annotations_path())
    ids = sorted(coco.categories)
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data == {"train": "images/train", "names": {n: coco.categories[c]["name"] for n, c in enumerate(ids)}}
    tree = open_annotations("yolo", input_dir=root)
    assert not tree.problems
    for rel in list_samples():
        assert (root / "images/train" / rel).read_bytes() == (samples_dir() / rel).read_bytes()
        with PIL.Image.open(samples_dir() / rel) as image:
            size = image.size
        want, got = coco.image(rel).labels(size), tree.image(f"images/train/{rel}").labels(size)
        np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=1e-6 * max(size))  # 6 decimals of 1
        assert got.categories.tolist() == [ids.index(c) for c in want.categories]
        assert got.masks is None and got.keypoints is None, "a detection tree: boxes only"


def test_supervision_reads_the_tree(tmp_path):
    import supervision as sv

    root = to_yolo(annotations_path(), samples_dir(), tmp_path / "tree")
    dataset = sv.DetectionDataset.from_yolo(images_directory_path=str(root / "images/train"),
                                            annotations_directory_path=str(root / "labels/train"),
                                            data_yaml_path=str(root / "data.yaml"))
    coco = read_coco(annotations_path())
    assert len(dataset) == len(list_samples())
    for path, _image, detections in dataset:
        rel = path.rsplit("/", 1)[1]
        entry = coco.image(rel)
        np.testing.assert_allclose(detections.xyxy, entry.labels(entry.size).boxes, atol=1e-3)


def test_an_image_the_annotations_do_not_name_is_a_background_image(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(samples_dir(), photos)
    shutil.copyfile(samples_dir() / "coffee.jpg", photos / "unnamed.jpg")
    shutil.copyfile(annotations_path(), photos / "instances.json")  # the annotations' own file: not an image
    root = to_yolo(photos / "instances.json", photos, tmp_path / "tree", split="val")
    assert (root / "labels/val/unnamed.txt").read_bytes() == b""
    assert not (root / "images/val/instances.json").exists()
    assert yaml.safe_load((root / "data.yaml").read_text())["val"] == "images/val"


def test_a_folder_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "old.txt").write_text("x")
    with pytest.raises(UsageError, match=r"root=.*tree: not empty"):
        to_yolo(annotations_path(), samples_dir(), tmp_path / "tree")
