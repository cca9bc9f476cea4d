"""Spec files: YAML and JSON, top-level fields, presets, digests."""

from __future__ import annotations

import json

import PIL.Image
import pytest
import yaml

from augment.errors import SpecError
from augment.pipeline import Pipeline
from augment.spec import (
    DEFAULT_EXCLUDES,
    InputOptions,
    dump_spec,
    glob_matches,
    list_presets,
    load_preset,
    load_spec,
    preset_text,
)

ISSUE_EXAMPLE = """\
version: 1
seed: 1234
copies: 2
ops:
  - RandomResizedCrop: {size: [224, 224], scale: [0.5, 1.0]}
  - RandomHorizontalFlip: {p: 0.5}
  - ColorJitter: {brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1}
  - RandomApply: {p: 0.3, ops: [{GaussianBlur: {kernel_size: 5}}]}
"""


def test_yaml_and_json_files_load_to_the_same_spec(tmp_path):
    yml = tmp_path / "s.yaml"
    yml.write_text(ISSUE_EXAMPLE)
    spec = load_spec(yml)
    assert (spec.version, spec.seed, spec.copies) == (1, 1234, 2)
    assert [next(iter(op)) for op in spec.ops] == ["RandomResizedCrop", "RandomHorizontalFlip", "ColorJitter",
                                                   "RandomApply"]
    js = tmp_path / "s.json"
    js.write_text(spec.to_json())
    assert load_spec(js) == spec
    assert load_spec(dump_spec(spec, tmp_path / "again.yml")) == spec
    assert load_spec(dump_spec(spec, tmp_path / "again.json")) == spec


def test_defaults_for_seed_copies_and_output():
    spec = load_spec({"version": 1, "ops": []})
    assert (spec.seed, spec.copies, spec.output.format, spec.output.quality) == (0, 1, "same", 95)
    assert spec.output.keep_original is False
    assert spec.kernels == "fast"


def test_digest_changes_with_any_field_and_only_then():
    base = load_spec({"version": 1, "seed": 1, "ops": ["RandomInvert"]})
    assert load_spec(base.to_dict()).digest == base.digest
    assert load_spec({"version": 1, "seed": 1, "ops": [{"RandomInvert": {"p": 0.5}}]}).digest == base.digest
    assert base.replace(seed=2).digest != base.digest
    assert base.replace(format="png").digest != base.digest
    assert base.replace(copies=3).digest != base.digest
    assert base.replace(keep_original=True).digest != base.digest
    assert base.replace(kernels="torchvision").digest != base.digest, "kernels change the bytes"


def test_replace_validates():
    with pytest.raises(SpecError, match="copies"):
        load_spec("light").replace(copies=0)


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        ({"ops": []}, "version: required"),
        ({"version": 1}, "ops: required"),
        ({"version": 1, "ops": {"RandomInvert": {}}}, "ops: must be a list"),
        ({"version": 1, "ops": [{"RandomInvert": {}, "RandomEqualize": {}}]}, "ops[0]: each op must be a mapping"),
        ({"version": 1, "ops": [{"RandomInvert": 0.5}]}, "ops[0].RandomInvert: parameters must be a mapping"),
        ({"version": 1, "copies": 0, "ops": []}, "copies: must be an integer in [1, 1000]"),
        ({"version": 1, "seed": "abc", "ops": []}, "seed: must be an integer"),
        ({"version": 1, "output": {"format": "gif"}, "ops": []}, "output.format: must be one of same, jpeg"),
        ({"version": 1, "output": {"qualty": 3}, "ops": []}, "output: unknown field 'qualty'"),
        ({"version": 1, "kernels": "turbo", "ops": []}, "kernels: must be one of fast, torchvision, got 'turbo'"),
        ({"version": 1, "input": ["*.jpg"], "ops": []}, "input: must be a mapping"),
        ({"version": 1, "input": {"includes": ["*.jpg"]}, "ops": []}, "input: unknown field 'includes'"),
        ({"version": 1, "input": {"exclude": "*.json"}, "ops": []}, "input.exclude: must be a list of globs"),
        ({"version": 1, "input": {"include": ["*.jpg", 3]}, "ops": []}, "input.include[1]: must be a non-empty glob"),
        ({"version": 1, "input": {"exclude": ["/raw/*"]}, "ops": []}, "input.exclude[0]: '/raw/*' starts with '/'"),
    ],
)
def test_top_level_problems_name_the_field(data, expect):
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert any(p.startswith(expect) for p in info.value.problems), info.value.problems


