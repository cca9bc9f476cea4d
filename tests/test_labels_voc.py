"""Pascal VOC XML in and out (augment.labels.voc): 1-based boxes, each bad file and object named, the identity round
trip, moved boxes read back by supervision's reader (which shares our reading of xmin and xmax)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import PIL.Image
import pytest

from augment.labels.model import LabelError
from augment.labels.voc import read_voc, write_voc
from augment.pipeline import Pipeline
from tests.labels_helpers import IDENTITY, through

FLIP_RESIZE = Pipeline({"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}, {"Resize": {"size": 120}}]})


def voc_xml(objects, size=(80, 60)):
    body = "".join(f"<object><name>{n}</name><pose>Left</pose><truncated>0</truncated><difficult>{d}</difficult>"
                   f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox>"
                   "</object>" for n, d, b in objects)
    return (f"<annotation><folder>VOC</folder><filename>stale.jpg</filename><source><database>x</database></source>"
            f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
            f"<segmented>0</segmented>{body}</annotation>")


def voc_folder(root):
    (root / "sub").mkdir(parents=True)
    (root / "a.xml").write_text(voc_xml([("dog", 0, (1, 1, 40, 30)), ("cat", 1, (41, 11, 80, 60))]))
    (root / "sub/b.xml").write_text(voc_xml([("cat", 0, (11, 6, 20, 15))], size=(40, 30)))
    return root


def test_voc_reads_one_based_boxes_with_their_flags(tmp_path):
    index = read_voc(voc_folder(tmp_path))
    assert index.problems == [] and index.categories == {1: "cat", 2: "dog"}
    entry = index.image("a.jpg")
    labels = entry.labels((80, 60))
    np.testing.assert_array_equal(labels.boxes, [[0, 0, 40, 30], [40, 10, 80, 60]])  # xmin - 1, xmax kept
    assert list(labels.categories) == [2, 1] and labels.attrs[1]["difficult"] == 1 and labels.attrs[0]["pose"] == "Left"
    assert index.image("sub/b.png").size == (40, 30) and index.image("none.jpg") is None
    assert entry.problem((81, 60)).reason == "size_mismatch"
    with pytest.raises(LabelError, match=r"a\.xml: the XML gives a 80x60 image, the image is 81x60"):
        entry.labels((81, 60))


def test_voc_names_each_bad_file_and_object(tmp_path):
    (tmp_path / "broken.xml").write_text("<annotation><object>")
    (tmp_path / "other.xml").write_text("<doc/>")
    (tmp_path / "c.xml").write_text(voc_xml([("", 0, (1, 1, 2, 2)), ("dog", 0, (1, "nan", 2, 2)),
                                             ("dog", 0, (5, 5, 3, 8)), ("dog", 0, (70, 50, 90, 61)),
                                             ("bird", 0, (1, 1, 5, 5)), ("dog", 0, (1, 1, 5, 5))]))
    index = read_voc(tmp_path, names=["cat", "dog"])
    found = {p.where: p.reason for p in index.problems}
    assert found == {"broken.xml": "bad_xml", "other.xml": "bad_xml", "c.xml, object 1": "bad_object",
                     "c.xml, object 2": "bad_box", "c.xml, object 3": "bad_box", "c.xml, object 4": "box_outside",
                     "c.xml, object 5": "unknown_category"}
    assert list(index.image("c.jpg").labels((80, 60)).ids) == [6] and index.categories == {1: "cat", 2: "dog"}


def test_voc_identity_round_trip(tmp_path):
    index = read_voc(voc_folder(tmp_path / "in"))
    labels = through(IDENTITY, (80, 60), index.image("a.jpg").labels((80, 60)))
    written = write_voc(labels, "out/a_0.jpg", index.categories, index.image("a.jpg"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out/a_0.xml").write_bytes(written)
    again_index = read_voc(tmp_path / "out")
    again = again_index.image("a_0.jpg").labels((80, 60))
    np.testing.assert_array_equal(again.boxes, labels.boxes)
    assert [a["xml"] for a in again.attrs] == [a["xml"] for a in labels.attrs]
    assert write_voc(again, "out/a_0.jpg", again_index.categories, again_index.image("a_0.jpg")) == written
    assert b"<filename>a_0.jpg</filename>" in written and b"<database>x</database>" in written


def test_moved_voc_boxes_read_back_by_supervision(tmp_path):
    import supervision as sv  # a dev dependency: the test must not skip quietly
    index = read_voc(voc_folder(tmp_path / "in"))
    moved = through(FLIP_RESIZE, (80, 60), index.image("a.jpg").labels((80, 60)))
    images, annotations = tmp_path / "images", tmp_path / "annotations"
    images.mkdir()
    annotations.mkdir()
    PIL.Image.new("RGB", moved.size).save(images / "a_0.png")
    (annotations / "a_0.xml").write_bytes(write_voc(moved, "a_0.png", index.categories, index.image("a.jpg")))
    dataset = sv.DetectionDataset.from_pascal_voc(str(images), str(annotations))
    _, _, detections = dataset[0]
    np.testing.assert_allclose(detections.xyxy, moved.boxes)  # 80x60 -> 160x120 flipped: whole pixels
    assert [dataset.classes[c] for c in detections.class_id] == ["dog", "cat"]
    bare = write_voc(moved, "a_0.png", index.categories)  # no source: a new document, flags 0
    assert b"<difficult>0</difficult>" in bare and b"<width>160</width>" in bare


def test_an_object_the_outputs_edge_cuts_is_truncated_and_others_keep_their_flag(tmp_path):
    (tmp_path / "a.xml").write_text(
        "<annotation><size><width>80</width><height>60</height><depth>3</depth></size>"
        "<object><name>dog</name><truncated>0</truncated><bndbox><xmin>31</xmin><ymin>21</ymin><xmax>40</xmax>"
        "<ymax>30</ymax></bndbox></object>"  # inside the crop: 0 as read
        "<object><name>dog</name><truncated>1</truncated><bndbox><xmin>41</xmin><ymin>21</ymin><xmax>50</xmax>"
        "<ymax>30</ymax></bndbox></object>"  # inside the crop, truncated in the input already: 1 as read
        "<object><name>cat</name><truncated>0</truncated><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax>"
        "<ymax>20</ymax></bndbox></object>"  # cut by the crop's left and top edges: 1
        "<object><name>cat</name><bndbox><xmin>61</xmin><ymin>31</ymin><xmax>80</xmax><ymax>60</ymax></bndbox>"
        "</object></annotation>")  # cut, no flag at all: 1
    index = read_voc(tmp_path)
    entry = index.image("a.png")
    crop = Pipeline({"version": 1, "ops": [{"CenterCrop": {"size": [40, 60]}}]})  # cols 10..70, rows 10..50
    written = ET.fromstring(write_voc(through(crop, (80, 60), entry.labels((80, 60))), "a.png", index.categories,
                                      entry))
    assert [o.findtext("truncated") for o in written.iter("object")] == ["0", "1", "1", "1"]
    assert [o.findtext("bndbox/xmin") for o in written.iter("object")] == ["21", "31", "1", "51"]
    flip = Pipeline({"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]})  # moved, nothing cut
    flipped = ET.fromstring(write_voc(through(flip, (80, 60), entry.labels((80, 60))), "a.png", index.categories,
                                      entry))
    assert [o.findtext("truncated") for o in flipped.iter("object")] == ["0", "1", "0", None]


def test_an_object_nothing_cut_keeps_its_truncated_flag(tmp_path):
    """Float32 noise of a Resize (a box on a 999 px edge lands 1e-5 px past the output's) and a box past its
    image by under BOX_TOLERANCE, flipped, are not cut by the output's edge: truncated stays as read."""
    (tmp_path / "a.xml").write_text(
        "<annotation><size><width>999</width><height>500</height><depth>3</depth></size>"
        "<object><name>dog</name><truncated>0</truncated><bndbox><xmin>11</xmin><ymin>11</ymin><xmax>999</xmax>"
        "<ymax>400</ymax></bndbox></object>"
        "<object><name>dog</name><truncated>0</truncated><bndbox><xmin>0.5</xmin><ymin>11</ymin><xmax>300</xmax>"
        "<ymax>500.7</ymax></bndbox></object></annotation>")  # 0.5 px past the left, 0.7 past the bottom
    index = read_voc(tmp_path)
    entry = index.image("a.png")
    assert index.problems == []
    for ops in ([{"Resize": {"size": 224}}], [{"RandomHorizontalFlip": {"p": 1.0}}],
                [{"RandomVerticalFlip": {"p": 1.0}}, {"Resize": {"size": 224}}]):
        labels = through(Pipeline({"version": 1, "ops": ops}), (999, 500), entry.labels((999, 500)))
        written = ET.fromstring(write_voc(labels, "a.png", index.categories, entry))
        assert [o.findtext("truncated") for o in written.iter("object")] == ["0", "0"], ops
