"""YOLO trees in and out (augment.labels.yolo): each bad line named by file:line, the identity round trip byte for
byte, moved boxes, polygons and pose keypoints read back by our reader and by supervision's (a reader no one here
wrote)."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from augment.labels.coco import decode_segmentation
from augment.labels.yolo import data_yaml, outline, read_yolo, write_yolo
from augment.pipeline import Pipeline
from tests.labels_helpers import IDENTITY, through

FLIP_RESIZE = Pipeline({"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}, {"Resize": {"size": 120}}]})


SQUARE = "0 0.125000 0.166667 0.375000 0.166667 0.375000 0.333333 0.250000 0.333333 0.250000 0.666667 0.125000 " \
         "0.666667"  # an L on 80x60: (10, 10), (30, 10), (30, 20), (20, 20), (20, 40), (10, 40)
BOX = "1 0.500000 0.500000 0.250000 0.500000"


def yolo_tree(root, lines_a=(BOX, SQUARE), yaml_text="names: [cat, dog]\n"):
    for rel in ("images/train/a.png", "images/train/b.png", "images/val/c.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        PIL.Image.new("RGB", (80, 60)).save(root / rel)
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/val").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("".join(line + "\n" for line in lines_a))
    (root / "labels/val/c.txt").write_text("")
    if yaml_text is not None:
        (root / "data.yaml").write_text(yaml_text)
    return root


def test_yolo_reads_boxes_polygons_and_empty_images(tmp_path):
    index = read_yolo(yolo_tree(tmp_path))
    assert index.problems == [] and index.names == {0: "cat", 1: "dog"}
    labels = index.image("images/train/a.png").labels((80, 60))
    np.testing.assert_allclose(labels.boxes[0], [30, 15, 50, 45])
    np.testing.assert_allclose(labels.boxes[1], [10, 10, 30, 40], atol=1e-4)
    assert labels.masks[0] is None and labels.masks[1].sum() == 20 * 10 + 10 * 20
    assert list(labels.categories) == [1, 0] and list(labels.ids) == [1, 2]
    for empty in ("images/train/b.png", "images/val/c.png"):  # no .txt, an empty .txt: valid, no objects
        assert len(index.image(empty).labels((80, 60))) == 0
    assert index.image("elsewhere/a.png") is None
    assert index.image("train/images/x.jpg").path == "train/labels/x.txt", "Roboflow's layout, Ultralytics' rule"


def test_a_tree_of_labels_alone_reads_every_images_labels(tmp_path):
    """A sharded job's hosts get the tree's labels and data.yaml without its images (those come sharded):
    no label file is an image's that is missing, and an image's labels are read from there."""
    import shutil

    from augment.labels.formats import excluded_annotations, open_annotations

    tree = yolo_tree(tmp_path / "tree")
    (tmp_path / "tree" / "labels/val/orphan.txt").write_text(BOX + "\n")
    assert [p.reason for p in read_yolo(tree).problems] == ["no_image"], "with its images, an orphan is one"
    labels_only = tmp_path / "labels-only"
    shutil.copytree(tree / "labels", labels_only / "labels")
    shutil.copy(tree / "data.yaml", labels_only / "data.yaml")
    index = open_annotations(str(labels_only), format="yolo", input_dir=tree)
    assert index.problems == [] and index.categories == {0: {"id": 0, "name": "cat"}, 1: {"id": 1, "name": "dog"}}
    got = index.image("images/train/a.png").labels((80, 60))
    want = read_yolo(tree).image("images/train/a.png").labels((80, 60))
    np.testing.assert_array_equal(got.boxes, want.boxes)
    kept, own = excluded_annotations(index, tree, ["images/train/a.png", "labels/train/a.txt", "data.yaml"])
    assert kept == ["images/train/a.png"] and [o["source"] for o in own] == ["labels/train/a.txt", "data.yaml"]


def test_yolo_names_each_bad_line_and_keeps_the_rest(tmp_path):
    bad = [BOX, "1 0.5 0.5", "0 0.5 nan 0.1 0.1", "7 0.5 0.5 0.1 0.1", "0 1.2 0.5 0.1 0.1", "0 0.5 0.5 0 0.1",
           "zero 0.5 0.5 0.1 0.1", "0 0.95 0.5 0.2 0.2", "0.5 0.5 0.5 0.1 0.1", ""]
    root = yolo_tree(tmp_path, bad)
    (root / "labels/train/ghost.txt").write_text(BOX + "\n")
    index = read_yolo(root)
    found = {p.where: p.reason for p in index.problems}
    assert found == {"labels/train/a.txt:2": "bad_line", "labels/train/a.txt:3": "bad_number",
                     "labels/train/a.txt:4": "unknown_category", "labels/train/a.txt:5": "outside",
                     "labels/train/a.txt:6": "bad_box", "labels/train/a.txt:7": "bad_line",
                     "labels/train/a.txt:8": "outside", "labels/train/a.txt:9": "unknown_category",
                     "labels/train/ghost.txt": "no_image"}
    assert "labels/train/a.txt:4: class 7 is not one of the 2 classes" in str(index.problems[2])
    assert list(index.image("images/train/a.png").labels((80, 60)).ids) == [1]
    (root / "data.yaml").write_text("names: [cat\n")
    assert [p.reason for p in read_yolo(root).problems if p.where == "data.yaml"] == ["bad_yaml"]


def test_yolo_identity_round_trip_is_byte_for_byte(tmp_path):
    root = yolo_tree(tmp_path)
    index = read_yolo(root)
    labels = through(IDENTITY, (80, 60), index.image("images/train/a.png").labels((80, 60)))
    written = write_yolo(labels)
    assert written == (root / "labels/train/a.txt").read_bytes()
    out = yolo_tree(tmp_path / "out", lines_a=())
    (out / "labels/train/a.txt").write_bytes(written)
    again = read_yolo(out).image("images/train/a.png").labels((80, 60))
    np.testing.assert_allclose(again.boxes, labels.boxes, atol=1e-6)
    assert (again.masks[1] == labels.masks[1]).all()


def test_moved_yolo_labels_read_back_by_us_and_by_supervision(tmp_path):
    import supervision as sv  # a dev dependency: the test must not skip quietly
    index = read_yolo(yolo_tree(tmp_path / "in"))
    moved = through(FLIP_RESIZE, (80, 60), index.image("images/train/a.png").labels((80, 60)))
    assert moved.size == (160, 120)
    out = tmp_path / "out"
    (out / "images/train").mkdir(parents=True)
    (out / "labels/train").mkdir(parents=True)
    PIL.Image.new("RGB", moved.size).save(out / "images/train/a_0.png")
    (out / "labels/train/a_0.txt").write_bytes(write_yolo(moved))
    (out / "data.yaml").write_bytes(data_yaml(index, path=str(out)))
    back = read_yolo(out).image("images/train/a_0.png").labels(moved.size)
    assert (back.masks[1] == moved.masks[1]).all(), "the polygon written fills back to the moved mask"
    np.testing.assert_allclose(back.boxes, moved.boxes, atol=1e-4)
    dataset = sv.DetectionDataset.from_yolo(str(out / "images/train"), str(out / "labels/train"),
                                            str(out / "data.yaml"), force_masks=True)
    assert dataset.classes == ["cat", "dog"]
    _, _, detections = dataset[0]
    np.testing.assert_allclose(detections.xyxy, moved.boxes, atol=1e-3)
    assert list(detections.class_id) == [1, 0]
    # supervision fills polygons with OpenCV, boundary pixels included: it covers our mask and its border only
    assert (detections.mask[1] >= moved.masks[1]).all() and detections.mask[1].sum() <= moved.masks[1].sum() + 2 * 160


def test_outline_joins_regions_and_fills_holes():
    mask = np.zeros((12, 12), bool)
    mask[1:3, 1:3] = mask[5:8, 5:9] = mask[0, 11] = True
    corners = [c for p in outline(mask) for c in p]
    assert (decode_segmentation([corners], 12, 12) == mask).all()
    ring = np.zeros((6, 6), bool)
    ring[1:5, 1:5], ring[2:4, 2:4] = True, False
    assert outline(ring) == [(1, 1), (5, 1), (5, 5), (1, 5)]


def test_yolo_pose_lines_with_kpt_shape(tmp_path):
    pose = "0 0.5 0.5 0.5 0.5 0.25 0.25 2 0.75 0.25 1 0 0 0"
    root = yolo_tree(tmp_path, [pose], "names: [person]\nkpt_shape: [3, 3]\nflip_idx: [1, 0, 2]\n"
                                       "kpt_names: {0: [left_eye, right_eye, nose]}\n")
    index = read_yolo(root)
    labels = index.image("images/train/a.png").labels((80, 60))
    np.testing.assert_allclose(labels.keypoints[0], [[20, 15, 2], [60, 15, 1], [0, 0, 0]])
    assert labels.keypoint_names == {0: ("left_eye", "right_eye", "nose")}
    assert index.flip_pairs == (("left_eye", "right_eye"),)
    assert write_yolo(through(IDENTITY, (80, 60), labels)) == (pose + "\n").encode()
    moved = through(FLIP_RESIZE, (80, 60), labels)
    # the mirrored person's left eye is where the right eye was: (79 - 60) * 2 / 160, as COCO's keypoints move
    assert write_yolo(moved).decode().split()[5:8] == ["0.237500", "0.250000", "1"], "the left eye stays left"
    assert [p.reason for p in read_yolo(yolo_tree(tmp_path / "b", [BOX], "kpt_shape: [3, 3]\n")).problems] == \
        ["bad_line"]


@pytest.mark.parametrize("odd", ["kpt_names: 5", "kpt_names: nose", "kpt_names: [a, b]", "flip_idx: 3",
                                 "flip_idx: [0, 1, 7]", "flip_idx: [x, 1, 2]"])
def test_odd_keypoint_fields_in_the_yaml_are_problems_not_crashes(tmp_path, odd):
    pose = "0 0.5 0.5 0.5 0.5 0.25 0.25 2 0.75 0.25 1 0 0 0"
    index = read_yolo(yolo_tree(tmp_path, [pose], f"names: [person]\nkpt_shape: [3, 3]\n{odd}\n"))
    assert [p.reason for p in index.problems] == ["bad_yaml"] and odd.split(":")[0] in index.problems[0].message
    labels = index.image("images/train/a.png").labels((80, 60))
    assert len(labels.keypoint_names[0]) == 3 and index.flip_pairs == ()
