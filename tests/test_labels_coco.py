"""COCO in and out (augment.labels.coco): the index and its problems, an identity round trip, moved
labels that pycocotools reads back as the job made them, deterministic parts and their merge."""

from __future__ import annotations

import copy
import json
import math
from typing import Any
from unittest import mock

import numpy as np
import PIL.Image
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from augment.labels import coco, json_parse
from augment.labels.coco import CocoImage, CocoOutput, dump_coco, encode_mask, merge_coco, read_coco, write_coco
from augment.pipeline import Pipeline

# pycocotools' own annToMask, called here to read the files back, predates numpy 2's copy keyword
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

PERSON = ["nose", "left_eye", "right_eye", "left_wrist", "right_wrist"]


def runs(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE of a mask: run lengths in column order, starting with zeros."""
    flat = mask.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    lengths = np.diff(np.r_[0, edges, flat.size]).tolist()
    return lengths if flat[0] == 0 else [0, *lengths]


def instances() -> dict:
    """Two images: boxes, a polygon, a compressed and an uncompressed RLE, keypoints, a crowd."""
    blob = np.zeros((60, 80), np.uint8)
    blob[10:30, 20:50] = 1
    crowd = np.zeros((60, 80), np.uint8)
    crowd[20:40, 10:30] = 1
    raw_rle = {"size": [60, 80], "counts": runs(crowd)}
    return {
        "info": {"description": "test"},
        "licenses": [{"id": 1, "name": "CC0"}],
        "images": [{"id": 7, "file_name": "a/one.jpg", "width": 80, "height": 60, "license": 1,
                    "coco_url": "http://x/one.jpg"},
                   {"id": 9, "file_name": "two.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": PERSON,
                        "skeleton": [[2, 3], [1, 2]]},
                       {"id": 3, "name": "cat", "supercategory": "animal"}],
        "annotations": [
            {"id": 11, "image_id": 7, "category_id": 1, "bbox": [10.25, 5.5, 30.125, 40.0], "area": 1000.5,
             "iscrowd": 0, "segmentation": [[10.25, 5.5, 40.375, 5.5, 40.375, 45.5, 10.25, 45.5]],
             "keypoints": [20, 10, 2, 30.5, 12, 2, 15, 12, 1, 0, 0, 0, 12, 40, 2], "num_keypoints": 4},
            {"id": 12, "image_id": 7, "category_id": 3, "bbox": [20, 10, 30, 20], "area": 600, "iscrowd": 0,
             "segmentation": encode_mask(blob.astype(bool))},
            {"id": 13, "image_id": 7, "category_id": 3, "bbox": [10, 20, 20, 20], "area": 400, "iscrowd": 1,
             "segmentation": raw_rle},
            {"id": 14, "image_id": 9, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0,
             "segmentation": []},
        ],
    }


def outputs(index, pipeline, names=None, seed=0):
    """Each indexed image through ``pipeline`` (on a blank image of its size), as outputs to write."""
    made = []
    for file_name in sorted(names or index.images):
        entry = index.image(file_name)
        _, _, labels, _ = pipeline.apply_labelled(PIL.Image.new("RGB", entry.size), seed, entry.labels())
        made.append(CocoOutput(f"out/{file_name}", entry, labels))
    return made


def test_the_index_names_each_bad_annotation_and_keeps_the_rest():
    data = instances()
    bad = [
        {"id": 20, "image_id": 99, "category_id": 3, "bbox": [1, 1, 2, 2]},
        {"id": 21, "image_id": 7, "category_id": 3, "bbox": [1, math.nan, 2, 2]},
        {"id": 22, "image_id": 7, "category_id": 3, "bbox": [1, 1, -2, 2]},
        {"id": 23, "image_id": 7, "category_id": 42, "bbox": [1, 1, 2, 2]},
        {"id": 24, "image_id": 7, "category_id": 3, "bbox": [70, 50, 30, 30]},
        {"id": 25, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2], "keypoints": [1, 2, 2]},
        {"id": 26, "image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2], "segmentation": [[1, 2, 3]]},
        {"id": 27, "image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2],
         "segmentation": {"size": [10, 10], "counts": "PP"}},
        {"id": 11, "image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2]},
        {"image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2]},
    ]
    data["annotations"] += bad
    data["images"].append({"id": 10, "file_name": "two.png", "width": 5, "height": 5})
    index = read_coco(data)
    found = {p.where: p.reason for p in index.problems}
    assert found == {"annotation 20": "missing_image", "annotation 21": "bad_box", "annotation 22": "bad_box",
                     "annotation 23": "unknown_category", "annotation 24": "box_outside",
                     "annotation 25": "bad_keypoints", "annotation 26": "bad_segmentation",
                     "annotation 27": "bad_segmentation", "annotation 11": "duplicate_id",
                     "annotation None": "bad_annotation", "image 10": "bad_image"}
    assert "image_id 99 names no image" in str(next(p for p in index.problems if p.where == "annotation 20"))
    assert [a["id"] for a in index.image("a/one.jpg").annotations] == [11, 12, 13]
    assert index.image("missing.jpg") is None


def test_an_image_without_annotations_has_empty_labels():
    data = instances()
    data["images"].append({"id": 30, "file_name": "empty.jpg", "width": 10, "height": 8})
    labels = read_coco(data).image("empty.jpg").labels()
    assert len(labels) == 0 and labels.size == (10, 8)


def test_labels_decode_polygons_and_both_rles():
    labels = read_coco(instances()).image("a/one.jpg").labels()
    np.testing.assert_allclose(labels.boxes[0], [10.25, 5.5, 40.375, 45.5])
    assert labels.masks[1].sum() == 600 and labels.masks[1][10:30, 20:50].all()
    assert labels.masks[2].sum() == 400 and labels.masks[2][20:40, 10:30].all()
    assert labels.keypoints[0].shape == (5, 3) and labels.keypoint_names == {1: tuple(PERSON)}


def test_an_identity_spec_writes_the_annotations_back_unchanged(tmp_path):
    data = instances()
    index = read_coco(data)
    doc = write_coco(outputs(index, Pipeline({"version": 1, "ops": []})), index.categories, index.info,
                     index.licenses)
    assert doc["categories"] == data["categories"] and doc["info"] == data["info"]
    assert [i["file_name"] for i in doc["images"]] == ["out/a/one.jpg", "out/two.png"]
    assert doc["images"][0] == {"id": 1, "file_name": "out/a/one.jpg", "width": 80, "height": 60, "license": 1}
    by_source = {a["id"]: a for a in data["annotations"]}
    for written, source_id in zip(doc["annotations"], [11, 12, 13, 14], strict=True):
        source = by_source[source_id]
        assert {k: v for k, v in written.items() if k not in ("id", "image_id")} == \
               {k: v for k, v in source.items() if k not in ("id", "image_id")}
    path = tmp_path / "instances.json"
    path.write_bytes(dump_coco(doc))
    coco = COCO(str(path))  # pycocotools reads it, polygons, RLEs and keypoints
    assert sorted(coco.getImgIds()) == [1, 2] and len(coco.getAnnIds()) == 4
    assert coco.annToMask(coco.anns[2]).sum() == 600


@pytest.mark.parametrize("kernels", ["fast", "torchvision"])
def test_moved_labels_read_back_by_pycocotools(tmp_path, kernels):
    index = read_coco(instances())
    flip = Pipeline({"version": 1, "kernels": kernels, "ops": [{"RandomHorizontalFlip": {"p": 1.0}},
                                                               {"Resize": {"size": 120}}]})
    made = outputs(index, flip, ["a/one.jpg"])
    doc = write_coco(made, index.categories)
    path = tmp_path / "instances.json"
    path.write_bytes(dump_coco(doc))
    coco = COCO(str(path))
    labels = made[0].labels
    assert coco.imgs[1]["width"] == 160 and coco.imgs[1]["height"] == 120
    for k, ann_id in enumerate(sorted(coco.anns)):
        ann = coco.anns[ann_id]
        assert (coco.annToMask(ann) == labels.masks[k]).all(), "the mask written is the mask moved"
        x0, y0, x1, y1 = labels.boxes[k]
        np.testing.assert_allclose(ann["bbox"], [x0, y0, x1 - x0, y1 - y0], atol=1e-6)
    # torchvision flips a keypoint as a pixel index (x -> width - 1 - x); then Resize doubles it; and the
    # left eye takes what was the right eye's (15, 12, 1)
    person = coco.anns[1]
    assert person["keypoints"][:3] == [(79 - 20) * 2, 20, 2]
    assert person["keypoints"][3:6] == [(79 - 15) * 2, 24, 1] and person["num_keypoints"] == 4
    results = coco.loadRes([{**a, "score": 1.0} for a in doc["annotations"]])  # as detections, too
    assert len(results.anns) == 3


def test_parts_merge_into_the_file_one_host_writes():
    index = read_coco(instances())
    rotate = Pipeline({"version": 1, "ops": [{"RandomRotation": {"degrees": 30}}]})
    made = outputs(index, rotate)
    whole = dump_coco(write_coco(made, index.categories, index.info, index.licenses))
    parts = [write_coco([m], index.categories, index.info, index.licenses) for m in made]
    assert dump_coco(merge_coco(parts)) == whole
    assert dump_coco(merge_coco(parts[::-1])) == whole, "the order parts arrive in does not matter"
    assert dump_coco(merge_coco([json.loads(whole)])) == whole, "one part merged is itself"
    again = outputs(read_coco(instances()), rotate)
    assert dump_coco(write_coco(again, index.categories, index.info, index.licenses)) == whole, "re-runs agree"
    with pytest.raises(ValueError, match="in two parts"):
        merge_coco([parts[0], copy.deepcopy(parts[0])])


def test_a_moved_polygon_is_written_as_rle_of_its_moved_mask():
    index = read_coco(instances())
    made = outputs(index, Pipeline({"version": 1, "ops": [{"CenterCrop": {"size": [40, 40]}}]}), ["a/one.jpg"])
    doc = write_coco(made, index.categories)
    polygon = doc["annotations"][0]["segmentation"]
    assert set(polygon) == {"size", "counts"} and polygon["size"] == [40, 40]
    assert mask_utils.area({**polygon, "counts": polygon["counts"].encode()}) == doc["annotations"][0]["area"]


NUMBER = st.one_of(st.integers(-2**60, 2**60), st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@pytest.mark.filterwarnings("ignore:overflow encountered in add:RuntimeWarning")  # numpy's inf, said
@settings(max_examples=200, deadline=None)
@given(anns=st.lists(st.fixed_dictionaries(
    {"id": st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(2**63, 2**64), st.floats(0, 9)),
     "category_id": st.one_of(st.integers(0, 2**63 - 1), st.booleans()),
     "bbox": st.one_of(st.lists(NUMBER, min_size=4, max_size=4), st.tuples(NUMBER, NUMBER, NUMBER, NUMBER))},
    optional={"keypoints": st.sampled_from([[], [1.0, 2.0, 2], None]), "segmentation": st.sampled_from([[], {}, 0])}),
    max_size=5))
def test_the_compiled_reading_of_annotations_gives_numpys_arrays(anns: list[dict]) -> None:
    """``coco_arrays`` reads an image's boxes, categories and ids as numpy does (or gives way to
    it): the same values, the same errors, whatever numbers the annotations hold."""
    image = CocoImage({"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}, anns, {})

    def read() -> Any:
        try:
            labels = image.labels()
        except (OverflowError, TypeError, ValueError) as e:
            return type(e)
        return labels.boxes.tobytes(), labels.categories.tolist(), labels.ids.tolist(), labels.keypoints

    compiled = read()
    with mock.patch.object(coco, "_coco_arrays", None):
        assert str(read()) == str(compiled)


JSON_TEXT = st.text(st.characters(codec="utf-8"), max_size=6) | st.sampled_from(["\ud800", "\\ud800", "é", "\t"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.integers(-2**70, 2**70) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, ascii_only=st.booleans(), bom=st.booleans(),
       digits=st.lists(st.text("0123456789", min_size=1, max_size=40), max_size=3))
def test_a_file_parses_to_what_json_loads_gives(value: Any, ascii_only: bool, bom: bool, digits: list[str]) -> None:
    """orjson's parse where it gives json's value, json's own elsewhere: the same values (NaN,
    the infinities, a lone surrogate, integers past 64 bits, numbers of many digits, a BOM)
    and the same errors."""
    text = json.dumps([value, *(json.loads(d.lstrip("0") or "0") for d in digits),
                       *(float(f"0.{d}e-{len(d)}") for d in digits)], ensure_ascii=ascii_only)
    data = ("\ufeff" if bom else "").encode() + text.encode("utf-8", "surrogatepass")
    try:
        expected: Any = repr(json.loads(data))
    except (ValueError, UnicodeDecodeError) as e:
        expected = type(e)
    try:
        got: Any = repr(json_parse.parse_json(data))
    except (ValueError, UnicodeDecodeError) as e:
        got = type(e)
    assert got == expected


def test_a_long_digit_run_is_found_across_the_pieces_a_large_file_is_scanned_in(monkeypatch) -> None:
    monkeypatch.setattr(json_parse, "_SCAN", 64)
    for at in (0, 50, 60, 63, 64, 100):
        data = b" " * at + b"1" * 19 + b" " * 80
        assert json_parse._long_digit_run(data), at
        assert not json_parse._long_digit_run(data.replace(b"1" * 19, b"1" * 18)), at


@pytest.mark.parametrize(("field", "reason"), [("image_id", "missing_image"), ("category_id", "unknown_category")])
def test_an_id_that_cannot_be_one_is_a_problem_not_a_crash(field: str, reason: str) -> None:
    ann: dict[str, Any] = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], field: [1]}
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 5, "height": 5}],
           "categories": [{"id": 1, "name": "x"}], "annotations": [ann, {**ann, "id": 8, field: 1}]}
    index = read_coco(doc)
    assert [(p.where, p.reason) for p in index.problems] == [("annotation 7", reason)]
    assert [a["id"] for a in index.annotations[1]] == [8]


@pytest.mark.parametrize(("polygon", "says"), [
    ([1, 1, 5, 1, 5, math.nan], "finite numbers"), ([1, 1, 5, 1, "5", 5], "finite numbers"),
    ([1e300, 1, 5, 1, 5, 5], "outside its 10x10 image"), ([1, 1, 5, 1, 5, -10.5], "outside its 10x10 image")])
def test_a_polygon_pycocotools_would_trace_forever_is_a_problem(polygon: list, says: str) -> None:
    """pycocotools traces a polygon's edges pixel by pixel: a NaN or a point far away made it ask
    for gigabytes, which killed the index. Such a polygon is a problem, named, and its
    annotation left out."""
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "segmentation": [polygon]},
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                            "segmentation": [[-9, -9, 19, -9, 19, 19]]}]}  # past the edge, not far: kept
    index = read_coco(json.dumps(doc).encode())
    assert [(p.where, p.reason) for p in index.problems] == [("annotation 1", "bad_segmentation")]
    assert says in index.problems[0].message
    assert [a["id"] for a in index.annotations[1]] == [2]


def test_the_index_checks_a_polygon_without_making_its_mask(monkeypatch) -> None:
    """A set with a polygon on every object paid a whole image's mask per object to be indexed;
    an RLE is still decoded (its counts are read then)."""
    decoded: list[Any] = []
    real = mask_utils.decode
    monkeypatch.setattr(mask_utils, "decode", lambda rle: decoded.append(rle) or real(rle))
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                            "segmentation": [[1, 1, 5, 1, 5, 5]]},
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                            "segmentation": encode_mask(np.ones((10, 10), bool))}]}
    index = read_coco(doc)
    assert not index.problems and len(decoded) == 1
    assert index.image("a.jpg").labels().masks[0].sum() > 0  # the labels make it


@pytest.mark.parametrize("size", [(2**40, 1), (70_000, 70_000)])
@pytest.mark.parametrize("segmentation", [[[1, 1, 5, 1, 5, 5]], "rle"])
def test_a_segmentation_on_an_image_larger_than_pycocotools_goes_is_a_problem(size: tuple, segmentation: Any) -> None:
    """pycocotools counts a mask's runs and traces a polygon's points in 32 bits: an image
    entry past that (a vast or mistyped size) would have it overflow or allocate the mask
    (gigabytes) while the index checks the segmentation. It is a problem instead."""
    width, height = size
    if segmentation == "rle":
        segmentation = {"size": [height, width], "counts": "PP"}
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": width, "height": height}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 0, 4, 1],
                            "segmentation": segmentation},
                           {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 0, 4, 1]}]}
    index = read_coco(doc)
    assert [(p.where, p.reason) for p in index.problems] == [("annotation 1", "bad_segmentation")]
    assert "larger than pycocotools" in index.problems[0].message
    assert [a["id"] for a in index.annotations[1]] == [2]
