"""The preview: what it shows is what the job writes; the widget, headless; the CLI; S3."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import PIL.Image
import pytest
import yaml

from augment import preview as pv
from augment.errors import SpecError, UsageError
from augment.manifest import read_manifest
from augment.ops import REGISTRY
from augment.samples import list_samples, samples_dir
from augment.spec import load_spec
from tests.aws import recorded

AUGMENT = Path(sys.executable).with_name("augment")
EVERY_CONTAINER = {
    "version": 1, "seed": 11, "copies": 3,
    "ops": [
        {"RandomResizedCrop": {"size": 128, "scale": [0.3, 1.0]}},
        {"RandomApply": {"p": 0.6, "ops": [{"GaussianBlur": {"kernel_size": 3}}, "RandomInvert"]}},
        {"RandomChoice": {"ops": [{"ColorJitter": {"brightness": 0.5, "hue": 0.1}}, "TrivialAugmentWide",
                                  {"RandomRotation": {"degrees": 20}}], "p": [2, 1, 1]}},
        {"RandomOrder": {"ops": [{"RandomHorizontalFlip": {"p": 0.5}}, {"RandomErasing": {"p": 0.5}}]}},
    ],
}  # fmt: skip


def _pixels(image: PIL.Image.Image) -> bytes:
    return image.convert("RGB").tobytes() if image.mode not in ("RGB", "L") else image.tobytes()


# --- render --------------------------------------------------------------------------------------


def test_render_picks_n_images_with_the_seed_and_makes_every_copy():
    a = pv.render("light", n=3, pick_seed=5)
    assert len(a.originals) == 3 and len(a.items) == 3 * 2
    assert [(i.rel_path, i.copy) for i in a.items] == [(r, k) for r in a.originals for k in range(2)]
    assert list(pv.render("light", n=3, pick_seed=5).originals) == list(a.originals)
    picks = {tuple(pv.render("light", n=3, pick_seed=s).originals) for s in range(6)}
    assert len(picks) > 1, "another pick seed picks other images"
    b = pv.render("light", paths=["brick.jpg", "chelsea.jpg"], copies=3)
    assert list(b.originals) == ["brick.jpg", "chelsea.jpg"] and len(b.items) == 6
    assert b.originals["brick.jpg"].mode == "L" and b.items[0].image.mode == "L", "grayscale stays grayscale"
    assert all(i.image.size == (224, 224) and i.params and i.output_sha256 for i in b.items)


def test_render_refuses_bad_arguments_naming_them(tmp_path):
    with pytest.raises(UsageError, match=r"paths=: nope\.jpg"):
        pv.render("light", paths=["nope.jpg"])
    with pytest.raises(UsageError, match=r"^n \(--n\) must be >= 1, got 0$"):
        pv.render("light", n=0)
    with pytest.raises(UsageError, match="no such folder"):
        pv.render("light", tmp_path / "missing")
    with pytest.raises(SpecError, match=r"ops\[0\]"):
        pv.render({"version": 1, "ops": [{"ColorJitter": {"hue": 0.9}}]})


def test_a_bad_image_becomes_a_tile_with_its_reason(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(samples_dir() / "chelsea.jpg", src / "good.jpg")
    (src / "notes.txt").write_text("not a picture")
    (src / "empty.jpg").write_bytes(b"")
    data = (samples_dir() / "rocket.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(data[: len(data) // 3])
    big = PIL.Image.new("L", (600, 600))
    big.save(src / "big.png")
    result = pv.render("light", src, n=10, max_pixels=300_000)
    reasons = {i.rel_path: i.reason for i in result.items}
    assert reasons == {"good.jpg": None, "notes.txt": "not_an_image", "empty.jpg": "empty",
                       "cut.jpg": "undecodable", "big.png": "too_large"}
    assert all(i.error for i in result.items if i.rel_path != "good.jpg")
    assert "failed: not_an_image" in next(i for i in result.items if i.rel_path == "notes.txt").caption
    grid = result.grid(96)
    assert grid.size == (6 + 3 * 102, 6 + 5 * (102 + 42))


def test_an_op_that_fails_is_recorded_as_op_failed_not_raised():
    spec = {"version": 1, "ops": [{"RandomCrop": {"size": 2000}}]}
    result = pv.render(spec, paths=["chelsea.jpg"])
    (item,) = result.items
    assert item.reason == "op_failed" and "RandomCrop failed" in item.error and item.image is None


def test_captions_say_what_was_drawn():
    (item,) = pv.render("light", paths=["astronaut.jpg"], copies=1).items
    crop = item.params[0]["params"]
    assert item.caption.startswith(f"#0 · crop {crop['width']}×{crop['height']} @ ({crop['left']},{crop['top']})")
    assert "jitter b" in item.caption
    records = [{"op": "RandomRotation", "applied": True, "params": {"angle": -7.24}},
               {"op": "RandomHorizontalFlip", "applied": True, "params": {}},
               {"op": "RandomApply", "applied": True, "ops": [
                   {"op": "GaussianBlur", "applied": True, "params": {"sigma": [0.5, 0.5]}}]},
               {"op": "RandomVerticalFlip", "applied": False}]
    assert pv.summarize(records) == "rot −7.2° · flip · blur σ0.50"


@pytest.mark.parametrize("spec", ["light", "strong", "defense", EVERY_CONTAINER], ids=["light", "strong", "defense",
                                                                                       "containers"])
def test_step_through_ends_on_the_tile(spec):
    result = pv.render(spec, paths=["coffee.jpg", "brick.jpg"])
    for index in (0, len(result.items) - 1):
        steps = pv.step_through(result, index)
        assert steps[0][0] == "input" and steps[-1][0].startswith("written as")
        assert len(steps) == len(result.spec.ops) + 2
        assert _pixels(steps[-1][1]) == _pixels(result.items[index].image)
        assert [s[2] for s in steps[1:-1]] == result.items[index].params


# --- what you see is what the job writes ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["light", "strong", EVERY_CONTAINER], ids=["light", "strong", "containers"])
def test_what_the_preview_shows_is_what_the_job_writes(spec, tmp_path):
    previewer = pv.Previewer(spec, n=7)
    path = previewer.export(tmp_path / "exported.yaml")
    assert load_spec(path) == previewer.spec
    exported = load_spec(path).replace(format="png")
    path = tmp_path / "png.yaml"
    path.write_text(exported.to_yaml())
    shown = pv.render(path, n=7)
    out = tmp_path / "out"
    subprocess.run([str(AUGMENT), "process", "--spec", str(path), "--input-dir", str(samples_dir()),
                    "--output-dir", str(out), "--workers", "2", "--progress", "off"], check=True, capture_output=True)
    records = {(r["source"], r["copy"]): r for r in read_manifest(out / "_augment" / "manifest-local.jsonl")}
    assert len(shown.items) == len(records) == 7 * exported.copies
    for item in shown.items:
        record = records[(item.rel_path, item.copy)]
        with PIL.Image.open(out / record["output"]) as written:
            assert _pixels(written) == _pixels(item.image), (item.rel_path, item.copy)
        assert item.params == record["params"] and item.seed == record["seed"]
        assert item.output_sha256 == record["output_sha256"]


def test_jpeg_outputs_are_shown_as_written(tmp_path):
    """With JPEG outputs the tile is the encoded file decoded, not the pixels before encoding."""
    result = pv.render("light", paths=["chelsea.jpg"])
    from augment.images import encode, open_image
    from augment.pipeline import Pipeline

    item = result.items[1]
    source = open_image((samples_dir() / "chelsea.jpg").read_bytes(), outputs=2)
    image, _ = Pipeline("light").apply(source, item.seed)
    blob = encode(image, "jpeg", 95)
    assert _pixels(PIL.Image.open(io.BytesIO(blob))) == _pixels(item.image) != _pixels(image)


def _finished_job(out: Path) -> Path:
    from augment.engine import run_job

    run_job("strong", samples_dir(), out, workers=1, progress="off")
    return out


@pytest.mark.slow
def test_from_job_shows_the_job_outputs_beside_the_inputs(tmp_path):
    out = _finished_job(tmp_path / "out")
    result = pv.from_job(out, n=2, pick_seed=3)
    assert len(result.originals) == 2 and len(result.items) == 8
    assert all(result.originals[r] is not None for r in result.originals), "the input folder the job recorded"
    for item in result.items:
        with PIL.Image.open(out / f"{item.rel_path}.aug{item.copy}.jpg") as written:
            assert _pixels(written) == _pixels(item.image)
    assert result.grid(64).size[0] == 6 + 5 * 70
    with pytest.raises(UsageError, match="no finished job"):
        pv.from_job(samples_dir())
    assert repr(result).startswith("<Preview: 2 images x 4 copies, 0 failed, spec ")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "_augment" / "summary-local.json").write_text(
        (out / "_augment" / "summary-local.json").read_text().replace(str(samples_dir()), str(tmp_path / "gone")))
    blind = pv.from_job(out, n=1)
    assert blind.source == "" and blind.errors
    with pytest.raises(UsageError, match="input is not available"):
        pv.step_through(blind, 0)


@pytest.mark.slow
def test_from_job_reads_an_s3_output_listing_only_its_metadata(tmp_path, bucket):
    import boto3

    out = _finished_job(tmp_path / "out")
    s3 = boto3.client("s3")
    for path in sorted(out.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"jobs/out/{path.relative_to(out).as_posix()}")
    local = pv.from_job(out, n=2, pick_seed=3)
    remote = pv.from_job(f"s3://{bucket}/jobs/out", samples_dir(), n=2, pick_seed=3)
    assert [(i.rel_path, i.copy) for i in remote.items] == [(i.rel_path, i.copy) for i in local.items]
    assert [_pixels(i.image) for i in remote.items] == [_pixels(i.image) for i in local.items]


# --- copy as code (tests/test_export.py has the rest) -------------------------------------------------


def test_a_spec_without_ops_previews_and_exports_as_the_identity(small_samples):
    """``ops: []`` only re-encodes: the preview shows each input as the job writes it, and
    the exported code runs (v2.Compose refuses an empty list)."""
    from torchvision.transforms import v2

    spec = load_spec({"version": 1, "copies": 2, "output": {"format": "png"}, "ops": []})
    namespace: dict = {}
    exec(pv.to_code(spec), namespace)
    assert isinstance(namespace["transform"], v2.Identity)
    preview = pv.render(spec, small_samples, n=2)
    assert len(preview.items) == 4 and not any(i.error for i in preview.items)
    for item in preview.items:
        assert item.params == [] and _pixels(item.image) == _pixels(preview.originals[item.rel_path])


# --- S3 ------------------------------------------------------------------------------------------------


def test_an_s3_prefix_is_listed_once_and_only_the_picked_images_are_fetched(monkeypatch, tmp_path):
    import boto3
    import requests

    from tests.aws import moto_server

    monkeypatch.setenv("MOTO_ENABLE_RECORDING", "true")
    monkeypatch.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path / "moto-recording"))  # not the working folder
    with moto_server() as endpoint:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="previews")
        for name in list_samples():
            s3.upload_file(str(samples_dir() / name), "previews", f"train/photos/{name}")
        requests.post(f"{endpoint}/moto-api/recorder/reset-recording", timeout=10)
        requests.post(f"{endpoint}/moto-api/recorder/start-recording", timeout=10)
        result = pv.render("light", "s3://previews/train/", n=2, pick_seed=1)
        requests.post(f"{endpoint}/moto-api/recorder/stop-recording", timeout=10)
        recording = requests.get(f"{endpoint}/moto-api/recorder/download-recording", timeout=10).text
    calls = recorded(recording)
    gets = sorted(c["url"].split("/previews/", 1)[1] for c in calls
                  if c["method"] == "GET" and "list-type" not in c["url"])
    lists = [c for c in calls if "list-type=2" in c["url"]]
    picked = list(result.originals)
    assert len(lists) == 1 and gets == sorted(f"train/{rel}" for rel in picked)
    assert all(rel.startswith("photos/") for rel in picked), "keys relative to the prefix, as the job stages them"
    local = tmp_path / "photos"
    shutil.copytree(samples_dir(), local)
    same = pv.render("light", tmp_path, paths=picked)
    assert [_pixels(i.image) for i in same.items] == [_pixels(i.image) for i in result.items]


# --- the widget, headless -------------------------------------------------------------------------------


def test_a_control_changes_the_spec_and_the_grid():
    w = pv.Previewer("light", n=2)
    before_png, before_spec = w.grid.value, w.spec
    w.controls["ops[2].ColorJitter.brightness"].value = (0.2, 0.4)
    assert w.spec.ops[2]["ColorJitter"]["brightness"] == [0.2, 0.4] and w.spec != before_spec
    assert w.grid.value != before_png and w.message == ""
    assert w.preset.value == "(edited)"
    w.controls["ops[0].RandomResizedCrop.size"].value = "[96, 64]"
    assert w.spec.ops[0]["RandomResizedCrop"]["size"] == [96, 64]
    assert {i.image.size for i in w.preview.items} == {(64, 96)}
    w.seed.value = 99
    assert w.spec.seed == 99
    w.copies.value = 3
    assert len(w.preview.items) == 2 * 3


def test_every_control_comes_from_the_schema_with_its_help():
    w = pv.Previewer({"version": 1, "ops": []}, n=1)
    widgets: dict[str, set[str]] = {}
    for name, opdef in REGISTRY.items():
        w.add_op(name)
        for p in opdef.params:
            if p.kind == "ops":
                continue
            control = w.controls[f"ops[0].{name}.{p.name}"]
            assert control.tooltip == p.help
            if hasattr(control, "continuous_update"):
                assert control.continuous_update is False
            if p.nullable:
                assert type(w.controls[f"ops[0].{name}.{p.name}:set"]).__name__ == "Checkbox"
            widgets.setdefault(p.kind, set()).add(type(control).__name__)
        w.remove_op("ops[0]")
    assert widgets["range"] == {"FloatRangeSlider"} and widgets["int_range"] == {"IntRangeSlider"}
    assert widgets["float"] == {"FloatSlider"} and widgets["choice"] == {"Dropdown"}
    assert widgets["bool"] == {"Checkbox"} and widgets["size"] == widgets["resize"] == {"Text"}
    assert widgets["int"] <= {"IntSlider", "BoundedIntText"}


def test_every_op_can_be_added_with_its_defaults_and_renders():
    w = pv.Previewer({"version": 1, "ops": []}, n=1)
    for name in REGISTRY:
        w.add_op(name)
        assert w.message == "", (name, w.message)
        w.remove_op("ops[0]")


def test_toggling_an_op_off_removes_it_from_every_variant():
    w = pv.Previewer("light", n=2)
    assert all(any(r["op"] == "RandomHorizontalFlip" for r in i.params) for i in w.preview.items)
    png = w.grid.value
    w.rows["ops[1]"]["toggle"].value = False
    assert [next(iter(op)) for op in w.spec.ops] == ["RandomResizedCrop", "ColorJitter"]
    assert not any(r["op"] == "RandomHorizontalFlip" for i in w.preview.items for r in i.params)
    assert w.grid.value != png
    w.rows["ops[1]"]["toggle"].value = True
    assert len(w.spec.ops) == 3


def test_adding_removing_and_reordering_ops_nested_ones_included():
    w = pv.Previewer("strong", n=1)
    w.rows[""]["add"].value = "GaussianNoise"
    assert next(iter(w.spec.ops[-1])) == "GaussianNoise"
    assert w.rows[""]["add"].value != "GaussianNoise", "the dropdown is ready for the next op"
    w.rows["ops[3]"]["add"].value = "RandomInvert"  # inside RandomApply
    assert [next(iter(c)) for c in w.spec.ops[3]["RandomApply"]["ops"]] == ["GaussianBlur", "RandomInvert"]
    w.rows["ops[3].RandomApply.ops[1]"]["up"].click()
    assert [next(iter(c)) for c in w.spec.ops[3]["RandomApply"]["ops"]] == ["RandomInvert", "GaussianBlur"]
    w.rows["ops[2].RandomChoice.ops[0]"]["remove"].click()
    assert [next(iter(c)) for c in w.spec.ops[2]["RandomChoice"]["ops"]] == ["ColorJitter"]
    assert w.spec.ops[2]["RandomChoice"]["p"] == [1.0], "weights follow the ops left"
    w.rows["ops[0]"]["down"].click()
    assert [next(iter(op)) for op in w.spec.ops][:2] == ["RandomHorizontalFlip", "RandomResizedCrop"]
    w.rows["ops[2].RandomChoice.ops[0]"]["toggle"].value = False
    assert "ops[2].RandomChoice.ops" in w.message, "a container left empty is refused, naming it"
    assert w.message == "" or w.preview is not None


def test_an_invalid_value_shows_the_message_and_keeps_the_last_grid():
    w = pv.Previewer("light", n=2)
    w.add_op("RandomAffine")
    good = w.grid.value
    w.controls["ops[3].RandomAffine.shear:set"].value = True
    w.controls["ops[3].RandomAffine.shear"].value = "[10, -10]"
    assert "ops[3].RandomAffine.shear: min > max" in w.message
    assert w.grid.value == good and "min &gt; max" in w.status.value
    with pytest.raises(SpecError):
        w.spec  # noqa: B018
    w.controls["ops[3].RandomAffine.shear"].value = "[-10, 10]"
    assert w.message == "" and w.grid.value != good
    w.add_op("RandomCrop")
    good = w.grid.value
    w.controls["ops[4].RandomCrop.size"].value = "[4000, 4000]"
    assert w.message.startswith("ops[4].RandomCrop: RandomCrop failed") and w.grid.value == good
    w.remove_op("ops[4]")
    w.add_op("RandomRotation")
    w.controls["ops[4].RandomRotation.fill"].value = "[255, 0, 0]"
    assert w.message == "", "the images shown are RGB"
    good = w.grid.value
    w.source.value = str(samples_dir())
    w.n_images.value = 7  # brick.jpg is grayscale: a colour fill cannot apply
    assert "ops[4].RandomRotation" in w.message and "fill" in w.message and w.grid.value == good


def test_export_writes_a_valid_spec_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = pv.Previewer("strong", n=1)
    w.controls["ops[4].RandomErasing.p"].value = 0.75
    w.export_button.click()
    assert w.export_status.value == "wrote spec.yaml (valid)"
    assert load_spec(tmp_path / "spec.yaml") == w.spec
    assert load_spec(tmp_path / "spec.yaml").ops[4]["RandomErasing"]["p"] == 0.75
    w.controls["ops[0].RandomResizedCrop.scale"].value = (0.5, 0.5)
    w.export_path.value = "/proc/no/such/spec.yaml"
    w.export_button.click()
    assert w.export_status.value.startswith("not written: ")
    w.export_path.value = "sub/other.json"
    w.export_button.click()
    assert json.loads((tmp_path / "sub" / "other.json").read_text())["ops"][0]["RandomResizedCrop"]["scale"] == [0.5,
                                                                                                               0.5]


def test_a_tile_opens_that_variant_op_by_op():
    w = pv.Previewer("light", n=2)
    side = w.max_side
    index = w.tile_at(6 + (side + 6) * 2 + 10, 6 + (side + 6 + 42) + 10)  # row 1, copy 1
    assert index == 3
    assert w.tile_at(10, 10) is None, "an original has no steps"
    w.open_steps(index)
    assert len(w.steps.children) == len(w.spec.ops) + 2
    assert _pixels(w.last_steps[-1][1]) == _pixels(w.preview.items[3].image)
    w.step_choice.value = 0
    w.step_button.click()
    assert _pixels(w.last_steps[-1][1]) == _pixels(w.preview.items[0].image)


@pytest.mark.slow
def test_many_rerenders_leave_no_figure_open_and_memory_flat():
    import matplotlib.pyplot as plt

    w = pv.Previewer("light", n=2)
    fig = w.preview.figure()
    assert plt.get_fignums() == [] and fig.axes
    control = w.controls["ops[1].RandomHorizontalFlip.p"]
    for k in range(5):
        control.value = 0.1 * k
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for k in range(50):  # fifty re-renders: a control moved, or other images picked
        if k % 2:
            w.other.click()
        else:
            control.value = 0.5 + 0.01 * k
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert plt.get_fignums() == []
    assert grown < 8 * 2**20, f"{grown / 2**20:.1f} MiB more after 50 re-renders"


# --- the CLI ---------------------------------------------------------------------------------------------


def test_cli_writes_the_grid_and_the_params(tmp_path):
    result = subprocess.run([str(AUGMENT), "preview", "strong", "--paths", "chelsea.jpg", "rocket.jpg", "--copies",
                             "2", "--out", str(tmp_path / "g.png"), "--json", str(tmp_path / "p.json")],
                            capture_output=True, text=True, check=True)
    assert f"grid: {tmp_path / 'g.png'}" in result.stdout and "2 images x 2 copies" in result.stdout
    with PIL.Image.open(tmp_path / "g.png") as grid:
        assert grid.size == (6 + 3 * 262, 6 + 2 * (262 + 42))
    data = json.loads((tmp_path / "p.json").read_text())
    assert [(i["rel_path"], i["copy"]) for i in data["items"]] == [("chelsea.jpg", 0), ("chelsea.jpg", 1),
                                                                  ("rocket.jpg", 0), ("rocket.jpg", 1)]
    assert data["spec_digest"] == load_spec("strong").replace(copies=2).digest


@pytest.mark.parametrize(("args", "message"), [
    (["--n", "0"], "argument --n: must be >= 1"),
    (["--paths", "missing.jpg"], "--paths: missing.jpg"),
    (["--input", "/nonexistent/folder"], "--input /nonexistent/folder: no such folder"),
    (["--out", "grid.gif"], "--out grid.gif: must end in .png"),
    (["--max-side", "8"], "argument --max-side: must be in [16, 4096], got 8"),
])  # fmt: skip
def test_cli_refuses_bad_arguments_naming_the_flag(args, message, tmp_path, monkeypatch, capsys):
    from augment.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main(["preview", "light", *args])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "preview.png").exists(), "nothing is written"


def test_the_preview_benchmark_runs_and_reports_both_figures(tmp_path):
    """No timing is asserted (machines are noisy): benchmarks/README.md reports them."""
    out = tmp_path / "preview.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "preview.py"
    result = subprocess.run([sys.executable, str(script), "--presets", "light", "defense", "--images", "2",
                             "--copies", "2", "--rounds", "1", "--json", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["preset"], r["images"], r["copies"]) for r in rows] == [("light", 2, 2), ("defense", 2, 2)]
    assert all(0 < r["render_best_s"] <= r["widget_best_s"] for r in rows)
    assert "light" in result.stdout and "goal" in result.stdout


# --- what the job takes: filters, one file, duplicates (issue #26) ----------------------------------


def _junk_folder(root: Path) -> Path:
    """One photo beside what a job leaves out: OS junk, a sidecar, and a PNG that no --include '*.jpg' takes."""
    root.mkdir()
    shutil.copy(samples_dir() / "chelsea.jpg", root / "one.jpg")
    shutil.copy(samples_dir() / "rocket.jpg", root / "two.png")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "notes.json").write_text("{}")
    return root


def test_the_preview_picks_only_the_inputs_the_job_takes(tmp_path):
    from augment.engine import run_job

    src = _junk_folder(tmp_path / "in")
    spec = load_spec({"version": 1, "copies": 1, "input": {"include": ["*.jpg"]}, "ops": ["RandomHorizontalFlip"]})
    shown = pv.render(spec, src, n=10)
    assert list(shown.originals) == ["one.jpg"] and not any(i.error for i in shown.items)
    run_job(spec, src, tmp_path / "out", workers=1, progress="off")
    taken = {r["source"] for r in read_manifest(tmp_path / "out" / "_augment" / "manifest-local.jsonl")}
    excluded = {json.loads(line)["source"] for line in
                (tmp_path / "out" / "_augment" / "excluded-local.jsonl").read_text().splitlines()}
    assert taken == set(shown.originals) and excluded == {e["source"] for e in shown.excluded}
    assert excluded == {".DS_Store", "Thumbs.db", "notes.json", "two.png"}
    no_filters = pv.render({**spec.to_dict(), "input": {}}, src, n=10)
    assert list(no_filters.originals) == ["notes.json", "one.jpg", "two.png"], "OS junk is never an input"
    with pytest.raises(UsageError, match=r"paths=: notes\.json is not an input of the job.*no include pattern"):
        pv.render(spec, src, paths=["notes.json"])
    with pytest.raises(UsageError, match=r"no inputs: all 5 files are excluded"):
        pv.render(spec.replace(input={"include": ["*.gif"]}), src)


def test_cli_include_and_exclude_filter_the_preview_as_they_filter_the_job(tmp_path, capsys):
    from augment.cli import main

    src = _junk_folder(tmp_path / "in")
    assert main(["preview", "light", "--input", str(src), "--include", "*.jpg", "--out", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "1 image x 2 copies" in out and "not shown: 4 files the job excludes" in out
    assert "notes.json" not in out.split("not shown")[0] and "failed" in out and ", 0 failed" in out
    assert main(["preview", "light", "--input", str(src), "--exclude", "*.png", "--n", "9",
                 "--out", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "2 images x 2 copies" in out and "  notes.json #0 failed: not_an_image" in out and "two.png #" not in out


def test_cli_previews_one_file_as_run_takes_it(tmp_path, capsys):
    from augment.cli import main
    from augment.pipeline import derive_seed

    src = _junk_folder(tmp_path / "in")
    assert main(["preview", "light", "--input", str(src / "one.jpg"), "--out", str(tmp_path / "g.png"),
                 "--json", str(tmp_path / "p.json")]) == 0
    assert "1 image x 2 copies" in capsys.readouterr().out
    items = json.loads((tmp_path / "p.json").read_text())["items"]
    seed = load_spec("light").seed
    assert [(i["rel_path"], i["seed"]) for i in items] == [("one.jpg", derive_seed(seed, "one.jpg", k)) for k in (0, 1)]
    single = pv.render("light", src / "one.jpg")
    same = pv.render("light", src, paths=["one.jpg"])
    assert [_pixels(i.image) for i in single.items] == [_pixels(i.image) for i in same.items]
    assert pv.step_through(single, 1)[-1][1].tobytes() == single.items[1].image.tobytes()


def test_cli_shows_a_path_named_twice_once_and_says_so(tmp_path, capsys):
    from augment.cli import main

    assert main(["preview", "light", "--paths", "chelsea.jpg", "chelsea.jpg", "chelsea.jpg", "chelsea.jpg",
                 "--copies", "1", "--out", str(tmp_path / "g.png")]) == 0
    captured = capsys.readouterr()
    assert "1 image x 1 copy of light" in captured.out and captured.out.count("  chelsea.jpg #") == 1
    assert "--paths names chelsea.jpg more than once; each is shown once" in captured.err
    with PIL.Image.open(tmp_path / "g.png") as grid:
        assert grid.size == (6 + 2 * 262, 6 + 1 * (262 + 42)), "one row, not four"
    assert list(pv.render("light", paths=["brick.jpg", "chelsea.jpg", "brick.jpg"]).originals) == ["brick.jpg",
                                                                                                  "chelsea.jpg"]


@pytest.mark.slow
def test_cli_job_options_preview_what_the_job_writes_with_them(tmp_path):
    """--seed/--format/--quality/--max-pixels/--exclude mean what they mean to `augment process`:
    the preview's inputs, pixels, parameters and SHA-256 are the job's with the same options,
    for every image shown. The library, given the same options its own way (an ``input.exclude``
    in the spec), shows the same variants with the same bytes."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg", "brick.jpg"):  # brick: excluded, though it is small enough
        shutil.copy(samples_dir() / name, src / name)
    (src / "big.jpg").write_bytes((samples_dir() / "hubble_deep_field.jpg").read_bytes())  # 357,120 pixels
    options = ["--seed", "5", "--format", "webp", "--quality", "60", "--max-pixels", "300000", "--exclude", "brick*"]
    subprocess.run([str(AUGMENT), "preview", "strong", "--input", str(src), "--n", "9", "--out",
                    str(tmp_path / "g.png"), "--json", str(tmp_path / "p.json"), *options], check=True,
                   capture_output=True)
    subprocess.run([str(AUGMENT), "process", "--spec", "strong", "--input-dir", str(src), "--output-dir",
                    str(tmp_path / "out"), "--workers", "1", "--progress", "off", *options, "--max-error-rate", "1"],
                   check=True, capture_output=True)
    manifest = tmp_path / "out" / "_augment" / "manifest-local.jsonl"
    records = {(r["source"], r["copy"]): r for r in read_manifest(manifest)}
    shown = json.loads((tmp_path / "p.json").read_text())
    assert {(i["rel_path"], i["copy"]) for i in shown["items"]} == set(records)
    assert {r["source"] for r in records.values()} == {"chelsea.jpg", "coffee.jpg", "big.jpg"}, "brick excluded"
    for item in shown["items"]:
        record = records[(item["rel_path"], item["copy"])]
        assert (item["status"], item["reason"]) == (record["status"], record["reason"])
        if record["status"] == "ok":
            assert record["output"].endswith(".webp") and item["seed"] == record["seed"]
            assert item["params"] == record["params"]
    assert {r["source"] for r in records.values() if r["reason"] == "too_large"} == {"big.jpg"}, "--max-pixels"
    ok = {k: r for k, r in records.items() if r["status"] == "ok"}
    assert {source for source, _copy in ok} == {"chelsea.jpg", "coffee.jpg"}

    spec = load_spec("strong").to_dict()
    spec.update(seed=5, input={"exclude": ["brick*"]})
    spec["output"] = {**spec.get("output", {}), "format": "webp", "quality": 60}
    images = pv.Images(src)
    rendered = pv.render(load_spec(spec), images, n=9, max_pixels=300000)
    assert {(i.rel_path, i.copy) for i in rendered.items} == set(records), "the job's inputs, brick left out"
    assert {e["source"] for e in images.excluded} == {"brick.jpg"}
    for i in rendered.items:
        record = records[(i.rel_path, i.copy)]
        assert (i.error is None, i.reason) == (record["status"] == "ok", record["reason"]), (i.rel_path, i.copy)
        if record["status"] == "ok":  # each shown variant: its bytes are the file the job wrote
            written = hashlib.sha256((tmp_path / "out" / record["output"]).read_bytes()).hexdigest()
            assert i.output_sha256 == record["output_sha256"] == written, (i.rel_path, i.copy)


