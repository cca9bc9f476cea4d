"""Sweeps: grids, names, the refusal of unknown parameters, failures recorded while the
others complete, --resume, --parallel, and the CLI over notebook 03."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from augment.errors import UsageError
from augment.spec import load_spec
from augment.sweep import jitter_specs, load_grid, run_sweep, slug, write_results

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "notebooks" / "probe.ipynb"
NB03 = ROOT / "notebooks" / "03_standalone_job.ipynb"
AUGMENT = Path(sys.executable).with_name("augment")


def test_a_mapping_is_a_product_and_a_list_is_taken_as_it_is(tmp_path):
    assert load_grid({"spec": ["light", "strong"], "copies": [1, 2]}) == [
        {"spec": "light", "copies": 1}, {"spec": "light", "copies": 2},
        {"spec": "strong", "copies": 1}, {"spec": "strong", "copies": 2}]
    assert load_grid({"spec": "light", "copies": [1, 2]}) == [{"spec": "light", "copies": 1},
                                                              {"spec": "light", "copies": 2}]
    grid = tmp_path / "grid.yaml"
    grid.write_text("- {spec: light, copies: 3}\n- {spec: my/specs/jitter.yaml}\n")
    assert load_grid(grid) == [{"spec": "light", "copies": 3}, {"spec": "my/specs/jitter.yaml"}]
    for bad in ([1, 2], "not a grid", {"spec": []}):
        with pytest.raises(UsageError, match="--grid"):
            load_grid(bad)
    with pytest.raises(UsageError, match="no such file"):
        load_grid(tmp_path / "missing.yaml")


def test_run_names_are_readable_slugs():
    assert slug({"spec": "light", "copies": 2}) == "spec-light_copies-2"
    assert slug({"instance_type": "ml.m5.large"}) != slug({"instance_type": "ml.m5.xlarge"})
    assert slug({"instance_type": "ml.m5.xlarge"}) == "instance_type-ml.m5.xlarge"
    assert slug({"spec": "/tmp/specs/light-jitter0.5.yaml", "x": None}) == "spec-light-jitter0.5_x-None"
    long = slug({"spec": "s" * 200})
    assert len(long) == 80 and long != slug({"spec": "s" * 199}), "long names end in a hash of the parameters"


def test_jitter_specs_change_only_the_strength(tmp_path):
    paths = jitter_specs([0.0, 0.5], base="light", folder=tmp_path)
    assert [Path(p).name for p in paths] == ["light-jitter0.yaml", "light-jitter0.5.yaml"]
    base, strong = load_spec("light"), load_spec(paths[1])
    jitter = next(op["ColorJitter"] for op in strong.ops if "ColorJitter" in op)
    assert jitter["brightness"] == jitter["contrast"] == jitter["saturation"] == [0.5, 1.5]
    assert [next(iter(op)) for op in strong.ops] == [next(iter(op)) for op in base.ops]
    assert strong.replace(ops=list(base.ops)) == base, "nothing else changed"
    added = jitter_specs([0.3], base="defense", folder=tmp_path)
    assert "ColorJitter" in load_spec(added[0]).ops[-1], "appended where the base had none"


def test_write_results_writes_json_or_nothing(tmp_path):
    assert write_results(None, {"a": 1}) is None
    path = write_results(tmp_path / "deep" / "r.json", {"a": 1}, b=Path("x"))
    assert json.loads(path.read_text()) == {"a": 1, "b": "x"}


def test_unknown_parameters_are_refused_before_any_run(tmp_path):
    with pytest.raises(UsageError) as e:
        run_sweep(PROBE, {"x": [1, 2], "wrod": ["b"]}, tmp_path / "out", progress=False)
    assert str(e.value) == ("probe.ipynb has no parameter 'wrod'; its parameters: x, word, fail_on, results_path")
    assert not (tmp_path / "out").exists(), "nothing ran"
    with pytest.raises(UsageError, match="'spec_file'"):
        run_sweep(NB03, {"spec": ["light"]}, tmp_path / "out", params={"spec_file": "x.yaml"}, progress=False)


@pytest.mark.slow
def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path):
    out = tmp_path / "sweep"
    sweep = run_sweep(PROBE, {"x": [1, 2, 3]}, out, params={"fail_on": 2, "word": "hi"}, progress=False)
    assert [r.name for r in sweep.runs] == ["x-1", "x-2", "x-3"], "named by the grid's values only"
    assert [r.status for r in sweep.runs] == ["completed", "failed", "completed"]
    ok = json.loads((out / "x-3.json").read_text())
    assert ok["status"] == "completed" and ok["parameters"] == {"fail_on": 2, "word": "hi", "x": 3}
    assert ok["results"] == {"square": 9, "word": "hi", "images_per_s": 3.0}, "the notebook's own results"
    assert ok["papermill"]["duration_s"] > 0 and ok["papermill"]["exception"] is None
    bad = json.loads((out / "x-2.json").read_text())
    assert bad["status"] == "failed" and bad["results"] == {}
    assert bad["papermill"]["exception"] == "ValueError: x=2 fails on purpose"
    executed = nbformat.read(str(out / "x-2.ipynb"), as_version=4)
    assert "raise ValueError" in executed.cells[bad["papermill"]["failed_cell"]].source, "the cell that failed"
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["run"], r["status"], r["square"]) for r in rows] == [
        ("x-1", "completed", "1"), ("x-2", "failed", ""),
        ("x-3", "completed", "9")]
    assert rows[1]["error"] == "ValueError: x=2 fails on purpose"
    md = (out / "summary.md").read_text()
    assert "3 runs, 2 completed, 1 failed" in md and "| x-2 | failed |" in md
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_resume_skips_completed_runs_and_parallel_runs_the_rest(tmp_path):
    out = tmp_path / "sweep"
    first = run_sweep(PROBE, {"x": [1, 2]}, out, params={"fail_on": 2}, progress=False)
    assert [r.status for r in first.runs] == ["completed", "failed"]
    stamps = {name: (out / f"x-{name}.ipynb").stat().st_mtime_ns for name in (1, 2)}
    again = run_sweep(PROBE, {"x": [1, 2, 3]}, out, params={"fail_on": 2}, parallel=2, resume=True, progress=False)
    assert [(r.name, r.status, r.skipped) for r in again.runs] == [
        ("x-1", "completed", True), ("x-2", "failed", False), ("x-3", "completed", False)]
    assert (out / "x-1.ipynb").stat().st_mtime_ns == stamps[1], "a completed run is not run again"
    assert (out / "x-2.ipynb").stat().st_mtime_ns != stamps[2], "a failed one is"
    assert [r.results.get("square") for r in again.runs] == [1, None, 9], "the skipped run's results are kept"
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["run"] for r in rows] == ["x-1", "x-2", "x-3"]
    changed = run_sweep(PROBE, {"x": [1]}, out, params={"word": "new"}, resume=True, progress=False)
    assert not changed.runs[0].skipped and changed.runs[0].results["word"] == "new", "other parameters: run again"


@pytest.mark.slow
def test_cli_sweeps_notebook_03_and_records_the_failing_point(tmp_path, small_samples):
    """`augment sweep` over 03 itself: one grid point has a spec that does not exist."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("spec: [light, no-such-spec.yaml]\ncopies: [1]\n")
    out = tmp_path / "runs" / "specs"
    result = subprocess.run([str(AUGMENT), "sweep", str(NB03), "--grid", str(grid), "--out", str(out),
                             "-p", f"input={small_samples}", "-p", "instance_count=1", "-p", "max_cost=null"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 1, result.stderr
    assert "2 runs, 1 completed, 1 failed" in result.stdout
    ok = json.loads((out / "spec-light_copies-1.json").read_text())
    assert ok["status"] == "completed" and ok["results"]["written"] == 7 and ok["results"]["copies"] == 1
    assert ok["parameters"] == {"input": str(small_samples), "instance_count": 1, "max_cost": None, "spec": "light",
                                "copies": 1}
    bad = json.loads((out / "spec-no-such-spec_copies-1.json").read_text())
    assert bad["status"] == "failed" and "no-such-spec.yaml" in bad["papermill"]["exception"]
    assert bad["papermill"]["failed_source"].startswith("plan = augment.plan.estimate("), \
        "refused at the plan, before any job"
    assert "failed: spec-no-such-spec_copies-1: cell" in result.stderr
    assert {"summary.csv", "summary.md", "figure.png"} <= {p.name for p in out.iterdir()}
    bad_param = subprocess.run([str(AUGMENT), "sweep", str(NB03), "--grid", str(grid), "--out", str(out),
                                "-p", "instance_cont=2"], capture_output=True, text=True, timeout=300)
    assert bad_param.returncode == 2 and "has no parameter 'instance_cont'; its parameters: spec, input" \
        in bad_param.stderr


def test_results_files_name_no_account(tmp_path):
    from augment.sweep import write_results

    digest = "c88fa185abe55c60719cb233320686933d51f9261198d065c4e5e3a36e6d48ef"  # 12 digits in a row, no account
    path = write_results(tmp_path / "r.json", {"output": "s3://sagemaker-us-east-1-123456789012/augment/out/",
                                               "jobs": [{"arn": "arn:aws:sagemaker:us-east-1:123456789012:x"}]},
                         spec_digest=digest)
    written = json.loads(path.read_text())
    assert written["output"] == "s3://sagemaker-us-east-1-<account>/augment/out/"
    assert written["jobs"] == [{"arn": "arn:aws:sagemaker:us-east-1:<account>:x"}]
    assert written["spec_digest"] == digest


def test_relative_paths_are_taken_from_where_the_sweep_was_started(tmp_path, monkeypatch):
    from augment.sweep import _named_runs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "my.yaml").write_text("version: 1\nops: []\n")
    (run,) = _named_runs([{"spec": "my.yaml"}], {"input": "photos/", "backend": "local", "output": "s3://b/o/"})
    assert run.parameters == {"input": str(tmp_path / "photos"), "backend": "local", "output": "s3://b/o/",
                              "spec": str(tmp_path / "my.yaml")}
    assert run.name == "spec-my", "named as given"
