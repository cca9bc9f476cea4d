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
from augment.labels.model import LabelError
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


def _masks_folder(tmp_path, wrong_size=False):
    """Two images and their class-id masks (classes 3 and 7, which a masks folder names none of)."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name, value in (("a", 3), ("b", 7)):
        PIL.Image.new("RGB", (40, 30), (90, 90, 90)).save(images / f"{name}.png")
        ids = np.zeros((30, 40) if not (wrong_size and name == "b") else (20, 40), np.uint8)
        ids[5:15, 10:30] = value
        PIL.Image.fromarray(ids, "L").save(masks / f"{name}.png")
    return images, masks


def test_a_masks_folder_and_an_unnamed_yolo_tree_become_trees_named_by_id(tmp_path):
    images, masks = _masks_folder(tmp_path)
    root = to_yolo(masks, images, tmp_path / "tree", format="masks")
    assert yaml.safe_load((root / "data.yaml").read_text()) == {"train": "images/train", "names": {0: "3", 1: "7"}}
    assert (root / "labels/train/a.txt").read_text() == "0 0.500000 0.333333 0.500000 0.333333\n"
    assert (root / "labels/train/b.txt").read_text().startswith("1 ")
    unnamed = tmp_path / "unnamed"
    shutil.copytree(root / "images", unnamed / "images")
    shutil.copytree(root / "labels", unnamed / "labels")
    (unnamed / "labels/train/b.txt").write_text("4 0.5 0.5 0.2 0.2\n")  # ids 0 and 4, no data.yaml to name them
    again = to_yolo("yolo", unnamed, tmp_path / "again", format="yolo")
    assert yaml.safe_load((again / "data.yaml").read_text())["names"] == {0: "0", 1: "4"}
    assert (again / "images/train/labels/train/b.txt").read_text() == "1 0.500000 0.500000 0.200000 0.200000\n"


def test_a_conversion_that_fails_leaves_no_tree_and_can_be_run_again(tmp_path):
    images, masks = _masks_folder(tmp_path, wrong_size=True)
    with pytest.raises(LabelError, match=r"b\.png"):
        to_yolo(masks, images, tmp_path / "out/tree", format="masks")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [], "nothing half-written, no temporary folder"
    (tmp_path / "out/tree").mkdir()  # an empty folder given is filled
    (tmp_path / "fixed").mkdir()
    _, masks = _masks_folder(tmp_path / "fixed")
    root = to_yolo(masks, tmp_path / "fixed/images", tmp_path / "out/tree", format="masks")
    assert sorted(p.name for p in root.iterdir()) == ["data.yaml", "images", "labels"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tree"]