# --- replay (issue #26) ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_replay_reads_a_manifest_on_s3(tmp_path, bucket, capsys):
    import boto3

    from augment.cli import main

    out = tmp_path / "out"
    from augment.engine import run_job

    run_job("light", samples_dir(), out, workers=1, progress="off")
    s3 = boto3.client("s3")
    for path in sorted((out / "_augment").iterdir()):
        s3.upload_file(str(path), bucket, f"jobs/out/_augment/{path.name}")
    uri = f"s3://{bucket}/jobs/out/_augment/manifest-local.jsonl"
    code = main(["replay", uri, "--source", "chelsea.jpg", "--copy", "1", "--out", str(tmp_path / "again.jpg"),
                 "--input-dir", str(samples_dir())])
    captured = capsys.readouterr()
    assert code == 0 and "bytes: bit-exact" in captured.out, captured.err
    assert (tmp_path / "again.jpg").read_bytes() == (out / "chelsea.jpg.aug1.jpg").read_bytes()
    code = main(["replay", f"s3://{bucket}/jobs/gone/_augment/manifest-local.jsonl", "--record", "1", "--out",
                 str(tmp_path / "x.jpg")])
    err = capsys.readouterr().err
    assert code == 2 and f"manifest s3://{bucket}/jobs/gone/_augment/manifest-local.jsonl: no such object" in err
    assert "s3:/" + bucket not in err


