"""Hostile values at the command line's every option: numbers that are not numbers
(nan, inf), paths that are folders, missing, unwritable or under /proc, names that no
encoding decodes, and the streams a shell can leave closed or broken.

Each refusal is one clear line naming the flag (exit status 2), or the command works;
never "internal error" or a Python traceback. These are chosen cases, each with what it
must say; the sweep of every hostile value over every option of every subcommand (read
from the parser, so a new option is covered the day it is added) is tests/test_hostile_cli.py.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from augment.cli import main
from augment.errors import UsageError
from augment.samples import list_samples, samples_dir

AUGMENT = Path(sys.executable).with_name("augment")
NAN, INF = float("nan"), float("inf")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _no_bug(code: int, out: str, err: str) -> None:
    for text in (out, err):
        assert "internal error" not in text and "Traceback" not in text, (code, text[-3000:])


# --- item 9: numbers are finite and in range, through one validator ------------------------------


@pytest.mark.parametrize(("argv", "flag"), [
    (["plan", "--images", "10", "--prices", "offline", "--json", "--throughput", "inf"], "--throughput"),
    (["plan", "--images", "10", "--prices", "offline", "--max-cost", "nan"], "--max-cost"),
    (["plan", "--images", "10", "--prices", "offline", "--startup=-inf"], "--startup"),
    (["plan", "--images", "10", "--prices", "offline", "--startup", "1e999"], "--startup"),
    (["run", "--input", "in", "--output", "out", "--spec", "light", "--max-cost", "nan"], "--max-cost"),
    (["run", "--input", "in", "--output", "out", "--spec", "light", "--quota", "nan"], "--quota"),
    (["run", "--input", "in", "--output", "out", "--spec", "light", "--max-error-rate", "nan"], "--max-error-rate"),
    (["process", "--spec", "light", "--progress-interval", "nan"], "--progress-interval"),
    (["process", "--spec", "light", "--progress-interval", "inf"], "--progress-interval"),
    (["preview", "light", "--copies", "1e3"], "--copies"),
    (["run", "--input", "in", "--output", "out", "--spec", "light", "--instance-count", "9" * 5000],
     "--instance-count"),
])  # fmt: skip
def test_a_number_option_refuses_what_is_not_a_finite_number_in_range(argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(argv, capsys)
    assert code == 2, (out, err)
    assert f"argument {flag}: must be " in err, err
    assert out == "" and not (tmp_path / "out").exists(), "nothing was done"
    assert len(err.splitlines()[-1]) < 400, "one readable line, not the 5,000 digits"


def test_the_refusal_names_the_range(capsys):
    code, _, err = _run(["plan", "--images", "10", "--startup", "nan"], capsys)
    assert code == 2 and "argument --startup: must be a finite number in [0, 86400], got nan" in err
    code, _, err = _run(["process", "--spec", "light", "--workers", "0"], capsys)
    assert code == 2 and "argument --workers: must be in [1, 1024], got 0" in err
    code, _, err = _run(["process", "--spec", "light", "--copies", "2.5"], capsys)
    assert code == 2 and "argument --copies: must be a whole number in [1, 1000], got '2.5'" in err


def test_run_with_a_max_cost_of_nan_launches_nothing(tmp_path, small_samples, capsys):
    """`cost > nan` is false: the guard was off, and the job ran."""
    out = tmp_path / "out"
    code, stdout, err = _run(["run", "--input", str(small_samples), "--output", str(out), "--spec", "light",
                              "--workers", "1", "--max-cost", "nan"], capsys)
    assert code == 2 and "--max-cost" in err and "finite" in err, (stdout, err)
    assert not out.exists(), "no job was launched"


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"max_cost": NAN}, "max_cost=nan"),
    ({"max_cost": INF}, "max_cost=inf"),
    ({"max_cost": -1.0}, "max_cost=-1.0"),
    ({"quota": NAN}, "quota=nan"),
    ({"max_in_flight": NAN, "mode": "batched"}, "max_in_flight=nan"),
])
def test_launch_refuses_a_limit_that_is_no_finite_number_before_anything_runs(kwargs, named, tmp_path, small_samples):
    from augment.jobs import LocalBackend
    from augment.jobs.launch import launch

    out = tmp_path / "out"
    with pytest.raises(UsageError, match=f"^{named}: must be"):
        launch(LocalBackend(), "light", str(small_samples), str(out), workers=1, **kwargs)
    assert not out.exists(), "nothing was launched"


@pytest.mark.parametrize("interval", [NAN, INF, -1.0])
def test_run_job_refuses_a_progress_interval_that_never_comes(interval, tmp_path, small_samples):
    from augment.engine import run_job

    with pytest.raises(UsageError, match=r"^progress_interval=.*: must be "):
        run_job("light", small_samples, tmp_path / "out", workers=1, progress_interval=interval)
    assert not (tmp_path / "out" / "_augment").exists()


def test_json_output_is_strict(capsys):
    code, out, _ = _run(["plan", "--images", "10", "--prices", "offline", "--throughput", "1e9", "--json"], capsys)
    assert code == 0

    def refuse(constant: str) -> float:
        raise AssertionError(f"{constant} in --json output")

    json.loads(out, parse_constant=refuse)


def test_check_number_takes_ints_of_any_size_and_names_the_parameter():
    from augment.options import check_number

    assert check_number("n", 10**400, min=1, integer=True) == 10**400
    with pytest.raises(UsageError, match=r"^max_cost=nan: must be a finite number >= 0$"):
        check_number("max_cost", NAN, min=0)
    with pytest.raises(UsageError, match=r"^copies=True: must be a whole number >= 1$"):
        check_number("copies", True, min=1, integer=True)
    with pytest.raises(UsageError, match=r"^rate=2: must be in \[0, 1\]$"):
        check_number("rate", 2, min=0, max=1)


# --- item 10: a spec file of any name reaches the job under a name it takes ----------------------


def test_a_spec_file_of_any_name_is_shipped_under_a_name_the_host_takes(tmp_path):
    from augment.contract import JobContext
    from augment.jobs import build_request
    from augment.jobs.launch import SPEC_PATH

    text = "version: 1\nseed: 3\nops: [RandomHorizontalFlip]\n"
    for name in ("my.spec", "spec.YAML", "spec.txt", "noext", os.fsdecode(b"sp\xffec.yaml")):
        spec = tmp_path / name
        spec.write_text(text)
        request = build_request(str(spec), str(tmp_path / "in"), str(tmp_path / "out"))
        shipped = Path(next(i.source for i in request.inputs if i.destination == SPEC_PATH))
        assert shipped.read_text() == text
        staged = tmp_path / "staged" / name.encode("utf-8", "surrogateescape").hex()  # as the runtime stages it
        staged.mkdir(parents=True)
        (staged / shipped.name).write_bytes(shipped.read_bytes())
        found = JobContext(inputs={"spec": staged}).spec_path()  # the host's own choice of file
        assert found is not None and found.read_text() == text, name


def test_a_shipped_spec_copy_is_removed_when_the_launching_process_exits(tmp_path):
    """``shipped_spec`` left ``augment-specs-<uid>/<digest>/spec.yaml`` in the temporary
    folder for good; the copy lives while the process that submitted the job does."""
    temp = tmp_path / "temp"
    temp.mkdir()
    (tmp_path / "my.spec").write_text("version: 1\nops: [RandomHorizontalFlip]\n")
    code = ("import sys; from pathlib import Path; from augment.jobs.launch import shipped_spec\n"
            "a, b = Path(shipped_spec(sys.argv[1])), Path(shipped_spec(sys.argv[1]))\n"
            "assert a == b and a.read_text().startswith('version: 1'), a\n"
            "print(a)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "my.spec")], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(temp)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(temp), done.stdout
    assert list(temp.iterdir()) == [], "the copy outlived the process"


def test_a_yaml_or_json_spec_travels_under_its_own_name(tmp_path):
    from augment.jobs import build_request
    from augment.jobs.launch import SPEC_PATH

    for name in ("a.yaml", "b.yml", "c.json"):
        spec = tmp_path / name
        spec.write_text('{"version": 1, "ops": []}')
        request = build_request(str(spec), str(tmp_path / "in"), str(tmp_path / "out"))
        assert next(i.source for i in request.inputs if i.destination == SPEC_PATH) == str(spec.resolve())


@pytest.mark.slow
def test_a_spec_named_without_a_yaml_suffix_runs_through_sagemaker_and_the_local_runtime(aws, bucket, tmp_path):
    """Kit -> SageMaker API (moto) -> the described job run by the local runtime: its host takes the spec."""
    from augment.jobs import JobRequest, build_request, run_local
    from augment.jobs.sagemaker import SageMakerBackend

    for name in list_samples()[:2]:
        boto3.client("s3").upload_file(str(samples_dir() / name), bucket, f"train/{name}")
    spec = tmp_path / "flip.spec"
    spec.write_text("version: 1\nseed: 9\ncopies: 1\nops: [RandomHorizontalFlip]\n")
    backend = SageMakerBackend(boto_session=boto3.Session(), role="arn:aws:iam::123456789012:role/R", bucket=bucket)
    job = backend.submit(build_request(str(spec), f"s3://{bucket}/train/", f"s3://{bucket}/aug/", workers=1,
                                       image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:1"))
    described = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=job.name)
    spec_uri = next(i["S3Input"]["S3Uri"] for i in described["ProcessingInputs"] if i["InputName"] == "spec")
    assert spec_uri.endswith("/spec.yaml"), spec_uri
    result = run_local(JobRequest.from_request(described).with_changes(instance_count=1))
    assert result["ProcessingJobStatus"] == "Completed", result.get("FailureReason")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="aug/")["Contents"]]
    assert len([k for k in keys if ".aug0." in k]) == 2


# --- item 16: clear lines for what the shell or the account leaves in the way ---------------------


def test_run_names_an_output_bucket_that_does_not_exist(aws, bucket, capsys):
    boto3.client("s3").upload_file(str(samples_dir() / list_samples()[0]), bucket, "train/a.jpg")
    code, out, err = _run(["run", "--input", f"s3://{bucket}/train/", "--output", "s3://no-such-bucket-here/out/",
                           "--spec", "light", "--workers", "1"], capsys)
    assert code == 2, err
    assert "--output s3://no-such-bucket-here/out/: there is no bucket 'no-such-bucket-here'" in err
    _no_bug(code, out, err)


@pytest.mark.slow
def test_process_runs_with_stderr_closed(tmp_path, small_samples):
    out = tmp_path / "out"
    done = subprocess.run(["sh", "-c", 'exec "$0" "$@" 2>&-', str(AUGMENT), "process", "--spec", "light",
                           "--input-dir", str(small_samples), "--output-dir", str(out), "--workers", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["status"] == "completed"
    assert "internal error" not in done.stdout


@pytest.mark.parametrize("argv", [["ops"], ["samples"], ["presets"], ["ops", "--json"]])
def test_a_reader_that_left_ends_the_command_quietly(argv):
    """`augment ops | head -1`: the pipe's reader is gone before the first write."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([str(AUGMENT), *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert done.stderr == "", done.stderr
    assert done.returncode == 141, "the status of a command stopped by SIGPIPE"


