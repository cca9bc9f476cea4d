"""One entry point for every label format: what ``--annotations`` points at, opened once.

:func:`open_annotations` detects the format (COCO's instances JSON, a YOLO tree, a folder
of Pascal VOC XML, a Ground Truth output manifest, a folder of semantic PNG masks) or
takes the one named, indexes it once, and hands back an :class:`AnnotationIndex`: the
same protocol whatever the format, so a job, the preview and ``augment validate`` never
ask which one it is. ``index.image(rel)`` is what a worker needs for one input (a
small, picklable object, ``None`` where the input has no labels, which is valid), and
that object's ``.labels(size)`` gives its :class:`~augment.labels.model.Labels` or
raises :class:`~augment.labels.model.LabelError` with a ``reason``.

:class:`LabelWriter` writes outputs' labels in the input's format. Files that belong to
one output (a YOLO ``.txt``, a VOC XML, a mask PNG) are written beside it by the worker
that made it. Formats with one file for the whole job (COCO, Ground Truth) give each
output a line (:meth:`LabelWriter.line`) that goes back to the job's process with the
output's record and is appended to the host's label journal
(``_augment/label-lines-<host>.txt``, :func:`journal_name`) just before the record, and
the journal is merged into that one file when the job completes
(:meth:`LabelWriter.merge`): a line per output, the latest one of an output counting, so
a killed and resumed job, or one with more workers, merges the very same lines into the
very same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from augment.labels.coco import Problem
from augment.labels.model import Labels

FORMATS = ("coco", "yolo", "voc", "groundtruth", "masks")
"""The formats :func:`open_annotations` reads and :class:`LabelWriter` writes."""

MANIFEST_SUFFIXES = (".manifest", ".jsonl")
"""File names read as Ground Truth output manifests."""

COCO_OUTPUT = "annotations.json"
"""The COCO file of a job's outputs, in the output folder."""

GROUND_TRUTH_OUTPUT = "output.manifest"
"""The Ground Truth manifest of a job's outputs, in the output folder."""

MASKS_FOLDER = "masks"
"""Where outputs' masks go in the output folder, mirroring the outputs as the input's
masks mirror the inputs (``a.jpg.aug0.jpg`` -> ``masks/a.jpg.aug0.png``): a mask beside
its output could bear the output's own name."""


@dataclass(frozen=True)
class NoLabels:
    """An input the annotations say nothing about: no objects (valid, its outputs have none)."""

    def labels(self, size: tuple[int, int]) -> Labels:
        return Labels.empty(tuple(size))


@dataclass
class AnnotationIndex:
    """Annotations of one format, indexed once.

    Attributes:
        format: one of :data:`FORMATS`.
        where: what was opened (a path or URI, or ``yolo``).
        index: the format's own index (:class:`~augment.labels.coco.CocoIndex`...).
        problems: what could not be used (each names its file, line or annotation id).
        categories: category id -> a COCO-style entry (``id``, ``name``, and where the
            format has them ``keypoints`` and ``skeleton``).
        files: the annotation files, resolved, where they are local: inputs of a job
            that are annotation files are excluded (:meth:`owns`).
        root: the YOLO tree's root (YOLO only).
    """

    format: str
    where: str
    index: Any
    problems: list[Problem]
    categories: dict[int, dict[str, Any]]
    files: frozenset[str] = frozenset()
    root: str | None = None
    _by_image: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    def image(self, rel: str) -> Any | None:
        """What a worker needs for the input ``rel`` (relative to the input folder): an
        object whose ``.labels(size)`` gives its labels; ``None``: it has none (valid)."""
        return self.index.image(rel)

    def problems_of(self, rel: str) -> list[str]:
        """The problems that left something out of the input ``rel``'s labels: COCO's and
        Ground Truth's name their image; a YOLO label file's lines and a VOC XML's objects
        (or the whole file) are its image's, found as :meth:`image` finds the file."""
        own = getattr(self.index, "problems_of", None)
        if own is not None:
            return [str(p) for p in own(rel)]
        if self._by_image is None:
            self._by_image = {}
            for problem in self.problems:
                if problem.image is not None:
                    self._by_image.setdefault(problem.image, []).append(str(problem))
        return self._by_image.get(rel, [])

    def owns(self, path: str | os.PathLike[str]) -> bool:
        """``path`` (a local file) is one of the annotations' own files, not an image."""
        resolved = str(Path(path).resolve())
        if resolved in self.files:
            return True
        if self.format != "yolo" or self.root is None:
            return False
        from augment.labels.yolo import own_file

        try:
            return own_file(Path(resolved).relative_to(self.root).as_posix())
        except ValueError:
            return False

    def writer(self, prefix: str = "") -> LabelWriter:
        """What writes outputs' labels in this format (small and picklable: a worker's).

        Args:
            prefix: the output's URI (Ground Truth's ``source-ref`` is under it).
        """
        names = {cid: str(c.get("name", cid)) for cid, c in self.categories.items()}
        dims = 3
        if self.format == "yolo":
            shape = self.index.data.get("kpt_shape")
            dims = int(shape[1]) if shape else 3
        return LabelWriter(self.format, names, dims, prefix)

    def merge(self, output_dir: str | os.PathLike[str], host: str = "local") -> dict[str, bytes]:
        """The job's own label files from what host ``host`` wrote (see :meth:`LabelWriter.merge`)."""
        return self.writer().merge(self, output_dir, host)