def test_a_spec_and_the_flags_that_override_it_share_one_limit():
    """``seed`` and ``copies`` are bounded once, in augment.limits: the spec refuses one past
    it, as ``--seed``/``--copies`` do, and reads them without importing the job options."""
    import subprocess
    import sys

    from augment import limits, options, spec

    assert (spec.MAX_SEED, spec.MAX_COPIES) == (options.MAX_SEED, options.MAX_COPIES) == (2**63 - 1, 1000)
    assert load_spec({"version": 1, "seed": limits.MAX_SEED, "copies": limits.MAX_COPIES, "ops": []}).seed == 2**63 - 1
    for field, limit in (("seed", limits.MAX_SEED), ("copies", limits.MAX_COPIES)):
        with pytest.raises(SpecError, match=f"{field}: must be an integer"):
            load_spec({"version": 1, field: limit + 1, "ops": []})
    code = "import sys, augment.spec; print('augment.options' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_json_syntax_errors_have_a_position(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"version": 1, "ops": [}')
    with pytest.raises(SpecError, match=r"not valid JSON: .* at line 1, column"):
        load_spec(path)


@pytest.mark.parametrize("name", list_presets())
def test_presets_are_valid_and_build(name):
    spec = load_preset(name)
    assert load_spec(name) == spec
    assert Pipeline(spec).to_spec() == spec
    assert preset_text(name).startswith(f"# {name}:"), "each preset starts with a line that says what it is for"


def test_the_promised_presets_exist_and_defense_squeezes_features():
    assert {"light", "strong", "defense"} <= set(list_presets())
    defense = load_preset("defense")
    names = [next(iter(op)) for op in defense.ops]
    assert names == ["JPEG", "RandomPosterize", "GaussianBlur"]
    assert defense.ops[1]["RandomPosterize"]["p"] == 1.0
    assert defense.output.format == "png"


def test_unknown_preset_lists_the_presets():
    with pytest.raises(SpecError, match="presets: defense, light, strong"):
        load_spec("medium")


def test_spec_to_dict_is_plain_json():
    spec = load_spec("strong")
    assert json.loads(json.dumps(spec.to_dict())) == spec.to_dict()


def test_the_input_section_round_trips_and_leaves_the_digest_alone():
    plain = load_spec(yaml.safe_load(ISSUE_EXAMPLE))  # without input: its canonical form has none
    assert "input" not in plain.to_dict()
    filtered = load_spec({**plain.to_dict(), "input": {"include": ["*.jpg"], "exclude": ["*.json", "*.json"]}})
    assert filtered.input == InputOptions(include=("*.jpg",), exclude=("*.json",))
    assert load_spec(filtered.to_dict()) == filtered == load_spec(yaml.safe_load(filtered.to_yaml()))
    assert filtered != plain and list(filtered.to_dict())[-2:] == ["input", "ops"]
    assert filtered.digest == plain.digest, "filters choose which outputs exist, never their bytes"
    assert plain.replace(input={"exclude": ["*.txt"]}).input.exclude == ("*.txt",)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.json", "a.json", True),
        ("*.json", "deep/er/a.json", True),  # '*' crosses '/'
        ("raw/*", "raw/x/y.jpg", True),
        ("raw/*", "cooked/raw/y.jpg", False),  # a pattern with '/' matches from the root
        (".DS_Store", "a/b/.DS_Store", True),  # a pattern without '/' matches a name in any folder
        ("._*", "a/._chelsea.jpg", True),
        ("._*", "a/chelsea._jpg", False),
        (".ipynb_checkpoints/", "nb/.ipynb_checkpoints/x-checkpoint.jpg", True),  # a folder at any depth
        (".ipynb_checkpoints/", ".ipynb_checkpoints", False),  # a file of that name is not the folder
        ("raw/tmp/", "raw/tmp/a/b.jpg", True),
        ("*.JPG", "a.jpg", False),  # case-sensitive, as S3 keys are
    ],
)
def test_globs_match_the_relative_path(pattern, path, matches):
    assert glob_matches(path, pattern) is matches


