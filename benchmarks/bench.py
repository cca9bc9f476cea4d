"""Throughput of the kit against its peers, in one run, on one corpus.

    python benchmarks/bench.py [--images 1000] [--workers 1 2] [--pipelines crop full crop-6mp] [--rounds 3]
                               [--json FILE]

(``make bench`` installs the benchmark extras and runs this.)

Every contender decodes each JPEG of a deterministic corpus, augments it, encodes it as
JPEG quality 90 and writes it, with one thread per worker, at each worker count:

* ``io-pil``, ``io-tvio``, ``io-cv2``: decode + encode only; the fastest is the I/O limit;
* ``seed-v1``: the seed's way, PIL + ``torchvision.transforms`` (v1), image by image;
* ``tv2-tensor``: ``torchvision.transforms.v2`` on uint8 tensors;
* ``albumentations``: albumentations 2.0.8 (MIT) with OpenCV I/O;
* ``kit``: ``augment process``, run as a job runs it: the CLI, end to end, on the whole
  corpus and, in the same round, on every fifth image of it. Three rows:

  - ``kit``: the job's throughput once running, what a long job converges to: the
    images the second run did not have over the difference of the two jobs' own
    clocks. The job's fixed cost (forking its workers, about 11 ms each here, their
    first image, their exit) cancels out, as the other contenders' is left out by
    timing a pool already started and warmed up; the row's ``fixed_s`` is that cost.
    (Under ten images, or where the difference is not positive, it falls back to
    the job's own clock: ``method`` says which.)
  - ``kit-job``: by the job's own clock (its summary: from starting the workers to
    their exit after the last record), fixed cost included;
  - ``kit-wall``: by the wall clock of the whole command, interpreter start-up and
    torch import (a fixed 2-3 s) included.

Pipelines: ``crop`` is RandomResizedCrop(224), HorizontalFlip, ColorJitter(0.4, 0.4, 0.4,
0.1) and Rotation(15); ``full`` is the same without the crop; ``crop-6mp`` is ``crop`` on
a second corpus of 6-megapixel photos (3000 x 2000, a tenth as many), as phones and
cameras make them. Every contender runs ``--rounds`` times (default 3), the contenders
taking turns, and keeps its best round, so that a slow spell of a shared machine does
not decide a ratio. The table reports images/s, the ratios to albumentations, to the
seed's way and to the I/O limit, and the peak resident memory per worker. Ratios, not
absolute figures, are what carry over between machines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUALITY = 90
PIPELINES = ("crop", "full", "crop-6mp")
LARGE = (3000, 2000)
"""Size of the ``crop-6mp`` corpus's photos."""
CONTENDERS = ("io-pil", "io-tvio", "io-cv2", "seed-v1", "tv2-tensor", "albumentations", "kit")
"""What ``--contenders`` chooses from; ``kit`` gives the ``kit``, ``kit-job`` and ``kit-wall`` rows."""
SUBSET_EVERY = 5
"""The kit's second run takes every fifth image: its difference to the whole corpus's
run is the throughput without the job's fixed cost."""
IO_CONTENDERS = ("io-pil", "io-tvio", "io-cv2")


