"""What labels add to a job's time: the same job with and without ``annotations=``, in one run.

    python benchmarks/labels.py [--images 300] [--boxes 20] [--polygons 0] [--specs light crop]
                                [--rounds 5] [--workers 1] [--json FILE]

(``make bench`` runs this after ``bench.py``.) The corpus is ``bench.py``'s (ImageNet-sized
JPEGs cut from the bundled photos, the same on every run) with a COCO instances file made
for it: ``--boxes`` boxes per image (20 by default: the issue's "about 20"), each of
deterministic place, size and category, the first ``--polygons`` of each image with a
polygon segmentation (0 by default: the headline is boxes). Each spec runs as a job,
:func:`augment.engine.run_job` in this process (workers forked, as ``augment process``
forks them), once unlabelled and once with ``annotations=`` the COCO file, round after
round, the two taking turns (which goes first alternates), on the same inputs into fresh
output folders. A job is timed from the call to its return, so opening the annotations
and merging the outputs' labels into ``annotations.json`` count, as they do in a job; so
does the CPU time of the job's process and its workers, the steadier figure on a shared
machine.

Specs: ``light`` is the preset (RandomResizedCrop to 224, a flip, a colour jitter; two
copies); ``crop`` is ``bench.py``'s crop pipeline (RandomResizedCrop, a flip, ColorJitter,
RandomRotation: rotation moves every box), one copy; ``detect`` is a detection training set's
offline augmentation (RandomResizedCrop to 640, YOLO's and DETR's input size, of at least half
the image, a flip, a colour jitter; two copies).

The figure is the ratio labelled / unlabelled, of the best round of each (a shared
machine's slow spell costs a round, not the ratio), with the median of the rounds' own
ratios beside it; the goal (issue #28) is at most :data:`GOAL`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

GOAL = 1.10
"""Labels may add at most 10% to a job's time."""

