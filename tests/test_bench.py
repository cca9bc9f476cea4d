"""The benchmark harnesses run end to end on tiny corpora (bench.py: every contender;
labels.py: one job with labels and without).

No timing is asserted (machines are noisy): the speed targets live in benchmarks/README.md
(summarised in the README's Performance table), as ratios measured in one run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402
import labels as labels_bench  # noqa: E402


def test_corpus_is_deterministic_and_imagenet_sized(tmp_path):
    a = bench.make_corpus(tmp_path / "a", 5)
    b = bench.make_corpus(tmp_path / "b", 5)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    for p in a:
        with PIL.Image.open(p) as img:
            assert img.format == "JPEG" and 400 <= max(img.size) <= 640


@pytest.mark.slow
def test_harness_runs_every_contender_and_reports_ratios(tmp_path):
    # Small on purpose (ten images, one worker count, one pipeline, one round): every
    # contender still starts its pool and runs end to end. `make bench` is the full run.
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--images", "10", "--workers", "1",
               "--pipelines", "crop", "--rounds", "1", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    result_json = json.loads(out.read_text())
    rows = result_json["rows"]
    assert result_json["versions"]["augment-compiled-kernels"] in ("vbmi", "avx2", "generic", "none")
    expected = (*bench.CONTENDERS, "kit-job", "kit-wall")
    assert {(r["contender"], r["pipeline"], r["workers"]) for r in rows} == {(c, "crop", 1) for c in expected}
    for r in rows:
        assert "skipped" not in r, f"{r['contender']} did not run: the bench extras are part of dev"
        assert r["images_per_s"] > 0 and r["peak_rss_mb"] > 0
        assert all(r[k] is not None for k in ("vs_albumentations", "vs_seed", "vs_io_limit", "vs_1_worker"))
        assert len(r["rounds_images_per_s"]) == 1
        if r["contender"] != "kit":
            assert r["images_per_s"] == max(r["rounds_images_per_s"])
    job, wall = (next(r for r in rows if r["contender"] == c) for c in ("kit-job", "kit-wall"))
    assert job["startup_s"] > 0 and wall["seconds"] > job["seconds"], "the wall clock includes start-up"
    # ten images: the kit row tells the fixed cost apart, or says it could not
    kit = next(r for r in rows if r["contender"] == "kit")
    assert kit["method"] in ("marginal", "job clock")
    assert (kit["fixed_s"] is None) == (kit["method"] == "job clock")
    table = result.stdout.strip().splitlines()
    assert table[0].startswith("| pipeline | workers | contender | images/s | × albumentations")
    assert len(table) == 2 + len(rows)


def test_a_corpus_too_small_to_split_falls_back_to_the_jobs_clock():
    # the 6-megapixel corpus is a tenth of the images: one image cannot be split into a
    # subset and the rest, so its kit row uses the job's own clock and says so
    row = bench._kit_row("crop-6mp", 1, 1, 1, [(0.5, 0.5)], 300.0)
    assert row["method"] == "job clock" and row["fixed_s"] is None


@pytest.mark.parametrize("argv, message", [(["--rounds", "0"], "--rounds must be at least 1, got 0"),
                                           (["--images", "-3"], "--images must be at least 1, got -3"),
                                           (["--workers", "1", "0"], "--workers must be at least 1, got 0")])
def test_bad_arguments_fail_before_any_work_with_the_flag_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_kit_row_cancels_the_jobs_fixed_cost():
    # 100 images in 0.9 s at best, 20 of them in 0.25 s: 80 images take 0.65 s once running,
    # and the 0.0875 s left over is the fixed cost (forks, first images, exits)
    row = bench._kit_row("crop", 2, 100, 20, [(1.0, 0.3), (0.9, 0.26), (0.95, 0.25)], 400.0)
    assert row["method"] == "marginal" and row["fixed_s"] == pytest.approx(0.0875, abs=0.001)  # rounded to ms
    assert row["images_per_s"] == pytest.approx(80 / 0.65, abs=0.1)
    assert row["seconds"] == pytest.approx(0.8125, abs=0.001)  # the corpus at that pace
    assert row["rounds_images_per_s"] == [pytest.approx(80 / 0.7, abs=0.1), pytest.approx(80 / 0.64, abs=0.1),
                                          pytest.approx(80 / 0.7, abs=0.1)]


@pytest.mark.parametrize("images, runs", [(9, [(0.1, 0.02)]), (100, [(0.5, 0.6)])])
def test_kit_row_falls_back_to_the_jobs_clock(images, runs):
    # too few images to tell a fixed cost apart, or a subset that ran longer than the corpus
    row = bench._kit_row("crop", 1, images, 2, runs, 400.0)
    assert row["method"] == "job clock" and row["fixed_s"] is None
    assert row["images_per_s"] == pytest.approx(images / runs[0][0], abs=0.1)


# --- benchmarks/labels.py: what labels add to a job's time ----------------------------------


def test_labels_corpus_has_the_boxes_asked_for_deterministically(tmp_path):
    paths = bench.make_corpus(tmp_path / "c", 3)
    a = labels_bench.make_coco(paths, tmp_path / "c", boxes=20, polygons=2)
    assert a == labels_bench.make_coco(paths, tmp_path / "c", boxes=20, polygons=2)
    assert [i["file_name"] for i in a["images"]] == [p.name for p in paths]
    assert len(a["annotations"]) == 60 and sum("segmentation" in x for x in a["annotations"]) == 6
    from augment.labels.coco import read_coco

    index = read_coco(a)
    assert not index.problems, index.problems[:3]  # every box inside its image, every polygon decodable


def test_labels_bench_times_both_jobs_and_reports_the_ratio(tmp_path):
    # a smoke run: three images, one spec, one round; no timing is asserted
    out = tmp_path / "labels.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "labels.py"), "--images", "3", "--boxes", "5",
               "--polygons", "1", "--specs", "light", "--rounds", "1", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert row["spec"] == "light" and row["boxes_per_image"] == 5 and data["goal"] == labels_bench.GOAL
    assert row["unlabelled_s"] > 0 and row["labelled_s"] > 0 and row["unlabelled_cpu_s"] > 0
    assert row["ratio"] == pytest.approx(row["labelled_s"] / row["unlabelled_s"], rel=0.01)
    assert len(row["rounds_s"]["labelled"]) == len(row["rounds_s"]["unlabelled"]) == 1
    table = result.stdout.strip().splitlines()
    assert table[0].startswith("| spec | images | boxes/image") and len(table) == 3


@pytest.mark.parametrize("argv, message", [(["--rounds", "0"], "--rounds must be at least 1, got 0"),
                                           (["--polygons", "21"], "--polygons must be between 0 and --boxes")])
def test_labels_bench_refuses_bad_arguments_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        labels_bench.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