def make_corpus(folder: Path, n: int, seed: int = 0, large: bool = False) -> list[Path]:
    """``n`` ImageNet-sized JPEGs (longest side 400-640 px, quality 90) cut from the bundled
    photos with a fixed seed: the same corpus on every run. ``large``: 3000 x 2000
    instead (the cut upscaled, so these photos are smooth; only their size matters)."""
    import random

    import PIL.Image

    from augment.samples import list_samples, samples_dir

    rng = random.Random(seed)
    sources = []
    for name in list_samples():
        with PIL.Image.open(samples_dir() / name) as img:
            sources.append(img.convert("RGB"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        w, h = src.size
        cw, ch = rng.randint(w // 2, w), rng.randint(h // 2, h)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = src.crop((x, y, x + cw, y + ch))
        if large:
            img = crop.resize(LARGE, PIL.Image.Resampling.BICUBIC)
        else:
            side = rng.randint(400, 640)
            scale = side / max(crop.size)
            img = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
                              PIL.Image.Resampling.BICUBIC)
        path = folder / f"img-{i:05d}.jpg"
        img.save(path, "JPEG", quality=QUALITY)
        paths.append(path)
    return paths


# --- per-image work of each in-process contender --------------------------------------------


def _torchvision_pipeline(module: Any, crop: bool) -> Any:
    """The benchmark pipeline from ``torchvision.transforms`` (v1) or ``.v2``: same names, same order."""
    ops = [module.RandomHorizontalFlip(), module.ColorJitter(0.4, 0.4, 0.4, 0.1), module.RandomRotation(15)]
    if crop:
        ops.insert(0, module.RandomResizedCrop(224))
    return module.Compose(ops)


def _setup(name: str, pipeline: str) -> Callable[[Path, Path], None]:
    """Build one contender's per-image function (runs once per worker)."""
    crop = pipeline != "full"
    if name == "io-pil":
        import PIL.Image

        def run(src: Path, dst: Path) -> None:
            with PIL.Image.open(src) as img:
                img.convert("RGB").save(dst, "JPEG", quality=QUALITY)

        return run
    if name == "io-tvio":
        from torchvision.io import decode_jpeg, encode_jpeg, read_file, write_file

        return lambda src, dst: write_file(str(dst), encode_jpeg(decode_jpeg(read_file(str(src))), quality=QUALITY))
    if name in ("io-cv2", "albumentations"):
        import cv2

        cv2.setNumThreads(1)
        params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY]
        if name == "io-cv2":
            return lambda src, dst: cv2.imwrite(str(dst), cv2.imread(str(src)), params)
        import albumentations as A

        ops = [A.HorizontalFlip(p=0.5), A.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0), A.Rotate(limit=15, p=1.0)]
        if crop:
            ops.insert(0, A.RandomResizedCrop(size=(224, 224), p=1.0))
        compose = A.Compose(ops)

        def run(src: Path, dst: Path) -> None:
            img = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB)
            out = compose(image=img)["image"]
            cv2.imwrite(str(dst), cv2.cvtColor(out, cv2.COLOR_RGB2BGR), params)

        return run
    if name == "seed-v1":
        import PIL.Image
        from torchvision import transforms as T

        compose = _torchvision_pipeline(T, crop)

        def run(src: Path, dst: Path) -> None:
            with PIL.Image.open(src) as img:
                compose(img.convert("RGB")).save(dst, "JPEG", quality=QUALITY)

        return run
    if name == "tv2-tensor":
        from torchvision.io import decode_jpeg, encode_jpeg, read_file, write_file
        from torchvision.transforms import v2

        compose = _torchvision_pipeline(v2, crop)
        return lambda src, dst: write_file(str(dst), encode_jpeg(compose(decode_jpeg(read_file(str(src)))),
                                                                 quality=QUALITY))
    raise ValueError(name)


_RUN: Callable[[Path, Path], None] | None = None


def _init(name: str, pipeline: str) -> None:
    global _RUN
    import torch

    torch.set_num_threads(1)
    _RUN = _setup(name, pipeline)


def _work(job: tuple[Path, Path]) -> float:
    assert _RUN is not None
    _RUN(*job)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_pool(name: str, pipeline: str, paths: list[Path], out: Path, workers: int) -> tuple[float, float]:
    """(seconds, peak RSS MiB per worker) of one in-process contender."""
    out.mkdir(parents=True)
    jobs = [(p, out / p.name) for p in paths]
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(workers, initializer=_init, initargs=(name, pipeline)) as pool:
        pool.map(_work, jobs[: workers * 2], chunksize=1)  # warm up every worker before the clock starts
        start = time.perf_counter()
        rss = pool.map(_work, jobs, chunksize=8)
        seconds = time.perf_counter() - start
    return seconds, max(rss)


