"""A finished job's labels drawn on its outputs (#28 item 7): ``from_job`` reads back the
files the job wrote (COCO's annotations.json or its hosts' parts, a YOLO tree's labels/,
locally or from s3://) and draws them; the originals show the annotations the job was
given."""

from __future__ import annotations

import json
import shutil

import numpy as np
import PIL.Image
import pytest

from augment import preview as pv
from augment.errors import UsageError
from augment.labels.coco import read_coco
from augment.labels.convert import to_yolo
from augment.labels.draw import draw_labels
from augment.labels.follow import Counts
from augment.labels.formats import open_annotations
from augment.manifest import read_manifest
from augment.samples import annotations_path, list_samples, samples_dir
from tests.labels_helpers import png

SPEC = {
    "version": 1, "seed": 11, "copies": 2, "output": {"format": "png"},
    "ops": [
        {"RandomResizedCrop": {"size": 200, "scale": [0.3, 1.0]}},
        {"RandomHorizontalFlip": {"p": 0.5}},
        {"RandomRotation": {"degrees": 15}},
    ],
}  # fmt: skip
ALL = len(list_samples())


def _pixels(image: PIL.Image.Image) -> bytes:
    return image.convert("RGB").tobytes()


def _same(got, want) -> None:
    assert got is not None and tuple(got.size) == tuple(want.size)
    np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=1e-6)
    assert got.categories.tolist() == want.categories.tolist()
    for a, b in zip(got.masks or [None] * len(got), want.masks or [None] * len(want), strict=True):
        assert (a is None and b is None) or np.array_equal(a, b)
    for a, b in zip(got.keypoints or [None] * len(got), want.keypoints or [None] * len(want), strict=True):
        assert (a is None and b is None) or np.allclose(a, b, rtol=0, atol=1e-6)


def _records(out) -> dict:
    return {(r["source"], r["copy"]): r for r in read_manifest(out / "_augment" / "manifest-local.jsonl")}


@pytest.fixture(scope="module")
def coco_job(tmp_path_factory):
    from augment.engine import run_job

    out = tmp_path_factory.mktemp("coco") / "out"
    run_job(SPEC, samples_dir(), out, workers=1, annotations=str(annotations_path()), progress="off")
    return out


@pytest.mark.slow
def test_from_job_draws_on_each_output_the_labels_the_job_wrote_beside_it(coco_job):
    shown = pv.from_job(coco_job, n=ALL)
    written = read_coco(coco_job / "annotations.json")
    given = read_coco(annotations_path())
    records = _records(coco_job)
    assert len(shown.items) == len(records) == ALL * 2
    assert shown.categories == given.categories, "the categories the job was given (and wrote)"
    for item in shown.items:
        record = records[(item.rel_path, item.copy)]
        with PIL.Image.open(coco_job / record["output"]) as file:
            file.load()
            labels = written.image(record["output"]).labels(file.size)
            assert _pixels(shown.shown(item.image, item.labels)) == _pixels(draw_labels(file, labels,
                                                                                        written.categories))
        _same(item.labels, labels)
        assert item.counts == Counts(**record["labels"]) and "label" in item.caption
    for rel, original in shown.originals.items():
        _same(shown.labels[rel], given.image(rel).labels(original.size))
    assert not shown.label_errors
    assert shown.png(96) != shown.png(96, labels=False), "the grid draws them"
    *_, (_text, _image, _record, last) = pv.labelled_steps(shown, 0)
    _same(last, shown.items[0].labels)  # step-through, op by op from the input's labels, ends on the job's


@pytest.mark.slow
def test_from_job_reads_the_hosts_parts_where_no_one_merged_them(coco_job, tmp_path):
    """A sharded job launched from Python leaves its hosts' parts (_augment/labels-<host>.json)
    until something merges them: they are the same labels."""
    out = tmp_path / "out"
    shutil.copytree(coco_job, out)
    (out / "annotations.json").unlink()
    merged, parts = pv.from_job(coco_job, n=3, pick_seed=1), pv.from_job(out, n=3, pick_seed=1)
    assert [(i.rel_path, i.copy) for i in parts.items] == [(i.rel_path, i.copy) for i in merged.items]
    for a, b in zip(parts.items, merged.items, strict=True):
        _same(a.labels, b.labels)
    (out / "_augment" / "labels-local.json").unlink()
    with pytest.raises(UsageError, match=r"wrote coco labels, but neither annotations\.json nor its hosts' parts"):
        pv.from_job(out, n=1)