def test_replay_says_when_it_cannot_write_its_output(tmp_path, capsys):
    from augment.cli import main

    out = tmp_path / "out"
    meta = out / "_augment"
    meta.mkdir(parents=True)
    data = (samples_dir() / "chelsea.jpg").read_bytes()
    import hashlib

    (meta / "manifest-local.jsonl").write_text(json.dumps({
        "source": "chelsea.jpg", "source_sha256": hashlib.sha256(data).hexdigest(), "copy": -1, "output":
        "chelsea.orig.jpg", "output_sha256": hashlib.sha256(data).hexdigest(), "seed": None, "params": None,
        "status": "ok", "reason": None, "error": None, "format": "jpeg"}) + "\n")
    (meta / "spec.yaml").write_text(load_spec("light").to_yaml())
    for target in ("/proc/augment-test/again.jpg", str(tmp_path / "a-file" / "again.jpg")):
        (tmp_path / "a-file").write_text("")
        code = main(["replay", str(meta / "manifest-local.jsonl"), "--source", "chelsea.jpg", "--copy", "-1",
                     "--out", target, "--input-dir", str(samples_dir())])
        err = capsys.readouterr().err
        assert code == 2 and f"cannot write {target} (--out): " in err and "internal error" not in err, err
        assert "Traceback" not in err


