"""Jobs carry labels (#28): the spec's annotations section, augment validate --annotations, and augment process /
run_job with --annotations writing the outputs' labels in the input's format, recorded in the manifest."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

from augment import samples
from augment.cli import main
from augment.errors import SpecError
from augment.labels import LabelRules
from augment.spec import load_spec
from tests.labels_helpers import bad_coco

ANNOTATIONS = str(samples.annotations_path())


def test_the_annotations_section_is_validated_with_field_paths_and_carried_as_rules():
    spec = load_spec({"version": 1, "ops": [], "annotations": {"mode": "clamp", "min_area": 4, "min_visibility": 0.3,
                                                               "flip_pairs": [["paw_a", "paw_b"]]}})
    assert spec.annotations.rules() == LabelRules("clamp", 4.0, 0.3, (("paw_a", "paw_b"),))
    assert load_spec(spec.to_dict()) == spec
    plain = load_spec({"version": 1, "ops": []})
    assert "annotations" not in plain.to_dict() and plain.annotations.rules() == LabelRules()
    assert spec.digest != plain.digest  # the labels written differ
    with pytest.raises(SpecError) as caught:
        load_spec({"version": 1, "ops": [], "annotations": {"mode": "x", "min_visibility": 2, "min_area": -1,
                                                            "flip_pairs": [["a", "a"]], "zz": 1}})
    text = str(caught.value)
    for field in ("annotations: unknown field 'zz'", "annotations.mode:", "annotations.min_area:",
                  "annotations.min_visibility:", "annotations.flip_pairs[0]:"):
        assert field in text


def test_validate_refuses_ops_that_cannot_carry_labels(tmp_path, capsys):
    spec = tmp_path / "aa.yaml"
    spec.write_text("version: 1\nops:\n  - RandomHorizontalFlip: {}\n  - AutoAugment: {}\n")
    assert main(["validate", str(spec)]) == 0
    capsys.readouterr()
    assert main(["validate", str(spec), "--annotations", ANNOTATIONS]) == 2
    err = capsys.readouterr().err
    assert "ops[1] AutoAugment: torchvision's AutoAugment refuses boxes" in err
    assert main(["validate", "light", "--annotations", ANNOTATIONS]) == 0
    assert "labels: coco" in capsys.readouterr().out


def test_validate_counts_and_names_the_annotations_problems(tmp_path, capsys):
    bad = bad_coco(tmp_path)
    doc = json.loads(bad.read_text())
    assert main(["validate", "light", "--annotations", str(bad)]) == 0
    err = capsys.readouterr().err
    assert "2 annotation problems (1 bad_box, 1 unknown_category)" in err
    assert f"annotation {doc['annotations'][0]['id']}: bbox" in err
    assert main(["validate", "light", "--annotations", str(tmp_path / "nope.json")]) == 2
    assert "--annotations " in capsys.readouterr().err
    assert main(["validate", "light", "--annotations", str(bad), "--annotation-format", "zz"]) == 2
    assert "--annotation-format: invalid choice: 'zz' (choose from 'coco', 'yolo'" in capsys.readouterr().err


# --- jobs ------------------------------------------------------------------------------------------------------


def coco_of_scene(file_names):
    """A COCO file labelling the synthetic scene (tests/test_labels.py) under each name: every object with its
    RLE mask and, in an extra field, its object number (kept verbatim by the writer, so the truth is findable)."""
    from augment.labels.coco import encode_mask
    from tests.test_labels import NAMES, scene

    _, labels = scene()
    images, annotations = [], []
    for image_id, name in enumerate(file_names, start=1):
        images.append({"id": image_id, "file_name": name, "width": labels.size[0], "height": labels.size[1]})
        for k in range(len(labels)):
            x0, y0, x1, y1 = labels.boxes[k].tolist()
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(labels.categories[k]),
                   "bbox": [x0, y0, x1 - x0, y1 - y0], "segmentation": encode_mask(labels.masks[k]),
                   "area": int(labels.masks[k].sum()), "iscrowd": 0, "object": int(labels.ids[k])}
            if labels.keypoints[k] is not None:
                ann["keypoints"] = [float(v) if j % 3 < 2 else int(v)
                                    for j, v in enumerate(labels.keypoints[k].reshape(-1))]
                ann["num_keypoints"] = 3
            annotations.append(ann)
    categories = [{"id": 1, "name": "box"}, {"id": 2, "name": "face", "keypoints": list(NAMES), "skeleton": [[1, 2]]}]
    return {"images": images, "annotations": annotations, "categories": categories}


def manifest(out):
    return [json.loads(line) for line in (out / "_augment/manifest-local.jsonl").read_text().splitlines()]


@pytest.fixture
def scene_job(tmp_path):
    """An input folder of the scene as two lossless PNGs, and its COCO file beside (outside) it."""
    from tests.test_labels import scene

    image, _ = scene()
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    image.save(inputs / "a.png")
    image.save(inputs / "sub" / "b.png")
    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps(coco_of_scene(["a.png", "sub/b.png"])))
    return inputs, coco


def test_process_on_the_samples_with_the_identity_spec_leaves_the_labels_unchanged(tmp_path, capsys):
    spec = tmp_path / "id.yaml"
    spec.write_text("version: 1\nops: []\n")
    out = tmp_path / "out"
    assert main(["process", "--spec", str(spec), "--input-dir", str(samples.samples_dir()), "--output-dir", str(out),
                 "--annotations", ANNOTATIONS, "--workers", "1", "--progress", "off"]) == 0
    assert "labels:   coco: _augment/labels-local.json, annotations.json" in capsys.readouterr().out
    source = json.loads(samples.annotations_path().read_text())
    written = json.loads((out / "annotations.json").read_text())
    assert written["categories"] == source["categories"] and written["info"] == source["info"]
    by_name = {i["file_name"]: i for i in source["images"]}
    strip = ("id", "image_id")
    for image in written["images"]:
        original = by_name[image["file_name"].removesuffix(".aug0.jpg")]
        assert (image["width"], image["height"]) == (original["width"], original["height"])
        assert [{k: v for k, v in a.items() if k not in strip} for a in written["annotations"]
                if a["image_id"] == image["id"]] == \
            [{k: v for k, v in a.items() if k not in strip} for a in source["annotations"]
             if a["image_id"] == original["id"]]
    records = [json.loads(line) for line in (out / "_augment/manifest-local.jsonl").read_text().splitlines()]
    assert all(r["labels"]["kept"] == len([a for a in source["annotations"]
                                           if a["image_id"] == by_name[r["source"]]["id"]]) for r in records)
    summary = json.loads((out / "_augment/summary-local.json").read_text())
    assert summary["labels"]["format"] == "coco" and summary["labels"]["problems"] == 0
    assert "annotations.json" in summary["labels"]["files"]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
@pytest.mark.parametrize("case", ["crop", "flip", "resize", "rotate"])
def test_a_geometric_job_writes_coco_that_pycocotools_reads_and_the_pixels_agree_with(case, scene_job, tmp_path):
    from pycocotools.coco import COCO

    from augment.engine import run_job
    from augment.labels import Labels
    from tests.test_labels import CASES, check_truth

    inputs, coco = scene_job
    out = tmp_path / "out"
    spec = {"version": 1, "copies": 3, "seed": 7, "output": {"format": "png"}, "ops": CASES[case]}
    run_job(spec, inputs, out, workers=1, annotations=str(coco), progress="off")
    ground = COCO(str(out / "annotations.json"))
    records = {r["output"]: r for r in manifest(out)}
    assert len(ground.imgs) == 6
    for image in ground.imgs.values():
        pixels = PIL.Image.open(out / image["file_name"]).convert("RGB")
        assert pixels.size == (image["width"], image["height"])
        anns = ground.loadAnns(ground.getAnnIds(imgIds=[image["id"]]))
        boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                 for a in anns]
        keypoints = [np.asarray(a["keypoints"], np.float64).reshape(-1, 3) if a.get("keypoints") else None
                     for a in anns]
        labels = Labels(pixels.size, np.asarray(boxes).reshape(-1, 4), [a["category_id"] for a in anns],
                        [a["object"] for a in anns], masks=[ground.annToMask(a).astype(bool) for a in anns],
                        keypoints=keypoints if any(k is not None for k in keypoints) else None)
        check_truth(case, pixels, labels, records[image["file_name"]]["params"], jpeg=False)


def test_one_and_two_workers_and_a_resume_write_the_same_label_files(scene_job, tmp_path):
    from augment.engine import run_job

    inputs, coco = scene_job
    spec = {"version": 1, "copies": 2, "seed": 3, "output": {"format": "png", "keep_original": True},
            "ops": [{"RandomResizedCrop": {"size": [200, 200], "scale": [0.3, 1.0]}},
                    {"RandomHorizontalFlip": {"p": 0.5}}]}
    written = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        run_job(spec, inputs, out, workers=workers, annotations=str(coco), progress="off", start_method="fork")
        written[workers] = (out / "annotations.json").read_bytes()
    assert written[1] == written[2]
    doc = json.loads(written[1])
    originals = [i for i in doc["images"] if ".orig." in i["file_name"]]
    assert len(originals) == 2 and len(doc["images"]) == 6  # a kept original keeps its input's labels
    assert sum(a["image_id"] == originals[0]["id"] for a in doc["annotations"]) == 3
    # a kill after some records: the rest is done on resume, and the labels come out the same
    out = tmp_path / "out1"
    manifest = out / "_augment/manifest-local.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[:2]))
    kept = {json.dumps(json.loads(line)["output"]) for line in lines[:2]}
    journal = out / "_augment/label-lines-local.txt"
    journal_lines = journal.read_text().splitlines(keepends=True)
    assert len(journal_lines) == 6
    # the journal keeps the first two outputs' lines, and half of a third's (a kill while writing it)
    journal.write_text("".join(line for line in journal_lines if line.split("\t")[0] in kept)
                       + journal_lines[-1][:40])
    for line in lines[2:]:
        (out / json.loads(line)["output"]).unlink()
    (out / "annotations.json").unlink()
    run_job(spec, inputs, out, workers=1, annotations=str(coco), progress="off", resume=True)
    assert (out / "annotations.json").read_bytes() == written[2]
    assert sorted(journal.read_text().splitlines(keepends=True)) == sorted(journal_lines), "no torn line kept"
    # a resume that redoes an output whose line is there already (its record lost): the latest line counts
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[:-1]))
    (out / "annotations.json").unlink()
    run_job(spec, inputs, out, workers=1, annotations=str(coco), progress="off", resume=True)
    assert len(journal.read_text().splitlines()) == 7
    assert (out / "annotations.json").read_bytes() == written[2]


def test_bad_annotations_are_recorded_and_counted_never_lost(scene_job, tmp_path):
    from augment.engine import run_job

    inputs, coco = scene_job
    doc = json.loads(coco.read_text())
    doc["images"][1]["width"] = 1000  # sub/b.png is 480 wide: its labels cannot go with it
    doc["annotations"][0]["category_id"] = 99
    for ann in doc["annotations"]:
        if ann["image_id"] == 2:
            del ann["segmentation"]  # which the file's size would refuse first
    coco.write_text(json.dumps(doc))
    out = tmp_path / "out"
    summary = run_job({"version": 1, "ops": []}, inputs, out, workers=1, annotations=str(coco), progress="off",
                      max_error_rate=1.0)
    records = {r["source"]: r for r in manifest(out)}
    bad = records["sub/b.png"]
    assert (bad["status"], bad["reason"], bad["label_reason"]) == ("failed", "bad_labels", "size_mismatch")
    assert "1000x360" in bad["error"]
    assert records["a.png"]["labels"]["kept"] == 2  # its third annotation is the problem below
    assert records["a.png"]["label_problems"] == ["annotation 1: category_id 99 names no category"]
    assert "label_problems" not in bad
    assert summary.failures_by_reason == {"bad_labels": 1}
    assert summary.labels["problems"] == 1 and summary.labels["problems_by_reason"] == {"unknown_category": 1}
    problems = (out / "_augment/label-problems-local.jsonl").read_text().splitlines()
    assert json.loads(problems[0])["where"] == "annotation 1"


def test_a_job_refuses_ops_that_cannot_carry_labels_before_any_work(scene_job, tmp_path):
    from augment.engine import run_job

    inputs, coco = scene_job
    with pytest.raises(SpecError, match=r"ops\[0\]\.AutoAugment: cannot carry labels"):
        run_job({"version": 1, "ops": [{"AutoAugment": {}}]}, inputs, tmp_path / "out", annotations=str(coco))
    assert not (tmp_path / "out").exists()


def test_a_yolo_tree_job_mirrors_labels_and_excludes_the_label_files(tmp_path):
    from augment.engine import run_job

    root = tmp_path / "tree"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    PIL.Image.new("RGB", (80, 60), (0, 0, 0)).save(root / "images/train/a.png")
    PIL.Image.new("RGB", (80, 60), (0, 0, 0)).save(root / "images/train/b.png")
    (root / "labels/train/a.txt").write_text("0 0.25 0.333333 0.25 0.5\n1 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images/train\nnames: {0: cat, 1: dog}\n")
    out = tmp_path / "out"
    summary = run_job({"version": 1, "ops": []}, root, out, workers=1, annotations="yolo", progress="off")
    assert summary.inputs == 2 and summary.excluded == 2
    assert (out / "labels/train/a.png.aug0.txt").read_bytes() == (root / "labels/train/a.txt").read_bytes()
    assert (out / "labels/train/b.png.aug0.txt").read_bytes() == b""
    assert b"names" in (out / "data.yaml").read_bytes()
    excluded = [json.loads(line) for line in (out / "_augment/excluded-local.jsonl").read_text().splitlines()]
    assert {(e["source"], e["rule"]) for e in excluded} == {("data.yaml", "annotations"),
                                                            ("labels/train/a.txt", "annotations")}
    flipped = run_job({"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}, root, tmp_path / "flip",
                      workers=1, annotations="yolo", progress="off")
    assert flipped.written == 2
    line = (tmp_path / "flip/labels/train/a.png.aug0.txt").read_text().splitlines()[0].split()
    assert line[0] == "0" and float(line[1]) == pytest.approx(0.75, abs=1e-5)


def test_the_container_arguments_carry_the_annotations_and_a_remote_job_refuses_a_missing_local_file():
    from augment.errors import UsageError
    from augment.jobs.build import build_request

    request = build_request("light", "s3://bucket-a/in/", "s3://bucket-a/out/", annotations="s3://bucket-a/i.json",
                            annotation_format="coco")
    assert request.arguments[-4:] == ("--annotations", "s3://bucket-a/i.json", "--annotation-format", "coco")
    with pytest.raises(UsageError, match=r"^annotations=/nonexistent/i\.json: no such file or folder"):
        build_request("light", "s3://bucket-a/in/", "s3://bucket-a/out/", annotations="/nonexistent/i.json")


def boxes_of(index, rel, size):
    return index.image(rel).labels(size).boxes.tolist()


def test_voc_masks_and_ground_truth_jobs_write_their_formats(scene_job, tmp_path):
    """The identity spec through a job leaves each format's labels as they were (read back by its own reader)."""
    from augment.engine import run_job
    from augment.labels import open_annotations
    from augment.labels.masks import encode_png, to_classes
    from augment.labels.voc import write_voc
    from tests.test_labels import scene

    inputs, _ = scene_job
    _, labels = scene()
    boxes = labels.select([0, 1])  # the two boxes without keypoints
    size = labels.size
    voc, masks = tmp_path / "voc", tmp_path / "masks"
    (voc / "sub").mkdir(parents=True)
    (masks / "sub").mkdir(parents=True)
    for rel in ("a", "sub/b"):
        (voc / f"{rel}.xml").write_bytes(write_voc(boxes, f"{rel}.png", {1: "box", 2: "face"}))
        (masks / f"{rel}.png").write_bytes(encode_png(to_classes(labels.select([0, 1]))))
    line = {"bbox": {"image_size": [{"width": size[0], "height": size[1], "depth": 3}],
                     "annotations": [{"class_id": 0, "left": 40, "top": 40, "width": 110, "height": 90}]},
            "bbox-metadata": {"class-map": {"0": "box"}, "type": "groundtruth/object-detection"}}
    manifest_path = tmp_path / "in.manifest"
    manifest_path.write_text("".join(json.dumps({"source-ref": f"{inputs.resolve()}/{rel}.png", **line}) + "\n"
                                     for rel in ("a", "sub/b")))
    ops = {"version": 1, "ops": [], "output": {"format": "png"}}
    for name, where in (("voc", voc), ("masks", masks), ("groundtruth", manifest_path)):
        out = tmp_path / f"out-{name}"
        summary = run_job(ops, inputs, out, workers=1, annotations=str(where), progress="off")
        assert summary.labels["format"] == name and summary.failed_inputs == 0
        source = open_annotations(where, input_dir=inputs)
        if name == "voc":
            written = open_annotations(out, format="voc")
        elif name == "masks":
            written = open_annotations(out / "masks")
        else:
            written = open_annotations(out / "output.manifest", input_dir=out)
        for rel in ("a.png", "sub/b.png"):
            assert boxes_of(written, f"{rel}.aug0.png", size) == boxes_of(source, rel, size), (name, rel)


