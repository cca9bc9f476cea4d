"""--masks DIR (#28 item 1): semantic PNG masks that mirror the images' paths, one row of the options table meaning
exactly --annotations DIR --annotation-format masks, on augment process, augment validate, the container's
arguments and launch(); giving it with --annotations is a usage error naming both."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from augment.cli import main
from augment.errors import UsageError
from augment.labels.masks import encode_png
from augment.options import process_arguments
from tests.conftest import tree_bytes

FLIP = '{"version": 1, "ops": [{"RandomHorizontalFlip": {"p": 1.0}}]}'


@pytest.fixture()
def masked(tmp_path):
    """Two images and their class-id masks, mirrored (sub/b.png's mask is masks/sub/b.png)."""
    inputs, masks = tmp_path / "in", tmp_path / "masks"
    (inputs / "sub").mkdir(parents=True)
    (masks / "sub").mkdir(parents=True)
    for rel, value in (("a.png", 3), ("sub/b.png", 9)):
        PIL.Image.new("RGB", (40, 30), (20, 40, 60)).save(inputs / rel)
        classes = np.zeros((30, 40), np.uint8)
        classes[2:12, 1:9] = value
        (masks / rel).write_bytes(encode_png(classes))
    spec = tmp_path / "flip.json"
    spec.write_text(FLIP)
    return inputs, masks, spec


def test_process_masks_is_annotations_with_the_masks_format(masked, tmp_path, capsys):
    inputs, masks, spec = masked
    common = ["process", "--spec", str(spec), "--input-dir", str(inputs), "--workers", "1", "--progress", "off"]
    assert main([*common, "--masks", str(masks), "--output-dir", str(tmp_path / "m")]) == 0
    assert "labels:   masks" in capsys.readouterr().out
    assert main([*common, "--annotations", str(masks), "--annotation-format", "masks",
                 "--output-dir", str(tmp_path / "a")]) == 0
    written = tree_bytes(tmp_path / "m")
    assert written == tree_bytes(tmp_path / "a")
    flipped = np.asarray(PIL.Image.open(tmp_path / "m/masks/sub/b.png.aug0.png"))
    assert flipped[2:12, 31:39].tolist() == np.full((10, 8), 9).tolist() and int(flipped.sum()) == 9 * 80


def test_masks_with_annotations_is_a_usage_error_naming_both(masked, tmp_path, capsys):
    inputs, masks, spec = masked
    for command in (["process", "--spec", str(spec), "--input-dir", str(inputs), "--output-dir", str(tmp_path / "o")],
                    ["validate", str(spec)]):
        assert main([*command, "--masks", str(masks), "--annotations", str(masks)]) == 2
        err = capsys.readouterr().err
        assert f"--masks {masks} and --annotations {masks}: both name the annotations" in err, err
        assert main([*command, "--masks", str(masks), "--annotation-format", "voc"]) == 2
        assert f"--masks {masks} and --annotation-format 'voc'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_validate_masks_checks_the_masks_folder(masked, capsys):
    _, masks, spec = masked
    (masks / "notes.txt").write_text("not a mask")
    assert main(["validate", str(spec), "--masks", str(masks)]) == 0
    captured = capsys.readouterr()
    assert "labels: masks" in captured.out and "notes.txt: a file in the masks folder" in captured.err


def test_the_container_gets_the_one_form_and_launch_takes_masks(masked, tmp_path):
    from augment.jobs import LocalBackend, launch
    from augment.options import parse_job_arguments

    inputs, masks, spec = masked
    assert process_arguments("light", masks="m/") == ("--annotations", "m/", "--annotation-format", "masks")
    assert process_arguments("light", masks="m/", annotation_format="masks") == \
        ("--annotations", "m/", "--annotation-format", "masks")
    assert parse_job_arguments(["--masks", "m/"])["masks"] == "m/"
    with pytest.raises(UsageError, match=r"^masks=m/ and annotations=x\.json: both name the annotations"):
        process_arguments("light", masks="m/", annotations="x.json")
    with pytest.raises(UsageError, match=r"^masks='': must be a path"):
        process_arguments("light", masks="")
    with pytest.raises(UsageError, match=r"^masks=m/ and annotations="):
        launch(LocalBackend(), str(spec), str(inputs), str(tmp_path / "never"), masks="m/", annotations="x.json")
    out = tmp_path / "out"
    job = launch(LocalBackend(), str(spec), str(inputs), str(out), workers=1, masks=str(masks), attached=True)
    assert job.status() == "Completed"
    direct = tmp_path / "direct"
    assert main(["process", "--spec", str(spec), "--input-dir", str(inputs), "--workers", "1", "--progress", "off",
                 "--masks", str(masks), "--output-dir", str(direct)]) == 0
    assert (out / "masks/a.png.aug0.png").read_bytes() == (direct / "masks/a.png.aug0.png").read_bytes()
    assert (out / "masks/sub/b.png.aug0.png").read_bytes() == (direct / "masks/sub/b.png.aug0.png").read_bytes()


def test_preview_masks_draws_what_annotations_with_the_masks_format_draws(masked, tmp_path, capsys):
    inputs, masks, spec = masked
    common = ["preview", str(spec), "--input", str(inputs), "--n", "2"]
    assert main([*common, "--masks", str(masks), "--out", str(tmp_path / "m.png")]) == 0
    assert main([*common, "--annotations", str(masks), "--annotation-format", "masks",
                 "--out", str(tmp_path / "a.png")]) == 0
    assert main([*common, "--out", str(tmp_path / "none.png")]) == 0
    assert (tmp_path / "m.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    assert (tmp_path / "m.png").read_bytes() != (tmp_path / "none.png").read_bytes(), "the masks are drawn"
    capsys.readouterr()
    assert main([*common, "--masks", str(masks), "--annotations", str(masks), "--out", str(tmp_path / "x.png")]) == 2
    assert f"--masks {masks} and --annotations {masks}: both name" in capsys.readouterr().err


def test_plan_masks_plans_what_annotations_with_the_masks_format_plans(masked, capsys):
    inputs, masks, spec = masked
    common = ["plan", "--spec", str(spec), "--input", str(inputs), "--instance-type", "ml.m5.xlarge", "--json"]
    assert main([*common, "--masks", str(masks)]) == 0
    by_masks = capsys.readouterr().out
    assert main([*common, "--annotations", str(masks), "--annotation-format", "masks"]) == 0
    assert capsys.readouterr().out == by_masks
    assert '"format": "masks"' in by_masks
    assert main([*common, "--masks", str(masks), "--annotations", str(masks)]) == 2
    assert f"--masks {masks} and --annotations {masks}: both name" in capsys.readouterr().err


def test_render_and_the_previewer_take_masks_as_the_cli_does(masked):
    from augment.preview import Previewer, render

    inputs, masks, spec = masked
    by_masks = render(str(spec), str(inputs), n=2, masks=masks)
    by_format = render(str(spec), str(inputs), n=2, annotations=str(masks), annotation_format="masks")
    assert by_masks.grid().tobytes() == by_format.grid().tobytes()
    assert by_masks.annotations.format == "masks"
    assert Previewer(str(spec), str(inputs), n=2, masks=str(masks)).preview.annotations.format == "masks"
    with pytest.raises(UsageError, match=r"^masks=.* and annotations=.*: both name the annotations"):
        render(str(spec), str(inputs), masks=masks, annotations=str(masks))
