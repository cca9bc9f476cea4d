"""Off the happy path of launching: run_job from a plain script, a relative --workdir, an
output location already used or overlapping the input, and messages that name what the
user can act on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

from augment.errors import UsageError
from augment.samples import list_samples, samples_dir

ROOT = Path(__file__).resolve().parents[1]


def _photos(folder: Path, n: int = 3, side: int = 64) -> Path:
    """A folder of ``n`` small real photos, as a reader's ``photos/``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in list_samples()[:n]:
        with PIL.Image.open(samples_dir() / name) as img:
            img.thumbnail((side, side))
            img.save(folder / name, quality=90)
    return folder


def _env() -> dict[str, str]:
    """The child finds this checkout's package, as the tests do."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
            "PYTHONWARNINGS": "ignore"}


# --- run_job from a plain script (issue 19, item 8) --------------------------------------


def _readme_run_job_lines() -> str:
    """The README's Python example that calls ``run_job``, whole, as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return next(b for b in blocks if "augment.run_job(" in b)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_the_readme_run_job_example_runs_as_a_plain_script(how, tmp_path):
    """No ``if __name__ == "__main__":`` guard, and ``python -``: the workers must not re-run
    the caller's script (today they die, and the job fails with "a worker process died")."""
    code = _readme_run_job_lines()
    assert "__main__" not in code and "workers=2" in code, "the example starts worker processes, unguarded"
    _photos(tmp_path / "photos")
    code += "print('outputs:', summary.written)\n"
    if how == "file":
        (tmp_path / "example.py").write_text(code)
        result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                                env=_env(), timeout=300)
    else:
        result = subprocess.run([sys.executable, "-"], input=code, cwd=tmp_path, capture_output=True, text=True,
                                env=_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "outputs: 6" in result.stdout, "3 photos x 2 copies of light"
    assert result.stdout.count("outputs:") == 1, "the script ran once, not again in each worker"
    assert len(list((tmp_path / "out").glob("*.aug[01].jpg"))) == 6


# --- a relative --workdir (issue 19, item 1) ---------------------------------------------


def _augment(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augment", *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(), timeout=300)


@pytest.mark.slow
def test_run_with_a_relative_workdir_and_a_spec_file(tmp_path):
    """Each host runs in its own root: a relative AUGMENT_OPT_ML pointed nowhere (today every
    host fails: with a spec file "--spec is required", with a preset "--input-dir ... not a
    directory")."""
    _photos(tmp_path / "photos", n=2)
    (tmp_path / "my.yaml").write_text("version: 1\nseed: 3\ncopies: 1\nops: [RandomHorizontalFlip]\n")
    result = _augment("run", "--backend", "local", "--input", "photos", "--output", "out", "--spec", "my.yaml",
                      "--workdir", "wd", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("*.aug0.jpg"))) == 2
    roots = list((tmp_path / "wd").glob("*/algo-1/opt/ml"))
    assert len(roots) == 1 and (roots[0] / "processing" / "output" / "_augment" / "spec.yaml").is_file(), \
        "the host's root is kept under the relative --workdir"


# --- an output location already used, or overlapping the input (19.5, 20.4) -------------


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _main(capsys, *argv: str) -> tuple[int, str]:
    from augment.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_run_into_a_used_output_is_refused_as_process_refuses_it(tmp_path, capsys):
    """Today `light` on one folder, then `strong` on another into the same output, exits 0 and
    the second job's manifest replaces the first's: the first job's outputs are listed by no
    manifest."""
    from augment.jobs import LocalBackend, launch
    from augment.manifest import read_manifest

    first, second, out = _photos(tmp_path / "a", n=2), tmp_path / "b", tmp_path / "out"
    _photos(second, n=3)
    (second / "other.jpg").write_bytes((first / list_samples()[0]).read_bytes())
    result = _augment("run", "--backend", "local", "--input", str(first), "--output", str(out), "--spec", "light",
                      "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    before = _tree(out)

    code, err = _main(capsys, "run", "--backend", "local", "--input", str(second), "--output", str(out),
                      "--spec", "strong", "--workers", "1")
    _, process_err = _main(capsys, "process", "--spec", "strong", "--input-dir", str(second), "--output-dir", str(out))
    assert code == 2 and "[algo-" not in err, "refused before any host started"
    expected = process_err.strip().removeprefix("augment process: error: ").replace("--output-dir", "--output")
    assert err.strip() == f"augment run: error: {expected}", "the message process gives, in run's flags"
    assert "holds a job made with another spec" in err

    code, err = _main(capsys, "run", "--backend", "local", "--mode", "batched", "--input", str(second),
                      "--output", str(out), "--spec", "light")
    assert code == 2 and f"{out} already holds a job ({out}/_augment/manifest-algo-1.jsonl" in err, err
    assert "Use a new --output." in err
    with pytest.raises(UsageError, match="another spec"):
        launch(LocalBackend(), "strong", str(second), str(out))
    assert _tree(out) == before, "nothing was written"
    listed = {r["output"] for r in read_manifest(out / "_augment" / "manifest-algo-1.jsonl")}
    assert {p for p in before if not p.startswith("_augment/")} == listed, "every output is listed by a manifest"


def test_run_into_a_used_s3_prefix_is_refused_before_any_host_starts(bucket, tmp_path, capsys):
    import boto3

    from augment.spec import dump_spec, load_spec

    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="in/a.jpg", Body=(samples_dir() / list_samples()[0]).read_bytes())
    dump_spec(load_spec("light"), tmp_path / "spec.yaml")
    s3.put_object(Bucket=bucket, Key="out/_augment/spec.yaml", Body=(tmp_path / "spec.yaml").read_bytes())
    s3.put_object(Bucket=bucket, Key="out/_augment/manifest-algo-1.jsonl", Body=b"{}\n")
    s3.put_object(Bucket=bucket, Key="out/a.jpg.aug0.jpg", Body=b"x")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])

    code, err = _main(capsys, "run", "--backend", "local", "--input", f"s3://{bucket}/in/",
                      "--output", f"s3://{bucket}/out", "--spec", "strong", "--workers", "1")
    assert code == 2 and "[algo-" not in err
    assert (f"s3://{bucket}/out holds a job made with another spec (s3://{bucket}/out/_augment/spec.yaml, digest "
            f"{load_spec('light').digest[:12]}; this spec: {load_spec('strong').digest[:12]}). Outputs of two specs "
            "must not mix: use a new --output.") in err
    code, err = _main(capsys, "run", "--backend", "local", "--input", f"s3://{bucket}/in/",
                      "--output", f"s3://{bucket}/out/", "--spec", "light", "--workers", "1")
    assert code == 2 and f"s3://{bucket}/out/ already holds a job (s3://{bucket}/out/_augment/manifest-algo-1" in err
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == keys, "nothing was written"