def _run_kit(pipeline: str, corpus: Path, out: Path, workers: int) -> tuple[float, float, float]:
    """(wall seconds of the CLI, peak RSS MiB per worker, seconds by the job's own clock)."""
    spec = {"version": 1, "seed": 0, "copies": 1, "output": {"format": "jpeg", "quality": QUALITY},
            "ops": [{"RandomHorizontalFlip": {"p": 0.5}},
                    {"ColorJitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}},
                    {"RandomRotation": {"degrees": 15}}]}
    if pipeline != "full":
        spec["ops"].insert(0, {"RandomResizedCrop": {"size": 224}})
    spec_path = out.parent / f"kit-{pipeline}-{workers}.json"
    spec_path.write_text(json.dumps(spec))
    augment = Path(sys.executable).with_name("augment")
    start = time.perf_counter()
    subprocess.run([str(augment), "process", "--spec", str(spec_path), "--input-dir", str(corpus), "--output-dir",
                    str(out), "--workers", str(workers), "--progress", "off"], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    return seconds, summary["peak_worker_rss_mb"], max(summary["seconds"], 0.001)  # it is rounded to ms


def available(name: str) -> bool:
    if name in ("io-cv2", "albumentations"):
        try:
            import cv2  # noqa: F401

            if name == "albumentations":
                import albumentations  # noqa: F401
        except ImportError:
            return False
    return True


def run(n_images: int, workers: list[int], pipelines: list[str], contenders: list[str],
        workdir: Path, rounds: int = 1) -> dict[str, Any]:
    """Run every contender on the corpora; return the results with their ratios.

    With ``rounds`` > 1 every contender runs that many times, the contenders taking
    turns (each round in another order), and each row keeps its best round: a slow
    spell of the machine then costs one round of one contender, not its ratio. Every
    round's images/s is kept in the row (``rounds_images_per_s``)."""
    corpora: dict[bool, tuple[Path, list[Path]]] = {}
    subsets: dict[bool, Path] = {}
    rows: list[dict[str, Any]] = []
    for pipeline in pipelines:
        large = pipeline == "crop-6mp"
        if large not in corpora:
            folder = workdir / ("corpus-6mp" if large else "corpus")
            corpora[large] = folder, make_corpus(folder, max(1, n_images // 10) if large else n_images, large=large)
            subsets[large] = folder.with_name(folder.name + "-subset")
            subsets[large].mkdir()
            for path in corpora[large][1][::SUBSET_EVERY]:  # the same files, not copies
                os.link(path, subsets[large] / path.name)
        corpus, paths = corpora[large]
        for w in workers:
            measured: dict[str, list[dict[str, Any]]] = {}
            kit_runs: list[tuple[float, float]] = []  # the job's seconds on the corpus and on the subset
            for r in range(rounds):
                turn = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
                for name in turn:
                    if not available(name):
                        measured[name] = [{"contender": name, "pipeline": pipeline, "workers": w,
                                           "skipped": "not installed"}]
                        continue
                    prior = next((x for x in rows if x["contender"] == name and x["workers"] == w
                                  and (x["pipeline"] == "crop-6mp") == large), None)
                    if name in IO_CONTENDERS and prior is not None:
                        # decode + encode depends on the corpus, not the pipeline: measured once per corpus
                        measured[name] = [{**prior, "pipeline": pipeline}]
                        continue
                    out = workdir / f"out-{name}-{pipeline}-{w}"
                    if name == "kit":
                        wall, rss, seconds = _run_kit(pipeline, corpus, out, w)
                        shutil.rmtree(out, ignore_errors=True)
                        _, small_rss, small_seconds = _run_kit(pipeline, subsets[large], out, w)
                        kit_runs.append((seconds, small_seconds))
                        measured.setdefault("kit-job", []).append(
                            _row("kit-job", pipeline, w, seconds, len(paths), rss, startup_s=round(wall - seconds, 3)))
                        measured.setdefault("kit-wall", []).append(
                            _row("kit-wall", pipeline, w, wall, len(paths), max(rss, small_rss)))
                    else:
                        seconds, rss = _run_pool(name, pipeline, paths, out, w)
                        measured.setdefault(name, []).append(_row(name, pipeline, w, seconds, len(paths), rss))
                    shutil.rmtree(out, ignore_errors=True)
            if kit_runs:
                rss = max(r["peak_rss_mb"] for r in measured["kit-wall"])
                measured["kit"] = [_kit_row(pipeline, w, len(paths), len(paths[::SUBSET_EVERY]), kit_runs, rss)]
            for name in [*contenders, "kit-job", "kit-wall"]:
                if name in measured:
                    rows.append(_best(measured[name]))
    _add_ratios(rows)
    return {"images": n_images, "images_6mp": max(1, n_images // 10), "workers": workers, "pipelines": pipelines,
            "quality": QUALITY, "rounds": rounds,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "versions": _versions(), "rows": rows}


def _kit_row(pipeline: str, workers: int, images: int, small_images: int, runs: list[tuple[float, float]],
             rss: float) -> dict[str, Any]:
    """The ``kit`` row: its throughput without the job's fixed cost, from the fastest
    job on the corpus and the fastest on the subset (each round's job clocks in
    ``runs``), so that one slow run of either does not decide it; every round's own
    figure is kept beside it."""
    def steady(seconds: float, small_seconds: float) -> float | None:  # seconds an image, fixed cost cancelled
        ok = images >= 10 and seconds > small_seconds
        return (seconds - small_seconds) / (images - small_images) if ok else None

    seconds, small_seconds = min(r[0] for r in runs), min(r[1] for r in runs)
    per_image = steady(seconds, small_seconds)
    if per_image is None:  # too few images to tell the fixed cost apart: the job's clock
        row = _row("kit", pipeline, workers, seconds, images, rss, method="job clock", fixed_s=None)
    else:
        row = _row("kit", pipeline, workers, per_image * images, images, rss, method="marginal",
                   fixed_s=round(seconds - per_image * images, 3))
    rounds = [steady(*r) for r in runs]
    row["rounds_images_per_s"] = [round(1 / x, 1) if x else None for x in rounds]
    return row


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One contender's row from its rounds: the fastest round, every round's images/s
    beside it, and the peak memory over all of them."""
    if "images_per_s" not in runs[0] or "rounds_images_per_s" in runs[0]:  # skipped, or the kit's own row
        return runs[0]
    best = max(runs, key=lambda r: r["images_per_s"])
    return {**best, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "rounds_images_per_s": [r["images_per_s"] for r in runs]}


def _row(name: str, pipeline: str, workers: int, seconds: float, images: int, rss: float,
         **extra: Any) -> dict[str, Any]:
    return {"contender": name, "pipeline": pipeline, "workers": workers, "seconds": round(seconds, 3),
            "images_per_s": round(images / seconds, 1), "peak_rss_mb": round(rss, 1), **extra}


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    def rate(name: str, pipeline: str, w: int) -> float | None:
        for r in rows:
            if (r["contender"], r["pipeline"], r["workers"]) == (name, pipeline, w) and "images_per_s" in r:
                return r["images_per_s"]
        return None

    for r in rows:
        if "images_per_s" not in r:
            continue
        p, w = r["pipeline"], r["workers"]
        io_limit = max((x for x in (rate(n, p, w) for n in IO_CONTENDERS) if x), default=None)
        for key, ref in (("vs_albumentations", rate("albumentations", p, w)), ("vs_seed", rate("seed-v1", p, w)),
                         ("vs_io_limit", io_limit), ("vs_1_worker", rate(r["contender"], p, 1))):
            r[key] = round(r["images_per_s"] / ref, 3) if ref else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for pkg in ("augment", "torch", "torchvision", "pillow", "albumentations", "opencv-python-headless", "numpy"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    from augment.images import PARTIAL_JPEG
    from augment.kernels import NATIVE

    found["augment-compiled-kernels"] = NATIVE or "none"  # which build ran: it sets the kit's speed
    found["augment-partial-jpeg-decoding"] = "yes" if PARTIAL_JPEG else "no"  # and so does this
    return found


def table(result: dict[str, Any]) -> str:
    """The results as one Markdown table."""
    head = ("| pipeline | workers | contender | images/s | × albumentations | × seed | × I/O limit | "
            "× 1 worker | peak RSS/worker (MB) |")
    lines = [head, "|" + " --- |" * 9]
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    for r in result["rows"]:
        if "images_per_s" not in r:
            lines.append(f"| {r['pipeline']} | {r['workers']} | {r['contender']} | {r['skipped']} | | | | | |")
            continue
        lines.append(f"| {r['pipeline']} | {r['workers']} | {r['contender']} | {r['images_per_s']:.1f} | "
                     f"{fmt(r['vs_albumentations'])} | {fmt(r['vs_seed'])} | {fmt(r['vs_io_limit'])} | "
                     f"{fmt(r['vs_1_worker'])} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="corpus size (default 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of every contender, taking turns; each row keeps its best (default 3)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--workdir", default=None,
                        help="where the corpora and outputs go (default: a temporary folder in /dev/shm where "
                             "there is one, so the disk's write-back stalls do not decide the ratios)")
    args = parser.parse_args(argv)
    for name, values in (("--images", [args.images]), ("--rounds", [args.rounds]), ("--workers", args.workers)):
        if min(values) < 1:
            parser.error(f"{name} must be at least 1, got {min(values)}")
    result = in_workdir(args.workdir, "augment-bench-",
                        lambda workdir: run(args.images, args.workers, args.pipelines, args.contenders, workdir,
                                            args.rounds))
    report(table(result), result, args.json)
    return 0


def in_workdir(given: str | None, prefix: str, work: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``work(folder)`` in ``given``, or in a temporary folder removed afterwards: in /dev/shm
    where there is one, so the disk's write-back stalls do not decide the ratios."""
    memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    workdir = Path(given) if given else Path(tempfile.mkdtemp(prefix=prefix, dir=memory))
    try:
        return work(workdir)
    finally:
        if not given:
            shutil.rmtree(workdir, ignore_errors=True)


def report(text: str, result: dict[str, Any], json_path: str | None) -> None:
    """Print a benchmark's table; write its result as JSON too where asked."""
    print(text)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