def open_annotations(where: str | os.PathLike[str], *, format: str | None = None,
                     input_dir: str | os.PathLike[str] | None = None, input_uri: str | None = None
                     ) -> AnnotationIndex:
    """Open the annotations ``where`` points at.

    Args:
        where: a COCO ``.json``, a Ground Truth ``.manifest`` or ``.jsonl`` (local or
            ``s3://``), a folder of VOC ``.xml`` or of mask ``.png`` files, a YOLO tree
            (a folder with ``labels/``), or ``yolo``: the tree is ``input_dir``.
        format: one of :data:`FORMATS`, instead of detecting it.
        input_dir: the job's input folder: a YOLO tree's root (``where="yolo"``), and
            the prefix Ground Truth's ``source-ref`` is relative to where ``input_uri`` is not given.
        input_uri: where the input folder's files came from (``s3://bucket/images/``):
            Ground Truth's ``source-ref`` is relative to it.

    Raises:
        UsageError: no such file or folder, a format not detected or not known, or a
            file that is not of its format (``annotations=WHERE: reason``).
    """
    from augment.errors import UsageError

    where = str(where)
    if not where.strip():
        raise UsageError("annotations=: empty; name a file or folder (or 'yolo')")
    if format is not None and format not in FORMATS:
        raise UsageError(f"annotation_format={format!r}: must be one of {', '.join(FORMATS)}")
    try:
        found = format or _detect(where, input_dir)
        return _OPEN[found](where, input_uri if found == "groundtruth" and input_uri else input_dir)
    except FileNotFoundError as e:
        raise UsageError(f"annotations={where}: no such file or folder ({e.filename or e})") from None
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise UsageError(f"annotations={where}: {e}") from None


def _detect(where: str, input_dir: str | os.PathLike[str] | None) -> str:
    from augment.storage import is_s3

    lower = where.lower()
    if where == "yolo":
        return "yolo"
    if lower.endswith(".json"):
        return "coco"
    if lower.endswith(MANIFEST_SUFFIXES):
        return "groundtruth"
    if is_s3(where):
        raise ValueError("an s3:// annotations file is a COCO .json or a Ground Truth .manifest/.jsonl; a folder "
                         "of labels must be local")
    path = Path(where)
    if not path.exists():
        raise FileNotFoundError(None, "no such file or folder", where)
    if not path.is_dir():
        raise ValueError(f"cannot tell its format: pass annotation_format= (one of {', '.join(FORMATS)})")
    if (path / "labels").is_dir():
        return "yolo"
    names = [n.lower() for _, _, files in os.walk(path) for n in files]
    if any(n.endswith(".xml") for n in names):
        return "voc"
    if any(n.endswith(".png") for n in names):
        return "masks"
    raise ValueError("a folder with no labels/, .xml or .png files: cannot tell its format (pass "
                     "annotation_format=)")


def _read(where: str) -> bytes:
    from augment.storage import read_bytes

    return read_bytes(where)


def _local(where: str) -> frozenset[str]:
    from augment.storage import is_s3

    return frozenset() if is_s3(where) else frozenset({str(Path(where).resolve())})


def _walked(folder: Path, suffix: str) -> frozenset[str]:
    return frozenset(str(Path(d, n).resolve()) for d, _, files in os.walk(folder) for n in files
                     if n.lower().endswith(suffix))


def _open_coco(where: str, input_dir: Any) -> AnnotationIndex:
    from augment.labels.coco import read_coco

    index = read_coco(_read(where))
    return AnnotationIndex("coco", where, index, index.problems, dict(index.categories), _local(where))


