"""The preview's labels (#28 item 6): what it draws is what the job writes beside each
output, on every tile, op by op in the step-through, in the widget and in `augment preview`."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

from augment import preview as pv
from augment.errors import SpecError, UsageError
from augment.images import open_image
from augment.labels.coco import read_coco
from augment.labels.draw import _font, _pixel_box, draw_labels, scale_of
from augment.labels.model import Labels
from augment.pipeline import Pipeline
from augment.samples import annotations_path, list_samples, samples_dir
from augment.spec import load_spec

GEOMETRIC = {
    "version": 1, "seed": 5, "copies": 2,
    "ops": [
        {"RandomResizedCrop": {"size": 160, "scale": [0.3, 1.0]}},
        {"RandomHorizontalFlip": {"p": 0.5}},
        {"RandomRotation": {"degrees": 20}},
        {"RandomVerticalFlip": {"p": 0.3}},
        {"ColorJitter": {"brightness": 0.3}},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def coco():
    return read_coco(annotations_path())


def _pixels(image: PIL.Image.Image) -> bytes:
    return image.convert("RGB").tobytes()


def _same_labels(got: Labels, want: Labels, ids: bool = True) -> None:
    """The same objects (``ids``: with the same ids; a job's COCO file renumbers them)."""
    assert tuple(got.size) == tuple(want.size)
    np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=1e-6)
    assert got.categories.tolist() == want.categories.tolist()
    assert not ids or got.ids.tolist() == want.ids.tolist()
    assert got.marks == want.marks
    for a, b in zip(got.masks or [None] * len(got), want.masks or [None] * len(want), strict=True):
        assert (a is None and b is None) or np.array_equal(a, b)
    for a, b in zip(got.keypoints or [None] * len(got), want.keypoints or [None] * len(want), strict=True):
        assert (a is None and b is None) or np.allclose(a, b, rtol=0, atol=1e-6)


def _job_labels(spec, rel: str, seed: int, index, root=None) -> tuple[PIL.Image.Image, Labels]:
    """An output's pixels and labels from Pipeline.apply_labelled with the spec's rules,
    on the input's bytes as a Source for the spec's copies and the output's seed (an
    input the index does not name has no objects): the pipeline's own, not variant.make's."""
    spec = load_spec(spec)
    source = open_image(((root or samples_dir()) / rel).read_bytes(), outputs=spec.copies)
    entry = index.image(rel)
    labels = entry.labels(source.size) if entry is not None else Labels.empty(source.size)
    out, _records, labels, _counts = Pipeline(spec).apply_labelled(source, seed, labels, spec.annotations.rules())
    return out, labels


# --- the labels are the job's -----------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["light", "defense", GEOMETRIC], ids=["light", "defense", "geometric"])
def test_the_preview_labels_are_the_jobs_and_its_pixels_unchanged(spec, coco):
    plain = pv.render(spec, n=len(list_samples()))
    shown = pv.render(spec, n=len(list_samples()), annotations=annotations_path())
    assert len(shown.items) == len(plain.items) == len(list_samples()) * load_spec(spec).copies
    for item, bare in zip(shown.items, plain.items, strict=True):
        assert _pixels(item.image) == _pixels(bare.image) and item.output_sha256 == bare.output_sha256
        _out, labels = _job_labels(spec, item.rel_path, item.seed, coco)
        _same_labels(item.labels, labels)
        assert tuple(item.labels.size) == item.image.size
        assert item.counts is not None and item.counts.kept == len(item.labels)
    for rel, labels in shown.labels.items():
        _same_labels(labels, coco.image(rel).labels())
    assert not shown.label_errors


@pytest.mark.slow
def test_what_the_preview_draws_is_what_the_job_writes(tmp_path):
    """The job's annotations.json, read back, holds the labels each tile draws on the
    pixels of the output file beside it (coordinates to 1e-6: the job writes 6 decimals;
    masks exactly: it writes them as RLE)."""
    from augment.engine import run_job
    from augment.manifest import read_manifest

    spec = load_spec(GEOMETRIC).replace(format="png")
    shown = pv.render(spec, n=len(list_samples()), annotations=annotations_path())
    out = tmp_path / "out"
    run_job(spec, samples_dir(), out, workers=1, annotations=str(annotations_path()), progress="off")
    written = read_coco(out / "annotations.json")
    assert not written.problems
    records = {(r["source"], r["copy"]): r for r in read_manifest(out / "_augment" / "manifest-local.jsonl")}
    assert len(shown.items) == len(records)
    for item in shown.items:
        name = records[(item.rel_path, item.copy)]["output"]
        with PIL.Image.open(out / name) as file:
            assert _pixels(file) == _pixels(item.image)
        labels = written.image(name).labels(item.image.size)
        _same_labels(item.labels, labels, ids=False)
        assert _pixels(shown.shown(item.image, item.labels)) == _pixels(draw_labels(item.image, labels,
                                                                                    written.categories))


