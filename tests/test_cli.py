"""The `augment` console script, run as users run it (a real subprocess)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

from augment.manifest import read_manifest
from augment.spec import list_presets, load_spec

AUGMENT = Path(sys.executable).with_name("augment")
COMMANDS = ["process", "run", "local-run", "image", "validate", "replay", "presets", "ops", "samples"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUGMENT), *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_console_script_and_module_give_the_same_help():
    script = run("--help")
    module = subprocess.run([sys.executable, "-m", "augment", "--help"], capture_output=True, text=True)
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout
    for command in COMMANDS:
        assert command in script.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: augment " + command)
    assert len(result.stdout.splitlines()) > 4


@pytest.mark.parametrize("preset", list_presets())
def test_validate_accepts_every_shipped_preset(preset):
    result = run("validate", preset)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {preset}:")


def test_presets_cover_light_strong_and_defense():
    result = run("presets")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"light", "strong", "defense"} <= set(names)
    defense = run("presets", "defense").stdout
    assert "JPEG" in defense and "RandomPosterize" in defense and "GaussianBlur" in defense


def test_validate_names_the_wrong_op_and_field_and_exits_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        "version: 1\nseed: 1\ncopies: 2\nops:\n"
        "  - RandomResizedCrop: {size: 224}\n"
        "  - RandomHorizontalFlp: {p: 0.5}\n"
        "  - ColorJitter: {brightness: 0.4, hue: 0.7}\n"
    )
    result = run("validate", str(bad))
    assert result.returncode == 2
    assert "ops[1]: unknown op 'RandomHorizontalFlp'; did you mean 'RandomHorizontalFlip'" in result.stderr
    assert "ops[2].ColorJitter.hue:" in result.stderr and "[-0.5, 0.5]" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("version: 1\nops: [RandomInvert\n", "not valid YAML at line"),
        ("version: 2\nops: []\n", "version: this kit reads version 1"),
        ("version: 1\nseed: -1\nops: []\n", "seed: must be an integer"),
        ("version: 1\ncopys: 2\nops: []\n", "copys: unknown top-level field"),
        ("- just a list\n", "the spec must be a mapping"),
    ],
)
def test_validate_reports_malformed_files(tmp_path, text, expect):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    result = run("validate", str(path))
    assert result.returncode == 2 and expect in result.stderr, result.stderr


def test_validate_print_shows_the_canonical_spec():
    result = run("validate", "light", "--print")
    assert result.returncode == 0
    assert "ratio: [0.75, 1.3333333333333333]" in result.stdout


def test_missing_spec_file_is_a_usage_error(tmp_path):
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "no such spec file" in result.stderr and "light" in result.stderr


def test_process_then_replay(small_samples, tmp_path):
    out = tmp_path / "out"
    result = run("process", "--spec", "strong", "--input-dir", str(small_samples), "--output-dir", str(out),
                 "--workers", "2", "--copies", "2", "--seed", "5", "--format", "png")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"outputs:  {out}"
    assert lines[1].startswith("manifest: ") and lines[1].endswith("_augment/manifest-local.jsonl")
    assert lines[2].startswith("augment: 7 inputs x 2 copies -> 14 outputs, 0 failed inputs, in ")
    assert lines[2].endswith(" outputs/s)")
    manifest = out / "_augment" / "manifest-local.jsonl"
    records = read_manifest(manifest)
    assert all(r["format"] == "png" for r in records)
    assert {r["seed"] for r in records} and (out / "_augment" / "spec.yaml").read_text().startswith("version: 1")
    again = tmp_path / "again.png"
    result = run("replay", str(manifest), "--record", "4", "--out", str(again))
    assert result.returncode == 0, result.stderr
    assert "bit-exact" in result.stdout
    assert again.read_bytes() == (out / records[3]["output"]).read_bytes()


def test_replay_exits_1_when_the_bytes_differ(small_samples, tmp_path):
    out = tmp_path / "out"
    assert run("process", "--spec", "light", "--input-dir", str(small_samples), "--output-dir", str(out),
               "--workers", "1").returncode == 0
    manifest = out / "_augment" / "manifest-local.jsonl"
    lines = manifest.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["output_sha256"] = "0" * 64  # as if the original was produced by other library versions
    manifest.write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    result = run("replay", str(manifest), "--record", "1", "--out", str(tmp_path / "r.jpg"))
    assert result.returncode == 1 and "DIFFERENT" in result.stdout
    result = run("replay", str(manifest), "--record", "0", "--out", str(tmp_path / "r.jpg"))
    assert result.returncode == 2 and "records 1 to 14" in result.stderr


def test_process_fails_with_exit_1_and_a_reason_on_bad_inputs(tmp_path, small_samples):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes((small_samples / "rocket.jpg").read_bytes())
    (src / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = run("process", "--spec", "light", "--input-dir", str(src), "--output-dir", str(tmp_path / "o"),
                 "--workers", "1")
    assert result.returncode == 1
    assert "1 of 2 inputs failed" in result.stderr and "b.jpg" in result.stderr
    ok = run("process", "--spec", "light", "--input-dir", str(src), "--output-dir", str(tmp_path / "o2"),
             "--workers", "1", "--max-error-rate", "0.5")
    assert ok.returncode == 0


def test_process_rejects_bad_arguments_with_exit_2(tmp_path, small_samples):
    result = run("process", "--spec", "light", "--input-dir", str(small_samples), "--output-dir",
                 str(tmp_path / "o"), "--workers", "0")
    assert result.returncode == 2 and "--workers" in result.stderr
    result = run("process", "--spec", "light", "--input-dir", str(tmp_path / "missing"), "--output-dir",
                 str(tmp_path / "o"))
    assert result.returncode == 2 and "not a directory" in result.stderr
    result = run("process", "--spec", "light", "--input-dir", str(small_samples), "--output-dir",
                 str(tmp_path / "o"), "--quality", "101")
    assert result.returncode == 2 and "--quality: must be in [1, 100], got 101" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("preset, same_pixels", [("strong", False), ("light", True)])
def test_kernels_override_changes_pixels_not_parameters(preset, same_pixels, small_samples, tmp_path):
    """``strong`` rotates (TrivialAugmentWide), where Pillow and torch differ; ``light``
    is a resized crop, a flip and ColorJitter, whose fast kernels are exact."""
    outs = {}
    for kernels in ("fast", "torchvision"):
        result = run("process", "--spec", preset, "--input-dir", str(small_samples), "--output-dir",
                     str(tmp_path / kernels), "--workers", "1", "--kernels", kernels)
        assert result.returncode == 0, result.stderr
        assert f"kernels: {kernels}" in (tmp_path / kernels / "_augment" / "spec.yaml").read_text()
        outs[kernels] = read_manifest(tmp_path / kernels / "_augment" / "manifest-local.jsonl")
    key = lambda r: (r["source"], r["copy"])  # noqa: E731
    fast, reference = sorted(outs["fast"], key=key), sorted(outs["torchvision"], key=key)
    assert [r["params"] for r in fast] == [r["params"] for r in reference]
    same = [a["output_sha256"] == b["output_sha256"] for a, b in zip(fast, reference, strict=True)]
    assert all(same) if same_pixels else not all(same)


def test_progress_lines_in_logs(small_samples, tmp_path):
    result = run("process", "--spec", "light", "--input-dir", str(small_samples), "--output-dir",
                 str(tmp_path / "o"), "--workers", "1", "--progress", "lines")
    assert result.returncode == 0
    assert "\r" not in result.stderr, "no carriage-return bars in container logs"


def test_ops_and_samples_listings():
    ops = run("ops")
    assert ops.returncode == 0 and len(ops.stdout.splitlines()) == 29
    one = run("ops", "ColorJitter")
    assert "brightness" in one.stdout and "torchvision.transforms.v2.ColorJitter" in one.stdout
    schema = json.loads(run("ops", "--json").stdout)
    assert {op["name"] for op in schema} >= {"RandomApply", "AugMix", "JPEG"}
    bad = run("ops", "ColourJitter")
    assert bad.returncode == 2 and "did you mean 'ColorJitter'" in bad.stderr
    samples = run("samples")
    assert samples.returncode == 0 and "chelsea.jpg" in samples.stdout and "LICENSES.md" in samples.stdout


def test_readme_validate_example_is_what_the_command_prints(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("Given this\n`broken.yaml`"):]
    spec_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("$ augment validate broken.yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "broken.yaml").write_text(spec_text)
    result = run("validate", "broken.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == shown


def test_json_logs_are_one_object_per_line(small_samples, tmp_path):
    result = run("process", "--spec", "light", "--input-dir", str(small_samples), "--output-dir",
                 str(tmp_path / "o"), "--workers", "1", "--log-format", "json", "--progress-interval", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", "in JSON mode everything is an event on stderr"
    events = [json.loads(line) for line in result.stderr.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "summary" and kinds.count("progress") >= 7
    assert all({"time", "level", "event", "message"} <= e.keys() for e in events)
    summary = events[-1]
    assert summary["status"] == "completed" and summary["written"] == 14 and summary["failures_by_reason"] == {}
    assert summary["versions"]["torch"] and len(summary["spec_digest"]) == 64
    assert events[-2]["done"] == 7 and events[-2]["errors"] == 0


def test_include_and_exclude_flags_filter_the_inputs_and_list_what_they_left_out(small_samples, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in sorted(p.name for p in small_samples.iterdir()):
        (src / name).write_bytes((small_samples / name).read_bytes())
        (src / f"{name}.json").write_text("{}")  # a sidecar per image
    (src / "sub" / "MD5SUMS.txt").write_text("...")
    (src / ".DS_Store").write_bytes(b"junk")
    out = tmp_path / "out"
    result = run("process", "--spec", "light", "--input-dir", str(src), "--output-dir", str(out), "--workers", "1",
                 "--exclude", "*.json", "--exclude", "*.txt", "--progress", "off")
    assert result.returncode == 0, result.stderr
    assert "augment: 7 inputs x 2 copies -> 14 outputs, 0 failed inputs, 9 files excluded, in " in result.stdout
    assert "9 files are not inputs (*.json: 7, .DS_Store: 1, *.txt: 1); listed in " in result.stderr
    excluded = [json.loads(line) for line in (out / "_augment" / "excluded-local.jsonl").read_text().splitlines()]
    assert len(excluded) == 9 and {e["pattern"] for e in excluded} == {"*.json", "*.txt", ".DS_Store"}
    assert load_spec(out / "_augment" / "spec.yaml").input.exclude == ("*.json", "*.txt"), "on record"

    out = tmp_path / "only-jpg"
    (src / "sub" / "x.png").write_bytes((small_samples / "rocket.jpg").read_bytes())
    result = run("process", "--spec", "light", "--input-dir", str(src), "--output-dir", str(out), "--workers", "1",
                 "--include", "*.jpg", "--progress", "off")
    assert result.returncode == 0, result.stderr
    assert {r["source"] for r in read_manifest(out / "_augment" / "manifest-local.jsonl")} == {
        p.name for p in small_samples.iterdir()}
    summary = json.loads((out / "_augment" / "summary-local.json").read_text())
    assert summary["inputs"] == 7 and summary["excluded"] == 10
    result = run("process", "--spec", "light", "--input-dir", str(src), "--output-dir", str(tmp_path / "x"),
                 "--exclude", "/abs/*")
    assert result.returncode == 2 and "input.exclude[0]: '/abs/*' starts with '/'" in result.stderr


def test_replay_by_source_and_a_spec_that_differs_says_so(small_samples, tmp_path):
    out = tmp_path / "out"
    assert run("process", "--spec", "light", "--input-dir", str(small_samples), "--output-dir", str(out),
               "--workers", "1", "--progress", "off").returncode == 0
    manifest = out / "_augment" / "manifest-local.jsonl"
    again = tmp_path / "again.jpg"
    result = run("replay", str(manifest), "--source", "coffee.jpg", "--copy", "1", "--out", str(again))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("record ") and ": coffee.jpg copy 1 -> " in result.stdout
    assert "bit-exact" in result.stdout and again.read_bytes() == (out / "coffee.jpg.aug1.jpg").read_bytes()

    other = tmp_path / "other.yaml"  # the job's spec with another op: same seed, other bytes
    other.write_text((out / "_augment" / "spec.yaml").read_text().replace("ops:\n", "ops:\n- RandomInvert: {p: 1.0}\n"))
    result = run("replay", str(manifest), "--source", "coffee.jpg", "--out", str(again), "--spec", str(other))
    assert result.returncode == 1 and "DIFFERENT" in result.stdout
    job = json.loads((out / "_augment" / "summary-local.json").read_text())["spec_digest"]
    assert (f"the spec differs from the job's: this spec's digest is {load_spec(other).digest[:12]}, the job's "
            f"{job[:12]}") in result.stderr
    assert "library versions" not in result.stderr
    for bad, expect in [(["--record", "1", "--source", "coffee.jpg"], "not allowed with argument"),
                        (["--record", "1", "--copy", "1"], "--copy goes with --source"),
                        ([], "one of the arguments --source --record is required")]:
        result = run("replay", str(manifest), *bad, "--out", str(again))
        assert result.returncode == 2 and expect in result.stderr, result.stderr


def test_empty_ops_is_valid_and_process_re_encodes_each_input(small_samples, tmp_path, capsys):
    """``ops: []`` is the validator's own "an empty list only re-encodes": a job that
    converts or recompresses, each output the input's pixels, with a manifest as usual."""
    from augment.cli import main
    from augment.images import open_image

    spec = tmp_path / "reencode.yaml"
    spec.write_text("version: 1\nseed: 3\ncopies: 2\noutput: {format: png}\nops: []\n")
    assert main(["validate", str(spec)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {spec}: 0 ops, 2 copies, seed 3, digest ") and err == ""
    assert main(["process", "--spec", str(spec), "--input-dir", str(small_samples), "--output-dir",
                 str(tmp_path / "o"), "--workers", "1", "--progress", "off"]) == 0
    out, err = capsys.readouterr()
    assert "augment: 7 inputs x 2 copies -> 14 outputs, 0 failed inputs" in out, err
    assert "Traceback" not in err and "internal error" not in err
    records = read_manifest(tmp_path / "o" / "_augment" / "manifest-local.jsonl")
    assert len(records) == 14 and all(r["status"] == "ok" and r["params"] == [] for r in records)
    for r in records:
        with PIL.Image.open(tmp_path / "o" / r["output"]) as written:
            assert written.format == "PNG"
            original = open_image((small_samples / r["source"]).read_bytes()).load()
            assert written.tobytes() == original.tobytes(), "no op: the pixels are the input's"


def _old_job_options(p):
    """The job options as `augment process` and `augment run` defined them by hand before
    augment.options.OPTIONS generated them (cli._add_job_options): the reference the table must match."""
    import argparse

    from augment.options import MAX_COPIES, MAX_SEED, number

    p.add_argument("--seed", type=number(min=0, max=MAX_SEED, integer=True), default=None)
    p.add_argument("--copies", type=number(min=1, max=MAX_COPIES, integer=True), default=None)
    p.add_argument("--format", choices=("same", "jpeg", "png", "webp"), default=None)
    p.add_argument("--quality", type=number(min=1, max=100, integer=True), default=None)
    p.add_argument("--kernels", choices=("fast", "torchvision"), default=None)
    p.add_argument("--keep-original", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--max-error-rate", type=number(min=0, max=1), default=None)
    p.add_argument("--max-pixels", type=number(min=1, integer=True), default=None)
    p.add_argument("--include", action="append", default=None, metavar="GLOB")
    p.add_argument("--exclude", action="append", default=None, metavar="GLOB")
    # the labels' options (#28), added to the table since
    p.add_argument("--annotations", default=None, metavar="PATH")
    p.add_argument("--annotation-format", choices=("coco", "yolo", "voc", "groundtruth", "masks"), default=None)
    p.add_argument("--masks", default=None, metavar="DIR")  # the same as the two above with the masks format


def _old_arguments(options):
    """The container arguments the launchers built from parsed job options before the table."""
    order = ("seed", "copies", "format", "quality", "keep_original", "kernels", "max_pixels", "max_error_rate",
             "include", "exclude", "annotations", "annotation_format")
    args = []
    for name in order:
        value, flag = options.get(name), "--" + name.replace("_", "-")
        if value is None:
            continue
        if name in ("include", "exclude"):
            args += [f"{flag}={g}" for g in value]
        elif name == "keep_original":
            args.append(flag if value else "--no-keep-original")
        else:
            args += [flag, str(float(value) if name == "max_error_rate" else value)]
    return tuple(args)


@pytest.mark.parametrize("argv", [
    [],
    ["--seed", "0"], ["--seed", str(2**63 - 1)], ["--copies", "1"], ["--copies", "1000"],
    ["--format", "same"], ["--format", "webp"], ["--quality", "1"], ["--quality", "100"],
    ["--kernels", "torchvision"], ["--kernels", "fast"], ["--keep-original"], ["--no-keep-original"],
    ["--max-error-rate", "0"], ["--max-error-rate", "0.5"], ["--max-error-rate", "1"], ["--max-pixels", "1"],
    ["--include", "*.jpg"], ["--include=-tmp*", "--include", "a/**"], ["--exclude", "*.json", "--exclude", "x"],
    ["--annotations", "s3://b/instances.json"], ["--annotations", "yolo", "--annotation-format", "yolo"],
    ["--seed", "7", "--copies", "3", "--format", "png", "--quality", "80", "--kernels", "fast", "--keep-original",
     "--max-error-rate", "0.25", "--max-pixels", "4000000", "--include", "*.jpg", "--exclude", "*.json"],
])
def test_the_options_table_parses_and_passes_on_every_option_as_the_old_cli_did(argv):
    """One table (augment.options.OPTIONS) generates the job options of `process` and `run`, the
    container arguments and launch()'s keywords: each argv parses to the same values as the hand-written
    parser did, and goes back to the container arguments the launchers built from them."""
    import argparse

    from augment.options import JOB_OPTIONS, add_job_options, parse_job_arguments, process_arguments

    old, new = argparse.ArgumentParser(), argparse.ArgumentParser()
    _old_job_options(old)
    add_job_options(new)
    parsed = vars(new.parse_args(argv))
    assert parsed == vars(old.parse_args(argv)) == parse_job_arguments(argv)
    assert set(parsed) == set(JOB_OPTIONS)
    assert process_arguments("light", **parsed) == _old_arguments(parsed)
    assert parse_job_arguments(process_arguments("light", **parsed)) == parsed, "the job reads back what was sent"


def test_the_options_table_defines_each_option_as_the_old_cli_did():
    """Flag, dest, default, type (its refusals), choices, action and metavar of every job option, against
    the hand-written definition; and `process` and `run` both take every option of the table."""
    import argparse

    from augment.cli import _parser
    from augment.options import JOB_OPTIONS, OPTIONS, add_job_options

    old, new = argparse.ArgumentParser(), argparse.ArgumentParser()
    _old_job_options(old)
    add_job_options(new)
    olds = {a.dest: a for a in old._actions if a.dest != "help"}
    news = {a.dest: a for a in new._actions if a.dest != "help"}
    assert list(olds) == list(news) and set(news) == set(JOB_OPTIONS) == {o.name for o in OPTIONS}
    for dest, a in news.items():
        b = olds[dest]
        assert (a.option_strings, a.default, a.choices, a.nargs, a.metavar, type(a)) == \
            (b.option_strings, b.default, b.choices, b.nargs, b.metavar, type(b)), dest
        assert (a.type is None) == (b.type is None), dest
        for text in ("0", "1", "-1", "0.5", "nan", "inf", "1e999", "x", str(2**63), "1001", "101"):
            def outcome(action, text=text):
                try:
                    return action.type(text)
                except argparse.ArgumentTypeError as e:
                    return str(e)
            if a.type is not None:
                assert outcome(a) == outcome(b), (dest, text)
    commands = {name: sub for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)
                for name, sub in a.choices.items()}
    for name in ("process", "run"):
        assert set(JOB_OPTIONS) <= {a.dest for a in commands[name]._actions}, name


@pytest.mark.parametrize("argv", [
    ["run", "--spec", "light", "--input", "", "--output", "OUT"],
    ["run", "--spec", "light", "--input", "IN", "--output", " "],
    ["plan", "--input", ""],
    ["process", "--spec", "light", "--input-dir", "", "--output-dir", "OUT"],
    ["process", "--spec", "light", "--input-dir", "IN", "--output-dir", ""],
])
def test_an_empty_location_is_refused_not_read_as_a_default(argv, tmp_path, capsys):
    """``--input ""`` was the current folder (run: "--output ... and --input  must not contain
    each other"); ``--input-dir ""`` was the container's input folder. Both are refused by name."""
    from augment.cli import main

    argv = [str(tmp_path / "out") if a == "OUT" else str(tmp_path) if a == "IN" else a for a in argv]
    assert main(argv) == 2
    flag = next(a for a, v in itertools.pairwise(argv) if a.startswith("--") and not v.strip())
    assert capsys.readouterr().err.strip().endswith(f"error: {flag}: empty; name a folder" + (
        " or an s3://BUCKET/PREFIX" if flag in ("--input", "--output") else ""))
    assert not (tmp_path / "out").exists()


def test_a_huge_duration_is_quoted_briefly(capsys):
    from augment.cli import main

    assert main(["plan", "--images", "10", "--deadline", "9" * 400]) == 2
    err = capsys.readouterr().err
    assert "(402 characters)" in err and len(err) < 400, err


@pytest.mark.parametrize("argv, failed, blamed", [
    # "/" and the current folder hold far more than the argument means: only themselves
    (["process", "--input-dir", "/", "--output-dir", "OUT"], "/root/.cache/augment/x", None),
    (["process", "--input-dir", "/", "--output-dir", "OUT"], "/", "--input-dir '/'"),
    (["process", "--input-dir", ".", "--output-dir", "OUT"], "CWD/.cache/x", None),
    (["process", "--input-dir", "../HERE", "--output-dir", "OUT"], "CWD/opt/ml/x", None),
    (["process", "--input-dir", ".", "--output-dir", "OUT"], "CWD", "--input-dir '.'"),
    (["process", "--input-dir", ".", "--output-dir", "OUT"], ".", "--input-dir '.'"),
    # an argument that is a narrower folder claims what lies under it, relative or absolute
    (["process", "--input-dir", "imgs", "--output-dir", "OUT"], "CWD/imgs/a/b.jpg", "--input-dir 'imgs'"),
    (["process", "--input-dir", "imgs", "--output-dir", "OUT"], "imgs/a/b.jpg", "--input-dir 'imgs'"),
    (["process", "--input-dir", "imgs", "--output-dir", "OUT"], "CWD/imgsX/b.jpg", None),
    # the longest match wins: the output folder lies in the input's
    (["process", "--input-dir", "imgs", "--output-dir", "imgs/out"], "CWD/imgs/out/_augment", "--output-dir"),
    # an option that is not a path is never blamed, whatever its value
    (["process", "--input-dir", "imgs", "--output-dir", "OUT", "--host", "CWD/h"], "CWD/h/x", None),
])
def test_a_path_error_blames_only_the_path_argument_it_lies_in(argv, failed, blamed, tmp_path, monkeypatch):
    """``_path_error`` matched by prefix: ``--input-dir /`` (or ``.``) claimed every EACCES
    under it, the cache's and /opt/ml's included, so a failure elsewhere read as a bad
    ``--input-dir`` (exit 2) rather than what it was."""
    import errno

    from augment.cli import _parser, _path_error

    here = tmp_path / "HERE"
    here.mkdir()
    monkeypatch.chdir(here)
    argv = ["--spec", "light", *[str(tmp_path / "out") if a == "OUT" else a.replace("CWD", str(here)) for a in argv]]
    args = _parser().parse_args([argv[2], *argv[:2], *argv[3:]])
    for code in (errno.EACCES, errno.ENOTDIR):
        error = _path_error(args, OSError(code, os.strerror(code), failed.replace("CWD", str(here))))
        if blamed is None:
            assert error is None, error
        else:
            assert error is not None and str(error).startswith(blamed), error