def test_a_resume_takes_the_annotations_the_job_started_with(scene_job, tmp_path, monkeypatch):
    from augment.engine import run_job
    from augment.errors import UsageError

    inputs, coco = scene_job
    out = tmp_path / "out"
    run_job({"version": 1, "ops": []}, inputs, out, workers=1, annotations=str(coco), progress="off")
    other = tmp_path / "other.json"
    other.write_bytes(coco.read_bytes())
    with pytest.raises(UsageError, match=r"^resume=True: this job started with annotations=.*instances\.json"):
        run_job({"version": 1, "ops": []}, inputs, out, workers=1, annotations=str(other), resume=True)
    with pytest.raises(UsageError, match="resume it with annotations="):
        run_job({"version": 1, "ops": []}, inputs, out, workers=1, resume=True)
    monkeypatch.chdir(tmp_path)  # the same file, named otherwise
    run_job({"version": 1, "ops": []}, inputs, out, workers=1, annotations="instances.json", resume=True)


def test_two_hosts_parts_merge_into_the_standalone_file(scene_job, tmp_path):
    """Each host of a sharded job writes its part; merged, they are the file one host writes for all inputs."""
    import shutil

    from augment.engine import run_job
    from augment.engine.labels import merge_parts

    inputs, coco = scene_job
    spec = {"version": 1, "copies": 2, "seed": 5, "output": {"format": "png"},
            "ops": [{"RandomResizedCrop": {"size": [160, 200], "scale": [0.3, 1.0]}}]}
    run_job(spec, inputs, tmp_path / "one", workers=1, annotations=str(coco), progress="off")
    shared = tmp_path / "shared"
    for host, include in (("algo-1", "a.png"), ("algo-2", "sub/*")):
        share = tmp_path / host
        spec_host = {**spec, "input": {"include": [include]}}
        run_job(spec_host, inputs, share, workers=1, host=host, hosts=["algo-1", "algo-2"], sharded=True,
                annotations=str(coco), progress="off")
        assert not (share / "annotations.json").exists()  # a host of several writes its part only
        shutil.copytree(share, shared, dirs_exist_ok=True)
    assert merge_parts(shared) == ["annotations.json"]
    assert (shared / "annotations.json").read_bytes() == (tmp_path / "one/annotations.json").read_bytes()


