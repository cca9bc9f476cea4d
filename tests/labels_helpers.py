"""What the label tests share: labels run through a pipeline on a blank image, an array
written as PNG bytes, small YOLO trees, and a COCO file with two bad annotations."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import PIL.Image

from augment import samples
from augment.pipeline import Pipeline

IDENTITY = Pipeline({"version": 1, "ops": []})


def through(pipeline, size, labels):
    """``labels`` through ``pipeline`` on a blank image of ``size``: the output's labels."""
    _, _, out, _ = pipeline.apply_labelled(PIL.Image.new("RGB", size), 0, labels)
    return out


def png(array, mode=None):
    out = io.BytesIO()
    PIL.Image.fromarray(array, mode).save(out, format="PNG")
    return out.getvalue()


def _two_lines(n: int) -> str:
    return f"0 0.25 0.3 0.25 0.{n + 4}\n1 0.5 0.5 0.2 0.2\n"


def yolo_tree(root: Path, splits: dict[str, list[str]], names: str = "{0: cat, 1: dog}",
              lines: Callable[[int], str] = _two_lines) -> Path:
    """A YOLO tree under ``root``: per split, an 80x60 PNG per name (its ``n``-th one's colour
    ``(40 n, 90, 30)``) and its label file (``lines(n)``), and a data.yaml naming the splits
    and the classes ``names``."""
    for split, images in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for n, name in enumerate(images):
            PIL.Image.new("RGB", (80, 60), (40 * n, 90, 30)).save(root / "images" / split / f"{name}.png")
            (root / "labels" / split / f"{name}.txt").write_text(lines(n))
    (root / "data.yaml").write_text("".join(f"{split}: images/{split}\n" for split in splits) + f"names: {names}\n")
    return root


def half_labelled_tree(root: Path) -> Path:
    """A YOLO tree: ``images/train/a.png`` with two objects, ``b.png`` without a label file
    (no objects), and its data.yaml."""
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    for name in ("a", "b"):
        PIL.Image.effect_mandelbrot((96, 64), (-2, -1, 1, 1), 60).convert("RGB").save(root / f"images/train/{name}.png")
    (root / "labels/train/a.txt").write_text("0 0.25 0.333333 0.25 0.5\n1 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images/train\nnames: {0: cat, 1: dog}\n")
    return root


def bad_coco(folder: Path) -> Path:
    """The samples' COCO file with two bad annotations (a negative width, an unknown category)."""
    doc = json.loads(samples.annotations_path().read_text())
    doc["annotations"][0]["bbox"] = [1, 1, -5, 3]
    doc["annotations"][1]["category_id"] = 999
    bad = folder / "bad.json"
    bad.write_text(json.dumps(doc))
    return bad
