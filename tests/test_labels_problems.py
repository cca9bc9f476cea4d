"""Bad annotations lose nothing silently, in every format (#28 item 8): a malformed YOLO line (file:line), a VOC
file that is not XML or a bad object in one (file, object N), a Ground Truth box (manifest:line, annotation N)
are each named in the records of the image whose labels lost them, listed in the job's problems and counted in
its summary, as COCO's are (tests/test_labels_job.py)."""

from __future__ import annotations

import json

import PIL.Image

from augment.engine import run_job

IDENTITY = {"version": 1, "ops": []}


def records(out):
    lines = (out / "_augment/manifest-local.jsonl").read_text().splitlines()
    return {r["source"]: r for r in map(json.loads, lines)}


def listed(out):
    return [json.loads(line) for line in (out / "_augment/label-problems-local.jsonl").read_text().splitlines()]


def images(folder, *rels, size=(80, 60)):
    for rel in rels:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        PIL.Image.new("RGB", size, (90, 120, 30)).save(folder / rel)


def test_a_malformed_yolo_line_is_named_on_its_images_records(tmp_path):
    root = tmp_path / "tree"
    images(root, "images/train/a.png", "images/train/b.png")
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("0 0.25 0.33 0.25 0.5\n1 0.5 0.5\n1 0.5 0.5 0.2 nan\n")
    (root / "labels/train/b.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    out = tmp_path / "out"
    summary = run_job(IDENTITY, root, out, workers=1, annotations="yolo", progress="off")
    a, b = records(out)["images/train/a.png"], records(out)["images/train/b.png"]
    assert a["status"] == "ok" and a["labels"]["kept"] == 1
    assert [p.split(":")[:2] for p in a["label_problems"]] == [["labels/train/a.txt", "2"],
                                                               ["labels/train/a.txt", "3"]]
    assert "'1 0.5 0.5'" in a["label_problems"][0] and "NaN" in a["label_problems"][1]
    assert "label_problems" not in b and b["labels"]["kept"] == 1
    assert summary.labels["problems"] == 2
    assert summary.labels["problems_by_reason"] == {"bad_line": 1, "bad_number": 1}
    assert [p["where"] for p in listed(out)] == ["labels/train/a.txt:2", "labels/train/a.txt:3"]
    assert (out / "labels/train/a.png.aug0.txt").read_text() == "0 0.25 0.33 0.25 0.5\n"


def voc(objects, size=(80, 60)):
    body = "".join(f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for name, b in objects)
    return f"<annotation><size><width>{size[0]}</width><height>{size[1]}</height></size>{body}</annotation>"


def test_a_bad_voc_file_or_object_is_named_on_its_images_records(tmp_path):
    inputs, xml = tmp_path / "in", tmp_path / "xml"
    images(inputs, "a.png", "sub/b.png", "c.png")
    (xml / "sub").mkdir(parents=True)
    (xml / "a.xml").write_text("<annotation><object>")  # not XML: a.png is read with no objects
    (xml / "sub/b.xml").write_text(voc([("dog", (1, 1, 40, 30)), ("dog", (5, 5, 3, 8)), ("", (1, 1, 9, 9))]))
    (xml / "c.xml").write_text(voc([("cat", (11, 11, 20, 20))]))
    out = tmp_path / "out"
    summary = run_job(IDENTITY, inputs, out, workers=1, annotations=str(xml), progress="off")
    found = records(out)
    a, b, c = found["a.png"], found["sub/b.png"], found["c.png"]
    assert a["status"] == "ok" and a["labels"]["kept"] == 0
    assert len(a["label_problems"]) == 1 and a["label_problems"][0].startswith("a.xml: not XML")
    assert b["labels"]["kept"] == 1
    assert [p.split(":")[0] for p in b["label_problems"]] == ["sub/b.xml, object 2", "sub/b.xml, object 3"]
    assert "label_problems" not in c and c["labels"]["kept"] == 1
    assert summary.labels["problems"] == 3
    assert summary.labels["problems_by_reason"] == {"bad_box": 1, "bad_object": 1, "bad_xml": 1}
    assert {p["where"] for p in listed(out)} == {"a.xml", "sub/b.xml, object 2", "sub/b.xml, object 3"}


def test_a_bad_ground_truth_box_is_named_on_its_images_records(tmp_path):
    inputs = tmp_path / "in"
    images(inputs, "a.png", "b.png")
    root = inputs.resolve().as_posix()

    def line(name, annotations):
        return json.dumps({"source-ref": f"{root}/{name}",
                           "bb": {"image_size": [{"width": 80, "height": 60, "depth": 3}], "annotations": annotations},
                           "bb-metadata": {"class-map": {"0": "cat"}, "type": "groundtruth/object-detection"}})

    good = {"class_id": 0, "left": 10, "top": 10, "width": 20, "height": 20}
    manifest = tmp_path / "gt.manifest"
    manifest.write_text(line("a.png", [good, {**good, "class_id": 7}]) + "\n" + line("b.png", [good]) + "\n")
    out = tmp_path / "out"
    summary = run_job(IDENTITY, inputs, out, workers=1, annotations=str(manifest), progress="off")
    a, b = records(out)["a.png"], records(out)["b.png"]
    assert a["labels"]["kept"] == 1
    assert a["label_problems"] == ["gt.manifest:1, annotation 2: class_id 7 is not in the class-map"]
    assert "label_problems" not in b
    assert summary.labels["problems_by_reason"] == {"unknown_category": 1}
