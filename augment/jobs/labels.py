"""A labelled launch ends with the job's label files, in every mode.

A standalone job's host writes them itself (COCO's ``annotations.json``, Ground Truth's
``output.manifest``, a YOLO tree's ``data.yaml``: see :mod:`augment.engine.labels`).
A sharded job's hosts each write a part (``_augment/labels-<host>.*``), which
:func:`finish_sharded` merges with :func:`augment.engine.labels.merge_parts` when the
job completes (on the handle ``launch()`` returned, or one that
:meth:`~augment.jobs.sagemaker.SageMakerBackend.attach` made), into the bytes one host
would have written; a merge that fails is tried again until one succeeds. Batched and
prefetch jobs are standalone jobs, one per batch: each batch keeps its own files, and
:func:`merge_batches` writes the set's in the output folder once every batch ended, its
entries naming the outputs by their path from there (``batch-00000/a.jpg.aug0.jpg``);
:func:`merge_report` does it again from a batched job's report. VOC XML and masks
belong to one output each: nothing to merge.

The launchers call these (:func:`~augment.jobs.launch.launch`,
:func:`~augment.jobs.batch.run_batched`, :class:`~augment.jobs.batch.Prefetch`), so a
notebook, ``augment run`` and a script get the same files from one place.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import Any

from augment.errors import AugmentError, JobFailed
from augment.storage import exists, join, list_location, read_bytes, write_bytes

SPLITS = ("train", "val", "test", "minival")
"""The keys of a YOLO ``data.yaml`` that name images (Ultralytics')."""


def annotated(arguments: Sequence[str]) -> bool:
    """Whether a job with these container arguments carries labels."""
    return "--annotations" in arguments


def check_labels(spec: Any, input_uri: str, annotations: str | None, annotation_format: str | None) -> None:
    """Refuse a labelled launch that its hosts would refuse, before anything is uploaded
    or sent (on SageMaker they refuse it minutes into a paid start-up): an op of ``spec``
    that cannot carry labels (as ``augment validate --annotations`` names it), and
    annotations of this machine (a file or folder) that cannot be opened, read as the job
    reads them. An ``s3://`` file is not downloaded for this (it may be large), nor a
    YOLO tree read: the job reads them.

    Raises:
        UsageError: naming each op by its field path (``ops[1].AutoAugment``), or the
            annotations (``annotations=PATH: reason``).
    """
    from augment.errors import UsageError
    from augment.labels.refuse import refusals
    from augment.storage import is_s3

    if annotations is None:
        return
    found = refusals(spec)
    if found:
        raise UsageError("\n".join(f"{where}.{op}: cannot carry labels (annotations={annotations} is given): {why}"
                                   for where, op, why in found))
    if annotations == "yolo" or is_s3(annotations):
        return
    from augment.labels.formats import open_annotations

    local = not is_s3(input_uri)
    open_annotations(annotations, format=annotation_format, input_dir=input_uri if local else None,
                     input_uri=None if local else input_uri)


def finish_sharded(job: Any, output: str) -> Any:
    """Have ``job`` (a handle of a sharded, labelled job) merge its hosts' label parts
    under ``output`` when it completes: at once where it has ended already (an attached
    local job), else when its ``wait()`` or ``status()`` sees it completed. A merge that
    fails is tried again at the next ``wait()`` or ``status()`` until one succeeds (then
    ``job.finish`` is ``None``: merging again would write the same bytes); ``wait()``
    raises its :class:`LabelMergeError`, ``status()`` keeps it in ``job.finish_error``
    (it is polled: see :func:`~augment.jobs.handles.completed`). One thread merges at a
    time. The files written are in ``job.labels`` (relative to ``output``).

    Returns:
        ``job``.
    """
    lock = threading.Lock()

    def finish() -> None:
        from augment.engine.labels import merge_parts

        with lock:
            if job.finish is not finish:  # another thread merged while this one waited
                return
            try:
                job.labels = merge_parts(output)
            except merge_failures() as e:
                raise LabelMergeError(f"job {job.name} completed, but its hosts' labels under {output} could not "
                                      f"be merged: {e}; wait() tries again, or merge them with "
                                      f"augment.engine.labels.merge_parts({output!r})") from e
            job.finish, job.finish_error = None, None

    job.labels, job.finish, job.finish_error = [], finish, None
    if job.describe()["ProcessingJobStatus"] == "Completed":  # ended already: a failed merge is raised here
        finish()
    return job


def merge_failures() -> tuple[type[BaseException], ...]:
    """What a merge may fail with that is not a bug: a part unreadable or malformed, and
    S3's refusals and time-outs (botocore's, where it is loaded; :mod:`augment.aws`'s
    wording of them)."""
    kinds: tuple[type[BaseException], ...] = (OSError, ValueError, AugmentError)
    if "botocore" in sys.modules:
        from botocore.exceptions import BotoCoreError, ClientError

        kinds += (BotoCoreError, ClientError)
    return kinds


class LabelMergeError(JobFailed):
    """A job completed, but its label files could not be merged (its outputs and its hosts'
    parts are intact: the message says how to merge them)."""


def merge_batches(output: str, batches: Sequence[Any]) -> list[str]:
    """The label files of a set of batches (each a standalone job under ``output``, with its
    own files), written in ``output`` as one job would have them: COCO's images and
    annotations of every completed batch in one document, numbered again, each
    ``file_name`` the output's path from ``output``; Ground Truth's lines in one manifest
    (their ``source-ref`` already names each output in full); a YOLO ``data.yaml`` whose
    splits list each batch's folders that hold them. A batch that did not complete adds
    nothing (its outputs are not there to name).

    Returns:
        The files written, relative to ``output``; none where the batches wrote no labels.

    Raises:
        ValueError: the batches' files do not merge (categories that differ).
    """
    from augment.labels.formats import COCO_OUTPUT, GROUND_TRUTH_OUTPUT

    done = [(_relative(output, b.output_uri), b.output_uri) for b in batches if b.status == "Completed"]
    written = []
    for name, merge in ((COCO_OUTPUT, _coco), (GROUND_TRUTH_OUTPUT, _ground_truth), ("data.yaml", _data_yaml)):
        found = [(rel, join(uri, name)) for rel, uri in done if exists(join(uri, name))]
        if found:
            write_bytes(join(output, name), merge(output, found))
            written.append(name)
    return written


def merged_batches(output: str, batches: Sequence[Any], again: str) -> list[str]:
    """:func:`merge_batches`, its failure said as the set's: the batches' outputs and their
    own label files are intact, ``again`` says how to merge them by hand.

    Raises:
        LabelMergeError: the merge failed.
    """
    try:
        return merge_batches(output, batches)
    except merge_failures() as e:
        raise LabelMergeError(f"the batches ended, but their label files could not be merged into {output}: {e}; "
                              f"each batch keeps its own; {again}") from e


def merge_report(output: str) -> list[str]:
    """Merge again the label files of the batched job whose report is
    ``<output>/_batches/report.json`` (what :func:`merge_batches` did when it ended: after a
    merge that failed, or a batch's files written again by hand).

    Returns:
        The files written, relative to ``output``.

    Raises:
        UsageError: no report there.
        ValueError: the batches' files do not merge.
    """
    from types import SimpleNamespace

    from augment.errors import UsageError

    where = join(output, "_batches", "report.json")
    if not exists(where):
        raise UsageError(f"output={output}: no _batches/report.json, so no batched job ended there")
    report = json.loads(read_bytes(where))
    return merge_batches(output, [SimpleNamespace(**b) for b in report["batches"]])


def _relative(output: str, batch_output: str) -> str:
    base = output.rstrip("/") + "/"
    if not batch_output.startswith(base):
        raise ValueError(f"batch output {batch_output} is not under {base}")
    return batch_output[len(base):].rstrip("/")


def _coco(output: str, found: list[tuple[str, str]]) -> bytes:
    from augment.labels.coco import dump_coco, merge_coco

    parts = []
    for rel, uri in found:
        doc = json.loads(read_bytes(uri))
        doc["images"] = [{**image, "file_name": f"{rel}/{image['file_name']}"} for image in doc["images"]]
        parts.append(doc)
    return dump_coco(merge_coco(parts))


def _ground_truth(output: str, found: list[tuple[str, str]]) -> bytes:
    from augment.labels.groundtruth import merge_ground_truth

    return merge_ground_truth(read_bytes(uri) for _, uri in found)


def _data_yaml(output: str, found: list[tuple[str, str]]) -> bytes:
    """The first batch's ``data.yaml`` (every batch's is the input's), its splits naming
    each batch's folder of them: ``images/train`` -> ``[batch-00000/images/train, ...]``.
    A split's path that no batch holds as a folder (a list file ``train.txt``, a path out
    of the tree ``../train/images``) is kept as the input's YAML says it, as a standalone
    job's ``data.yaml`` keeps it, where it was dropped (``train: []``, which Ultralytics
    refuses)."""
    import yaml

    data = yaml.safe_load(read_bytes(found[0][1])) or {}
    for key in SPLITS:
        value = data.get(key)
        if value is None:
            continue
        paths = [value] if isinstance(value, str) else list(value)
        mapped: list[str] = []
        for p in paths:
            inside = not str(p).startswith("/") and ".." not in str(p).split("/")
            held = [f"{rel}/{p}" for rel, _ in found
                    if inside and list_location(join(output, rel, str(p)) + "/", limit=1)]
            mapped += held or [p]
        data[key] = mapped[0] if isinstance(value, str) and mapped == [value] else mapped
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")
