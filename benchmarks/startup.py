"""How long each command that draws no pixel takes to start and answer.

    python benchmarks/startup.py [--rounds 5] [--commands validate ops ...] [--json FILE]

(``make bench-startup`` runs this.) Each command runs ``--rounds`` times as its own
``python -m augment ...`` process, output discarded, after one warm-up run that fills the
OS's file cache; each row keeps the best and the median wall time of the rounds, from
starting the process to its exit, and the least CPU time (user + system) one took, which
other processes on the machine inflate less than the wall time. ``python -c pass`` is the
first row: the interpreter's own start-up, which no command can beat. One more run per
command, under ``python -X importtime``, says whether it imported torch or torchvision:
none of these commands should.

The runs unset ``PYTHONDONTWRITEBYTECODE``, so the warm-up writes the bytecode cache as
any first run of an installed package does; with it set, every run compiles the
package's modules from source again (about 0.2 s here).

The goal is under half a second for every command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GOAL_S = 0.5

COMMANDS: dict[str, list[str]] = {
    "help": ["--help"],
    "process help": ["process", "--help"],
    "validate light": ["validate", "light"],
    "ops": ["ops"],
    "ops ColorJitter": ["ops", "ColorJitter"],
    "presets": ["presets"],
    "presets light": ["presets", "light"],
    "samples": ["samples"],
    "plan": ["plan", "--images", "100000", "--prices", "offline"],
}
"""Label -> arguments of ``augment`` (``help`` is ``--help``). ``plan`` uses the shipped price table (no network)."""

HEAVY = ("torch", "torchvision")


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], importtime: bool = False) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one run, and its stderr."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), *argv]
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
                          env=_ENV)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if "import time:" not in line][-5:]
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n" + "\n".join(tail))
    return seconds, cpu, done.stderr


def imported(importtime_stderr: str) -> list[str]:
    """The packages of :data:`HEAVY` that a ``-X importtime`` run imported."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return [h for h in HEAVY if h in names]


def measure(label: str, argv: list[str], rounds: int) -> dict[str, Any]:
    """Best and median wall seconds of ``argv`` over ``rounds`` runs, after one warm-up."""
    _run(argv)
    runs = [_run(argv)[:2] for _ in range(rounds)]
    times = [wall for wall, _ in runs]
    heavy = imported(_run(argv, importtime=True)[2]) if argv[0] == "-m" else []
    return {"command": label, "best_s": round(min(times), 4), "median_s": round(statistics.median(times), 4),
            "cpu_best_s": round(min(cpu for _, cpu in runs), 4), "rounds_s": [round(t, 4) for t in times],
            "imports": heavy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=list(COMMANDS), metavar="LABEL",
                        help=f"commands to time (default: all of {', '.join(COMMANDS)})")
    parser.add_argument("--json", default=None, help="write the results here too")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    import augment

    rows = [measure("python -c pass", ["-c", "pass"], args.rounds)]
    rows += [measure(f"augment {' '.join(COMMANDS[label])}", ["-m", "augment", *COMMANDS[label]], args.rounds)
             for label in args.commands]
    print(f"start-up to exit, best / median of {args.rounds} runs (goal: under {GOAL_S} s)")
    print(f"{'command':48s} {'best s':>7s} {'median s':>9s} {'CPU s':>6s}  {'goal':8s} imports")
    for r in rows:
        met = "met" if r["best_s"] < GOAL_S else "NOT met"
        print(f"{r['command']:48s} {r['best_s']:7.3f} {r['median_s']:9.3f} {r['cpu_best_s']:6.3f}  {met:8s} "
              f"{' '.join(r['imports']) or '-'}")
    if args.json:
        result = {"rows": rows, "goal_s": GOAL_S, "rounds": args.rounds, "machine": platform.machine(),
                  "cpus": os.cpu_count(), "python": platform.python_version(),
                  "versions": {"augment": augment.__version__}}
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
