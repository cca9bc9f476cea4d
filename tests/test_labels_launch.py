"""A labelled launch ends with the job's label files in every mode (#28 item 5): a sharded
job's hosts' parts merged by launch(), a set of batches' files merged by run_batched and
Prefetch (each batch keeping its own), all equal to what one standalone job writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment import samples
from augment.engine import run_job
from augment.jobs import LocalBackend, Prefetch, launch, run_batched
from augment.jobs.labels import merge_batches
from tests.labels_helpers import yolo_tree

pytestmark = pytest.mark.slow

ANNOTATIONS = str(samples.annotations_path())
SPEC = {"version": 1, "seed": 3, "copies": 1,
        "ops": [{"RandomResizedCrop": {"size": [96, 96], "scale": [0.4, 1.0]}}, "RandomHorizontalFlip"]}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("spec") / "crop.yaml"
    path.write_text(json.dumps(SPEC))
    return str(path)


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> bytes:
    """The annotations.json one standalone job writes for every sample."""
    out = tmp_path_factory.mktemp("alone") / "out"
    run_job(SPEC, samples.samples_dir(), out, workers=1, annotations=ANNOTATIONS, progress="off")
    return (out / "annotations.json").read_bytes()


def _unprefixed(doc: dict) -> dict:
    """The merged document with each file_name as the batch's own file names it (its batch folder cut)."""
    return {**doc, "images": [{**i, "file_name": i["file_name"].split("/", 1)[1]} for i in doc["images"]]}


def _check_batches(out: Path, batches: list, alone: bytes) -> bytes:
    """Each batch has its own file naming its outputs; the merged one names every output from
    the output folder, and is the standalone job's file but for those names."""
    merged = (out / "annotations.json").read_bytes()
    doc = json.loads(merged)
    for b in batches:
        own = json.loads((Path(b.output_uri) / "annotations.json").read_text())
        mine = [i["file_name"] for i in doc["images"] if i["file_name"].startswith(f"batch-{b.index:05d}/")]
        assert [i["file_name"] for i in own["images"]] == [name.split("/", 1)[1] for name in mine]
    assert all((out / i["file_name"]).is_file() for i in doc["images"]), "each entry names its output from out/"
    from augment.labels.coco import dump_coco

    # batches are cut from the sorted inputs, so the order, the ids and every other byte agree
    assert dump_coco(_unprefixed(doc)) == alone
    return merged


def test_a_batched_job_merges_its_batches_labels_into_one_file_and_keeps_each_batchs(spec, alone, tmp_path):
    out = tmp_path / "out"
    report = run_batched(LocalBackend(), spec, str(samples.samples_dir()), str(out), batch_size=3, workers=1,
                         annotations=ANNOTATIONS, poll=0.1, progress="off", retries=0)
    assert len(report.batches) == 3 and not report.failed
    assert report.labels == ["annotations.json"] and report.to_dict()["labels"] == ["annotations.json"]
    _check_batches(out, report.batches, alone)


def test_prefetch_merges_its_batches_labels_once_the_last_is_yielded(spec, alone, tmp_path):
    out = tmp_path / "out"
    prefetch = Prefetch(LocalBackend(), spec, str(samples.samples_dir()), str(out), batch_size=3, ahead=2,
                        poll=0.1, workers=1, annotations=ANNOTATIONS)
    for batch in prefetch:
        assert (Path(batch.output_uri) / "annotations.json").is_file(), "each batch's own, as it is yielded"
        assert not (out / "annotations.json").exists(), "merged once every batch is done"
    assert prefetch.labels == ["annotations.json"]
    _check_batches(out, prefetch.batches, alone)


def test_launch_of_a_sharded_job_leaves_the_merged_file(spec, alone, tmp_path):
    out = tmp_path / "out"
    job = launch(LocalBackend(), spec, str(samples.samples_dir()), str(out), mode="sharded", instance_count=2,
                 workers=1, annotations=ANNOTATIONS)
    job.wait(timeout=600)
    parts = sorted(p.name for p in (out / "_augment").glob("labels-*.json"))
    assert parts == ["labels-algo-1.json", "labels-algo-2.json"]
    assert job.labels == ["annotations.json"]
    assert (out / "annotations.json").read_bytes() == alone, "the bytes one standalone job writes"
    attached = launch(LocalBackend(), spec, str(samples.samples_dir()), str(tmp_path / "attached"), mode="sharded",
                      instance_count=2, workers=1, annotations=ANNOTATIONS, attached=True)
    assert attached.labels == ["annotations.json"], "merged before launch() returns, the job having ended"
    assert (tmp_path / "attached" / "annotations.json").read_bytes() == alone


