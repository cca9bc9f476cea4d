"""augment plan --annotations (#28 item 1): a labelled job planned as the job runs it. Its
annotations are checked as the job checks them (ops that cannot carry labels refused,
problems counted), its own files in the input are not counted, its time comes from
measurements made with labels (kept apart from the spec's plain ones), and its disk holds
its label files."""

from __future__ import annotations

import json
import shutil

import PIL.Image
import pytest

from augment import plan, samples
from augment.cli import main
from augment.errors import SpecError, UsageError
from augment.labels import open_annotations
from augment.plan import _disk, _labels
from augment.spec import load_spec
from tests.labels_helpers import bad_coco, half_labelled_tree

ANNOTATIONS = str(samples.annotations_path())
LIGHT = load_spec("light")
ONE = {"prices": "offline", "modes": ["standalone"], "instance_types": ["ml.m5.large"]}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_labelled_plan_reports_its_annotations_and_puts_their_files_on_the_disk():
    plain = plan.estimate("light", images=1_000_000, **ONE)
    labelled = plan.estimate("light", images=1_000_000, annotations=ANNOTATIONS, **ONE)
    labels = labelled.assumptions["labels"]
    assert (labels["format"], labels["annotations"], labels["problems"], labels["unlabelled_inputs"]) == \
        ("coco", ANNOTATIONS, 0, 0)
    assert labels["categories"] == len(json.loads(samples.annotations_path().read_text())["categories"])
    # the annotations' bytes per input they label, on disk three times over (journal line, host part, job file)
    per = samples.annotations_path().stat().st_size / 1_000_000 * 3
    assert labels["bytes_per_output"] == pytest.approx(per, abs=0.1)
    outputs = 1_000_000 * LIGHT.copies
    expected = _disk.disk(1_000_000 * _disk.DEFAULT_MEAN_INPUT_BYTES, LIGHT.copies, False, _disk.LOSSY_OUTPUT_RATIO,
                          per * outputs)
    assert labelled.options[0].disk_need_gb == expected.need_gb
    assert "label files: assumed: the annotations'" in labelled.assumptions["disk"]
    assert "without labels, which take time of their own" in labelled.assumptions["throughput_source"]
    assert "labels" not in plain.assumptions
    counted = plan.estimate("light", annotations=ANNOTATIONS, **ONE)  # the samples, counted: 7 inputs labelled
    per_counted = samples.annotations_path().stat().st_size / len(samples.list_samples()) * 3
    assert counted.assumptions["labels"]["bytes_per_output"] == pytest.approx(per_counted, abs=0.1)
    assert "labels: coco (" in str(counted) and "0 annotation problems" in str(counted)


def test_ops_that_cannot_carry_labels_are_refused_as_validate_refuses_them(tmp_path, capsys):
    spec = tmp_path / "aa.yaml"
    spec.write_text("version: 1\nops:\n  - RandomHorizontalFlip: {}\n  - AutoAugment: {}\n")
    assert plan.estimate(str(spec), **ONE).options, "without annotations the spec is planned"
    with pytest.raises(SpecError, match=r"ops\[1\]\.AutoAugment: cannot carry labels \(annotations= is given\): "
                                        r"torchvision's AutoAugment refuses boxes"):
        plan.estimate(str(spec), annotations=ANNOTATIONS, **ONE)
    with pytest.raises(SpecError, match=r"ops\[1\]\.AutoAugment"):
        plan.calibrate(str(spec), images=2, workers=1, annotations=ANNOTATIONS)
    assert main(["plan", "--spec", str(spec), "--annotations", ANNOTATIONS, "--prices", "offline"]) == 2
    err = capsys.readouterr().err
    assert "ops[1].AutoAugment: cannot carry labels (--annotations is given)" in err
    assert main(["plan", "--annotations", str(tmp_path / "nope.json"), "--prices", "offline"]) == 2
    assert "--annotations " in capsys.readouterr().err


