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
import PIL.Image
import pytest

from augment.errors import UsageError
from augment.spec import load_spec
from augment.sweep import (
    Run,
    Sweep,
    find_notebook,
    jitter_specs,
    load_grid,
    markdown_table,
    run_sweep,
    slug,
    write_results,
)

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "notebooks" / "probe.ipynb"
NB03 = ROOT / "notebooks" / "03_standalone_job.ipynb"
AUGMENT = Path(sys.executable).with_name("augment")
PAPERMILL = Path(sys.executable).with_name("papermill")


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
        with pytest.raises(UsageError, match=r"^grid[:=]"):  # notebook 05's parameter (the CLI says --grid)
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
def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path, capfd):
    out = tmp_path / "sweep"
    sweep = run_sweep(PROBE, {"x": [1, 2, 3]}, out, params={"fail_on": 2, "word": "hi"}, progress=False)
    assert "without encryption" not in capfd.readouterr().err, "the kernels talk over local sockets, unwarned"
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
    first = run_sweep(PROBE, {"x": [1, 2, 3]}, out, params={"fail_on": 2}, progress=False)
    assert [r.status for r in first.runs] == ["completed", "failed", "completed"]
    stamps = {name: (out / f"x-{name}.ipynb").stat().st_mtime_ns for name in (1, 2, 3)}
    (out / "x-3.json").write_text('{"status": "completed", "param')  # a record cut short: that run is run again
    again = run_sweep(PROBE, {"x": [1, 2, 3]}, out, params={"fail_on": 2}, parallel=2, resume=True, progress=False)
    assert [(r.name, r.status, r.skipped) for r in again.runs] == [
        ("x-1", "completed", True), ("x-2", "failed", False), ("x-3", "completed", False)]
    assert (out / "x-1.ipynb").stat().st_mtime_ns == stamps[1], "a completed run is not run again"
    assert (out / "x-2.ipynb").stat().st_mtime_ns != stamps[2], "a failed one is"
    assert (out / "x-3.ipynb").stat().st_mtime_ns != stamps[3], "and one whose record is damaged"
    assert [r.results.get("square") for r in again.runs] == [1, None, 9], "the skipped run's results are kept"
    assert json.loads((out / "x-3.json").read_text())["status"] == "completed", "its record is whole again"
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["run"] for r in rows] == ["x-1", "x-2", "x-3"]