def test_an_open_index_serves_as_well_as_its_path(coco):
    by_path = pv.render("light", paths=["coffee.jpg"], annotations=str(annotations_path()))
    by_index = pv.render("light", paths=["coffee.jpg"], annotations=coco)
    for a, b in zip(by_path.items, by_index.items, strict=True):
        _same_labels(a.labels, b.labels)
    assert by_index.categories == coco.categories


# --- drawn where the labels are, and nowhere else ---------------------------------------------------------


def _allowed(labels: Labels, categories) -> np.ndarray:
    """Where drawing a label may change a pixel: its masks, its box widened by the line
    and the dots, and the caption's tab (above the box, or pushed left at the edge)."""
    width, height = labels.size
    line, font_size = scale_of(labels.size)
    margin = 2 * line + 3
    font = _font(font_size)
    allowed = np.zeros((height, width), bool)
    for i in range(len(labels)):
        x0, y0, x1, y1 = labels.boxes[i]
        name = str(categories.get(int(labels.categories[i]), {}).get("name", int(labels.categories[i])))
        left, top, right, bottom = font.getbbox(name)
        tab_w, tab_h = right - left + 2 * line + 2, bottom - top + 2 * line + 2
        allowed[max(0, int(y0 - tab_h - margin)):int(np.ceil(y1 + margin)),
                max(0, int(min(x0, width - tab_w) - margin)):int(np.ceil(max(x1, x0 + tab_w) + margin))] = True
        if labels.masks is not None and labels.masks[i] is not None:
            allowed |= labels.masks[i]
    return allowed


def _check_drawn(before: PIL.Image.Image, after: PIL.Image.Image, labels: Labels, categories) -> None:
    changed = np.any(np.asarray(before.convert("RGB")) != np.asarray(after.convert("RGB")), axis=-1)
    assert not np.any(changed & ~_allowed(labels, categories)), "a pixel changed away from every label"
    for i in range(len(labels)):
        box = _pixel_box(labels.boxes[i], labels.size)
        assert box is not None, f"object {labels.ids[i]} is kept but covers no pixel"
        x0, y0, _x1, y1 = box
        assert changed[y0:y1 + 1, x0].any(), f"object {labels.ids[i]}: its box's left edge is not drawn"


def test_drawn_tiles_differ_from_undrawn_ones_where_labels_are_and_nowhere_else():
    shown = pv.render(GEOMETRIC, n=len(list_samples()), annotations=annotations_path())
    categories = shown.categories
    for rel, original in shown.originals.items():
        _check_drawn(original, shown.shown(original, shown.labels[rel]), shown.labels[rel], categories)
    for item in shown.items:
        drawn = shown.shown(item.image, item.labels)
        _check_drawn(item.image, drawn, item.labels, categories)
        assert (drawn.tobytes() != item.image.convert("RGB").tobytes()) == (len(item.labels) > 0)
    assert _pixels(shown.grid(labels=True)) != _pixels(shown.grid(labels=False))


def test_a_kept_box_thinner_than_a_pixel_is_drawn_on_the_pixel_it_lies_in():
    """What a crop leaves of an object at the image's edge is kept (wider than MIN_SIDE):
    the tile must show it."""
    image = PIL.Image.new("RGB", (40, 30), (128, 128, 128))
    for box, column in (((0.0, 2.0, 0.1, 20.0), 0), ((17.2, 2.0, 17.4, 20.0), 17), ((39.7, 2.0, 40.0, 20.0), 39)):
        out = draw_labels(image, Labels((40, 30), [box], [1], [1]), {1: {"name": "x"}})
        changed = np.any(np.asarray(out) != np.asarray(image), axis=-1)
        assert changed[2:20, column].all(), box


def test_the_grid_draws_labels_at_full_size_before_shrinking_the_tile():
    shown = pv.render("light", paths=["astronaut.jpg"], copies=1, annotations=annotations_path())
    item = shown.items[0]
    grid = shown.grid(max_side=item.image.width, labels=True)  # no shrinking: the tile is the drawn image
    x, y = 6 + (item.image.width + 6), 6
    tile = grid.crop((x, y, x + item.image.width, y + item.image.height))
    assert tile.tobytes() == shown.shown(item.image, item.labels).tobytes()


