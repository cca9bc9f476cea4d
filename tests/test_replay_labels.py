"""augment replay re-creates a labelled output's labels with its pixels (#28 item 4): the
annotations its summary names (or annotations= where that file is gone), moved by the one
variant function with the output's drawn parameters, compared byte for byte with the
label files the job wrote for that output, and with its record's counts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

from augment import samples
from augment.cli import main
from augment.engine import run_job
from augment.errors import UsageError
from augment.manifest import ORIGINAL
from augment.replay import replay
from tests.labels_helpers import half_labelled_tree

GEOMETRIC = {"version": 1, "seed": 7, "copies": 2, "output": {"keep_original": True},
             "ops": [{"RandomResizedCrop": {"size": [160, 160], "scale": [0.3, 1.0]}},
                     {"RandomHorizontalFlip": {"p": 0.5}}, {"RandomRotation": {"degrees": 20}}]}


JOURNAL = "_augment/label-lines-local.txt"
"""Where a COCO or Ground Truth job of host ``local`` writes its outputs' label lines."""


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "_augment/manifest-local.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def coco_job(tmp_path_factory):
    """A labelled job on the sample photos (the folder `augment samples --dir` prints) with
    their COCO annotations, copied beside them so the test can take the file away."""
    base = tmp_path_factory.mktemp("coco-job")
    photos = subprocess.run([str(Path(sys.executable).with_name("augment")), "samples", "--dir"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert Path(photos) == samples.samples_dir()
    annotations = base / "instances.json"
    shutil.copy(samples.annotations_path(), annotations)
    out = base / "out"
    summary = run_job(GEOMETRIC, photos, out, workers=1, annotations=str(annotations), progress="off")
    assert summary.status == "completed" and summary.labels["annotations"] == str(annotations.resolve())
    return out, annotations


def _copy_job(coco_job, tmp_path: Path) -> Path:
    """The job's output folder, copied: a test that tampers with it leaves the module's intact."""
    out = tmp_path / "out"
    shutil.copytree(coco_job[0], out)
    return out


def test_every_output_of_a_labelled_job_replays_with_the_labels_the_job_wrote(coco_job, tmp_path):
    out, _ = coco_job
    records = [r for r in _records(out) if r["status"] == "ok"]
    assert {r["copy"] for r in records} == {0, 1, ORIGINAL}
    moved = 0
    for rec in records:
        result = replay(out / "_augment/manifest-local.jsonl", source=rec["source"], copy=rec["copy"],
                        out=tmp_path / "again.jpg")
        assert result.bit_exact and result.params_match, rec["output"]
        assert result.labels_match is True and result.label_mismatches == [], rec["output"]
        assert list(result.label_files) == [JOURNAL]  # COCO's labels are a line of the host's journal
        line = result.label_files[JOURNAL]
        assert line.startswith(json.dumps(rec["output"]).encode() + b"\t")
        assert line in (out / JOURNAL).read_bytes().splitlines(keepends=True)
        assert len(result.labels) == rec["labels"]["kept"]
        moved += rec["copy"] != ORIGINAL and len(result.labels) > 0
    assert moved >= 5, "the replayed outputs carry objects, moved by crops, flips and rotations"


def test_a_tampered_or_missing_label_file_is_reported_naming_the_output(coco_job, tmp_path):
    out = _copy_job(coco_job, tmp_path)
    rec = next(r for r in _records(out) if r["copy"] == 1 and r["labels"]["kept"] > 0)
    journal = out / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    mine = next(i for i, line in enumerate(lines) if line.startswith(json.dumps(rec["output"]).encode() + b"\t"))
    journal.write_bytes(b"".join([*lines[:mine], lines[mine].replace(b'"bbox":[', b'"bbox":[3', 1), *lines[mine + 1:]]))
    manifest = out / "_augment/manifest-local.jsonl"
    result = replay(manifest, source=rec["source"], copy=1, out=tmp_path / "again.jpg")
    assert result.bit_exact and result.params_match, "the pixels are the job's"
    assert result.labels_match is False
    assert result.label_mismatches == [f"{journal}: the line of {rec['output']} differs from the labels re-created "
                                       "for it"]
    journal.write_bytes(b"".join(lines[:mine] + lines[mine + 1:]))
    result = replay(manifest, source=rec["source"], copy=1, out=tmp_path / "again.jpg")
    assert result.label_mismatches == [f"{journal}: no line for {rec['output']} (the job writes one per output)"]
    journal.unlink()
    result = replay(manifest, source=rec["source"], copy=1, out=tmp_path / "again.jpg")
    assert result.label_mismatches == [f"{journal}: missing (the job wrote this output's labels there)"]


def test_counts_that_differ_from_the_record_are_reported(coco_job, tmp_path):
    out = _copy_job(coco_job, tmp_path)
    manifest = out / "_augment/manifest-local.jsonl"
    records = _records(out)
    line = next(i for i, r in enumerate(records, 1) if r["copy"] == 0 and r["labels"]["kept"] > 0)
    records[line - 1]["labels"]["kept"] += 1
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = replay(manifest, record=line, out=tmp_path / "again.jpg")
    assert result.labels_match is False and len(result.label_mismatches) == 1
    assert result.label_mismatches[0].startswith(f"record {line}'s labels ")


def test_annotations_that_are_gone_are_named_and_a_copy_can_be_passed(coco_job, tmp_path):
    out, annotations = coco_job
    summary = json.loads((out / "_augment/summary-local.json").read_text())
    moved = _copy_job(coco_job, tmp_path)
    summary["labels"]["annotations"] = str(tmp_path / "gone/instances.json")
    (moved / "_augment/summary-local.json").write_text(json.dumps(summary))
    manifest = moved / "_augment/manifest-local.jsonl"
    with pytest.raises(UsageError, match=r"^the job's annotations .*gone/instances\.json \(in summary-local\.json\) "
                                         r"cannot be read here: no such file or folder .*pass annotations= with a "
                                         r"copy of them$"):
        replay(manifest, source="chelsea.jpg", copy=0, out=tmp_path / "again.jpg")
    copy = tmp_path / "elsewhere.json"
    shutil.copy(annotations, copy)
    result = replay(manifest, source="chelsea.jpg", copy=0, out=tmp_path / "again.jpg", annotations=copy)
    assert result.labels_match is True and result.annotations == str(copy)


def test_other_annotations_are_a_mismatch_and_none_are_refused_for_an_unlabelled_job(coco_job, tmp_path):
    out, annotations = coco_job
    doc = json.loads(annotations.read_text())
    chelsea = next(i["id"] for i in doc["images"] if i["file_name"] == "chelsea.jpg")
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != chelsea]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    result = replay(out / "_augment/manifest-local.jsonl", source="chelsea.jpg", copy=0,
                    out=tmp_path / "again.jpg", annotations=other)
    assert result.bit_exact and result.labels_match is False and len(result.labels) == 0
    plain = tmp_path / "plain"
    run_job({"version": 1, "ops": []}, samples.samples_dir(), plain, workers=1, progress="off")
    with pytest.raises(UsageError, match=r"^annotations=.*other\.json: the job had none \(summary-local\.json names "
                                         r"no annotations\); replay it without annotations=$"):
        replay(plain / "_augment/manifest-local.jsonl", source="chelsea.jpg", copy=0, out=tmp_path / "a.jpg",
               annotations=other)
    unlabelled = replay(plain / "_augment/manifest-local.jsonl", source="chelsea.jpg", copy=0,
                        out=tmp_path / "a.jpg")
    assert unlabelled.bit_exact and unlabelled.labels_match is None and unlabelled.label_files == {}


def test_a_yolo_tree_and_a_ground_truth_job_replay_their_own_files(tmp_path):
    root = half_labelled_tree(tmp_path / "tree")
    spec = {"version": 1, "ops": [{"RandomResizedCrop": {"size": [48, 48], "scale": [0.5, 1.0]}},
                                  {"RandomHorizontalFlip": {"p": 0.5}}], "output": {"format": "png"}, "copies": 2}
    out = tmp_path / "yolo-out"
    run_job(spec, root, out, workers=1, annotations="yolo", progress="off")
    label = "labels/train/a.png.aug1.txt"
    result = replay(out / "_augment/manifest-local.jsonl", source="images/train/a.png", copy=1,
                    out=tmp_path / "again.png")
    assert result.bit_exact and result.labels_match is True and list(result.label_files) == [label]
    (out / label).write_text("0 0.5 0.5 0.1 0.1\n")
    result = replay(out / "_augment/manifest-local.jsonl", source="images/train/a.png", copy=1,
                    out=tmp_path / "again.png")
    assert result.label_mismatches == [f"{out / label}: differs from the labels re-created for "
                                       "images/train/a.png.aug1.png"]

    inputs = root / "images/train"
    line = {"bbox": {"image_size": [{"width": 96, "height": 64, "depth": 3}],
                     "annotations": [{"class_id": 0, "left": 10, "top": 8, "width": 40, "height": 30}]},
            "bbox-metadata": {"class-map": {"0": "box"}, "type": "groundtruth/object-detection"}}
    gt = tmp_path / "in.manifest"
    gt.write_text("".join(json.dumps({"source-ref": f"{inputs.resolve()}/{n}.png", **line}) + "\n" for n in "ab"))
    out = tmp_path / "gt-out"
    run_job(spec, inputs, out, workers=1, annotations=str(gt), progress="off")
    result = replay(out / "_augment/manifest-local.jsonl", source="b.png", copy=0, out=tmp_path / "again.png")
    assert result.labels_match is True and list(result.label_files) == [JOURNAL]
    assert json.loads(result.label_files[JOURNAL].decode().partition("\t")[2])["source-ref"] == \
        f"{out.resolve()}/b.png.aug0.png"


def test_augment_replay_says_whether_the_labels_match_and_exits_1_naming_the_file_when_not(coco_job, tmp_path,
                                                                                           capsys):
    out = _copy_job(coco_job, tmp_path)
    manifest = str(out / "_augment/manifest-local.jsonl")
    again = str(tmp_path / "again.jpg")
    assert main(["replay", manifest, "--source", "chelsea.jpg", "--copy", "1", "--out", again]) == 0
    printed = capsys.readouterr().out
    assert "bytes: bit-exact" in printed
    assert "labels: same as written (" in printed and f"{JOURNAL})" in printed
    journal = out / JOURNAL
    journal.write_bytes(b"".join(line.replace(b'"iscrowd":0', b'"iscrowd":1', 1)
                                 if line.startswith(b'"chelsea.jpg.aug1.jpg"\t') else line
                                 for line in journal.read_bytes().splitlines(keepends=True)))
    assert main(["replay", manifest, "--source", "chelsea.jpg", "--copy", "1", "--out", again]) == 1
    captured = capsys.readouterr()
    assert "bytes: bit-exact" in captured.out and "labels: DIFFERENT (" in captured.out
    assert f"{journal}: the line of chelsea.jpg.aug1.jpg differs from the labels re-created for it" in captured.err
    summary = out / "_augment/summary-local.json"
    doc = json.loads(summary.read_text())
    doc["labels"]["annotations"] = str(tmp_path / "gone.json")
    summary.write_text(json.dumps(doc))
    assert main(["replay", manifest, "--source", "chelsea.jpg", "--copy", "0", "--out", again]) == 2
    assert "pass --annotations with a copy of them" in capsys.readouterr().err
    assert main(["replay", manifest, "--source", "chelsea.jpg", "--copy", "0", "--out", again,
                 "--annotations", str(coco_job[1])]) == 0
    assert "labels: same as written" in capsys.readouterr().out


def test_a_yolo_job_launch_started_replays_and_previews_with_its_labels_from_its_input(tmp_path):
    """launch() on the local backend stages the tree into a folder that is gone once the job ends: the
    summary's input_dir. Replay and from_job read the tree where it was staged from (input_uri), its labels
    as well as its pixels, with no annotations= or input= given."""
    from augment import preview as pv
    from augment.jobs import LocalBackend, launch

    root = tmp_path / "tree"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    PIL.Image.effect_mandelbrot((96, 64), (-2, -1, 1, 1), 60).convert("RGB").save(root / "images/train/a.png")
    (root / "labels/train/a.txt").write_text("0 0.25 0.333333 0.25 0.5\n1 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images/train\nnames: {0: cat, 1: dog}\n")
    spec = {"version": 1, "ops": [{"RandomResizedCrop": {"size": [48, 48], "scale": [0.5, 1.0]}}],
            "output": {"format": "png"}, "copies": 1}
    out = tmp_path / "out"
    launch(LocalBackend(), spec, str(root), str(out), workers=1, annotations="yolo").wait(timeout=600)
    manifest = next((out / "_augment").glob("manifest-*.jsonl"))
    summary = json.loads(next((out / "_augment").glob("summary-*.json")).read_text())
    assert not Path(summary["input_dir"]).exists() and summary["input_uri"] == str(root)
    result = replay(manifest, source="images/train/a.png", copy=0, out=tmp_path / "again.png")
    assert result.bit_exact and result.labels_match is True
    assert list(result.label_files) == ["labels/train/a.png.aug0.txt"]
    shown = pv.from_job(out, n=1)
    assert shown.originals["images/train/a.png"] is not None
    assert shown.label_errors == {} and len(shown.labels["images/train/a.png"]) == 2