def test_default_excludes_are_junk_only_never_an_image_or_sidecar():
    defaults = InputOptions()
    for junk in [".DS_Store", "a/.DS_Store", "a/._x.jpg", "Thumbs.db", "b/desktop.ini", "_SUCCESS",
                 "__MACOSX/a/x.jpg", "nb/.ipynb_checkpoints/x.png"]:
        assert defaults.excluded_by(junk) is not None, junk
    for kept in ["a.jpg", "a.JPEG", "b/c.png", "x.webp", "x.tif", "x.tiff", "x.gif", "x.bmp", "x.heic", "x.json",
                 "x.txt", "x.md5", "SHA256SUMS", "noext", "_SUCCESS.jpg", "success.jpg"]:
        assert defaults.excluded_by(kept) is None, kept
    assert not any(p.endswith((".jpg", ".png", ".json", ".txt")) for p in DEFAULT_EXCLUDES)
    options = InputOptions(include=("*.jpg",), exclude=("raw/*",))
    assert options.excluded_by("raw/a.jpg") == ("exclude", "raw/*")
    assert options.excluded_by("a/.DS_Store") == ("default", ".DS_Store")
    assert options.excluded_by("a.png") == ("include", None)
    assert options.excluded_by("a/b.jpg") is None


# ---------------------------------------------------------------------------
# Specs that explode (issue 20.11): each is refused with a message, exit 2, before any
# work, from `augment validate` and `augment process` alike.

def _nested(levels: int) -> dict:
    op: object = "RandomInvert"
    for _ in range(levels):
        op = {"RandomApply": {"ops": [op]}}
    return {"version": 1, "ops": [op]}


EXPLODING = {
    # a billion laughs: nine aliases of nine aliases ... expand to gigabytes
    "bomb.yaml": (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                  b"version: 1\nops: []\n"),
    "deep.yaml": ("version: 1\nops:\n  - " + "{RandomApply: {ops: [" * 1000 + "RandomInvert" + "]}}" * 1000
                  + "\n").encode(),
    "deep.json": ('{"version": 1, "ops": [' + '{"RandomApply": {"ops": [' * 1000 + '"RandomInvert"'
                  + ']}}' * 1000 + ']}').encode(),
    "latin1.yaml": "version: 1\n# café au lait\nops: []\n".encode("latin-1"),
    "huge.yaml": b"version: 1\nops: []\n" + b"# padding\n" * 150_000,
    "dup.yaml": b"version: 1\nseed: 1\nops: []\nseed: 2\n",
    "dup.json": b'{"version": 1, "copies": 2, "ops": [], "copies": 3}',
    "version.yaml": b"version: true\nops: []\n",
    "long.yaml": b"version: 1\nseed: '" + b"x" * 200_000 + b"'\nops: []\n",
}

EXPECT = {
    "bomb.yaml": "line 2, column 8: an alias (*a); aliases are not allowed",
    "deep.yaml": "nested deeper than 64 levels",
    "deep.json": "nested too deeply",
    "latin1.yaml": "the file is not UTF-8 text (byte 0xe9 at line 2); save it as UTF-8",
    "huge.yaml": "a spec may be at most 1,000,000 bytes",
    "dup.yaml": "line 4, column 1: duplicate key 'seed'; give each field once",
    "dup.json": "duplicate key 'copies'",
    "version.yaml": "version: this kit reads version 1, got True",
    "long.yaml": "(200,002 characters)",
}