@pytest.mark.slow
def test_cli_sweeps_notebook_03_and_records_the_failing_point(tmp_path, small_samples):
    """`augment sweep` over 03 itself: one grid point has a spec that does not exist."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("spec: [light, no-such-spec.yaml]\ncopies: [1]\n")
    out = tmp_path / "runs" / "specs"
    temp = tmp_path / "temp"
    temp.mkdir()
    result = subprocess.run([str(AUGMENT), "sweep", str(NB03), "--grid", str(grid), "--out", str(out),
                             "-p", f"input={small_samples}", "-p", "instance_count=1", "-p", "max_cost=null"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "PYTHONWARNINGS": "ignore", "TMPDIR": str(temp)})
    assert result.returncode == 1, result.stderr
    assert "2 runs, 1 completed, 1 failed" in result.stdout
    assert "without encryption" not in result.stderr and "WARNING" not in result.stderr, "no kernel's warning"
    ok = json.loads((out / "spec-light_copies-1.json").read_text())
    assert ok["status"] == "completed" and ok["results"]["written"] == 7 and ok["results"]["copies"] == 1
    assert ok["results"]["output"] == str(out / "outputs" / "spec-light_copies-1"), "the images, under --out"
    assert len(list((out / "outputs" / "spec-light_copies-1").glob("*.aug0.jpg"))) == 7
    assert not [p.name for p in temp.iterdir() if p.name.startswith("augment-")], "nothing left in the temp folder"
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
    table = result.stdout.splitlines()[2:5]
    assert table[0].split() == ["run", "status", "spec", "copies", "outputs", "images/s", "error"], \
        "what a user compares; the rest is in summary.csv"
    assert table[1].split()[:6] == ["spec-light_copies-1", "completed", "light", "1", "7", "-"]
    assert "images/s not shown: 1 run worked" in result.stdout
    assert len(next(csv.reader((out / "summary.csv").open()))) > 20, "every field, in the CSV"


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
    from augment.sweep.grid import _named_runs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "my.yaml").write_text("version: 1\nops: []\n")
    (run,) = _named_runs([{"spec": "my.yaml"}], {"input": "photos/", "backend": "local", "output": "s3://b/o/"})
    assert run.parameters == {"input": str(tmp_path / "photos"), "backend": "local", "output": "s3://b/o/",
                              "spec": str(tmp_path / "my.yaml")}
    assert run.name == "spec-my", "named as given"


# --- where the swept notebook is, and where its runs' images go ------------------------------


def test_the_swept_notebook_is_found_beside_05_from_any_folder(tmp_path, monkeypatch):
    """papermill runs 05 in the folder it was started in, where a stale executed 03 may lie: 03
    is looked for beside 05 first (05 passes notebook_folder()), then in the current folder."""
    from augment.sweep import notebook_folder

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert find_notebook("03_standalone_job.ipynb") == NB03
    assert find_notebook(NB03) == NB03
    (tmp_path / "03_standalone_job.ipynb").write_text("{}")  # an executed copy, left where papermill started
    assert notebook_folder() == ROOT / "notebooks", "papermill from elsewhere: the kit's 05 is the one running"
    assert find_notebook("03_standalone_job.ipynb", beside=notebook_folder()) == NB03, "beside 05 wins"
    assert find_notebook("03_standalone_job.ipynb") == tmp_path / "03_standalone_job.ipynb", "then the current folder"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "05_parameter_sweep.ipynb").write_text("{}")
    (mine / "03_standalone_job.ipynb").write_text("{}")
    monkeypatch.chdir(mine)
    assert notebook_folder() == mine, "a copy of 05 run where it lies (JupyterLab, papermill --cwd)"
    assert find_notebook("03_standalone_job.ipynb", beside=notebook_folder()) == mine / "03_standalone_job.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(ROOT / "notebooks" / "05_parameter_sweep.ipynb"))
    assert notebook_folder() == ROOT / "notebooks", "Jupyter names the running notebook"
    assert find_notebook("03_standalone_job.ipynb") == NB03, "beside the running notebook, before the current folder"
    monkeypatch.delenv("JPY_SESSION_NAME")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as e:
        find_notebook("07_missing.ipynb")
    assert str(e.value) == (f"notebook='07_missing.ipynb': not found; looked for {tmp_path / '07_missing.ipynb'}, "
                            f"{ROOT / 'notebooks' / '07_missing.ipynb'}. Pass its path")


@pytest.mark.slow
def test_05_runs_from_the_repository_root(tmp_path):
    """`papermill notebooks/05_parameter_sweep.ipynb OUT` from the repository's root, with its defaults:
    every run's images land in the sweep's folder, and nothing else is left in the temporary folder."""
    temp = tmp_path / "temp"
    temp.mkdir()
    result = subprocess.run([str(PAPERMILL), "notebooks/05_parameter_sweep.ipynb", str(tmp_path / "05.ipynb"),
                             "-k", "python3"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr[-3000:]
    left = sorted(p.name for p in temp.iterdir() if p.name.startswith("augment-"))
    assert len(left) == 1 and left[0].startswith("augment-sweep-"), left
    folder = temp / left[0]
    runs = [r["run"] for r in csv.DictReader((folder / "summary.csv").open())]
    assert len(runs) == 4 and sorted(p.name for p in (folder / "outputs").iterdir()) == sorted(runs)
    assert all(json.loads((folder / f"{run}.json").read_text())["results"]["output"] == str(folder / "outputs" / run)
               for run in runs)
    nb = nbformat.read(str(tmp_path / "05.ipynb"), as_version=4)
    shown = [o for c in nb.cells if "run_sweep(" in c.source for o in c.outputs if o.output_type == "execute_result"]
    assert "text/markdown" not in shown[0].data, "HTML wrapped for MathJax, not Markdown it would typeset"
    assert shown[0].data["text/html"].startswith('<div class="tex2jax_ignore mathjax_ignore">')
    assert "images/s not shown: every run worked" in shown[0].data["text/plain"]


# --- what the table shows -----------------------------------------------------------------------


def _sweep(tmp_path, *runs: tuple[str, dict, dict]) -> Sweep:
    return Sweep("03_standalone_job.ipynb", tmp_path, [Run(name, params, "completed", results=results)
                                                       for name, params, results in runs], 1.0, ["spec", "copies"])


def test_the_table_shows_what_a_user_compares(tmp_path):
    common = {"job_name": "augment-standalone-1", "status": "Completed", "spec_digest": "ab" * 32,
              "output": "/tmp/augment-standalone-x", "copies": 2, "failures_by_reason": {}}
    sweep = _sweep(tmp_path,
                   ("a", {"input": "/data", "spec": "/tmp/x/light-jitter0.1.yaml", "copies": 2},
                    {**common, "written": 14, "images_per_s": 41.2, "work_s": 0.34}),
                   ("b", {"input": "/data", "spec": "strong", "copies": 2},
                    {**common, "written": 20000, "images_per_s": 180.5, "work_s": 110.8}))
    assert sweep.table() == [
        {"run": "a", "status": "completed", "spec": "light-jitter0.1.yaml", "copies": 2, "outputs": 14,
         "images/s": "-", "error": ""},
        {"run": "b", "status": "completed", "spec": "strong", "copies": 2, "outputs": 20000, "images/s": 180.5,
         "error": ""}]
    assert sweep.note() == ("images/s not shown: 1 run worked 0.34 s, under 5 s, too little work to measure a "
                            "throughput (start-up and timing dominate). To compare speeds, sweep more inputs or "
                            "copies.")
    assert {"results.status", "results.copies", "spec_digest", "output", "input"} <= set(sweep.rows()[0]), \
        "everything else stays in the rows (summary.csv)"


def test_the_sweep_shows_as_text_in_jupyterlab(tmp_path):
    sweep = _sweep(tmp_path, ("cost", {"spec": "light", "copies": 1},
                              {"written": 7, "images_per_s": 9.0, "note": "$0.01 ($0.004-$0.02)"}))
    sweep.runs[0].error = "ValueError: costs $1 <b>or</b> $2"
    shown = sweep._repr_html_()
    assert shown.startswith('<div class="tex2jax_ignore mathjax_ignore">') and "&lt;b&gt;or&lt;/b&gt;" in shown
    assert not hasattr(sweep, "_repr_markdown_"), "JupyterLab typesets $...$ in Markdown"
    assert "costs \\$1 <b>or</b> \\$2" in markdown_table(sweep.table()), "summary.md: every $ escaped"
    assert "$" not in markdown_table(sweep.table()).replace("\\$", "")


# --- one sweep per folder ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_sweep_into_the_same_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "sweep"
    first = run_sweep(PROBE, {"x": [1, 2]}, out, params={"word": "one"}, progress=False)
    assert [r.status for r in first.runs] == ["completed", "completed"]
    before = {p.name: p.read_bytes() for p in out.glob("*.json")}
    started = json.loads((out / "sweep.json").read_text())["started"]
    named = f"(the sweep of probe.ipynb started {started}, 2 runs; this one has"
    with pytest.raises(UsageError) as e:
        run_sweep(PROBE, {"x": [1, 3]}, out, params={"word": "one"}, progress=False)
    assert str(e.value) == (f"out={out} holds another sweep {named} another grid): its records would mix "
                            "with this one's. Use a new out="), "in notebook 05's terms (the CLI's: --out)"
    with pytest.raises(UsageError, match=r"this one has other fixed parameters \(params=\)\)"):
        run_sweep(PROBE, {"x": [1, 2]}, out, params={"word": "two"}, resume=True, progress=False)
    with pytest.raises(UsageError) as e:
        run_sweep(PROBE, {"x": [1, 2]}, out, params={"word": "one"}, progress=False)
    assert "already holds this sweep" in str(e.value) and "pass resume=True to finish it" in str(e.value)
    assert {p.name: p.read_bytes() for p in out.glob("*.json")} == before, "no record was touched"
    from augment.sweep.claim import _claim

    identity = json.loads((out / "sweep.json").read_text())
    with _claim(out, {k: identity[k] for k in ("notebook", "grid", "params", "files")}, resume=True):  # a sweep running
        with pytest.raises(UsageError, match="a sweep is running there"):
            run_sweep(PROBE, {"x": [1, 2]}, out, params={"word": "one"}, resume=True, progress=False)
    again = run_sweep(PROBE, {"x": [1, 2]}, out, params={"word": "one"}, resume=True, progress=False)
    assert [r.skipped for r in again.runs] == [True, True]


@pytest.mark.slow
def test_a_run_whose_results_are_not_json_is_a_failed_run_and_the_others_go_on(tmp_path):
    notebook = tmp_path / "garbage.ipynb"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1\nresults_path = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import augment.sweep, pathlib\n"
                                          "if x == 2:\n    pathlib.Path(results_path).write_text('{not json')\n"
                                          "else:\n    augment.sweep.write_results(results_path, x=x)")]
    nbformat.write(nb, str(notebook))
    sweep = run_sweep(notebook, {"x": [1, 2, 3]}, tmp_path / "out", progress=False)
    assert [r.status for r in sweep.runs] == ["completed", "failed", "completed"]
    assert sweep.runs[1].error.startswith(f"its results_path {tmp_path / 'out' / '_results' / 'x-2.json'} is not a "
                                          "JSON object (")
    assert json.loads((tmp_path / "out" / "x-2.json").read_text())["status"] == "failed"
    assert sweep.runs[2].results == {"x": 3}


# --- bad input: one line, exit 2 --------------------------------------------------------------


def test_a_preset_name_stays_a_name_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    from augment.sweep.grid import _named_runs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "light").mkdir()
    (tmp_path / "strong").write_text("version: 1\nops: []\n")
    runs = _named_runs([{"spec": "light"}, {"spec": "strong"}], {"input": "light"})
    assert runs[0].parameters["spec"] == "light", "a folder is no spec: the preset"
    assert runs[1].parameters["spec"] == str(tmp_path / "strong"), "a file is read before a preset, as load_spec does"


def test_duplicate_grid_keys_are_refused(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("spec: [light]\ncopies: [1]\nspec: [strong]\n")
    with pytest.raises(UsageError) as e:
        load_grid(grid)
    assert str(e.value) == f"grid={grid}: line 3, column 1: duplicate key 'spec'; give each field once"


def _png(path: Path) -> Path:
    from augment.samples import samples_dir

    PIL.Image.open(samples_dir() / "rocket.jpg").save(path, format="PNG")
    return path


@pytest.mark.parametrize(("case", "expected"), [
    ("grid-not-yaml", "--grid {grid}: not valid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>'"),
    ("grid-not-utf8", "--grid {grid}: not UTF-8 text (byte 0xff at line 2); save it as UTF-8 YAML"),
    ("grid-duplicate", "--grid {grid}: line 2, column 1: duplicate key 'x'; give each field once"),
    ("notebook-empty-object", "NOTEBOOK {notebook}: not a Jupyter notebook (no list of cells); name an .ipynb file"),
    ("notebook-not-json", "NOTEBOOK {notebook}: not a Jupyter notebook (not JSON: Expecting value at line 1); "
                          "name an .ipynb file"),
    ("notebook-png", "NOTEBOOK {notebook}: not a Jupyter notebook (not UTF-8 text); name an .ipynb file"),
    ("param-not-yaml", "-p word: not valid YAML at line 1, column 3: expected ',' or ']', but got '<stream end>'"),
    ("out-is-a-file", "--out {out}: a file is in the way, not a folder; name a folder for the sweep"),
    ("claim-damaged", "--out {out}: its sweep.json is damaged (Expecting value: line 1 column 1 (char 0)); use a new "
                      "--out"),
])
def test_bad_sweep_input_is_one_line_and_exit_2(case, expected, tmp_path, capsys):
    from augment.cli import main

    grid, notebook, out = tmp_path / "grid.yaml", PROBE, tmp_path / "out"
    grid.write_text("x: [1, 2]\n")
    params: list[str] = []
    if case == "grid-not-yaml":
        grid.write_text("x: [1, 2\n")
    elif case == "grid-not-utf8":
        grid.write_bytes(b"x: [1]\nword: [\xff]\n")
    elif case == "grid-duplicate":
        grid.write_text("x: [1]\nx: [2]\n")
    elif case.startswith("notebook-"):
        notebook = tmp_path / "nb.ipynb"
        if case == "notebook-png":
            _png(notebook)
        else:
            notebook.write_text("{}" if case == "notebook-empty-object" else "this is no notebook")
    elif case == "param-not-yaml":
        params = ["-p", "word=[a"]
    elif case == "out-is-a-file":
        out.write_text("a file")
    elif case == "claim-damaged":
        out.mkdir()
        (out / "sweep.json").write_text("")
    args = ["sweep", str(notebook), "--grid", str(grid), "--out", str(out), *params]
    assert main(args + (["--resume"] if case == "claim-damaged" else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith("augment sweep: error: " + expected.format(grid=grid, notebook=notebook, out=out)), err
    assert err.count("\n") == 1 and "internal error" not in err and "Traceback" not in err


# --- the sweep's refusals in notebook 05's terms, ~, claims and resume -------------------------


def test_refusals_name_05s_parameters_outside_the_cli(tmp_path):
    """Notebook 05 calls the library: its errors name the parameters as a notebook sets them
    (out=, grid=, notebook=); the command line maps them to its flags in one place."""
    from augment.cli._errors import in_command_terms
    from augment.sweep import notebook_parameters, run_sweep, sweep_folder

    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as e:
        sweep_folder(tmp_path / "file")
    assert str(e.value) == f"out={tmp_path / 'file'}: a file is in the way, not a folder; name a folder for the sweep"
    with pytest.raises(UsageError) as e:
        load_grid(tmp_path / "missing.yaml")
    assert str(e.value) == f"grid={tmp_path / 'missing.yaml'}: no such file"
    with pytest.raises(UsageError, match=r"^grid=: no runs"):
        load_grid({"spec": []})
    with pytest.raises(UsageError) as e:
        notebook_parameters(tmp_path / "07.ipynb")
    assert str(e.value) == f"notebook={tmp_path / '07.ipynb'}: no such file"
    with pytest.raises(UsageError, match=r"^parallel=0: must be >= 1$"):
        run_sweep(PROBE, {"x": [1]}, tmp_path / "o", parallel=0)
    with pytest.raises(UsageError) as e:
        load_grid(tmp_path / "missing.yaml")
    assert in_command_terms(str(e.value), "sweep") == f"--grid {tmp_path / 'missing.yaml'}: no such file"
    assert in_command_terms(f"notebook={tmp_path / '07.ipynb'}: no such file", "sweep") == \
        f"NOTEBOOK {tmp_path / '07.ipynb'}: no such file"
    assert in_command_terms("other fixed parameters (params=); use a new out=", "sweep") == \
        "other fixed parameters (--param); use a new --out"



def test_a_tilde_is_the_home_folder_in_a_sweep(tmp_path, monkeypatch):
    from augment.sweep import sweep_folder

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "mine.yaml").write_text(load_spec("light").to_yaml())
    assert sweep_folder("~/sweep") == tmp_path / "home" / "sweep"
    paths = jitter_specs([0.5], base="~/mine.yaml", folder="~/specs")
    assert paths == [str(tmp_path / "home" / "specs" / "mine-jitter0.5.yaml")]
    (tmp_path / "home" / "grid.yaml").write_text("x: [1, 2]\n")
    assert load_grid("~/grid.yaml") == [{"x": 1}, {"x": 2}]
    assert not (tmp_path / "~").exists(), "no folder called ~ here"


def test_jitter_specs_never_overwrite_another_sweeps_specs(tmp_path):
    """05 writes its specs before run_sweep claims the folder: a second sweep that is then
    refused had already replaced the first one's specs/."""
    base = tmp_path / "mine.yaml"
    base.write_text(load_spec("light").to_yaml())
    (path,) = jitter_specs([0.5], base=str(base), folder=tmp_path / "specs")
    first = Path(path).read_bytes()
    assert jitter_specs([0.5], base=str(base), folder=tmp_path / "specs") == [path], "the same spec: kept (resume)"
    base.write_text(load_spec("strong").to_yaml())
    with pytest.raises(UsageError) as e:
        jitter_specs([0.5], base=str(base), folder=tmp_path / "specs")
    assert str(e.value) == (f"{path} already holds another spec (a sweep's, whose runs read it): it is left as it "
                            "is. Give the sweep a new out=, or another folder")
    assert Path(path).read_bytes() == first