def test_an_ascii_only_stdout_gets_ascii_punctuation(tmp_path, capsys, monkeypatch):
    """`LC_ALL=C PYTHONUTF8=0`: stdout encodes ASCII only, and preview's captions hold '·'."""
    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii", errors="strict", newline="\n")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    code = main(["preview", "light", "--n", "1", "--max-side", "32", "--out", str(tmp_path / "p.png")])
    ascii_out.flush()
    shown = raw.getvalue().decode("ascii")
    err = capsys.readouterr().err
    assert code == 0, err
    assert " - " in shown and "grid: " in shown
    _no_bug(code, shown, err)


@pytest.mark.slow
def test_an_ascii_locale_runs_preview(tmp_path):
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(AUGMENT), "preview", "light", "--n", "1", "--max-side", "32", "--out",
                           str(tmp_path / "p.png")], capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert b"internal error" not in done.stderr and b"Traceback" not in done.stderr


def test_a_stream_and_a_file_escape_a_name_alike():
    """The stream's error handler (cli._tolerant) and the files' encoder (text.utf8) had each
    their own escaping: a run of an undecodable byte and another lone surrogate read
    ``\\udcff\\ud800`` on stderr but ``\\xff\\ud800`` in a file. One escaping now."""
    import codecs

    from augment.cli import _tolerant
    from augment.text import utf8

    codecs.register_error("augment.tolerant", _tolerant)
    for text in ["a\udcffb", "a\udcff\ud800b", "\ud800", "x\udc80\udcfe\u00b7y"]:
        escaped = utf8(text).decode("utf-8")
        assert text.encode("ascii", "augment.tolerant").decode("ascii") == escaped.replace("\u00b7", "-"), text
    assert utf8("a\udcff\ud800b") == b"a\\xff\\ud800b"