# --- bounds and unwritable outputs (issue #26) -------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--out", "--json"])
def test_cli_says_when_it_cannot_write_an_output(flag, tmp_path, capsys):
    from augment.cli import main

    (tmp_path / "a-file").write_text("")
    for target in ("/proc/augment-test/g.png", str(tmp_path / "a-file" / "g.png")):
        args = ["preview", "light", "--n", "1", "--out", str(tmp_path / "ok.png")]
        args += [flag, target]
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and f"cannot write {target} ({flag}): " in err and "internal error" not in err, err
        assert "Traceback" not in err


def test_the_grid_is_bounded_with_a_message_naming_the_limit(tmp_path, capsys):
    from augment.cli import main

    try:
        code = main(["preview", "light", "--max-side", "100000000", "--out", str(tmp_path / "g.png")])
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    assert code == 2 and "--max-side: must be in [16, 4096], got 100000000" in capsys.readouterr().err
    assert pv.MAX_SIDE == 4096, "the CLI's bound is the grid's"
    with pytest.raises(UsageError, match=r"between 16 and 4096"):
        pv.render("light", n=1).grid(100_000_000)
    with pytest.raises(UsageError, match=r"the grid would be \d+×\d+ pixels, more than 100000000"):
        pv.render("light", n=7, copies=3).grid(4096)
    assert not (tmp_path / "g.png").exists()