@pytest.mark.parametrize("name", sorted(EXPLODING))
def test_specs_that_explode_are_refused_with_a_message(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(EXPLODING[name])
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert EXPECT[name] in str(e.value)
    assert len(str(e.value)) < 1000  # a huge value is cut short


def test_containers_nest_at_most_ten_deep():
    assert load_spec(_nested(10)).ops
    with pytest.raises(SpecError, match="containers nest more than 10 deep"):
        load_spec(_nested(11))
    with pytest.raises(SpecError, match="containers nest more than 10 deep"):
        load_spec(_nested(5000))  # from Python: no RecursionError either


def test_anchors_without_aliases_and_distinct_keys_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("version: 1\nseed: &s 3\nops: [{RandomInvert: {p: 0.5}}, {RandomGrayscale: {p: 0.5}}]\n")
    assert load_spec(path).seed == 3


def test_a_huge_value_is_cut_short_in_messages():
    with pytest.raises(SpecError) as e:
        load_spec({"version": 1, "ops": [{"RandomInvert": {"p": "y" * 1_000_000}}]})
    assert "(1,000,002 characters)" in str(e.value) and len(str(e.value)) < 1000
    with pytest.raises(SpecError) as e:
        load_spec({"version": 1, "ops": ["RandomInvert"] * 5, **{f"k{i}": i for i in range(500)}})
    assert "... and 450 more problems" in str(e.value)


@pytest.mark.parametrize("command", ["validate", "process"])
def test_the_cli_refuses_exploding_specs_with_exit_2(tmp_path, command):
    import subprocess
    import sys

    (tmp_path / "in").mkdir()
    # process starts slower (it imports torch): two are enough there
    names = ("bomb.yaml", "dup.yaml") if command == "process" else ("bomb.yaml", "deep.yaml", "latin1.yaml", "dup.yaml")
    for name in names:
        path = tmp_path / name
        path.write_bytes(EXPLODING[name])
        args = [str(path)] if command == "validate" else [
            "--spec", str(path), "--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]
        done = subprocess.run([sys.executable, "-m", "augment", command, *args], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        assert EXPECT[name] in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "out" / "_augment").exists()


# ---------------------------------------------------------------------------
# What torchvision or the encoder cannot do is refused by validation (issue 20.13).

def test_a_crop_ratio_of_zero_is_refused_and_the_smallest_allowed_builds():
    with pytest.raises(SpecError, match=r"ops\[0\]\.RandomResizedCrop\.ratio: 0 is out of range"):
        load_spec({"version": 1, "ops": [{"RandomResizedCrop": {"size": 8, "ratio": [0, 1]}}]})
    smallest = {"size": 8, "scale": [0, 0], "ratio": [0.01, 0.01]}
    spec = load_spec({"version": 1, "ops": [{"RandomResizedCrop": smallest}]})
    assert Pipeline(spec).transform(PIL.Image.new("RGB", (400, 300))).size == (8, 8)  # torchvision takes them


@pytest.mark.parametrize(("ops", "fmt", "refused"), [
    ([{"Resize": {"size": [65535, 8]}}], "jpeg", "ops[0].Resize.size: every output would be 65,535 px"),
    ([{"Resize": {"size": 65501, "max_size": 65535}}], "jpeg", "JPEG holds at most 65,500"),
    ([{"RandomResizedCrop": {"size": [8, 20000]}}, "RandomInvert"], "webp", "WEBP holds at most 16,383"),
    ([{"CenterCrop": {"size": 65500}}], "jpeg", None),
    ([{"Resize": {"size": [65535, 8]}}, {"CenterCrop": {"size": 64}}], "jpeg", None),
    ([{"Resize": {"size": [65535, 8]}}], "png", None),
    ([{"Resize": {"size": [65535, 8]}}], "same", None),  # a PNG input fits: JPEG inputs fail one by one
    ([{"Resize": {"size": [65535, 8]}}, {"RandomApply": {"ops": [{"CenterCrop": {"size": 8}}]}}], "jpeg", None),
])  # fmt: skip
def test_static_sizes_too_large_for_the_output_format_are_refused(ops, fmt, refused):
    data = {"version": 1, "output": {"format": fmt}, "ops": ops}
    if refused is None:
        load_spec(data)
        return
    with pytest.raises(SpecError) as e:
        load_spec(data)
    assert refused in str(e.value) and "write format: png" in str(e.value)
    assert "format: jpeg" not in str(e.value) or fmt == "jpeg"


# --- one strict YAML reader, and ~ -------------------------------------------------------------


def test_strict_yaml_is_one_public_reader_for_specs_grids_and_values():
    """The sweep imported spec's private loader and rewrote its wording ("in a spec" -> "here")."""
    from augment.errors import UsageError
    from augment.spec import YAMLRefused, load_yaml_strict
    from augment.sweep import parse_value

    assert load_yaml_strict("a: [1, 2]\nb: null\n") == {"a": [1, 2], "b": None}
    for text, message in [("x: 1\nx: 2\n", "line 2, column 1: duplicate key 'x'; give each field once"),
                          ("a: &v 1\nb: *v\n", "line 2, column 4: an alias (*v); aliases are not allowed, write the "
                                               "value out"),
                          ("[" * 100 + "]" * 100, "line 1, column 65: nested deeper than 64 levels"),
                          ("x: [1", "not valid YAML at line 1, column 6: expected ',' or ']', but got '<stream end>'")]:
        with pytest.raises(YAMLRefused) as e:
            load_yaml_strict(text)
        assert str(e.value) == message
        with pytest.raises(UsageError) as u:
            parse_value(text, "-p x")
        assert str(u.value) == f"-p x: {message}", "the same words, after the value's name"


def test_a_tilde_is_the_home_folder_for_spec_files(tmp_path, monkeypatch):
    """`spec="~/x.yaml"` was 'no such spec file'; 02's export_path="~/spec.yaml" made a folder called ~ here."""
    from augment.locations import expand
    from augment.spec import dump_spec

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    written = dump_spec(load_spec("light"), "~/spec.yaml")
    assert written == tmp_path / "home" / "spec.yaml" and not (tmp_path / "~").exists()
    assert load_spec("~/spec.yaml") == load_spec("light")
    assert expand("s3://b/~x/") == "s3://b/~x/" and expand("light") == "light"
