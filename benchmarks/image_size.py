"""What the processing image weighs, and where: every megabyte is pulled at the start of every job.

    python benchmarks/image_size.py augment:0.4.0 [--engine podman] [--cpu-torch-wheel torch-...+cpu-....whl]
                                                  [--json benchmarks/results/image-size-DATE.json]

Measures, inside the image (``du``, through Docker or podman): the virtual environment by
package, grouped as torch, the CUDA libraries torch's PyPI build brings (``nvidia-*``,
``cuda-*``, ``triton``), torchvision, and the rest; and the base image (Python, Debian)
outside it. With ``--cpu-torch-wheel``, the installed size of a CPU-only torch wheel, and the
image it would make: the same image with that torch and without the CUDA libraries (the
Dockerfile's default ``--variant cpu`` index gives exactly that where it is reachable).
Prints a Markdown table for container/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from augment import engines

SITE = "/opt/venv/lib/python3.11/site-packages"
CUDA = ("nvidia", "cuda", "triton")


def _group(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith(CUDA):
        return "CUDA libraries (nvidia-*, cuda-*, triton)"
    if lowered == "torch" or lowered.startswith(("torch-", "torch.libs", "functorch", "torchgen")):
        return "torch"
    if lowered.startswith("torchvision"):
        return "torchvision"
    return "the rest of the venv (numpy, Pillow, sympy, pip, augment...)"


def measure(engine: engines.Engine, image: str) -> dict[str, int]:
    """Bytes by group: the venv's packages, and the base outside ``/opt/venv``."""
    script = (f"du -sk {SITE}/* | sed 's|{SITE}/||'; echo \"--venv $(du -sk /opt/venv | cut -f1)\"; "
              "echo \"--base $(du -skx --exclude=/opt/venv --exclude=/proc --exclude=/sys / | cut -f1)\"")
    out = subprocess.run(engine.cmd("run", "--rm", "--entrypoint", "sh", image, "-c", script), capture_output=True,
                         text=True, check=True).stdout
    groups: dict[str, int] = {}
    listed = 0
    for line in out.splitlines():
        if line.startswith("--venv "):
            venv = int(line.split()[1]) * 1024
        elif line.startswith("--base "):
            groups["base image (Debian, Python 3.11)"] = int(line.split()[1]) * 1024
        else:
            kb, name = line.split("\t", 1)
            groups[_group(name)] = groups.get(_group(name), 0) + int(kb) * 1024
            listed += int(kb) * 1024
    groups["the rest of the venv (numpy, Pillow, sympy, pip, augment...)"] += venv - listed  # bin/, include/...
    return groups


def installed_size(wheel: Path) -> int:
    """Bytes a wheel installs to (``pip install --no-deps --target``, without bytecode)."""
    with tempfile.TemporaryDirectory() as target:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                        target, str(wheel)], check=True)
        return sum(p.stat().st_size for p in Path(target).rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--engine", default="auto", choices=engines.CHOICES)
    parser.add_argument("--cpu-torch-wheel", type=Path, default=None,
                        help="a CPU-only torch wheel: report what the image would weigh with it")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    engine = engines.require(args.engine, "measuring the image")
    total = engine.image_size(args.image)
    groups = measure(engine, args.image)
    rows = [(name, size) for name, size in sorted(groups.items(), key=lambda kv: -kv[1])]
    print(f"| {args.image} ({engine}) | MB |\n| --- | ---: |")
    for name, size in rows:
        print(f"| {name} | {size / 1e6:,.0f} |")
    print(f"| **the image, as `{engine.name} images` reports it** | **{total / 1e6:,.0f}** |")
    result: dict = {"image": args.image, "engine": str(engine), "bytes": total, "groups": groups}
    if args.cpu_torch_wheel:
        cpu = installed_size(args.cpu_torch_wheel)
        cuda = groups.get("CUDA libraries (nvidia-*, cuda-*, triton)", 0) + groups.get("torch", 0)
        projected = total - cuda + cpu
        print(f"\nCPU torch ({args.cpu_torch_wheel.name}) installs to {cpu / 1e6:,.0f} MB: with it, and without the "
              f"CUDA libraries, this image would weigh about {projected / 1e6:,.0f} MB")
        result.update(cpu_torch_wheel=args.cpu_torch_wheel.name, cpu_torch_bytes=cpu, cpu_projected_bytes=projected)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