def test_one_plural_and_one_mathjax_class_name():
    """``plural`` and ``plural_n`` were two: one, with thousands separated; notebooks'
    ``plain_markdown`` spelled the classes MathJax skips again."""
    import augment.text as text
    from augment.notebooks import plain_markdown

    assert text.plural(1_000_000, "image") == "1,000,000 images" and text.plural(1, "copy") == "1 copy"
    assert not hasattr(text, "plural_n")
    assert f'class="{text.MATHJAX_IGNORE}"' in plain_markdown("$1") and text.MATHJAX_IGNORE in text.plain_html("")


def test_undecodable_names_are_shown_as_escapes(tmp_path, monkeypatch):
    """A name of bytes no encoding decodes (os.fsdecode's surrogates) is printed as \\xff."""
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(raw, encoding="utf-8", errors="strict"))
    code = main(["process", "--spec", "light", "--input-dir", str(tmp_path / os.fsdecode(b"sp\xffec")),
                 "--output-dir", str(tmp_path / "out")])
    sys.stderr.flush()
    err = raw.getvalue().decode("utf-8")
    assert code == 2 and "sp\\xffec" in err, err
    _no_bug(code, "", err)


def test_a_file_that_cannot_be_written_is_one_clear_line(tmp_path):
    from augment.files import write_output
    from augment.spec import dump_spec, load_spec

    with pytest.raises(UsageError, match=r"^cannot write .*: it is a folder; name a file in it$"):
        dump_spec(load_spec("light"), tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"^cannot write .*file/x\.yaml: .*/file is a file, not a folder; "
                                         r"name a folder$"):
        dump_spec(load_spec("light"), tmp_path / "file" / "x.yaml")
    with pytest.raises(UsageError, match=r"^cannot write /proc/augment-test/x\.json \(--json\): "):
        write_output("/proc/augment-test/x.json", "{}", flag="--json")
    path = write_output(tmp_path / "new" / "deep" / "x.txt", "é")
    assert path.read_bytes() == "é".encode() and os.listdir(path.parent) == ["x.txt"], "no temporary file left"