def _open_yolo(where: str, input_dir: Any) -> AnnotationIndex:
    from augment.labels.yolo import read_yolo

    root = where if where != "yolo" else input_dir
    if root is None:
        raise ValueError("a YOLO tree is the input folder: pass input_dir= (annotations='yolo')")
    return yolo_annotations(read_yolo(root), where, str(Path(root).resolve()))


def yolo_annotations(index: Any, where: str, root: str | None) -> AnnotationIndex:
    """A :class:`~augment.labels.yolo.YoloIndex` as annotations (``root``: the tree's local
    folder; ``None``: a tree on S3 whose dataset YAML alone was read, as a plan reads it)."""
    shape, names = index._pose()
    categories = {cid: {"id": cid, "name": name, **({"keypoints": list(names)} if shape else {})}
                  for cid, name in sorted(index.names.items())}
    return AnnotationIndex("yolo", where, index, index.problems, categories, root=root)


def _open_voc(where: str, input_dir: Any) -> AnnotationIndex:
    from augment.labels.voc import read_voc

    index = read_voc(where)
    categories = {cid: {"id": cid, "name": name} for cid, name in sorted(index.categories.items())}
    return AnnotationIndex("voc", where, index, index.problems, categories, _walked(Path(where), ".xml"))


def _open_ground_truth(where: str, input_dir: Any) -> AnnotationIndex:
    from augment.labels.groundtruth import read_ground_truth
    from augment.storage import is_s3

    root = None if input_dir is None else str(input_dir) if is_s3(input_dir) else str(Path(input_dir).resolve())
    if root is not None and not root.endswith("/"):
        root += "/"
    index = read_ground_truth(_read(where), root=root, name=PurePosixPath(where).name)
    categories = {cid: {"id": cid, "name": name} for cid, name in sorted(index.categories.items())}
    return AnnotationIndex("groundtruth", where, index, index.problems, categories, _local(where))


def _open_masks(where: str, input_dir: Any) -> AnnotationIndex:
    from augment.labels.masks import read_masks

    index = read_masks(where)
    return AnnotationIndex("masks", where, index, index.problems, {}, _walked(Path(where), ".png"))


_OPEN = {"coco": _open_coco, "yolo": _open_yolo, "voc": _open_voc, "groundtruth": _open_ground_truth,
         "masks": _open_masks}


@dataclass(frozen=True)
class LabelWriter:
    """Writes one output's labels in a format: its own files (:meth:`files`), or its journal line (:meth:`line`).

    Attributes:
        format: one of :data:`FORMATS`.
        names: category id -> name (VOC writes names).
        keypoint_dims: YOLO pose's values per keypoint (2 or 3).
        prefix: the output's URI (Ground Truth).
    """

    format: str
    names: dict[int, str] = field(default_factory=dict)
    keypoint_dims: int = 3
    prefix: str = ""

    def files(self, output: str, labels: Labels, source: Any) -> dict[str, bytes]:
        """The files of the output ``output`` (its path relative to the output folder),
        relative to the output folder: a YOLO ``.txt``, a VOC XML, a mask PNG (a semantic
        Ground Truth job's colour PNG); none for COCO, whose labels are :meth:`line`.

        Args:
            labels: the output's labels.
            source: the input's object (from :meth:`AnnotationIndex.image`; ``None`` or
                :class:`NoLabels` where it had none).
        """
        source = None if isinstance(source, NoLabels) else source
        if self.format == "yolo":
            from augment.labels.yolo import label_path, write_yolo

            path = label_path(output)
            return {} if path is None else {path: write_yolo(labels, self.keypoint_dims)}
        if self.format == "voc":
            from augment.labels.voc import write_voc, xml_path

            return {xml_path(output): write_voc(labels, output, self.names, source)}
        if self.format == "masks":
            from augment.labels.masks import mask_path, write_mask

            return {f"{MASKS_FOLDER}/{mask_path(output)}": write_mask(labels)}
        if self.format == "groundtruth" and source is not None and source.kind == "semantic":
            from augment.labels.groundtruth import write_colour_mask

            return {self._mask_name(output): write_colour_mask(labels, source)}
        return {}

    def line(self, output: str, labels: Labels, source: Any) -> str | None:
        """The output's line of its host's label journal (COCO, Ground Truth; ``None`` for
        the formats with a file per output, and for a Ground Truth input the manifest has
        no line for: there is nothing to write its line with): see :func:`journal_line`."""
        source = None if isinstance(source, NoLabels) else source
        if self.format == "coco":
            from augment.labels.coco import CocoImage, CocoOutput
            from augment.labels.coco_lines import coco_line

            image = source if source is not None else CocoImage({"file_name": output}, [], {})
            return journal_line(output, coco_line(CocoOutput(output, image, labels)))
        if self.format != "groundtruth" or source is None:
            return None
        from augment.labels.groundtruth import GroundTruthOutput, ground_truth_line

        mask = self._mask_name(output) if source.kind == "semantic" else None
        return journal_line(output, ground_truth_line(GroundTruthOutput(output, source, labels, mask), self.prefix))

    @staticmethod
    def _mask_name(output: str) -> str:
        from augment.labels.masks import mask_path

        return f"{MASKS_FOLDER}/{mask_path(output)}"

    def merge(self, annotations: AnnotationIndex, output_dir: str | os.PathLike[str], host: str
              ) -> dict[str, bytes]:
        """The job's own files (relative to the output folder): COCO's :data:`COCO_OUTPUT`
        and Ground Truth's :data:`GROUND_TRUTH_OUTPUT` from the host's label journal under
        ``output_dir/_augment/``, a YOLO tree's ``data.yaml``; VOC and masks have none."""
        from augment.locations import META_DIR

        if self.format == "yolo":
            from augment.labels.yolo import data_yaml

            return {"data.yaml": data_yaml(annotations.index)}
        if self.format not in ("coco", "groundtruth"):
            return {}
        journal = Path(output_dir, META_DIR, journal_name(host))
        lines = read_journal(journal.read_bytes() if journal.exists() else b"")
        if self.format == "groundtruth":
            return {GROUND_TRUTH_OUTPUT: "".join(line + "\n" for line in lines).encode("utf-8")}
        from augment.labels.coco_lines import join_coco_lines

        index = annotations.index
        return {COCO_OUTPUT: join_coco_lines(lines, [index.categories[k] for k in sorted(index.categories)],
                                             index.info, index.licenses)}


