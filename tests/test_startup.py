"""Commands that draw no pixel answer without importing torch or torchvision.

Importing torch and torchvision takes seconds (torchvision's package imports its models
and ops, and torch._dynamo with them); ``validate``, ``ops``, ``presets``, ``samples``,
``plan`` and every ``--help`` need neither. Each command runs in a fresh interpreter
and reports what it imported. No timing is asserted here: ``make bench-startup``
(benchmarks/startup.py) measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torchvision")

_WRAPPER = f"""
import sys
from augment.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:  # argparse's --help and usage errors
    code = e.code
print("HEAVY=" + ",".join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""

SPEC = "version: 1\nseed: 4\nops:\n  - RandomResizedCrop: {size: 64}\n  - AutoAugment: {policy: cifar10}\n"


def _heavy_imports(code: str, *args: str) -> tuple[int, list[str], str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    lines = done.stderr.splitlines()
    marker = [line for line in lines if line.startswith("HEAVY=")]
    assert marker, done.stderr
    return done.returncode, [m for m in marker[-1].removeprefix("HEAVY=").split(",") if m], done.stdout


COMMANDS = [
    (["--help"], 0),
    (["validate", "--help"], 0),
    (["process", "--help"], 0),
    (["run", "--help"], 0),
    (["plan", "--help"], 0),
    (["validate", "light"], 0),
    (["validate", "strong", "--print"], 0),
    (["validate", "SPEC"], 0),
    (["validate", "nope"], 2),
    (["ops"], 0),
    (["ops", "--json"], 0),
    (["ops", "ColorJitter"], 0),
    (["ops", "AutoAugment", "--json"], 0),
    (["ops", "ColourJitter"], 2),
    (["presets"], 0),
    (["presets", "defense"], 0),
    (["samples"], 0),
    (["samples", "--dir"], 0),
    (["plan", "--images", "100000", "--prices", "offline"], 0),
    (["plan", "--spec", "SPEC", "--images", "5000", "--mode", "sharded", "--prices", "offline", "--json"], 0),
]


@pytest.mark.parametrize(("args", "code"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_commands_that_draw_no_pixel_do_not_import_torch(args, code, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    args = [str(spec) if a == "SPEC" else a for a in args]
    returncode, heavy, stdout = _heavy_imports(_WRAPPER, *args)
    assert returncode == code
    assert stdout or code, "the command answered"
    assert heavy == [], f"augment {' '.join(args)} imported {heavy}"


def test_ops_name_prints_the_torchvision_class_without_importing_it():
    returncode, heavy, stdout = _heavy_imports(_WRAPPER, "ops", "RandomResizedCrop")
    assert returncode == 0 and heavy == []
    assert "  torchvision: torchvision.transforms.v2.RandomResizedCrop" in stdout.splitlines()


def test_the_package_and_its_spec_layer_do_not_import_torch():
    code = ("import sys, augment, augment.spec, augment.ops, augment.plan, augment.jobs\n"
            "augment.load_spec('light'); augment.list_presets(); augment.op_names()\n"
            f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n")
    returncode, heavy, _ = _heavy_imports(code)
    assert returncode == 0 and heavy == []


def test_the_startup_benchmark_times_each_command_and_names_heavy_imports(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import startup
    finally:
        sys.path.pop(0)
    out = tmp_path / "startup.json"
    assert startup.main(["--rounds", "1", "--commands", "ops", "help", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["command"] for r in rows] == ["python -c pass", "augment ops", "augment --help"]
    assert all(r["best_s"] > 0 and r["cpu_best_s"] > 0 and r["imports"] == [] for r in rows)
    assert "augment ops" in capsys.readouterr().out
    fake = "import time: self [us] | cumulative | imported package\nimport time: 5 | 9 | torch\n" \
           "import time: 1 | 1 |   torch.nn\n"
    assert startup.imported(fake) == ["torch"]


@pytest.mark.parametrize(("config", "env", "region", "boto3"), [
    (None, {}, "us-east-1", False),
    ("[default]\nregion = eu-west-1\n", {}, "eu-west-1", True),
    ("[default]\nregion = eu-west-1\n", {"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1", False),
], ids=["no-aws-config", "config-file", "environment"])
def test_plan_finds_the_sessions_region_and_imports_boto3_only_to_read_a_config(config, env, region, boto3,
                                                                                   tmp_path):
    """boto3 takes 0.2-0.4 s to import: plan (offline prices) needs it only where a
    config file could name the region, and picks the same region the session would."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    if config:
        (home / ".aws" / "config").write_text(config)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    code = ("import json, sys\nfrom augment.cli import main\n"
            "main(['plan', '--images', '1000', '--prices', 'offline', '--json'])\n"
            "print('BOTO3=' + str('boto3' in sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**clean, "HOME": str(home), **env})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["assumptions"]["region"] == region
    assert f"BOTO3={boto3}" in done.stderr