SPECS: dict[str, Any] = {
    "light": "light",
    "crop": {"version": 1, "seed": 0, "copies": 1, "output": {"format": "jpeg", "quality": bench.QUALITY},
             "ops": [{"RandomResizedCrop": {"size": 224}}, {"RandomHorizontalFlip": {"p": 0.5}},
                     {"ColorJitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}},
                     {"RandomRotation": {"degrees": 15}}]},
    "detect": {"version": 1, "seed": 0, "copies": 2, "output": {"format": "jpeg", "quality": bench.QUALITY},
               "ops": [{"RandomResizedCrop": {"size": 640, "scale": [0.5, 1.0]}}, {"RandomHorizontalFlip": {"p": 0.5}},
                       {"ColorJitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4}}]},
}
CATEGORIES = ("person", "car", "dog", "cup", "bird")


def make_coco(paths: list[Path], root: Path, boxes: int, polygons: int = 0, seed: int = 0) -> dict[str, Any]:
    """A COCO instances document for the images ``paths`` (named relative to ``root``):
    ``boxes`` boxes per image, each 5-50% of the image's sides, placed with a fixed seed;
    the first ``polygons`` of each image also with an octagon inscribed in its box."""
    import PIL.Image

    rng = random.Random(seed)
    images, annotations = [], []
    for image_id, path in enumerate(paths, start=1):
        with PIL.Image.open(path) as img:
            width, height = img.size
        images.append({"id": image_id, "file_name": path.relative_to(root).as_posix(), "width": width,
                       "height": height})
        for k in range(boxes):
            w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.5) * height
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            ann: dict[str, Any] = {"id": len(annotations) + 1, "image_id": image_id,
                                   "category_id": rng.randrange(len(CATEGORIES)) + 1,
                                   "bbox": [round(v, 2) for v in (x, y, w, h)], "area": round(w * h, 2),
                                   "iscrowd": 0}
            if k < polygons:
                ann["segmentation"] = [_octagon(x, y, w, h)]
            annotations.append(ann)
    categories = [{"id": i, "name": name, "supercategory": "thing"} for i, name in enumerate(CATEGORIES, start=1)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _octagon(x: float, y: float, w: float, h: float) -> list[float]:
    cx, cy, a, b = x + w / 2, y + h / 2, w / 2, h / 2
    points = [(cx - a / 2, y), (cx + a / 2, y), (x + w, cy - b / 2), (x + w, cy + b / 2), (cx + a / 2, y + h),
              (cx - a / 2, y + h), (x, cy + b / 2), (x, cy - b / 2)]
    return [round(v, 2) for p in points for v in p]


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (the job's workers), user and system."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _job(spec: Any, corpus: Path, out: Path, workers: int, annotations: Path | None) -> tuple[float, float]:
    """(seconds from the call to its return, CPU seconds of the job and its workers) of one job."""
    from augment.engine import run_job
    from augment.logs import Log

    start, cpu = time.perf_counter(), _cpu()
    summary = run_job(spec, corpus, out, workers=workers, progress="off", log=Log(stream=io.StringIO()),
                      start_method="fork", annotations=annotations)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    if summary.status != "completed" or summary.failed_records:
        raise RuntimeError(f"the {'labelled' if annotations else 'unlabelled'} job did not complete: "
                           f"{summary.status}, {summary.failed_records} failed")
    return seconds, cpu


def run(n_images: int, boxes: int, polygons: int, specs: list[str], rounds: int, workers: int,
        workdir: Path) -> dict[str, Any]:
    """Time every spec with and without labels, ``rounds`` times each, taking turns."""
    corpus = workdir / "corpus"
    paths = bench.make_corpus(corpus, n_images)
    coco = workdir / "instances.json"
    coco.write_text(json.dumps(make_coco(paths, corpus, boxes, polygons)))
    rows = []
    for name in specs:
        timings: dict[str, list[tuple[float, float]]] = {"unlabelled": [], "labelled": []}
        _job(SPECS[name], corpus, workdir / "warm-up", workers, coco)  # imports, first-call costs
        shutil.rmtree(workdir / "warm-up")
        for r in range(rounds):
            order = ["unlabelled", "labelled"] if r % 2 == 0 else ["labelled", "unlabelled"]
            for kind in order:
                out = workdir / f"out-{name}-{kind}"
                timings[kind].append(_job(SPECS[name], corpus, out, workers, coco if kind == "labelled" else None))
                shutil.rmtree(out)
        rows.append(_row(name, timings, n_images, boxes, polygons, workers))
    return {"images": n_images, "boxes_per_image": boxes, "polygons_per_image": polygons, "rounds": rounds,
            "workers": workers, "goal": GOAL,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "versions": bench._versions(), "rows": rows}


def _row(spec: str, timings: dict[str, list[tuple[float, float]]], images: int, boxes: int, polygons: int,
         workers: int) -> dict[str, Any]:
    """One spec's figures: best seconds of each kind, their ratio, the rounds' own ratios,
    and the same by CPU time (steadier than the wall clock where other work shares the machine)."""
    plain, labelled = timings["unlabelled"], timings["labelled"]
    per_round = [lab[0] / un[0] for un, lab in zip(plain, labelled, strict=True)]
    best_plain, best_labelled = min(t[0] for t in plain), min(t[0] for t in labelled)
    cpu_plain, cpu_labelled = min(t[1] for t in plain), min(t[1] for t in labelled)
    return {"spec": spec, "images": images, "boxes_per_image": boxes, "polygons_per_image": polygons,
            "workers": workers, "unlabelled_s": round(best_plain, 4), "labelled_s": round(best_labelled, 4),
            "ratio": round(best_labelled / best_plain, 3), "median_round_ratio": round(statistics.median(per_round), 3),
            "unlabelled_cpu_s": round(cpu_plain, 4), "labelled_cpu_s": round(cpu_labelled, 4),
            "cpu_ratio": round(cpu_labelled / max(cpu_plain, 1e-9), 3),
            "rounds_s": {"unlabelled": [round(t[0], 4) for t in plain], "labelled": [round(t[0], 4) for t in labelled]},
            "rounds_cpu_s": {"unlabelled": [round(t[1], 4) for t in plain],
                             "labelled": [round(t[1], 4) for t in labelled]},
            "met": best_labelled / best_plain <= GOAL}


def table(result: dict[str, Any]) -> str:
    """The results as one Markdown table."""
    lines = ["| spec | images | boxes/image | workers | unlabelled (s) | labelled (s) | × unlabelled | "
             "median of rounds | × unlabelled, CPU | goal ≤ 1.10 |", "|" + " --- |" * 10]
    for r in result["rows"]:
        lines.append(f"| {r['spec']} | {r['images']} | {r['boxes_per_image']} | {r['workers']} | "
                     f"{r['unlabelled_s']:.3f} | {r['labelled_s']:.3f} | {r['ratio']:.2f} | "
                     f"{r['median_round_ratio']:.2f} | {r['cpu_ratio']:.2f} | {'met' if r['met'] else 'not met'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300, help="corpus size (default 300)")
    parser.add_argument("--boxes", type=int, default=20, help="boxes per image (default 20)")
    parser.add_argument("--polygons", type=int, default=0,
                        help="of those, how many have a polygon segmentation (default 0)")
    parser.add_argument("--specs", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each job, taking turns (default 5)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per job (default 1)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--workdir", default=None, help="where the corpus and outputs go (default: a temporary "
                                                        "folder in /dev/shm where there is one)")
    args = parser.parse_args(argv)
    for name, value in (("--images", args.images), ("--rounds", args.rounds), ("--workers", args.workers)):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    if not 0 <= args.polygons <= args.boxes:
        parser.error(f"--polygons must be between 0 and --boxes ({args.boxes}), got {args.polygons}")
    result = bench.in_workdir(args.workdir, "augment-labels-",
                              lambda workdir: run(args.images, args.boxes, args.polygons, args.specs, args.rounds,
                                                  args.workers, workdir))
    bench.report(table(result), result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