def test_a_merge_that_fails_says_the_job_completed_and_how_to_merge(tmp_path):
    from augment.jobs.labels import LabelMergeError, finish_sharded

    meta = tmp_path / "out" / "_augment"
    meta.mkdir(parents=True)
    (meta / "labels-algo-1.json").write_text('{"images":[],"annotations":[],"categories":[{"id":1}]}')
    (meta / "labels-algo-2.json").write_text('{"images":[],"annotations":[],"categories":[{"id":2}]}')

    class Ended:
        name = "j"

        def describe(self):
            return {"ProcessingJobStatus": "Completed"}

        def status(self):
            return "Completed"

    with pytest.raises(LabelMergeError,
                       match=r"job j completed, but .*; wait\(\) tries again, or merge them with .*merge_parts\("):
        finish_sharded(Ended(), str(tmp_path / "out"))


def test_batches_of_a_yolo_tree_give_a_data_yaml_naming_each_batchs_splits(tmp_path):
    """A YOLO tree's batches: the merged data.yaml lists each batch's folder of a split, where
    the batch holds it, so Ultralytics trains on the whole output as it is."""
    from types import SimpleNamespace

    out = tmp_path / "out"
    for n, splits in enumerate((["train"], ["train", "val"], ["val"])):
        batch = out / f"batch-{n:05d}"
        for split in splits:
            (batch / "images" / split).mkdir(parents=True)
            (batch / "images" / split / f"{n}.png.aug0.png").write_bytes(b"x")
        (batch / "data.yaml").write_text("train: images/train\nval: images/val\nnames:\n  0: cat\n")
    batches = [SimpleNamespace(index=n, output_uri=f"{out}/batch-{n:05d}/", status="Completed") for n in range(3)]
    batches.append(SimpleNamespace(index=3, output_uri=f"{out}/batch-00003/", status="Failed"))
    assert merge_batches(str(out), batches) == ["data.yaml"]
    import yaml

    assert yaml.safe_load((out / "data.yaml").read_text()) == {
        "train": ["batch-00000/images/train", "batch-00001/images/train"],
        "val": ["batch-00001/images/val", "batch-00002/images/val"], "names": {0: "cat"}}


def test_splits_the_batches_do_not_hold_as_folders_are_kept_as_the_input_names_them(tmp_path):
    """A split named by a list file or a path out of the tree is no batch's folder: the merged
    data.yaml keeps it as a standalone job's does, where it became an empty list."""
    from types import SimpleNamespace

    import yaml

    out = tmp_path / "out"
    for n in range(2):
        (out / f"batch-{n:05d}" / "images" / "val").mkdir(parents=True)
        (out / f"batch-{n:05d}" / "images" / "val" / f"{n}.png.aug0.png").write_bytes(b"x")
        (out / f"batch-{n:05d}" / "data.yaml").write_text(
            "train: train.txt\nval: [images/val, ../extra/images]\ntest: ../test/images\nnames: [cat]\n")
    batches = [SimpleNamespace(index=n, output_uri=f"{out}/batch-{n:05d}/", status="Completed") for n in range(2)]
    assert merge_batches(str(out), batches) == ["data.yaml"]
    assert yaml.safe_load((out / "data.yaml").read_text()) == {
        "train": "train.txt", "val": ["batch-00000/images/val", "batch-00001/images/val", "../extra/images"],
        "test": "../test/images", "names": ["cat"]}


def test_batches_ground_truth_manifests_merge_into_one_by_source_ref(tmp_path):
    """Ground Truth's lines name each output in full (source-ref under the batch's output): the set's
    manifest holds every completed batch's lines in the order of those names, a failed batch's left out."""
    from types import SimpleNamespace

    out = tmp_path / "out"
    lines = {0: ["b.jpg.aug0.jpg", "a.jpg.aug0.jpg"], 1: ["c.jpg.aug0.jpg"], 2: ["d.jpg.aug0.jpg"]}
    for n, names in lines.items():
        (out / f"batch-{n:05d}").mkdir(parents=True)
        (out / f"batch-{n:05d}" / "output.manifest").write_text("".join(
            json.dumps({"source-ref": f"s3://b/out/batch-{n:05d}/{name}", "box": [n]}) + "\n" for name in names))
    batches = [SimpleNamespace(index=n, output_uri=f"{out}/batch-{n:05d}/", status=status)
               for n, status in ((0, "Completed"), (1, "Completed"), (2, "Failed"))]
    assert merge_batches(str(out), batches) == ["output.manifest"]
    refs = [json.loads(line)["source-ref"] for line in (out / "output.manifest").read_text().splitlines()]
    assert refs == ["s3://b/out/batch-00000/a.jpg.aug0.jpg", "s3://b/out/batch-00000/b.jpg.aug0.jpg",
                    "s3://b/out/batch-00001/c.jpg.aug0.jpg"]


