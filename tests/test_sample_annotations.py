"""The hand-made COCO labels of the bundled sample photos (augment/samples/annotations.json):
valid, on their photos, readable by pycocotools, and shipped with the package."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from pycocotools.coco import COCO

from augment import samples
from augment.labels.coco import read_coco
from augment.labels.draw import draw_labels

ROOT = Path(__file__).resolve().parents[1]
ANNOTATIONS = samples.samples_dir().parent / "annotations.json"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(ANNOTATIONS.read_text(encoding="utf-8"))


def test_they_load_with_no_problems_and_cover_every_sample_photo():
    index = read_coco(ANNOTATIONS)
    assert index.problems == []
    assert sorted(index.images) == samples.list_samples(), "file_name is the photo's path in photos/, the job's input"
    for name, entry in index.images.items():
        with PIL.Image.open(samples.sample_path(name)) as photo:
            assert (entry["width"], entry["height"]) == photo.size, name
        assert index.annotations.get(entry["id"]), f"{name} has labels"


def test_every_box_polygon_and_keypoint_lies_inside_its_image(doc):
    images = {i["id"]: i for i in doc["images"]}
    for ann in doc["annotations"]:
        image = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0, ann["id"]
        assert x + w <= image["width"] and y + h <= image["height"], ann["id"]
        for polygon in ann["segmentation"]:
            xs, ys = polygon[0::2], polygon[1::2]
            assert min(xs) >= x and max(xs) <= x + w and min(ys) >= y and max(ys) <= y + h, ann["id"]
        points = np.array(ann.get("keypoints") or [], float).reshape(-1, 3)
        labelled = points[points[:, 2] > 0]
        assert ((labelled[:, 0] >= x) & (labelled[:, 0] <= x + w)).all(), f"{ann['id']}: keypoints in the box"
        assert ((labelled[:, 1] >= y) & (labelled[:, 1] <= y + h)).all(), f"{ann['id']}: keypoints in the box"
        assert ann.get("num_keypoints", 0) == len(labelled)


def test_they_hold_boxes_polygons_and_keypoints_with_their_skeleton(doc):
    polygons = [a for a in doc["annotations"] if a["segmentation"]]
    assert polygons, "at least one polygon mask"
    with_points = [a for a in doc["annotations"] if a.get("keypoints")]
    categories = {c["id"]: c for c in doc["categories"]}
    assert {categories[a["category_id"]]["name"] for a in with_points} == {"person", "cat"}
    for category in categories.values():
        names = category.get("keypoints") or []
        for a, b in category.get("skeleton") or []:
            assert 1 <= a <= len(names) and 1 <= b <= len(names), "COCO's skeleton pairs are 1-based"
    (person,) = [c for c in categories.values() if c["name"] == "person"]
    assert len(person["keypoints"]) == 17 and len(person["skeleton"]) == 19, "COCO's person keypoints and skeleton"
    assert len({c["name"] for c in categories.values()}) == len(categories)
    per_image = {}
    for ann in doc["annotations"]:
        per_image[ann["image_id"]] = per_image.get(ann["image_id"], 0) + 1
    assert all(n >= 2 for n in per_image.values()), "a few objects on every photo"


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")  # pycocotools' own
def test_pycocotools_reads_them_and_each_polygon_mask_fills_its_box():
    coco = COCO(str(ANNOTATIONS))
    assert sorted(img["file_name"] for img in coco.loadImgs(coco.getImgIds())) == samples.list_samples()
    for ann in coco.loadAnns(coco.getAnnIds()):
        if not ann["segmentation"]:
            continue
        mask = coco.annToMask(ann).astype(bool)
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann["bbox"]
        assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h, ann["id"]
        assert mask.sum() == ann["area"] and ann["area"] > 0.5 * w * h, f"{ann['id']}: the outline, not a sliver"


def test_each_photo_draws_with_its_labels():
    index = read_coco(ANNOTATIONS)
    for name in samples.list_samples():
        photo = samples.load_sample(name)
        entry = index.image(name)
        labels = entry.labels()
        drawn = np.asarray(draw_labels(photo, labels, index.categories))
        plain = np.asarray(photo.convert("RGB"))
        for x0, y0, _x1, _y1 in labels.boxes.round().astype(int):
            x0, y0 = min(x0, photo.width - 1), min(y0, photo.height - 1)
            assert (drawn[y0 + 2:y0 + 8, x0] != plain[y0 + 2:y0 + 8, x0]).any(), f"{name}: box at {x0}, {y0} drawn"


def test_the_package_data_ships_them():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["augment"]
    assert any(fnmatch.fnmatch("samples/annotations.json", p) for p in patterns)