@pytest.mark.parametrize("output", ["{input}", "{input}/out", "{input}/../"])
def test_run_with_the_output_in_the_input_is_refused(output, tmp_path, capsys):
    """`process` refuses an output folder that contains the input or lies inside it; `run`
    accepted it, and a second run read the outputs and _augment/ back as inputs."""
    photos = _photos(tmp_path / "photos", n=1)
    out = output.format(input=photos)
    code, err = _main(capsys, "run", "--backend", "local", "--input", str(photos), "--output", out, "--spec",
                      "light", "--workers", "1")
    assert code == 2 and "[algo-" not in err
    assert err.strip() == (f"augment run: error: --output {out} and --input {photos} must not contain each other: "
                           "outputs would be read back as inputs")
    assert sorted(p.name for p in photos.rglob("*")) == [list_samples()[0]], "nothing was written"


@pytest.mark.parametrize(("input", "output"), [
    ("in/", "in/"), ("in/", "in"), ("in/", "in/aug/"), ("in", "in-aug/"), ("in/cats/", "in/"), ("in/", ""),
])  # fmt: skip
def test_run_with_overlapping_s3_prefixes_is_refused(input, output, bucket, capsys):
    """S3 lists every key that starts with a prefix: s3://b/in also lists in-aug/..."""
    import boto3

    boto3.client("s3").put_object(Bucket=bucket, Key="in/cats/a.jpg", Body=b"x")
    for mode in ("standalone", "batched"):
        code, err = _main(capsys, "run", "--backend", "local", "--mode", mode, "--input", f"s3://{bucket}/{input}",
                          "--output", f"s3://{bucket}/{output}", "--spec", "light", "--workers", "1")
        assert code == 2 and "must not contain each other: outputs would be read back as inputs" in err, err
    assert [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]] == ["in/cats/a.jpg"]