def test_labels_that_do_not_fit_their_image_fail_its_copies_as_in_the_job(coco):
    data = json.loads(annotations_path().read_text())
    for image in data["images"]:
        if image["file_name"] == "chelsea.jpg":
            image["width"], image["height"] = image["width"] * 2, image["height"] * 2
    shown = pv.render("light", paths=["chelsea.jpg", "coffee.jpg"], annotations=read_coco(data))
    assert "902x600" in shown.label_errors["chelsea.jpg"] and "coffee.jpg" not in shown.label_errors
    # as the job: no copy of it is written without its objects (bad_labels); its original shows, unlabelled
    assert [i.reason for i in shown.items if i.rel_path == "chelsea.jpg"] == ["bad_labels"] * 2
    assert shown.originals["chelsea.jpg"] is not None and shown.labels["chelsea.jpg"] is None
    assert all(i.labels is not None for i in shown.items if i.rel_path == "coffee.jpg")
    shown.grid()


def test_an_input_the_annotations_do_not_name_has_no_labels(coco, tmp_path):
    data = json.loads(annotations_path().read_text())
    data["images"] = [i for i in data["images"] if i["file_name"] != "rocket.jpg"]
    ids = {i["id"] for i in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    shown = pv.render("light", paths=["rocket.jpg"], annotations=read_coco(data))
    assert len(shown.labels["rocket.jpg"]) == 0 and not shown.label_errors
    assert all(len(i.labels) == 0 and i.counts.kept == 0 for i in shown.items)


def test_a_yolo_tree_previews_its_images_with_their_labels_and_never_its_label_files(tmp_path):
    """annotations='yolo': the tree is the source; its labels/ and data.yaml are the job's
    excluded files, not inputs, and each image shows the labels its .txt gives."""
    for rel in ("images/train/chelsea.jpg", "images/val/coffee.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((samples_dir() / rel.rsplit("/", 1)[1]).read_bytes())
    (tmp_path / "labels/train").mkdir(parents=True)
    (tmp_path / "labels/train/chelsea.txt").write_text("0 0.5 0.5 0.4 0.6\n1 0.3 0.3 0.1 0.1\n")
    (tmp_path / "data.yaml").write_text("names: [cat, eye]\n")
    shown = pv.render("light", tmp_path, n=10, annotations="yolo")
    assert list(shown.originals) == ["images/train/chelsea.jpg", "images/val/coffee.jpg"]
    assert {e["source"] for e in shown.excluded} == {"labels/train/chelsea.txt", "data.yaml"}
    assert len(shown.labels["images/train/chelsea.jpg"]) == 2 and len(shown.labels["images/val/coffee.jpg"]) == 0
    assert shown.categories[0]["name"] == "cat"
    for item in shown.items:
        _same_labels(item.labels, _job_labels("light", item.rel_path, item.seed, shown.annotations,
                                              tmp_path)[1])
    with pytest.raises(UsageError, match=r"data\.yaml is not an input of the job: it is a file of the annotations"):
        pv.render("light", tmp_path, paths=["data.yaml"], annotations="yolo")


def test_a_spec_that_cannot_carry_labels_is_refused_naming_the_op():
    with pytest.raises(SpecError, match=r"ops\[2\]\.RandomChoice\.ops\[0\]\.TrivialAugmentWide: cannot carry labels"):
        pv.render("strong", n=1, annotations=annotations_path())
    pv.render("strong", n=1)  # without annotations it previews as ever


# --- op by op --------------------------------------------------------------------------------------------


def test_step_labels_are_the_labels_of_the_spec_cut_after_each_op(coco):
    spec = load_spec(GEOMETRIC)
    for rel in ("astronaut.jpg", "chelsea.jpg"):
        data = (samples_dir() / rel).read_bytes()
        labels = coco.image(rel).labels()
        seed = 12345
        pipeline = Pipeline(spec)
        steps, after = [], []
        out, records, final, _counts = pipeline.apply_labelled(open_image(data, outputs=2), seed, labels,
                                                               steps=steps, step_labels=after)
        plain, plain_records = Pipeline(spec).apply(open_image(data, outputs=2), seed)
        assert _pixels(out) == _pixels(plain) and records == plain_records
        assert len(after) == len(steps) == len(spec.ops)
        _same_labels(after[-1], final)
        for k in range(len(spec.ops)):
            cut = spec.replace(ops=list(spec.ops[:k + 1]))
            _out, _records, want, _counts = Pipeline(cut).apply_labelled(open_image(data, outputs=2), seed, labels)
            _same_labels(after[k], want)
            assert tuple(after[k].size) == steps[k].size


def test_step_through_shows_one_labelled_image_per_op_ending_on_the_tile():
    shown = pv.render(GEOMETRIC, paths=["astronaut.jpg"], annotations=annotations_path())
    for index in range(len(shown.items)):
        item = shown.items[index]
        raw = pv.labelled_steps(shown, index)
        drawn = pv.step_through(shown, index)
        bare = pv.step_through(shown, index, labels=False)
        assert len(raw) == len(drawn) == len(bare) == len(GEOMETRIC["ops"]) + 2
        assert all(labels is not None and tuple(labels.size) == image.size for _t, image, _r, labels in raw)
        _same_labels(raw[0][3], shown.labels["astronaut.jpg"])
        _same_labels(raw[-1][3], item.labels)
        _same_labels(raw[-2][3], item.labels)  # the last op's labels are the output's
        for (_t, image, _r, labels), (_t2, on, _r2) in zip(raw, drawn, strict=True):
            _check_drawn(image, on, labels, shown.categories)
            assert _pixels(on) != _pixels(image)
        assert _pixels(drawn[-1][1]) == _pixels(shown.shown(item.image, item.labels))
        assert _pixels(bare[-1][1]) == _pixels(item.image)


# --- the widget and the command line --------------------------------------------------------------------


def test_the_widget_draws_labels_and_its_box_hides_them():
    w = pv.Previewer("light", n=2, annotations=annotations_path())
    assert w.show_labels.layout.display != "none"
    with_labels = w.grid.value
    assert with_labels == w.preview.png(w.max_side, labels=True)
    w.show_labels.value = False
    assert w.grid.value == w.preview.png(w.max_side, labels=False) != with_labels
    w.open_steps(1)
    assert [_pixels(s[1]) for s in w.last_steps] == [_pixels(s[1]) for s in pv.step_through(w.preview, 1, False)]
    w.show_labels.value = True
    assert [_pixels(s[1]) for s in w.last_steps] == [_pixels(s[1]) for s in pv.step_through(w.preview, 1)]
    assert w.highlighted == 1 and w.grid.value == w.preview.png(w.max_side, 1, labels=True)
    w.controls["ops[1].RandomHorizontalFlip.p"].value = 1.0  # a re-render keeps the labels
    assert all(i.labels is not None for i in w.preview.items)
    w.source.value = str(samples_dir())  # other images, the same annotations
    assert w.preview.annotations is not None and all(i.labels is not None for i in w.preview.items)


def test_the_widget_without_annotations_hides_the_box():
    w = pv.Previewer("light", n=1)
    assert w.show_labels.layout.display == "none" and w.preview.annotations is None


def test_cli_writes_a_grid_with_labels(tmp_path, monkeypatch, capsys):
    from augment.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["preview", "light", "--paths", "astronaut.jpg", "chelsea.jpg", "--copies", "2", "--out", "g.png",
            "--json", "p.json"]
    assert main([*args, "--annotations", str(annotations_path())]) == 0
    assert "4 labels" in capsys.readouterr().out
    shown = pv.render("light", paths=["astronaut.jpg", "chelsea.jpg"], copies=2, annotations=annotations_path())
    with PIL.Image.open(tmp_path / "g.png") as grid:
        assert _pixels(grid) == _pixels(shown.grid()) != _pixels(shown.grid(labels=False))
    items = json.loads((tmp_path / "p.json").read_text())["items"]
    assert [i["labels"]["kept"] for i in items] == [i.counts.kept for i in shown.items]


@pytest.mark.parametrize(("spec", "args", "message"), [
    ("light", ["--annotations", "/nonexistent/instances.json"],
     "--annotations /nonexistent/instances.json: no such file"),
    ("light", ["--annotations", "/nonexistent/labels", "--annotation-format", "voc"],
     "--annotations /nonexistent/labels"),
    ("strong", ["--annotations", str(annotations_path())],
     "ops[2].RandomChoice.ops[0].TrivialAugmentWide: cannot carry labels"),
])  # fmt: skip
def test_cli_refuses_annotations_it_cannot_use_naming_them(spec, args, message, tmp_path, monkeypatch, capsys):
    from augment.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["preview", spec, *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "preview.png").exists()
