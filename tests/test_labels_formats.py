"""augment.labels.open_annotations: one entry point that detects each format (or takes the one named), the same
protocol over all five (format, problems, categories, image(rel).labels(size) raising LabelError with a reason),
the annotation files an input folder holds told apart from its images, and each format's writer."""

from __future__ import annotations

import json
import pickle

import numpy as np
import PIL.Image
import pytest

from augment import samples
from augment.errors import UsageError
from augment.labels import FORMATS, LabelError, NoLabels, open_annotations
from augment.labels.formats import excluded_annotations
from tests.labels_helpers import png

VOC = """<annotation><filename>a.jpg</filename><size><width>80</width><height>60</height><depth>3</depth></size>
<object><name>cat</name><bndbox><xmin>11</xmin><ymin>6</ymin><xmax>30</xmax><ymax>35</ymax></bndbox></object>
</annotation>"""

GT = json.dumps({"source-ref": "s3://b/in/a.jpg",
                 "bbox": {"image_size": [{"width": 80, "height": 60, "depth": 3}],
                          "annotations": [{"class_id": 0, "left": 10, "top": 5, "width": 20, "height": 30}]},
                 "bbox-metadata": {"class-map": {"0": "cat"}, "type": "groundtruth/object-detection"}})


@pytest.fixture
def trees(tmp_path):
    (tmp_path / "yolo/images/train").mkdir(parents=True)
    (tmp_path / "yolo/labels/train").mkdir(parents=True)
    (tmp_path / "yolo/labels/train/a.txt").write_text("0 0.25 0.333333 0.25 0.5\n")
    (tmp_path / "yolo/data.yaml").write_text("names: {0: cat}\n")
    PIL.Image.new("RGB", (80, 60)).save(tmp_path / "yolo/images/train/a.jpg")
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc/a.xml").write_text(VOC)
    (tmp_path / "masks").mkdir()
    classes = np.zeros((60, 80), np.uint8)
    classes[5:35, 10:30] = 1
    (tmp_path / "masks/a.png").write_bytes(png(classes))
    (tmp_path / "gt.manifest").write_text(GT + "\n")
    return tmp_path


def test_each_format_is_detected_and_reads_the_same(trees):
    opened = {
        "coco": open_annotations(samples.annotations_path()),
        "yolo": open_annotations("yolo", input_dir=trees / "yolo"),
        "voc": open_annotations(trees / "voc"),
        "masks": open_annotations(trees / "masks"),
        "groundtruth": open_annotations(trees / "gt.manifest", input_dir="s3://b/in"),
    }
    assert open_annotations(trees / "yolo").format == "yolo"
    rels = {"coco": "chelsea.jpg", "yolo": "images/train/a.jpg"}
    for name, index in opened.items():
        assert index.format == name and index.problems == []
        obj = index.image(rels.get(name, "a.jpg"))
        size = obj.size if name == "coco" else (80, 60)
        labels = pickle.loads(pickle.dumps(obj)).labels(size)  # what a worker gets
        assert len(labels) >= 1 and labels.size == size, name
        if name != "masks":
            assert labels.boxes[0].tolist() == pytest.approx([10, 5, 30, 35], abs=1e-4) or name == "coco"
            assert labels.categories[0] in index.categories
            assert "name" in index.categories[labels.categories[0]]
    assert opened["coco"].categories[1]["keypoints"]  # COCO's person keeps its keypoint names
    assert set(FORMATS) == set(opened)


def test_labels_of_another_size_raise_with_a_reason(trees):
    for index, rel in ((open_annotations(samples.annotations_path()), "chelsea.jpg"),
                       (open_annotations(trees / "voc"), "a.jpg"), (open_annotations(trees / "masks"), "a.jpg")):
        with pytest.raises(LabelError) as caught:
            index.image(rel).labels((7, 9))
        assert caught.value.reason == "size_mismatch"
        assert pickle.loads(pickle.dumps(caught.value)).reason == "size_mismatch"


def test_an_image_the_annotations_do_not_name_has_none(trees):
    assert open_annotations(samples.annotations_path()).image("nope.jpg") is None
    assert open_annotations(trees / "voc").image("nope.jpg") is None
    assert len(NoLabels().labels((4, 3))) == 0


def test_format_forced_and_refusals_name_the_parameter(trees):
    assert open_annotations(trees / "masks", format="masks").format == "masks"
    with pytest.raises(UsageError, match=r"^annotation_format='x': must be one of coco"):
        open_annotations(trees / "voc", format="x")
    with pytest.raises(UsageError, match=r"^annotations=.*nope\.json: no such file"):
        open_annotations(trees / "nope.json")
    (trees / "bad.json").write_text("[1]")
    with pytest.raises(UsageError, match=r"^annotations=.*bad\.json: not a COCO instances file"):
        open_annotations(trees / "bad.json")
    with pytest.raises(UsageError, match=r"annotations='yolo'"):
        open_annotations("yolo")
    (trees / "empty").mkdir()
    with pytest.raises(UsageError, match="cannot tell its format"):
        open_annotations(trees / "empty")


def test_annotation_files_in_the_input_folder_are_excluded(trees):
    index = open_annotations("yolo", input_dir=trees / "yolo")
    rels = ["data.yaml", "images/train/a.jpg", "labels/train/a.txt"]
    kept, excluded = excluded_annotations(index, trees / "yolo", rels)
    assert kept == ["images/train/a.jpg"]
    assert [(e["source"], e["rule"]) for e in excluded] == [("data.yaml", "annotations"),
                                                            ("labels/train/a.txt", "annotations")]
    coco = open_annotations(trees / "gt.manifest")
    assert excluded_annotations(coco, trees, ["gt.manifest", "a.jpg"])[0] == ["a.jpg"]


def test_writers_write_each_format_per_output(trees):
    index = open_annotations("yolo", input_dir=trees / "yolo")
    obj = index.image("images/train/a.jpg")
    files = index.writer().files("images/train/a.jpg.aug0.jpg", obj.labels((80, 60)), obj)
    assert files == {"labels/train/a.jpg.aug0.txt": b"0 0.25 0.333333 0.25 0.5\n"}
    voc = open_annotations(trees / "voc")
    obj = voc.image("a.jpg")
    assert list(voc.writer().files("a.jpg.aug0.jpg", obj.labels((80, 60)), obj)) == ["a.jpg.aug0.xml"]
    masks = open_annotations(trees / "masks")
    obj = masks.image("a.jpg")
    assert list(masks.writer().files("a.jpg.aug0.png", obj.labels((80, 60)), obj)) == ["masks/a.jpg.aug0.png"]


def test_a_journal_is_read_by_whole_lines_the_latest_of_an_output_counting():
    from augment.labels.formats import entry_of, journal_line, read_journal

    data = (journal_line("b.jpg", '{"file_name":"b.jpg"}') + journal_line("a\tc.jpg", '{"file_name":"a\\tc.jpg"}')
            + journal_line("b.jpg", '{"file_name":"b.jpg","x":1}')).encode()
    torn = data + '"d.jpg"\t{"file_name":"dé'.encode()[:-1]  # a write cut short inside a character
    assert read_journal(torn) == ['{"file_name":"a\\tc.jpg"}', '{"file_name":"b.jpg","x":1}']
    assert entry_of(torn, "b.jpg") == '"b.jpg"\t{"file_name":"b.jpg","x":1}\n'
    assert entry_of(torn, "a\tc.jpg").startswith('"a\\tc.jpg"\t') and entry_of(torn, "d.jpg") is None
    assert read_journal(b"") == [] and entry_of(b"", "a") is None