def _tree(root: Path) -> Path:
    return yolo_tree(root, {"train": ["a", "b"], "val": ["c"]}, "{0: cat}", lambda n: f"0 0.25 0.3 0.25 0.{n + 4}\n")


@pytest.mark.parametrize("filters", [{"include": ["images/**"]}, {"exclude": ["**/*.txt", "*.yaml"]}])
def test_batches_of_a_filtered_yolo_tree_take_its_labels_along(filters, tmp_path):
    """Filters that keep the images alone leave the tree's label files and YAML out of the
    inputs, not out of the batches' manifests (a standalone job reads them from its input)."""
    from augment.jobs.batch import plan_batches
    from augment.spec import load_spec

    _tree(tmp_path / "tree")
    inputs = load_spec({**SPEC, "input": filters}).input
    batches = plan_batches(str(tmp_path / "tree"), str(tmp_path / "out"), 2, inputs, None, "yolo")
    assert [json.loads(Path(b.manifest_uri).read_text())[1:] for b in batches] == [
        ["images/train/a.png", "images/train/b.png", "data.yaml", "labels/train/a.txt", "labels/train/b.txt"],
        ["images/val/c.png", "data.yaml", "labels/val/c.txt"]]


@pytest.mark.parametrize("filters", [None, {"include": ["images/**"]}])
def test_a_batched_yolo_tree_takes_each_images_labels_along_and_writes_what_one_job_does(filters, tmp_path):
    """Each batch's manifest lists its images' label files and the data.yaml (not batches of label files
    that no image goes with), also where the spec's filters keep the images alone: every output's
    label file is the standalone job's, and the merged data.yaml names each batch's split folders."""
    import yaml

    root = tmp_path / "tree"
    _tree(root)
    spec = {**SPEC, "copies": 2, **({"input": filters} if filters else {})}
    run_job(spec, root, tmp_path / "alone", workers=1, annotations="yolo", progress="off")
    out = tmp_path / "out"
    spec_file = tmp_path / "crop.yaml"
    spec_file.write_text(json.dumps(spec))
    report = run_batched(LocalBackend(), str(spec_file), str(root), str(out), batch_size=2, workers=1,
                         annotations="yolo", poll=0.1, progress="off", retries=0)
    assert [b.keys for b in report.batches] == [["images/train/a.png", "images/train/b.png"], ["images/val/c.png"]]
    assert not report.failed and report.labels == ["data.yaml"]
    alone = sorted((tmp_path / "alone" / "labels").rglob("*.txt"))
    assert len(alone) == 6 and any(p.read_text() for p in alone)
    for path in alone:
        rel = path.relative_to(tmp_path / "alone").as_posix()
        batch = "batch-00001" if "/val/" in rel else "batch-00000"
        assert (out / batch / rel).read_bytes() == path.read_bytes(), rel
    assert yaml.safe_load((out / "data.yaml").read_text()) == {
        "train": ["batch-00000/images/train"], "val": ["batch-00001/images/val"], "names": {0: "cat"}}


def test_a_trees_path_key_is_dropped_from_the_batched_data_yaml_so_ultralytics_reads_the_output(tmp_path):
    """Ultralytics resolves a data.yaml's splits under its ``path:`` (the tree where it was
    made); the output's YAML drops it, so the splits resolve beside the YAML, in the output."""
    import yaml

    root = tmp_path / "tree"
    _tree(root)
    (root / "data.yaml").write_text("path: /datasets/elsewhere\ntrain: images/train\nval: images/val\n"
                                    "names: {0: cat}\n")
    spec_file = tmp_path / "crop.yaml"
    spec_file.write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    report = run_batched(LocalBackend(), str(spec_file), str(root), str(out), batch_size=2, workers=1,
                         annotations="yolo", poll=0.1, progress="off", retries=0)
    assert not report.failed and report.labels == ["data.yaml"]
    assert yaml.safe_load((out / "data.yaml").read_text()) == {
        "train": ["batch-00000/images/train"], "val": ["batch-00001/images/val"], "names": {0: "cat"}}
    for batch in ("batch-00000", "batch-00001"):
        assert "path" not in yaml.safe_load((out / batch / "data.yaml").read_text())