def test_a_completed_run_with_an_account_in_its_parameters_is_kept_on_resume(tmp_path):
    """Its record holds the parameters redacted: compared with the raw ones, it never matched."""
    from augment.sweep.record import _finish, _restored

    params = {"output": "s3://sagemaker-us-east-1-123456789012/out/", "x": 1}
    run = Run("x-1", dict(params))
    outcome = {"status": "completed", "duration_s": 1.0, "error": None, "failed_cell": None, "failed_source": None}
    _finish(run, outcome, tmp_path)
    assert "123456789012" not in (tmp_path / "x-1.json").read_text()
    again = Run("x-1", dict(params))
    assert _restored(again, tmp_path / "x-1.json") and again.skipped
    assert not _restored(Run("x-1", {**params, "x": 2}), tmp_path / "x-1.json"), "another run's record"


@pytest.mark.slow
def test_resume_after_a_spec_file_was_edited_is_refused(tmp_path):
    """The claim recorded the spec's path only: its runs' records would mix two specs."""
    spec = tmp_path / "mine.yaml"
    spec.write_text("version: 1\n")
    out = tmp_path / "sweep"
    first = run_sweep(PROBE, {"x": [1]}, out, params={"word": str(spec)}, progress=False)
    assert [r.status for r in first.runs] == ["completed"]
    spec.write_text("version: 2\n")
    with pytest.raises(UsageError) as e:
        run_sweep(PROBE, {"x": [1]}, out, params={"word": str(spec)}, resume=True, progress=False)
    assert f"this one has files whose contents changed since ({spec})" in str(e.value)
    spec.write_text("version: 1\n")
    again = run_sweep(PROBE, {"x": [1]}, out, params={"word": str(spec)}, resume=True, progress=False)
    assert [r.skipped for r in again.runs] == [True]


def test_the_sweep_imports_where_there_is_no_fcntl():
    """`import fcntl` at the top broke every platform without it (not POSIX)."""
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "import augment.sweep, io\n"
            "from augment.sweep.claim import _locked\n"
            "print(_locked(io.BytesIO()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]