# --- the widget: step-through where the eye is, a short page, readable values (issue #26) -----------------


def test_a_tile_click_frames_the_tile_selects_it_and_shows_the_strip_under_the_grid():
    w = pv.Previewer("light", n=2)
    assert w.step_choice.value == 0, "a choice is made from the start: open opens something"
    w.step_button.click()
    assert w.highlighted == 0 and len(w.steps.children) == len(w.spec.ops) + 2
    side = w.max_side
    index = w.tile_at(6 + (side + 6) * 2 + 10, 6 + (side + 6 + 42) + 10)  # row 1, copy 1
    w._on_click({"dataX": 6 + (side + 6) * 2 + 10, "dataY": 6 + (side + 6 + 42) + 10})
    assert w.highlighted == index == 3 and w.step_choice.value == 3
    grid = PIL.Image.open(io.BytesIO(w.grid.value)).convert("RGB")
    x, y = 6 + (side + 6) * 2, 6 + (side + 6 + 42)  # the tile's corner; the frame is in the padding before it
    assert grid.getpixel((x - 3, y + side // 2)) == pv.HIGHLIGHT == grid.getpixel((x + side // 2, y - 3))
    assert grid.getpixel((6 + (side + 6) - 3, y + side // 2)) != pv.HIGHLIGHT, "only the chosen tile"
    # the strip comes right after the grid and its chooser; the long table after it, folded
    right = next(c for c in w.children[2].children if w.grid in getattr(c, "children", ()))
    order = list(right.children)
    assert order.index(w.steps) == order.index(w.grid) + 2 and order.index(w.table_fold) > order.index(w.steps)
    assert w.table_fold.selected_index is None and w.table in w.table_fold.children
    # and a script scrolls this previewer's strip into view once its pictures are in
    (script,) = w._scroll.outputs
    js = script["data"]["application/javascript"]
    assert w._steps_class in js and w._steps_class in w.steps._dom_classes and "scrollIntoView" in js
    generation = next(c for c in w.steps._dom_classes if c.startswith("augment-gen-"))
    assert generation in js
    w.seed.value = 12  # a new grid: nothing framed, the strip cleared, the choice kept
    assert w.highlighted is None and w.steps.children == () and w.step_choice.value == 3
    assert PIL.Image.open(io.BytesIO(w.grid.value)).convert("RGB").getpixel((x - 3, y + side // 2)) != pv.HIGHLIGHT


def test_the_parameter_table_reads_as_values_not_json():
    spec = {"version": 1, "seed": 3, "ops": [{"RandomResizedCrop": {"size": 96}}, "AugMix", "AutoAugment",
                                             {"RandomErasing": {"p": 1.0}}, {"ElasticTransform": {}}]}
    table = pv.render(spec, paths=["chelsea.jpg"], copies=1).html_table()
    assert "{" not in table and "&quot;" not in table and '"top"' not in table
    assert "RandomResizedCrop: top " in table and "ElasticTransform: displacement 1×" in table
    assert "AugMix: ops " in table and "AutoAugment: ops " in table


def test_the_library_names_a_parameter_as_notebooks_and_the_command_line_both_know_it():
    """Notebook 02 calls the library: a refusal named only the CLI's flag (``--max-side must
    be ...``, ``lower --max-side, or ... (--n, --paths) or copies (--copies)``)."""
    with pytest.raises(UsageError) as e:
        pv.draw_grid([[(None, "", None)]], max_side=8)
    assert str(e.value) == "max_side=8: must be between 16 and 4096 (pixels of a tile's largest side)"
    with pytest.raises(UsageError) as e:
        pv.draw_grid([[(None, "", None)] * 3] * 3, max_side=4096)
    assert str(e.value).endswith(": lower max_side=, n= or copies=, or name fewer paths="), e.value


def test_a_nan_or_infinite_parameter_reads_as_text():
    """``_value_text`` called ``int(nan)`` (ValueError) and ``int(inf)`` (OverflowError): a
    record with such a value (a manifest's JSON may hold NaN and Infinity) broke the caption."""
    from augment.preview._captions import record_text

    rec = {"op": "Probe", "applied": True,
           "params": {"a": float("nan"), "b": float("inf"), "c": float("-inf"), "d": [1.5, float("nan")],
                      "e": {"name": "Contrast", "magnitude": float("inf")}}}
    assert record_text(rec) == "Probe: a nan, b inf, c \u2212inf, d [1.5, nan], e Contrast inf"


def test_turning_off_a_choice_keeps_the_other_weights_and_the_box_shows_them():
    spec = {"version": 1, "ops": [{"RandomChoice": {"ops": ["RandomInvert", "RandomGrayscale", "RandomEqualize"],
                                                    "p": [1, 2, 1]}}]}
    w = pv.Previewer(spec, n=1)
    box = w.controls["ops[0].RandomChoice.p"]
    w.rows["ops[0].RandomChoice.ops[0]"]["toggle"].value = False
    used = w.spec.ops[0]["RandomChoice"]["p"]
    assert used == pytest.approx([2 / 3, 1 / 3]), "RandomGrayscale keeps twice RandomEqualize's weight"
    shown = yaml.safe_load(box.value)
    assert len(shown) == 2 and shown[0] / sum(shown) == pytest.approx(used[0]), box.value
    box.value = "[1, 3]"  # typed while an op is off: the weights of the ops that are on
    assert w.spec.ops[0]["RandomChoice"]["p"] == pytest.approx([0.25, 0.75]) and w.message == ""
    w.rows["ops[0].RandomChoice.ops[0]"]["toggle"].value = True
    p = w.spec.ops[0]["RandomChoice"]["p"]
    assert len(p) == 3 and p[2] / p[1] == pytest.approx(3), "the typed weights stay"
    assert p[0] / p[1] == pytest.approx(0.25), "RandomInvert's weight (0.25 of the canonical [1, 2, 1]) is back"
    shown = yaml.safe_load(box.value)
    assert [v / sum(shown) for v in shown] == pytest.approx(p), "the box shows the three weights again"


# --- the package's seams -------------------------------------------------------------------------


def test_the_static_preview_never_imports_ipywidgets():
    """The widget is imported on first use: the CLI, papermill and nbval render without it."""
    code = ("import sys, augment.preview as p\n"
            "p.render('light', n=1, copies=1)\n"
            "print('ipywidgets' in sys.modules, end=' ')\n"
            "p.Previewer\n"
            "print('ipywidgets' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout == "False True\n", done.stderr


def test_every_public_name_answers_from_augment_preview():
    """The modules split by idea; the names the README, notebook 02 and the CLI use stay here."""
    from augment.export import to_code
    from augment.preview._widget import Previewer

    for name in pv.__all__:
        assert getattr(pv, name) is not None, name
    assert pv.Previewer is Previewer and pv.to_code is to_code
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        pv.Nope  # noqa: B018