def test_distinct_s3_prefixes_and_buckets_are_accepted():
    from augment.locations import check_disjoint

    check_disjoint("s3://b/in/", "s3://b/out/")
    check_disjoint("s3://b/in/", "s3://other/in/")
    check_disjoint("s3://b/train/", "s3://b/tra/")


# --- messages name where things end up, and flags the command has (19.6) -----------------


def _run_flags() -> set[str]:
    import argparse

    from augment.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {f for action in sub.choices["run"]._actions for f in action.option_strings}


@pytest.mark.slow
def test_run_messages_name_the_output_location_and_flags_run_has(tmp_path):
    """Today they name /tmp/augment-local-.../manifest-algo-1.jsonl, deleted when the run
    ends, and --max-error-rate, which `augment run` did not have."""
    from augment.manifest import read_manifest

    photos = _photos(tmp_path / "photos", n=1)
    result = _augment("run", "--backend", "local", "--input", "photos", "--output", "good", "--spec", "light",
                      "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[algo-1] outputs:  good\n" in result.stderr
    assert "[algo-1] manifest: good/_augment/manifest-algo-1.jsonl\n" in result.stderr
    assert "augment-local-" not in result.stderr, "no line names the deleted staging folder"

    (photos / "bad.jpg").write_bytes(b"not an image")
    result = _augment("run", "--backend", "local", "--input", "photos", "--output", "bad", "--spec", "light",
                      "--workers", "1", cwd=tmp_path)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("augment run: error: ") and "1 of 2 inputs failed" in error, error
    assert "Every reason is in bad/_augment/manifest-algo-1.jsonl;" in error
    assert "augment-local-" not in result.stderr
    # a flag named bare is one of run's; "the job's --X argument" is the job's (run says --X where it has it)
    assert set(re.findall(r"--[a-z][a-z-]*", re.sub(r"the job's --[a-z-]+ argument", "", error))) <= _run_flags()
    assert "raise --max-error-rate" in error if "--max-error-rate" in _run_flags() else \
        "raise the job's --max-error-rate argument" in error
    failed = [r for r in read_manifest(tmp_path / "bad" / "_augment" / "manifest-algo-1.jsonl")
              if r["status"] == "failed"]
    assert {r["source"] for r in failed} == {"bad.jpg"}, "the manifest the message names holds the reasons"


def test_a_job_names_its_output_uri_and_its_arguments(tmp_path, monkeypatch):
    """Inside a processing job (here a simulated /opt/ml), the failure message names the
    job's output S3 URI, and no --resume: a job cannot be resumed."""
    from augment import contract
    from augment.cli import main
    from tests.test_contract import make_host

    ml = make_host(tmp_path, "algo-2", ["algo-1", "algo-2"])
    (ml / "processing" / "input" / "images" / "bad.jpg").write_bytes(b"not an image")
    monkeypatch.setenv(contract.ROOT_ENV, str(ml))
    assert main(["process", "--spec", "light", "--workers", "1", "--progress", "off"]) == 1
    message = (ml / "output" / "message").read_text()
    assert message.startswith("bad inputs: 1 of 1 input failed (100.0%), more than the job's --max-error-rate "
                              "argument 1.0% "
                              "allows. First: bad.jpg: "), message
    assert message.endswith("Every reason is in s3://bucket/out/_augment/manifest-algo-2.jsonl; fix or remove "
                            "those files, or raise the job's --max-error-rate argument."), message
    assert "--resume" not in message


def test_run_says_its_own_flag_where_it_has_the_jobs(monkeypatch):
    from augment import cli

    text = "more than the job's --max-error-rate argument 1.0% allows; raise the job's --workers argument"
    assert cli._in_run_terms(text) == ("more than the job's --max-error-rate argument 1.0% allows; raise --workers"
                                       if "--max-error-rate" not in _run_flags() else
                                       "more than --max-error-rate 1.0% allows; raise --workers")


def test_an_empty_input_is_refused_before_any_host_starts(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = _main(capsys, "run", "--backend", "local", "--input", str(tmp_path / "empty"), "--output",
                      str(tmp_path / "out"), "--spec", "light")
    assert code == 2 and "[algo-" not in err
    assert err.strip() == f"augment run: error: --input {tmp_path / 'empty'}: no files found"


def test_an_earlier_jobs_spec_file_is_read_with_the_checks_of_a_spec_file(tmp_path):
    """The spec.yaml found in a used output was parsed with plain yaml.safe_load: duplicate
    keys were taken last-wins (and aliases expanded), so a damaged file passed for a spec.
    It is read as `augment validate` reads a file; one it refuses is no spec to compare."""
    from augment.locations import check_unused_output
    from augment.spec import load_spec

    out = tmp_path / "out"
    (out / "_augment").mkdir(parents=True)
    (out / "_augment" / "spec.yaml").write_text("version: 1\nseed: 1\nseed: 2\nops: []\n")
    with pytest.raises(UsageError) as e:
        check_unused_output(load_spec({"version": 1, "seed": 3, "ops": []}), str(out))
    assert str(e.value).startswith(f"{out} already holds a job ({out}/_augment/spec.yaml)"), str(e.value)


@pytest.mark.slow
def test_a_sharded_job_with_more_hosts_than_inputs_completes(tmp_path, capsys):
    """ShardedByS3Key gives a host no object when hosts outnumber the objects, or only files
    the filters leave out: that host refused its empty share ("no files found", "no
    inputs: all 1 files are excluded"), then divided by its zero inputs, and the whole job
    failed although every input was done."""
    import json

    src = _photos(tmp_path / "in", n=1)
    (src / ".DS_Store").write_bytes(b"junk")  # sorted first: the first host's whole share
    out = tmp_path / "out"
    code, err = _main(capsys, "run", "--backend", "local", "--mode", "sharded", "--instance-count", "3",
                      "--input", str(src), "--output", str(out), "--spec", "light", "--workers", "1")
    assert code == 0, err
    assert err.count("this host's share of the input holds no input") == 2, err
    summaries = [json.loads((out / "_augment" / f"summary-algo-{n}.json").read_text()) for n in (1, 2, 3)]
    assert [(s["status"], s["inputs"], s["excluded"]) for s in summaries] == [
        ("completed", 0, 1), ("completed", 1, 0), ("completed", 0, 0)]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        f"{list_samples()[0]}.aug0.jpg", f"{list_samples()[0]}.aug1.jpg"]


def test_a_job_config_says_which_inputs_are_sharded(tmp_path, monkeypatch):
    """The host reads the distribution of its images input, so an empty share of a sharded
    input is no error while an empty replicated input still is."""
    import json

    from augment import contract

    config = tmp_path / "config"
    config.mkdir()
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))

    def job(distribution: str) -> contract.JobContext:
        inputs = [{"InputName": name, "S3Input": {"LocalPath": f"/opt/ml/processing/input/{name}",
                                                   "S3DataDistributionType": dist}}
                  for name, dist in (("images", distribution), ("spec", "FullyReplicated"))]
        (config / "processingjobconfig.json").write_text(json.dumps({"ProcessingJobName": "j",
                                                                     "ProcessingInputs": inputs}))
        return contract.read_context()

    monkeypatch.setenv(contract.ROOT_ENV, str(tmp_path))
    assert job("ShardedByS3Key").image_input_sharded() and job("ShardedByS3Key").sharded == {"images"}
    assert not job("FullyReplicated").image_input_sharded()


def test_the_failures_an_exit_message_quotes_do_not_depend_on_the_order_workers_finished():
    """The exit message names the first failed inputs by path: the same message on every run of
    a job (tests/test_image.py compares the container's with the process's)."""
    from augment.manifest import Tally

    records = [{"source": f"bad-{n}.jpg", "copy": 0, "status": "failed", "error": f"error {n}", "reason": "decode"}
               for n in (4, 1, 3, 2)]
    shown = []
    for order in (records, records[::-1]):
        tally = Tally()
        tally.add(order)
        shown.append(tally.first_failures())
    assert shown[0] == shown[1] == ["bad-1.jpg: error 1", "bad-2.jpg: error 2", "bad-3.jpg: error 3"]
