"""How long the preview takes to re-render: every slider move waits for it.

    python benchmarks/preview.py [--presets light strong] [--images 4] [--copies 4] [--rounds 7] [--json FILE]

(``make bench-preview`` runs this.) In one process, on one core (``taskset`` where it
exists; torch runs one thread inside ``Pipeline.apply`` anyway), for each preset: the
bundled samples, ``--images`` of them x ``--copies`` copies, rendered as the widget
renders them, ``--rounds`` times after one warm-up round. Two figures each, best and
median of the rounds:

* ``render``: :func:`augment.preview.render` alone: reading, decoding, the pipeline,
  encoding each output as the job would and decoding it again;
* ``widget``: what a slider move costs the kernel: ``render``, then the grid drawn and
  encoded as PNG (what the browser is sent).

The goal is under half a second for ``widget`` with 4 images x 4 copies.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

GOAL_S = 0.5


def measure(preset: str, images: int, copies: int, rounds: int) -> dict[str, Any]:
    """Best and median seconds of ``render`` and of the widget's whole re-render."""
    from augment.preview import Images, png_bytes, render

    source = Images()
    paths = source.keys()[:images]
    timings: dict[str, list[float]] = {"render": [], "widget": []}
    for round_ in range(rounds + 1):
        source = Images()  # nothing cached between rounds: every round reads its images again
        start = time.perf_counter()
        preview = render(preset, source, paths=paths, copies=copies)
        rendered = time.perf_counter()
        png_bytes(preview.grid(192))
        done = time.perf_counter()
        if round_:  # the first round warms up (imports, Pillow's plugins, the encoder check)
            timings["render"].append(rendered - start)
            timings["widget"].append(done - start)
    return {"preset": preset, "images": len(paths), "copies": copies, "rounds": rounds,
            **{f"{k}_best_s": round(min(v), 4) for k, v in timings.items()},
            **{f"{k}_median_s": round(statistics.median(v), 4) for k, v in timings.items()},
            "rounds_s": {k: [round(x, 4) for x in v] for k, v in timings.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["light", "strong"], help="presets to time")
    parser.add_argument("--images", type=int, default=4, help="images per render (default 4)")
    parser.add_argument("--copies", type=int, default=4, help="copies per image (default 4)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds after one warm-up (default 7)")
    parser.add_argument("--json", default=None, help="write the results here too")
    args = parser.parse_args(argv)
    for flag in ("images", "copies", "rounds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal says
    import torch

    import augment

    rows = [measure(p, args.images, args.copies, args.rounds) for p in args.presets]
    print(f"preview re-render, {args.images} images x {args.copies} copies, one core, best / median of "
          f"{args.rounds} rounds (goal: widget under {GOAL_S} s)")
    print(f"{'preset':10s} {'render s':>16s} {'widget s':>16s}  goal")
    for r in rows:
        met = "met" if r["widget_best_s"] < GOAL_S else "NOT met"
        print(f"{r['preset']:10s} {r['render_best_s']:7.3f} / {r['render_median_s']:6.3f} "
              f"{r['widget_best_s']:7.3f} / {r['widget_median_s']:6.3f}  {met}")
    if args.json:
        result = {"rows": rows, "goal_s": GOAL_S, "machine": platform.machine(), "python": platform.python_version(),
                  "versions": {"augment": augment.__version__, "torch": torch.__version__}}
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
