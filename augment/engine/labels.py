"""A labelled job's share of the engine: the annotations opened once per host, their
problems recorded, and the outputs' labels merged into the format's own files.

:func:`open_labels` indexes the annotations in the job's main process (never in every
worker: each task carries its input's label object only), after refusing a spec with
ops that cannot carry labels. The workers write each output's labels (its own file, or
its fragment under ``_augment/labels/``, see :class:`augment.labels.formats.LabelWriter`)
before its record; :func:`write_labels` merges the fragments when the job completes:
this host's part (``_augment/labels-<host>.<ext>``) always, and the job's file in the
output folder (COCO's ``annotations.json``, Ground Truth's ``output.manifest``, a YOLO
tree's ``data.yaml``) when the host is the job's only one. The fragments are per
output, so a resumed job, or one with another number of workers, merges the same bytes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from augment import manifest as mf
from augment.errors import SpecError
from augment.images import atomic_write_bytes
from augment.labels.formats import AnnotationIndex, excluded_annotations, open_annotations
from augment.locations import META_DIR
from augment.spec import Spec
from augment.text import plural

__all__ = ["check_same_annotations", "excluded_annotations", "label_prefix", "merge_parts", "open_labels",
           "record_problems", "write_labels"]

_PART_SUFFIX = {"coco": ".json", "groundtruth": ".manifest", "yolo": ".yaml"}


def open_labels(spec: Spec, annotations: str | Path, annotation_format: str | None, input_dir: Path,
                input_uri: str | None) -> AnnotationIndex:
    """The job's annotations, indexed once.

    Raises:
        SpecError: an op of ``spec`` cannot carry labels (each named with its field path).
        UsageError: the annotations cannot be opened (``annotations=PATH: reason``).
    """
    from augment.labels.refuse import refusals

    found = refusals(spec)
    if found:
        raise SpecError([f"{where}.{op}: cannot carry labels (annotations= is given): {why}"
                         for where, op, why in found])
    return open_annotations(annotations, format=annotation_format, input_dir=input_dir, input_uri=input_uri)


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


def write_labels(labels: AnnotationIndex, output_dir: Path, host: str, *, standalone: bool, summary: Any) -> None:
    """Merge the outputs' label fragments: this host's part, and the job's files where
    ``standalone``. A file that cannot be written fails the job (the outputs and their
    fragments are intact: a resume writes it)."""
    try:
        merged = labels.merge(output_dir)
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
                           "their labels' fragments are intact: resume=True writes them")
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
