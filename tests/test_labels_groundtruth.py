"""SageMaker Ground Truth output manifests in and out (augment.labels.groundtruth): bounding-box and semantic
segmentation jobs, each bad line and annotation named, the identity round trip byte for byte, moved boxes."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import PIL.Image
import pytest

from augment.labels.groundtruth import GroundTruthOutput, read_ground_truth, write_colour_mask, write_ground_truth
from augment.pipeline import Pipeline
from tests.labels_helpers import IDENTITY, png, through


def gt_line(ref, annotations, size=(80, 60), kind="groundtruth/object-detection", attribute="bbox"):
    return json.dumps({
        "source-ref": ref,
        attribute: {"image_size": [{"width": size[0], "height": size[1], "depth": 3}], "annotations": annotations},
        f"{attribute}-metadata": {"objects": [{"confidence": 0.9 - i / 10} for i in range(len(annotations))],
                                  "class-map": {"0": "cat", "1": "dog"}, "type": kind, "human-annotated": "yes",
                                  "creation-date": "2024-01-01T00:00:00", "job-name": "labeling-job/boxes"}},
        separators=(",", ":"))


def box(class_id, left, top, width, height):
    return {"class_id": class_id, "left": left, "top": top, "width": width, "height": height}


def gt_manifest():
    return (gt_line("s3://b/in/a.jpg", [box(0, 10, 5, 20, 30), box(1, 40, 20, 30, 40)]) + "\n"
            + gt_line("s3://b/in/sub/c.jpg", [box(1, 0, 0, 40, 30)], kind="groundtruth/object_detection") + "\n")


def test_ground_truth_boxes_index_and_problems(tmp_path):
    bad = [gt_line("s3://b/in/d.jpg", [box(0, 1, 1, 5, 5), box(5, 1, 1, 5, 5), box(0, 1, 1, -5, 5),
                                       box(0, 70, 50, 20, 20), {"class_id": 0}]),
           "{not json", "[1]", json.dumps({"bbox": {}}), gt_line("s3://b/in/a.jpg", []),
           gt_line("s3://elsewhere/x.jpg", []), json.dumps({"source-ref": "s3://b/in/e.jpg"}),
           gt_line("s3://b/in/f.jpg", [box(0, 1, float("nan"), 5, 5)])]
    path = tmp_path / "output.manifest"
    path.write_text(gt_manifest() + "\n".join(bad) + "\n")
    index = read_ground_truth(path, root="s3://b/in")
    assert index.attribute == "bbox" and index.kind == "boxes" and index.categories == {0: "cat", 1: "dog"}
    found = {p.where.removeprefix("output.manifest:"): p.reason for p in index.problems}
    assert found == {"3, annotation 2": "unknown_category", "3, annotation 3": "bad_box",
                     "3, annotation 4": "box_outside", "3, annotation 5": "bad_box", "4": "bad_line", "5": "bad_line",
                     "6": "bad_line", "7": "duplicate_image", "8": "outside_input", "9": "no_labels",
                     "10, annotation 1": "bad_box"}
    assert all(p.where.startswith("output.manifest:") for p in index.problems)
    assert sorted(index.images) == ["a.jpg", "d.jpg", "f.jpg", "sub/c.jpg"]
    labels = index.image("a.jpg").labels((80, 60))
    np.testing.assert_array_equal(labels.boxes, [[10, 5, 30, 35], [40, 20, 70, 60]])
    assert list(index.image("d.jpg").labels((80, 60)).ids) == [1]
    assert index.image("a.jpg").problem((60, 80)).reason == "size_mismatch"
    with pytest.raises(ValueError, match="'boxes' is not the label attribute"):
        read_ground_truth(path, attribute="boxes")


def test_ground_truth_identity_round_trip_is_byte_for_byte():
    index = read_ground_truth(gt_manifest().encode(), root="s3://b/in/")
    outputs = [GroundTruthOutput(rel, index.image(rel), through(IDENTITY, index.image(rel).size,
                                                                index.image(rel).labels(index.image(rel).size)))
               for rel in index.images]
    assert write_ground_truth(outputs, "s3://b/in") == gt_manifest().encode()


def test_moved_ground_truth_boxes_follow_the_pixels():
    index = read_ground_truth(gt_manifest().encode(), root="s3://b/in/")
    entry = index.image("a.jpg")
    crop = Pipeline({"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}, {"CenterCrop": {"size": [50, 70]}}]})
    moved = through(crop, (80, 60), entry.labels((80, 60)))
    record = json.loads(write_ground_truth([GroundTruthOutput("x/a_0.jpg", entry, moved)], "s3://o/out/"))
    assert record["source-ref"] == "s3://o/out/x/a_0.jpg"
    assert record["bbox"]["image_size"] == [{"width": 70, "height": 50, "depth": 3}]
    # flipped: x -> 80 - x; cropped by 5 px on every side
    assert record["bbox"]["annotations"] == [box(0, 45, 0, 20, 30), box(1, 5, 15, 30, 35)]
    assert record["bbox-metadata"]["objects"] == [{"confidence": 0.9}, {"confidence": 0.8}]
    assert record["bbox-metadata"]["type"] == "groundtruth/object-detection"


COLOURS = {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 0},
           "1": {"class-name": "cat", "hex-color": "#2ca02c", "confidence": 0.8},
           "2": {"class-name": "dog", "hex-color": "#1f77b4", "confidence": 0.8}}


def colour_png(classes):
    table = np.array([[255, 255, 255], [0x2c, 0xa0, 0x2c], [0x1f, 0x77, 0xb4]], np.uint8)
    return png(table[classes])


def seg_manifest(ref="s3://b/in/a.jpg"):
    return json.dumps({"source-ref": ref, "seg-ref": "s3://b/labels/a.png",
                       "seg-ref-metadata": {"internal-color-map": COLOURS, "type": "groundtruth/semantic-segmentation",
                                            "job-name": "labeling-job/seg"}}) + "\n"


def test_ground_truth_semantic_masks_in_and_out():
    classes = np.zeros((30, 40), np.int64)
    classes[5:15, 5:20], classes[20:, 25:] = 1, 2
    index = read_ground_truth(seg_manifest().encode(), root="s3://b/in/")
    entry = index.image("a.jpg")
    assert index.kind == "semantic" and entry.mask_ref == "s3://b/labels/a.png"
    assert index.categories == {0: "BACKGROUND", 1: "cat", 2: "dog"}
    labels = entry.labels((40, 30), colour_png(classes))
    assert list(labels.categories) == [1, 2]
    same = through(IDENTITY, (40, 30), labels)
    assert write_colour_mask(same, entry) == colour_png(classes)
    record = json.loads(write_ground_truth([GroundTruthOutput("a_0.jpg", entry, same, "a_0.png")], "s3://o/"))
    assert record["seg-ref"] == "s3://o/a_0.png" and record["seg-ref-metadata"] == json.loads(seg_manifest())[
        "seg-ref-metadata"]
    stray = np.full((30, 40, 3), 255, np.uint8)
    stray[0, 0] = (1, 2, 3)
    assert entry.problem((40, 30), png(stray)).reason == "unknown_colour"
    assert entry.problem((41, 30), colour_png(classes)).reason == "size_mismatch"
    assert entry.problem((40, 30), b"not a png").reason == "bad_mask"


def test_semantic_refs_on_s3_are_read_through_storage_by_the_jobs_workers(bucket, tmp_path):
    """Ground Truth writes its masks to S3: a job's workers read each -ref from there (moto's server), a missing
    one fails its image's copies as bad_labels naming it, and the written masks are the read ones, moved."""
    import boto3

    from augment.engine import run_job

    classes = np.zeros((30, 40), np.int64)
    classes[5:15, 5:20], classes[20:, 25:] = 1, 2
    boto3.client("s3").put_object(Bucket=bucket, Key="labels/a.png", Body=colour_png(classes))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.png", "b.png"):
        PIL.Image.new("RGB", (40, 30), (10, 20, 30)).save(inputs / name)
    root = inputs.resolve().as_posix()
    lines = [json.loads(seg_manifest(f"{root}/{name}")) for name in ("a.png", "b.png")]
    lines[0]["seg-ref"], lines[1]["seg-ref"] = f"s3://{bucket}/labels/a.png", f"s3://{bucket}/labels/gone.png"
    manifest = tmp_path / "seg.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    index = read_ground_truth(manifest, root=root)
    assert list(index.image("a.png").labels((40, 30)).categories) == [1, 2]
    assert index.image("b.png").problem((40, 30)).reason == "bad_mask"
    flip = {"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}
    out = tmp_path / "out"
    summary = run_job(flip, inputs, out, workers=2, annotations=str(manifest), progress="off", max_error_rate=1.0)
    assert summary.written == 1 and summary.failures_by_reason == {"bad_labels": 1}
    assert np.asarray(PIL.Image.open(out / "masks/a.png.aug0.png")).tolist() == \
        np.asarray(PIL.Image.open(io.BytesIO(colour_png(classes[:, ::-1])))).tolist()
    failed = [json.loads(line) for line in (out / "_augment/manifest-local.jsonl").read_text().splitlines()
              if json.loads(line)["status"] == "failed"]
    assert failed[0]["source"] == "b.png" and f"s3://{bucket}/labels/gone.png" in failed[0]["error"]


def test_workers_read_s3_with_the_callers_environment_not_the_fork_servers(bucket, tmp_path, monkeypatch):
    """The fork server starts with its caller's environment once per process; a later job's workers still see
    the caller's environment of that job: a fork server started while AWS_ENDPOINT_URL named nothing
    (a notebook that set it since, as tests/conftest.py's module-wide moto servers do) left every -ref
    on S3 unreadable to the workers (the failure CI saw)."""
    import multiprocessing.forkserver

    import boto3

    from augment.engine import run_job

    classes = np.zeros((30, 40), np.int64)
    classes[5:15, 5:20] = 1
    boto3.client("s3").put_object(Bucket=bucket, Key="labels/a.png", Body=colour_png(classes))
    inputs = tmp_path / "in"
    inputs.mkdir()
    PIL.Image.new("RGB", (40, 30), (10, 20, 30)).save(inputs / "a.png")
    line = json.loads(seg_manifest(f"{inputs.resolve().as_posix()}/a.png"))
    line["seg-ref"] = f"s3://{bucket}/labels/a.png"
    manifest = tmp_path / "seg.manifest"
    manifest.write_text(json.dumps(line) + "\n")
    live = os.environ["AWS_ENDPOINT_URL"]
    multiprocessing.forkserver._forkserver._stop()  # the next job starts a fork server of its own
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    assert run_job({"version": 1, "ops": []}, inputs, tmp_path / "first", workers=2, progress="off").written == 1
    monkeypatch.setenv("AWS_ENDPOINT_URL", live)
    flip = {"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}
    summary = run_job(flip, inputs, tmp_path / "out", workers=2, annotations=str(manifest), progress="off")
    assert summary.written == 1 and summary.failures_by_reason == {}
    assert np.asarray(PIL.Image.open(tmp_path / "out/masks/a.png.aug0.png")).tolist() == \
        np.asarray(PIL.Image.open(io.BytesIO(colour_png(classes[:, ::-1])))).tolist()


def test_a_source_ref_holding_a_line_separator_of_unicode_is_read_as_one_line():
    """A manifest written with raw non-ASCII (ensure_ascii=False) keeps U+2028 in a name: only a
    newline ends a line (str.splitlines would cut the line there and lose the image)."""
    line = json.loads(gt_line("s3://b/in/a\u2028b.jpg", [box(0, 10, 5, 20, 30)]))
    data = (json.dumps(line, ensure_ascii=False) + "\r\n" + gt_line("s3://b/in/c.jpg", []) + "\n").encode()
    index = read_ground_truth(data, root="s3://b/in/")
    assert sorted(index.images) == ["a\u2028b.jpg", "c.jpg"] and index.problems == []
