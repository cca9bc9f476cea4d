"""A labelled job's worker makes several inputs' pixels first and their labels after
(Pipeline.apply_deferred, _Worker.process_batch): the labels are the very ones the ops give
when they move them as they go (the step-through's way), and an op that fails on the labels
then leaves no image behind, only the record that says so."""

from __future__ import annotations

import io
import json

import numpy as np
import PIL.Image
import pytest

from augment.images import open_image
from augment.labels.model import Labels
from augment.pipeline import Pipeline, derive_seed
from tests.test_labels import CASES, scene, spec

SPECS = {
    **CASES,
    "padded": [{"RandomCrop": {"size": [300, 300], "padding": 40}}, {"RandomHorizontalFlip": {"p": 0.5}}],
    "affine": [{"RandomOrder": {"ops": [{"RandomAffine": {"degrees": 10, "translate": [0.1, 0.1],
                                                          "scale": [0.8, 1.1], "shear": 5}},
                                        {"RandomPerspective": {"p": 1.0}}]}},
               {"RandomApply": {"p": 0.5, "ops": [{"ElasticTransform": {"alpha": 20.0}}]}},
               {"Resize": {"size": 200}}],
    "light": [{"RandomResizedCrop": {"size": 224}}, {"RandomHorizontalFlip": {"p": 0.5}},
              {"ColorJitter": {"brightness": 0.4}}],
}


def same(a: Labels, b: Labels) -> None:
    assert a.size == b.size and a.moved == b.moved and a.clipped == b.clipped and a.marks == b.marks
    assert a.boxes.tobytes() == b.boxes.tobytes() and np.array_equal(a.ids, b.ids)
    for x, y in zip(a.masks or (), b.masks or (), strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)
    for x, y in zip(a.keypoints or (), b.keypoints or (), strict=True):
        assert (x is None and y is None) or x.tobytes() == y.tobytes()


def boxes_only(labels: Labels) -> Labels:
    return Labels(labels.size, labels.boxes, labels.categories, labels.ids)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
@pytest.mark.parametrize("case", sorted(SPECS))
@pytest.mark.parametrize("source", ["image", "jpeg"])
def test_labels_made_after_the_pixels_are_the_ones_moved_as_the_ops_go(case, source):
    image, labels = scene()
    data = io.BytesIO()
    image.save(data, "JPEG", quality=95)
    pipeline = Pipeline(spec(SPECS[case]))
    for objects in (labels, boxes_only(labels)):
        for copy in range(6):
            seed = derive_seed(0, "scene.jpg", copy)
            given = (lambda: open_image(data.getvalue())) if source == "jpeg" else (lambda: image)
            steps: list[Labels] = []
            out, records, eager, counts = pipeline.apply_labelled(given(), seed, objects, step_labels=steps)
            later, later_records, finish = pipeline.apply_deferred(given(), seed, objects)
            moved, moved_counts = finish()
            assert later.tobytes() == out.tobytes() and later_records == records
            same(moved, eager)
            same(steps[-1], eager)
            assert moved_counts == counts


@pytest.mark.parametrize("workers", [1, 2])
def test_an_op_that_fails_on_the_labels_after_the_pixels_leaves_no_image(workers, tmp_path, monkeypatch):
    """The image is written before its labels are made: where an op then fails on them, the
    image goes again, and the record says what failed, as it said when labels were made first."""
    from augment.engine import run_job
    from augment.labels import moves
    from tests.test_labels_job import coco_of_scene

    def broken(transform, boxes, params):
        raise ValueError("no such box")

    monkeypatch.setitem(moves.MOVES, "RandomHorizontalFlip", broken)
    image, _ = scene()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        image.save(inputs / name)
    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps(coco_of_scene(["a.png", "b.png", "c.png"])))
    out = tmp_path / "out"
    job = {"version": 1, "copies": 2, "seed": 1, "output": {"format": "png"},
           "ops": [{"RandomHorizontalFlip": {"p": 0.5}}]}
    run_job(job, inputs, out, workers=workers, annotations=str(coco), progress="off", start_method="fork",
            max_error_rate=1.0)
    records = [json.loads(line) for line in (out / "_augment/manifest-local.jsonl").read_text().splitlines()]
    assert len(records) == 6
    failed = [r for r in records if r["status"] == "failed"]
    flipped = [r for r in records if r["status"] == "ok"]
    assert failed and flipped, "some copies flip (and fail on their labels), some do not"
    for r in failed:
        assert r["reason"] == "op_failed" and r["output"] is None
        assert r["error"].startswith("RandomHorizontalFlip failed on the labels of a ") and "no such box" in r["error"]
    written = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert written == sorted(r["output"] for r in flipped)
    doc = json.loads((out / "annotations.json").read_text())
    assert sorted(i["file_name"] for i in doc["images"]) == sorted(r["output"] for r in flipped)
    assert PIL.Image.open(out / flipped[0]["output"]).size == image.size


def test_a_first_op_run_on_the_source_that_fails_on_the_labels_names_the_source_size(monkeypatch):
    from augment.labels import moves
    from augment.pipeline import OpFailed

    def broken(transform, boxes, params):
        raise ValueError("no such box")

    monkeypatch.setitem(moves.MOVES, "RandomResizedCrop", broken)
    image, labels = scene()
    data = io.BytesIO()
    image.save(data, "JPEG", quality=95)
    pipeline = Pipeline(spec(CASES["crop"]))
    _, _, finish = pipeline.apply_deferred(open_image(data.getvalue()), 0, boxes_only(labels))
    with pytest.raises(OpFailed, match=r"^RandomResizedCrop failed on the labels of a 480x360 image: no such box$"):
        finish()


def test_an_inputs_shared_label_work_goes_with_its_outputs(tmp_path, monkeypatch):
    """A one-worker job's tasks live as long as the job: what an input's copies shared (its
    labels read after the pixels, its COCO templates) is dropped once they are made."""
    from augment.engine import run_job
    from augment.labels.coco import CocoImage, CocoIndex
    from tests.test_labels_job import coco_of_scene

    images, released = [], []
    image_of, release = CocoIndex.image, CocoImage.release

    def noting(self, file_name):
        images.append(image_of(self, file_name))
        return images[-1]

    def noting_release(self):
        released.append((self._read is not None, self._templates is not None))
        release(self)

    monkeypatch.setattr(CocoIndex, "image", noting)
    monkeypatch.setattr(CocoImage, "release", noting_release)
    image, _ = scene()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.png", "b.png"):
        image.save(inputs / name)
    coco = coco_of_scene(["a.png", "b.png"])
    coco["annotations"] = [{k: v for k, v in a.items() if k not in ("segmentation", "keypoints")}
                           for a in coco["annotations"]]  # boxes only: read after the pixels
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    job = {"version": 1, "copies": 2, "seed": 1, "output": {"format": "png"},
           "ops": [{"RandomResizedCrop": {"size": 200, "scale": [0.5, 1.0]}}]}
    run_job(job, inputs, tmp_path / "out", workers=1, annotations=str(tmp_path / "instances.json"), progress="off")
    assert len(images) == 2 and released == [(True, True), (True, True)]
    assert all(i._read is None and i._templates is None for i in images)
