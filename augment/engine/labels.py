"""A labelled job's share of the engine: the annotations opened once per host, their
problems recorded, and the outputs' labels merged into the format's own files.

:func:`open_labels` indexes the annotations in the job's main process (never in every
worker: each task carries its input's label object only), after refusing a spec with
ops that cannot carry labels. The workers write each output's own label files (YOLO,
VOC, masks) before its record; an output's COCO or Ground Truth entry comes back as a
line on its record, which the job appends to this host's label journal
(:func:`open_journal`, :func:`append_lines`) just before the record. When the job
completes, :func:`write_labels` merges the journal: this host's part
(``_augment/labels-<host>.<ext>``) always, and the job's file in the output folder
(COCO's ``annotations.json``, Ground Truth's ``output.manifest``, a YOLO tree's
``data.yaml``) when the host is the job's only one. A line is per output, and an
output's latest counts, so a resumed job, or one with another number of workers, merges
the same bytes.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from augment import manifest as mf
from augment.engine.worker import LABEL_LINE
from augment.errors import SpecError
from augment.images import atomic_write_bytes
from augment.labels.formats import AnnotationIndex, excluded_annotations, journal_name, open_annotations
from augment.locations import META_DIR
from augment.spec import Spec
from augment.text import plural

__all__ = ["append_lines", "check_no_fragments", "check_same_annotations", "excluded_annotations", "label_prefix",
           "merge_parts", "open_journal", "open_labels", "record_problems", "refuse_ops", "write_labels"]

_PART_SUFFIX = {"coco": ".json", "groundtruth": ".manifest", "yolo": ".yaml"}


def open_labels(spec: Spec, annotations: str | Path, annotation_format: str | None, input_dir: Path,
                input_uri: str | None) -> AnnotationIndex:
    """The job's annotations, indexed once.

    Raises:
        SpecError: an op of ``spec`` cannot carry labels (each named with its field path).
        UsageError: the annotations cannot be opened (``annotations=PATH: reason``).
    """
    refuse_ops(spec)
    return open_annotations(annotations, format=annotation_format, input_dir=input_dir, input_uri=input_uri)


def refuse_ops(spec: Spec) -> None:
    """Refuse a spec with ops that cannot carry labels.

    Raises:
        SpecError: naming each such op with its field path, and why.
    """
    from augment.labels.refuse import refusals

    found = refusals(spec)
    if found:
        raise SpecError([f"{where}.{op}: cannot carry labels (annotations= is given): {why}"
                         for where, op, why in found])


def check_same_annotations(summary_path: Path, labels: AnnotationIndex | None) -> None:
    """Refuse to resume a job with other annotations than it started with (or with none,
    or some where it had none): its outputs' labels would come from two files, or be
    missing from the merged one. A job killed before its summary has nothing to compare.

    Raises:
        UsageError: naming the annotations the job started with.
    """
    from augment.engine.claim import _summary_field
    from augment.errors import UsageError

    if not summary_path.exists():
        return
    before = _summary_field(summary_path, "labels")
    was = before.get("annotations") if isinstance(before, dict) else None
    now = None if labels is None else _named(labels.where)
    if was != now:
        raise UsageError(f"resume=True: this job started with {f'annotations={was}' if was else 'no annotations'}; "
                         f"resume it with {f'annotations={was}' if was else 'none'} (got "
                         f"{f'annotations={now}' if now else 'none'})")


def check_no_fragments(meta: Path) -> None:
    """Refuse to resume a labelled job that an earlier augment started, which wrote each
    output's COCO or Ground Truth labels as a file under ``_augment/labels/`` where this
    one keeps a journal (:func:`open_journal`): its merged file would lack the outputs done
    before. Nothing is touched: that version finishes it.

    Raises:
        UsageError: naming the folder and what to do.
    """
    from augment.errors import UsageError

    folder = meta / "labels"
    if folder.is_dir() and any(name.endswith(".json") for _, _, names in os.walk(folder) for name in names):
        raise UsageError(f"resume=True: {folder} holds the outputs' labels as an earlier augment wrote them (a file "
                         "per output; this one keeps them in _augment/label-lines-<host>.txt): resume the job with "
                         "the version that started it, or start it anew in another output_dir=")


def _named(where: str) -> str:
    """The annotations as the summary names them: a local path resolved (a resume may name it otherwise)."""
    from augment.storage import is_s3

    return where if where == "yolo" or is_s3(where) else str(Path(where).resolve())


def label_prefix(output_dir: Path, output_uri: str | None = None) -> str:
    """Where outputs' labels name them from (Ground Truth's ``source-ref``): the output
    as the user knows it (a processing job's ``s3://`` URI, where its folder is uploaded),
    else the output folder."""
    return (output_uri.rstrip("/") if output_uri else str(output_dir.resolve())) + "/"


def record_problems(labels: AnnotationIndex, path: Path, summary: Any, log: Any, unlabelled: int = 0) -> None:
    """List the annotations' problems in ``path`` (one JSON line each: where, reason,
    message), count them in the summary, and say so once; likewise the inputs to do that
    the annotations do not name (``unlabelled``: valid, their outputs have no objects,
    but a file name that does not match would look the same)."""
    problems = labels.problems
    by_reason = dict(sorted(Counter(p.reason for p in problems).items()))
    atomic_write_bytes(path, mf.json_lines([{"where": p.where, "reason": p.reason, "message": p.message}
                                            for p in problems]))
    summary.labels = {"format": labels.format, "annotations": _named(labels.where), "problems": len(problems),
                      "problems_by_reason": by_reason, "problems_list": str(path), "unlabelled_inputs": unlabelled,
                      "files": []}
    if unlabelled:
        log.event("unlabelled", f"{plural(unlabelled, 'input')} to do {'has' if unlabelled == 1 else 'have'} no "
                  f"labels in {labels.where} (kept, with no objects: check that its file names are the input's "
                  "paths)", unlabelled_inputs=unlabelled)
    if problems:
        first = "; ".join(str(p) for p in problems[:3])
        log.event("label_problems", f"{plural(len(problems), 'annotation')} of {labels.where} cannot be used "
                  f"({', '.join(f'{n} {r}' for r, n in by_reason.items())}) and are left out of their images' "
                  f"labels: {first}{'; ...' if len(problems) > 3 else ''}; listed in {path}",
                  level="warning", label_problems=len(problems), problems_by_reason=by_reason,
                  problems_list=str(path))


def open_journal(labels: AnnotationIndex | None, meta: Path, host: str, resume: bool) -> BinaryIO | None:
    """This host's label journal (COCO, Ground Truth; ``None`` for the other formats and
    unlabelled jobs), open to append, unbuffered as the manifest is: a new job's empty, a
    resumed one's with a torn last line cut off.

    Raises:
        OSError: it cannot be opened.
    """
    if labels is None or labels.format not in ("coco", "groundtruth"):
        return None
    journal = open(meta / journal_name(host), "ab+" if resume else "wb+", buffering=0)
    try:
        mf.cut_torn_line(journal)
    except BaseException:
        journal.close()
        raise
    return journal


def append_lines(journal: BinaryIO | None, records: list[dict[str, Any]]) -> None:
    """Take the outputs' journal lines off their records (:data:`~augment.engine.worker.LABEL_LINE`)
    and append them, straight to the kernel (before the records: an output with a record
    has its line). Lines of names that are not UTF-8 are written as the manifest writes them.

    Raises:
        OSError: a full disk, say (at most a torn last line, which a resume cuts off).
    """
    lines = [line for r in records if (line := r.pop(LABEL_LINE, None)) is not None]
    if journal is None or not lines:
        return
    view = memoryview("".join(lines).encode("utf-8", errors="backslashreplace"))
    while view:
        view = view[journal.write(view):]


def write_labels(labels: AnnotationIndex, output_dir: Path, host: str, *, standalone: bool, summary: Any) -> None:
    """Merge this host's label journal: its part, and the job's files where
    ``standalone``. A file that cannot be written fails the job (the outputs and the
    journal are intact: a resume writes it)."""
    try:
        merged = labels.merge(output_dir, host)
        written = []
        for name, data in merged.items():
            if labels.format in _PART_SUFFIX:
                part = Path(META_DIR) / f"labels-{host}{_PART_SUFFIX[labels.format]}"
                atomic_write_bytes(output_dir / part, data)
                written.append(str(part))
            if standalone:
                atomic_write_bytes(output_dir / name, data)
                written.append(name)
    except OSError as e:
        summary.status = "failed"
        summary.message = (f"cannot write the outputs' labels in {output_dir}: {e.strerror or e}; the outputs and "
                           "their labels' journal are intact: resume=True writes them")
        return
    if summary.labels is not None:
        summary.labels["files"] = written


def merge_parts(output: str | Path) -> list[str]:
    """Merge the hosts' label parts under ``output`` (a folder or ``s3://`` prefix that
    several hosts wrote into: ``_augment/labels-<host>.json``, ``.manifest`` or a YOLO
    tree's ``.yaml``) into the job's one file beside the outputs, the bytes one host would
    have written. What :func:`augment.jobs.launch` has a sharded job do when every host is
    done.

    Returns:
        The files written (relative to ``output``); none where no host wrote a part.

    Raises:
        ValueError: parts of two kinds, or parts that do not merge (see
            :func:`augment.labels.coco.merge_coco`; YOLO's must be the same ``data.yaml``).
    """
    import json

    from augment.labels.coco import dump_coco, merge_coco
    from augment.labels.formats import COCO_OUTPUT, GROUND_TRUTH_OUTPUT
    from augment.labels.groundtruth import merge_ground_truth
    from augment.storage import join, list_location, read_bytes, write_bytes

    meta = join(str(output), META_DIR)
    names = [name for name, _ in list_location(meta) if "/" not in name and name.startswith("labels-")]
    kinds = {suffix for suffix in _PART_SUFFIX.values() for name in names if name.endswith(suffix)}
    if not kinds:
        return []
    if len(kinds) > 1:
        raise ValueError(f"{meta}: label parts of two formats ({', '.join(sorted(names))})")
    parts = [read_bytes(join(meta, name)) for name in names]
    if kinds == {".json"}:
        target, data = COCO_OUTPUT, dump_coco(merge_coco([json.loads(p) for p in parts]))
    elif kinds == {".yaml"}:  # every host's is the input tree's data.yaml
        if len(set(parts)) > 1:
            raise ValueError(f"{meta}: the hosts' data.yaml parts differ ({', '.join(sorted(names))})")
        target, data = "data.yaml", parts[0]
    else:
        target, data = GROUND_TRUTH_OUTPUT, merge_ground_truth(parts)
    write_bytes(join(str(output), target), data)
    return [target]