def test_ground_truth_outputs_are_named_under_the_output_uri_a_job_uploads_to(tmp_path):
    from augment.engine.labels import label_prefix

    assert label_prefix(tmp_path) == f"{tmp_path.resolve()}/"
    assert label_prefix(tmp_path, "s3://bucket-a/out/") == "s3://bucket-a/out/"


def test_a_coco_file_inside_the_input_folder_is_excluded_not_an_input(scene_job, tmp_path):
    from augment.engine import run_job

    inputs, coco = scene_job
    inside = inputs / "instances.json"
    inside.write_bytes(coco.read_bytes())
    summary = run_job({"version": 1, "ops": []}, inputs, tmp_path / "out", workers=1, annotations=str(inside),
                      progress="off")
    assert summary.inputs == 2 and summary.failed_inputs == 0
    excluded = [json.loads(line) for line in (tmp_path / "out/_augment/excluded-local.jsonl").read_text().splitlines()]
    assert excluded == [{"source": "instances.json", "rule": "annotations", "pattern": str(inside)}]


def test_a_sharded_yolo_jobs_hosts_parts_give_the_standalone_data_yaml(tmp_path):
    """A YOLO tree's data.yaml is the job's file too: each host of several writes it as its part, and the
    merge writes the one a standalone job writes (sharded jobs had none)."""
    import shutil

    from augment.engine import run_job
    from augment.engine.labels import merge_parts

    root = tmp_path / "tree"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        PIL.Image.new("RGB", (80, 60), (0, 0, 0)).save(root / "images" / split / "a.png")
        (root / "labels" / split / "a.txt").write_text("0 0.25 0.333333 0.25 0.5\n")
    (root / "data.yaml").write_text("path: /elsewhere\ntrain: images/train\nval: images/val\nnames: {0: cat}\n")
    spec = {"version": 1, "ops": []}
    run_job(spec, root, tmp_path / "one", workers=1, annotations="yolo", progress="off")
    shared = tmp_path / "shared"
    for host, include in (("algo-1", "images/train/*"), ("algo-2", "images/val/*")):
        share = tmp_path / host
        run_job({**spec, "input": {"include": [include]}}, root, share, workers=1, host=host,
                hosts=["algo-1", "algo-2"], sharded=True, annotations="yolo", progress="off")
        assert not (share / "data.yaml").exists() and (share / f"_augment/labels-{host}.yaml").is_file()
        shutil.copytree(share, shared, dirs_exist_ok=True)
    assert merge_parts(shared) == ["data.yaml"]
    assert (shared / "data.yaml").read_bytes() == (tmp_path / "one/data.yaml").read_bytes()
    (shared / "_augment/labels-algo-2.yaml").write_text("names: {0: dog}\n")
    with pytest.raises(ValueError, match=r"data\.yaml parts differ"):
        merge_parts(shared)