def journal_name(host: str) -> str:
    """The file under ``_augment/`` that holds a host's outputs' lines (COCO, Ground Truth)."""
    return f"label-lines-{host}.txt"


def journal_line(output: str, entry: str) -> str:
    """A line of a label journal: the output's path as a JSON string, a tab, its entry
    (one line of compact JSON text, or COCO's tab-separated entries), the newline."""
    return json.dumps(output, ensure_ascii=False) + "\t" + entry + "\n"


def read_journal(data: bytes) -> list[str]:
    """The entries of a label journal's lines, in the order of their outputs' paths, the
    latest line of an output counting (a resumed job may have done it again: the same
    line); a torn last line (no newline: its writer was killed midway) is not one."""
    latest: dict[str, str] = {}
    for line in _whole_lines(data):
        if line:
            name, _, entry = line.partition("\t")
            latest[json.loads(name)] = entry
    return [latest[name] for name in sorted(latest)]


def _whole_lines(data: bytes) -> list[str]:
    """A journal's lines, without a torn last one (cut before it is decoded: a write cut
    short may have split a character)."""
    return data[:data.rfind(b"\n") + 1].decode("utf-8").split("\n")[:-1]


def entry_of(data: bytes, output: str) -> str | None:
    """The journal line of ``output`` (the latest), newline included; ``None``: it has none."""
    found = None
    for line in _whole_lines(data):
        name, tab, _ = line.partition("\t")
        if tab and json.loads(name) == output:
            found = line + "\n"
    return found


def excluded_annotations(annotations: AnnotationIndex, input_dir: Path, rels: Iterable[str]
                         ) -> tuple[list[str], list[dict[str, Any]]]:
    """Split inputs: the images, and the annotations' own files among them, each listed
    as excluded with the rule ``annotations``. Paths are not resolved one by one (a
    million inputs): the annotations' files are placed under the input folder once. With
    YOLO annotations, the input's label files and root YAML are the tree's own files
    whether the tree is read there or from a copy of its labels (a sharded job's)."""
    root = Path(input_dir).resolve()
    inside = set()
    for name in annotations.files:
        try:
            inside.add(Path(name).relative_to(root).as_posix())
        except ValueError:
            continue
    from augment.labels.yolo import own_file

    tree = annotations.format == "yolo"  # the input's tree, or its labels replicated apart (a sharded job)
    kept, excluded = [], []
    for rel in rels:
        if rel in inside or (tree and own_file(rel)):
            excluded.append({"source": rel, "rule": "annotations", "pattern": annotations.where})
        else:
            kept.append(rel)
    return kept, excluded