# --- item 17 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP])
def test_a_path_read_or_written_is_refused_in_one_wording(code, tmp_path):
    """The command line's refusal of a path it read (cli._PATH_REASONS) and of a file it
    wrote (files.cannot_write) had each its wording of one fault ("choose a path you may
    use" / "choose a place you may write to"; "name a folder" or not)."""
    from augment.cli import _parser, _path_error
    from augment.files import cannot_write, path_reason

    (tmp_path / "file").write_text("x")
    failed = str(tmp_path / "file" / "x")
    args = _parser().parse_args(["replay", failed, "--record", "1", "--out", str(tmp_path / "o.png")])
    error = OSError(code, os.strerror(code), failed)
    reason = path_reason(error, failed)
    assert reason and "; " in reason, reason  # the fault; what to do
    assert str(_path_error(args, error)) == f"{failed!r}: {reason}".join(["MANIFEST ", ""])
    assert str(cannot_write(failed, error, "--out")) == f"cannot write {failed} (--out): {reason}"


def test_a_spec_path_that_is_a_folder_is_called_a_folder(tmp_path, capsys):
    code, _, err = _run(["validate", str(tmp_path)], capsys)
    assert code == 2 and f"{str(tmp_path)!r} is a folder, not a spec file" in err
    assert "no such spec file" not in err


def test_one_of_a_thing_is_singular(capsys):
    code, out, _ = _run(["plan", "--images", "1", "--copies", "1", "--prices", "offline",
                         "--mode", "standalone", "--instance-type", "ml.m5.large"], capsys)
    assert code == 0 and "work: 1 image x 1 copy = 1 output " in out
    assert not any(f"1 {noun}" in out for noun in ("copies", "images", "outputs", "inputs", "jobs")), out