def test_an_input_whose_name_is_not_utf8_gets_its_line_and_entry_as_the_manifest_names_it(tmp_path):
    """Linux names are bytes: such an input (no labels: COCO names it nowhere) is augmented, and
    its output's COCO entry names it as the manifest does (a JSON escape), where encoding its
    line used to raise."""
    import os

    from augment.engine import run_job

    inputs = tmp_path / "in"
    inputs.mkdir()
    PIL.Image.new("RGB", (64, 48), (200, 10, 10)).save(inputs / "a.png")
    os.link(inputs / "a.png", os.fsencode(inputs) + b"/bad\xff.png")
    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
                                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20],
                                                 "area": 400, "iscrowd": 0}],
                                "categories": [{"id": 1, "name": "x"}]}))
    out = tmp_path / "out"
    summary = run_job({"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}, inputs, out, workers=1,
                      annotations=str(coco), progress="off")
    assert summary.status == "completed" and summary.written == 2
    doc = json.loads((out / "annotations.json").read_bytes())
    records = [json.loads(line) for line in (out / "_augment/manifest-local.jsonl").read_text().splitlines()]
    assert [i["file_name"] for i in doc["images"]] == sorted(r["output"] for r in records)
    assert [a["bbox"] for a in doc["annotations"]] == [[39, 5, 20, 20]]


def test_hosts_parts_with_a_name_that_is_not_utf8_merge(tmp_path):
    """Two hosts share an output folder (a sharded job): one's input has a name that is not
    UTF-8; their parts merge into the file one host would have written."""
    import os

    from augment.engine import run_job
    from augment.engine.labels import merge_parts

    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
                                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20],
                                                 "area": 400, "iscrowd": 0}],
                                "categories": [{"id": 1, "name": "x"}]}))
    shares = [tmp_path / "in1", tmp_path / "in2"]
    for share in shares:
        share.mkdir()
    PIL.Image.new("RGB", (64, 48), (200, 10, 10)).save(shares[0] / "a.png")
    os.link(shares[0] / "a.png", os.fsencode(shares[1]) + b"/bad\xff.png")
    out, spec = tmp_path / "out", {"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}
    for host, share in zip(("algo-1", "algo-2"), shares, strict=True):
        run_job(spec, share, out, workers=1, annotations=str(coco), progress="off", host=host,
                hosts=["algo-1", "algo-2"], sharded=True)
    assert merge_parts(out) == ["annotations.json"]
    doc = json.loads((out / "annotations.json").read_bytes())
    assert [i["file_name"] for i in doc["images"]] == ["a.png.aug0.png", "bad\udcff.png.aug0.png"]
    assert [(a["id"], a["image_id"], a["bbox"]) for a in doc["annotations"]] == [(1, 1, [39, 5, 20, 20])]


def test_a_job_an_earlier_augment_started_with_label_fragments_is_not_resumed_by_this_one(scene_job, tmp_path):
    from augment.engine import run_job
    from augment.errors import UsageError

    inputs, coco = scene_job
    out = tmp_path / "out"
    spec = {"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}
    run_job(spec, inputs, out, workers=1, annotations=str(coco), progress="off")
    fragment = out / "_augment/labels/sub/b.png.aug0.png.json"  # as 0.4.0 before the journal wrote them
    fragment.parent.mkdir(parents=True)
    fragment.write_text('{"images":[],"annotations":[]}')
    with pytest.raises(UsageError, match=r"labels as an earlier augment wrote them .* resume the job with the "
                                         r"version that started it"):
        run_job(spec, inputs, out, workers=1, annotations=str(coco), progress="off", resume=True)
    assert fragment.exists(), "nothing touched"