def test_the_annotations_problems_are_counted_and_said(tmp_path, capsys):
    bad = bad_coco(tmp_path)
    labels = plan.estimate("light", annotations=str(bad), **ONE).assumptions["labels"]
    assert (labels["problems"], labels["problems_by_reason"]) == (2, {"bad_box": 1, "unknown_category": 1})
    assert main(["plan", "--annotations", str(bad), "--prices", "offline", "--mode", "standalone",
                 "--instance-type", "ml.m5.large"]) == 0
    out, err = capsys.readouterr()
    assert f"augment plan: {bad}: 2 annotation problems, each left out of its image's labels (augment validate " \
           f"light --annotations {bad} names them)" in err
    assert "2 annotation problems (1 bad_box, 1 unknown_category), each left out of its image's labels" in out
    assert main(["plan", "--annotations", str(bad), "--prices", "offline", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["assumptions"]["labels"]["problems"] == 2


def test_a_yolo_trees_own_files_are_not_counted_as_inputs(tmp_path):
    root = half_labelled_tree(tmp_path / "tree")
    plain = plan.estimate("light", root, **ONE)
    labelled = plan.estimate("light", root, annotations="yolo", **ONE)
    assert plain.assumptions["images"] == 4, "without annotations the tree's label files look like inputs"
    assert labelled.assumptions["images"] == 2
    assert "2 the annotations' own files" in labelled.assumptions["images_source"]
    labels = labelled.assumptions["labels"]
    assert labels["format"] == "yolo" and labels["unlabelled_inputs"] == 0, "Ultralytics: no .txt, no objects"
    assert labels["bytes_per_output"] == (root / "labels/train/a.txt").stat().st_size / 2, "over its 2 images"


def test_inputs_the_annotations_do_not_name_are_counted(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(samples.samples_dir(), photos)
    shutil.copy(photos / "chelsea.jpg", photos / "stray.jpg")
    labelled = plan.estimate("light", photos, annotations=ANNOTATIONS, **ONE)
    assert labelled.assumptions["labels"]["unlabelled_inputs"] == 1
    assert "1 input without labels (kept, with no objects: check that the annotations name the inputs' paths)" in \
        str(labelled)


def test_a_calibration_with_labels_is_stored_apart_and_the_labelled_plan_uses_it(cache):
    result = plan.calibrate("light", images=8, workers=1, annotations=ANNOTATIONS)
    assert result.labels == "coco" and result.label_bytes_per_output > 0
    assert "with coco labels" in result.line()
    stored = json.loads((cache / "throughput.json").read_text())["specs"]
    assert list(stored) == [_labels.labelled_key(LIGHT.digest, "coco")], "the spec's plain figures are not touched"
    entry = stored[_labels.labelled_key(LIGHT.digest, "coco")][0]
    assert entry["label_bytes_per_output"] == round(result.label_bytes_per_output, 1)
    labelled = plan.estimate("light", annotations=ANNOTATIONS, **ONE)
    assert labelled.assumptions["throughput_per_vcpu"] == entry["per_vcpu"]
    assert labelled.assumptions["throughput_source"].endswith("; with its coco labels")
    assert labelled.assumptions["labels"]["bytes_per_output"] == entry["label_bytes_per_output"]
    assert "measured for this spec with its labels" in labelled.assumptions["disk"]
    plain = plan.estimate("light", **ONE)
    assert plain.assumptions["throughput_source"].startswith("default:"), "a plain plan ignores labelled figures"


def test_compare_stores_a_labelled_jobs_throughput_under_its_labels(cache):
    summary = {"host": "algo-1", "status": "completed", "inputs": 500, "copies": 2, "written": 1000, "seconds": 50.0,
               "images_per_s": 20.0, "workers": 2, "peak_worker_rss_mb": 300.0, "spec_digest": LIGHT.digest,
               "labels": {"format": "yolo", "annotations": "yolo", "problems": 0}}
    assert plan.compare([summary]).recorded_to
    stored = json.loads((cache / "throughput.json").read_text())["specs"]
    assert list(stored) == [_labels.labelled_key(LIGHT.digest, "yolo")]


def _labels_of(index, rel, size):
    labels = index.image(rel).labels(size)
    return labels.boxes.tolist(), labels.categories.tolist()


def test_a_calibration_samples_annotations_label_every_file_taken_again(tmp_path):
    """The sample takes a small input more than once (again-1/...): each copy carries its input's labels, in the
    input's own format, or the labelled sample would time unlabelled images."""
    from augment.labels.voc import write_voc

    taken = {"chelsea.jpg": "chelsea.jpg", "again-1/chelsea.jpg": "chelsea.jpg", "again-1/coffee.jpg": "coffee.jpg"}
    folder = tmp_path / "sample"
    for rel, key in taken.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples.samples_dir() / key, folder / rel)
    source = open_annotations(ANNOTATIONS)
    made = _labels.sample_annotations(source, str(samples.samples_dir()), taken, folder, tmp_path / "coco")
    mine = open_annotations(made)
    for rel, key in taken.items():
        size = PIL.Image.open(folder / rel).size
        assert _labels_of(mine, rel, size) == _labels_of(source, key, size)

    root = half_labelled_tree(tmp_path / "tree")
    tree = open_annotations("yolo", input_dir=root)
    taken = {"images/train/a.png": "images/train/a.png", "again-1/images/train/a.png": "images/train/a.png"}
    sample = tmp_path / "tree-sample"
    for rel, key in taken.items():
        (sample / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / key, sample / rel)
    assert _labels.sample_annotations(tree, str(root), taken, sample, tmp_path / "y") == "yolo"
    again = open_annotations("yolo", input_dir=sample)
    assert _labels_of(again, "again-1/images/train/a.png", (96, 64)) == _labels_of(tree, "images/train/a.png",
                                                                                   (96, 64))
    assert (sample / "data.yaml").is_file()

    inputs = root / "images/train"
    voc = tmp_path / "voc"
    voc.mkdir()
    boxes = tree.image("images/train/a.png").labels((96, 64))
    (voc / "a.xml").write_bytes(write_voc(boxes, "a.png", {0: "cat", 1: "dog"}))
    line = {"bbox": {"image_size": [{"width": 96, "height": 64, "depth": 3}],
                     "annotations": [{"class_id": 0, "left": 10, "top": 8, "width": 40, "height": 30}]},
            "bbox-metadata": {"class-map": {"0": "box"}, "type": "groundtruth/object-detection"}}
    gt = tmp_path / "in.manifest"
    gt.write_text(json.dumps({"source-ref": f"{inputs.resolve()}/a.png", **line}) + "\n")
    taken = {"a.png": "a.png", "again-1/a.png": "a.png"}
    flat = tmp_path / "flat"
    for rel, key in taken.items():
        (flat / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(inputs / key, flat / rel)
    for where in (voc, gt):
        index = open_annotations(where, input_dir=inputs)
        made = _labels.sample_annotations(index, str(inputs), taken, flat, tmp_path / f"out-{index.format}")
        mine = open_annotations(made, format=index.format, input_dir=flat)
        for rel in taken:
            assert _labels_of(mine, rel, (96, 64)) == _labels_of(index, "a.png", (96, 64)), (index.format, rel)


def _upload(root, bucket: str, prefix: str) -> str:
    import boto3

    s3 = boto3.client("s3")
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"{prefix}{path.relative_to(root).as_posix()}")
    return f"s3://{bucket}/{prefix}"


def test_a_plan_of_a_yolo_tree_on_s3_reads_its_yaml_and_counts_its_label_files_from_the_listing(
        tmp_path, bucket, capsys):
    root = half_labelled_tree(tmp_path / "tree")
    (root / "labels/train/stray.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # a label file no image has: a problem
    where = _upload(root, bucket, "tree/")
    local = plan.estimate("light", root, annotations="yolo", **ONE).assumptions
    got = plan.estimate("light", where, annotations="yolo", **ONE).assumptions
    assert got["images"] == local["images"] == 2, "the tree's label files and YAML are not inputs"
    assert "3 the annotations' own files" in got["images_source"]
    labels = got["labels"]
    assert (labels["format"], labels["categories"], labels["unlabelled_inputs"]) == ("yolo", 2, 0)
    assert labels["problems_counted"] is False and local["labels"]["problems_counted"] is True
    assert local["labels"]["problems_by_reason"] == {"no_image": 1}, "the local tree's label files are read"
    own = sum((root / rel).stat().st_size for rel in ("labels/train/a.txt", "labels/train/stray.txt"))
    assert labels["bytes_per_output"] == pytest.approx(own / 2, abs=0.1), "counted from the listing, not downloaded"
    assert main(["plan", "--spec", "light", "--input", where, "--annotations", "yolo", "--prices", "offline"]) == 0
    printed = capsys.readouterr().out
    assert "labels: yolo (yolo), 2 categories, 0 annotation problems in its YAML; its label files' problems not " \
           "counted (they are on S3" in printed
    # a prefix without its trailing '/' is the same tree (its keys are named from the bucket's root then)
    assert plan.estimate("light", where.rstrip("/"), annotations="yolo", **ONE).assumptions["images"] == 2
    # a tree with no dataset YAML: classes by number, as a job reads it
    boto = __import__("boto3").client("s3")
    boto.delete_object(Bucket=bucket, Key="tree/data.yaml")
    assert plan.estimate("light", where, annotations="yolo", **ONE).assumptions["labels"]["categories"] == 0
    with pytest.raises(UsageError, match=r"^input=s3://no-such-bucket-for-a-tree/tree/: there is no bucket"):
        plan.estimate("light", "s3://no-such-bucket-for-a-tree/tree/", annotations="yolo", **ONE)


def test_a_calibration_on_a_yolo_tree_on_s3_times_its_images_with_their_labels(tmp_path, bucket):
    root = half_labelled_tree(tmp_path / "tree")
    where = _upload(root, bucket, "tree/")
    result = plan.calibrate("light", input=where, images=4, workers=1, annotations="yolo")
    assert result.labels == "yolo" and result.label_bytes_per_output > 0, "a.png's objects were carried"
