"""A job runs with the heap it found frozen (gc.freeze: an annotations index, torch's objects
out of the cyclic collector's walks, and out of forked workers' copy on write), and puts it
back as it was: unfrozen after, even when the job fails; a caller's freeze is left alone."""

from __future__ import annotations

import gc

import pytest

from augment import engine
from augment.engine import run_job

SPEC = {"version": 1, "copies": 1, "ops": [{"RandomHorizontalFlip": {"p": 0.5}}]}


@pytest.fixture
def seen_frozen(monkeypatch):
    counts = []
    pixels = engine._Worker._pixels

    def noting(self, rel, copies, labels=None):
        counts.append(gc.get_freeze_count())
        return pixels(self, rel, copies, labels)

    monkeypatch.setattr(engine._Worker, "_pixels", noting)
    return counts


def test_a_job_runs_frozen_and_leaves_the_heap_as_it_found_it(small_samples, tmp_path, seen_frozen):
    assert gc.get_freeze_count() == 0
    run_job(SPEC, small_samples, tmp_path / "o", workers=1, progress="off")
    assert seen_frozen and all(count > 0 for count in seen_frozen)
    assert gc.get_freeze_count() == 0


def test_a_failing_job_unfreezes_too(small_samples, tmp_path, monkeypatch):
    def broken(self, rel, copies, labels=None):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(engine._Worker, "_pixels", broken)
    with pytest.raises(ZeroDivisionError):
        run_job(SPEC, small_samples, tmp_path / "o", workers=1, progress="off")
    assert gc.get_freeze_count() == 0


def test_a_callers_freeze_is_left_alone(small_samples, tmp_path, seen_frozen):
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        run_job(SPEC, small_samples, tmp_path / "o", workers=1, progress="off")
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
