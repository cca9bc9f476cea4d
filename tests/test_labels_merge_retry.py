"""A sharded job's label merge that fails is not lost (review of #28, findings 1 and 8):
status() never raises for it and keeps trying, wait() raises it and tries again at the
next call, and two threads polling status() merge once."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from augment import samples
from augment.jobs import launch
from augment.jobs.handles import completed
from augment.jobs.labels import LabelMergeError, finish_sharded

ANNOTATIONS = str(samples.annotations_path())
FLIP = {"version": 1, "seed": 3, "copies": 1, "ops": ["RandomHorizontalFlip"]}


def _failing(monkeypatch: pytest.MonkeyPatch, times: int, error: Any = None) -> list[str]:
    """merge_parts raising ``error(n)`` (default an OSError) ``times`` times, then merging;
    returns the calls' outputs."""
    import augment.engine.labels as engine_labels

    real, calls = engine_labels.merge_parts, []
    error = error or (lambda n: OSError(f"part {n} unreadable"))

    def merge_parts(output: Any) -> list[str]:
        calls.append(str(output))
        if len(calls) <= times:
            raise error(len(calls))
        return real(output)

    monkeypatch.setattr(engine_labels, "merge_parts", merge_parts)
    return calls


def _polled_sharded_job(out: Any) -> tuple[Any, str]:
    """A sharded, labelled local job of the samples into ``out``, polled by status() alone until it ended;
    the handle and the status it ended on."""
    from augment.jobs import LocalBackend

    job = launch(LocalBackend(), FLIP, str(samples.samples_dir()), str(out), mode="sharded", instance_count=2,
                 workers=1, annotations=ANNOTATIONS)
    deadline = time.monotonic() + 300
    while (status := job.status()) not in ("Completed", "Failed", "Stopped") and time.monotonic() < deadline:
        time.sleep(0.2)
    return job, status


def test_a_failed_merge_is_tried_again_by_status_and_wait_until_it_succeeds(monkeypatch, tmp_path):
    calls = _failing(monkeypatch, times=2)
    out = tmp_path / "out"
    job, status = _polled_sharded_job(out)
    assert status == "Completed", "status() does not raise for the merge"
    assert len(calls) == 1 and isinstance(job.finish_error, LabelMergeError)
    assert job.finish is not None and job.labels == [] and not (out / "annotations.json").exists()
    with pytest.raises(LabelMergeError, match=r"part 2 unreadable.*wait\(\) tries again"):
        job.wait(timeout=5)
    assert job.wait(timeout=5)["ProcessingJobStatus"] == "Completed"
    assert len(calls) == 3 and job.finish is None and job.finish_error is None
    assert job.labels == ["annotations.json"]
    assert len(json.loads((out / "annotations.json").read_bytes())["images"]) == len(samples.list_samples())
    assert job.status() == "Completed" and len(calls) == 3, "merged once it succeeded, not again"


class _Ended:
    """A handle of a job that completes after its first describe()."""

    name = "job-1"

    def __init__(self) -> None:
        self.seen = 0

    def describe(self) -> dict[str, Any]:
        self.seen += 1
        return {"ProcessingJobStatus": "InProgress" if self.seen == 1 else "Completed"}

    def status(self) -> str:
        return completed(self, self.describe()["ProcessingJobStatus"])


def test_two_threads_polling_status_merge_once(monkeypatch, tmp_path):
    import augment.engine.labels as engine_labels

    calls, started = [], threading.Event()

    def merge_parts(output: Any) -> list[str]:
        calls.append(output)
        started.set()
        time.sleep(0.3)
        return ["annotations.json"]

    monkeypatch.setattr(engine_labels, "merge_parts", merge_parts)
    job = finish_sharded(_Ended(), str(tmp_path))
    assert job.finish is not None
    threads = [threading.Thread(target=job.status) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [str(tmp_path)] and job.labels == ["annotations.json"] and job.finish is None


def test_a_merge_that_fails_on_a_job_already_ended_raises_at_launch(monkeypatch, tmp_path):
    _failing(monkeypatch, times=1)
    job = _Ended()
    job.seen = 1  # ended already, as an attached local job has
    with pytest.raises(LabelMergeError, match="part 1 unreadable"):
        finish_sharded(job, str(tmp_path))


def _merge_failing_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import augment.jobs.labels as job_labels

    real, calls = job_labels.merge_batches, []

    def merge_batches(output: Any, batches: Any) -> list[str]:
        calls.append(output)
        if len(calls) == 1:
            raise ValueError("the parts' categories differ")
        return real(output, batches)

    monkeypatch.setattr(job_labels, "merge_batches", merge_batches)


def test_a_batched_job_whose_labels_do_not_merge_keeps_its_report_and_says_how_to_merge(monkeypatch, tmp_path):
    from augment.jobs import LocalBackend, run_batched
    from augment.jobs.labels import merge_report

    _merge_failing_once(monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(LabelMergeError, match=r"categories differ; each batch keeps its own; merge them again with "
                                              r"augment\.jobs\.labels\.merge_report\("):
        run_batched(LocalBackend(), FLIP, str(samples.samples_dir()), str(out), batch_size=4, workers=1,
                    annotations=ANNOTATIONS, poll=0.1, progress="off", retries=0)
    report = json.loads((out / "_batches" / "report.json").read_text())
    assert [b["status"] for b in report["batches"]] == ["Completed", "Completed"] and report["labels"] == []
    assert not (out / "annotations.json").exists()
    assert merge_report(str(out)) == ["annotations.json"]
    names = [i["file_name"] for i in json.loads((out / "annotations.json").read_text())["images"]]
    assert len(names) == len(samples.list_samples()) and all((out / n).is_file() for n in names)


def test_prefetch_whose_labels_do_not_merge_says_how_to_merge(monkeypatch, tmp_path):
    from augment.jobs import LocalBackend, Prefetch
    from augment.jobs.labels import merge_batches

    _merge_failing_once(monkeypatch)
    out = tmp_path / "out"
    prefetch = Prefetch(LocalBackend(), FLIP, str(samples.samples_dir()), str(out), batch_size=4, workers=1,
                        annotations=ANNOTATIONS, poll=0.1)
    with pytest.raises(LabelMergeError, match=r"merge_batches\(.*, prefetch\.batches\)"):
        list(prefetch)
    assert merge_batches(str(out), prefetch.batches) == ["annotations.json"]


def test_s3_refusing_the_merge_is_kept_by_status_and_raised_by_wait(monkeypatch, tmp_path):
    """S3's own errors (a throttled or refused request: botocore's ClientError, not an
    OSError) are a failed merge too: status() keeps it, wait() says how to merge again."""
    from botocore.exceptions import ClientError

    refused = lambda n: ClientError({"Error": {"Code": "SlowDown", "Message": f"try {n}"}}, "GetObject")  # noqa: E731
    calls = _failing(monkeypatch, times=1, error=refused)
    out = tmp_path / "out"
    job, status = _polled_sharded_job(out)
    assert status == "Completed" and isinstance(job.finish_error, LabelMergeError)
    assert "SlowDown" in str(job.finish_error) and "merge_parts(" in str(job.finish_error)
    assert job.wait(timeout=5)["ProcessingJobStatus"] == "Completed"
    assert len(calls) == 2 and job.labels == ["annotations.json"]