@pytest.mark.slow
def test_annotations_gone_since_the_job_leave_the_originals_unlabelled_and_say_why(coco_job, tmp_path):
    out, moved = tmp_path / "out", tmp_path / "moved.json"
    shutil.copytree(coco_job, out)
    summary = out / "_augment" / "summary-local.json"
    summary.write_text(summary.read_text().replace(str(annotations_path()), str(moved)))
    shown = pv.from_job(out, n=1)
    rel = next(iter(shown.originals))
    assert shown.originals[rel] is not None and shown.labels[rel] is None
    assert shown.label_errors[rel].startswith(f"labels: annotations={moved}: no such file")
    assert all(i.labels is not None for i in shown.items), "the outputs' labels are the job's own files"
    assert shown.grid(64).size[0] > 0


def _yolo_job(tmp_path):
    from augment.engine import run_job

    tree = to_yolo(annotations_path(), samples_dir(), tmp_path / "tree")
    out = tmp_path / "out"
    run_job(SPEC, tree, out, workers=1, annotations="yolo", progress="off")
    return tree, out


@pytest.mark.slow
def test_from_job_draws_a_yolo_trees_labels_from_its_txt_files(tmp_path):
    tree, out = _yolo_job(tmp_path)
    shown = pv.from_job(out, n=ALL)
    written = open_annotations("yolo", input_dir=out)
    given = open_annotations("yolo", input_dir=tree)
    records = _records(out)
    assert len(shown.items) == ALL * 2 and shown.categories == given.categories
    for item in shown.items:
        name = records[(item.rel_path, item.copy)]["output"]
        assert name.startswith("images/train/")
        _same(item.labels, written.image(name).labels(item.image.size))
    for rel, original in shown.originals.items():
        _same(shown.labels[rel], given.image(rel).labels(original.size))
    assert sum(len(i.labels) for i in shown.items) > 0


@pytest.mark.slow
def test_from_job_reads_the_shown_outputs_yolo_labels_from_s3(tmp_path, bucket):
    import boto3

    _tree, out = _yolo_job(tmp_path)
    s3 = boto3.client("s3")
    for path in sorted(out.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"jobs/out/{path.relative_to(out).as_posix()}")
    local = pv.from_job(out, n=2, pick_seed=3)
    remote = pv.from_job(f"s3://{bucket}/jobs/out", n=2, pick_seed=3)
    assert [(i.rel_path, i.copy) for i in remote.items] == [(i.rel_path, i.copy) for i in local.items]
    for a, b in zip(remote.items, local.items, strict=True):
        _same(a.labels, b.labels)
        assert _pixels(remote.shown(a.image, a.labels)) == _pixels(local.shown(b.image, b.labels))


VOC = """<annotation><filename>a.png</filename><size><width>80</width><height>60</height><depth>3</depth></size>
<object><name>cat</name><bndbox><xmin>11</xmin><ymin>6</ymin><xmax>30</xmax><ymax>35</ymax></bndbox></object>
</annotation>"""


def _annotated(fmt: str, tmp_path):
    """One 80x60 image with one object, box (10, 5, 30, 35), in ``fmt``: the input folder and the annotations."""
    images, labels = tmp_path / "in", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    PIL.Image.new("RGB", (80, 60), (40, 90, 160)).save(images / "a.png")
    if fmt == "voc":
        (labels / "a.xml").write_text(VOC)
        return images, labels
    if fmt == "masks":
        classes = np.zeros((60, 80), np.uint8)
        classes[5:35, 10:30] = 1
        (labels / "a.png").write_bytes(png(classes))
        return images, labels
    line = {"source-ref": f"{images.resolve()}/a.png",
            "bbox": {"image_size": [{"width": 80, "height": 60, "depth": 3}],
                     "annotations": [{"class_id": 0, "left": 10, "top": 5, "width": 20, "height": 30}]},
            "bbox-metadata": {"class-map": {"0": "cat"}, "type": "groundtruth/object-detection"}}
    (labels / "gt.manifest").write_text(json.dumps(line) + "\n")
    return images, labels / "gt.manifest"


@pytest.mark.parametrize("fmt", ["voc", "masks", "groundtruth"])
def test_from_job_draws_the_labels_of_every_other_format_the_job_writes(fmt, tmp_path):
    """A flip moves the box (10, 5, 30, 35) of an 80 px wide image to (50, 5, 70, 35): the
    output's labels, read back from the VOC XML, the mask PNG or the output manifest the
    job wrote, say so; the original keeps its own."""
    from augment.engine import run_job

    images, annotations = _annotated(fmt, tmp_path)
    flip = {"version": 1, "output": {"format": "png"}, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}
    out = tmp_path / "out"
    run_job(flip, images, out, workers=1, annotations=str(annotations), annotation_format=fmt, progress="off")
    shown = pv.from_job(out)
    (item,) = shown.items
    np.testing.assert_allclose(item.labels.boxes, [[50, 5, 70, 35]], atol=1e-6)
    np.testing.assert_allclose(shown.labels["a.png"].boxes, [[10, 5, 30, 35]], atol=1e-6)
    assert item.counts == Counts(kept=1) and not shown.label_errors
    assert _pixels(shown.shown(item.image, item.labels)) != _pixels(item.image), "drawn"
