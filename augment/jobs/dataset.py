"""The images a job (or one batch) wrote, as a torch ``Dataset``: :class:`AugmentedImages`.

Without labels an item is ``(image, class index)``, the class its input's top folder
(:func:`class_of`). A labelled job's output (its summaries name the annotations' format)
gives ``(image, target)`` instead, the target as torchvision's detection references
build it: ``boxes`` (:class:`~torchvision.tv_tensors.BoundingBoxes`, XYXY, with the
image's ``canvas_size``), ``labels`` (category ids), ``masks``
(:class:`~torchvision.tv_tensors.Mask`, one plane per object) and ``keypoints``
(:class:`~torchvision.tv_tensors.KeyPoints`, ``N x K x 2``, with ``keypoints_visible``)
where the objects have them, and ``image_id`` (the COCO file's id of the output, else
the item's index). The targets are read back from the
files the job wrote, with :func:`augment.labels.formats.open_annotations`: what the
dataset yields is what a training script reading those files gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.jobs.local import safe_rel
from augment.locations import expand
from augment.storage import download, is_s3, list_location, s3_client


def class_of(source: str) -> str:
    """The class of an input, by its path relative to the input: its top folder when it
    lies in one (``cats/001.jpg`` -> ``cats``: a class per folder), else the file itself."""
    return source.split("/", 1)[0] if "/" in source else source


def classes_of(keys: Iterator[str] | list[str]) -> list[str]:
    """The sorted classes of these inputs (see :func:`class_of`): pass the whole input's, so
    that a label means the same class in every batch."""
    return sorted({class_of(k) for k in keys})


class AugmentedImages:
    """The images a job (or one batch) wrote, as a torch ``Dataset`` for a ``DataLoader``.

    Reads the output's manifests (``_augment/manifest-*.jsonl``); each written copy is
    one item. The image is a ``float32`` tensor ``3 x size x size`` in [0, 1] (``3 x H x
    W`` as written where ``size`` is ``None``). Without labels the item is ``(image,
    label)``, the label the index in ``classes`` of its input's class (:func:`class_of`:
    its top folder, for an input of class folders; else the input file itself). Pass the
    same ``classes`` to every batch's dataset (``Prefetch.classes``,
    ``BatchReport.classes``), so that a label means the same class in every batch.

    A job run with ``annotations`` gives ``(image, target)`` instead (see the module's
    docs), its boxes, masks and keypoints resized with the image; a ``DataLoader`` takes
    it with a detection collate (``collate_fn=lambda batch: tuple(zip(*batch))``).

    An ``s3://`` output is downloaded first, into ``cache`` (default: a temporary
    folder, removed when the dataset is garbage-collected or the interpreter exits).

    Args:
        output: the job's or batch's output folder or ``s3://`` prefix.
        size: the side images are resized to; ``None``: as written.
        cache: where an S3 output is downloaded.
        classes: every class of the input, in label order (default: this output's own,
            which another batch numbers differently).

    Raises:
        UsageError: the output holds no manifest, an input of a class not in
            ``classes``, or a labelled job's label file is missing (a sharded job's hosts'
            parts not merged).
    """

    def __init__(self, output: str, size: int | None = 64, cache: str | None = None,
                 classes: list[str] | None = None) -> None:
        from augment.manifest import read_manifest

        root = _fetched(output, cache, self) if is_s3(output) else Path(expand(output))
        manifests = sorted(root.glob("_augment/manifest-*.jsonl"))
        if not manifests:
            raise UsageError(f"{output}: no _augment/manifest-*.jsonl, so no finished job there")
        records = [r for m in manifests for r in read_manifest(m) if r["status"] == "ok" and r["copy"] >= 0]
        self.classes = list(classes) if classes is not None else classes_of([r["source"] for r in records])
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({class_of(r["source"]) for r in records} - set(index))
        if unknown:
            raise UsageError(f"classes: {output} holds inputs of classes not listed: {', '.join(unknown[:5])}"
                             " (pass the classes of the whole input, e.g. Prefetch.classes)")
        self.root, self.size = root, size
        self.items = [(r["output"], index[class_of(r["source"])]) for r in records]
        self.annotations = _written_labels(root, output)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        import PIL.Image
        import torch
        from torchvision.transforms.v2 import functional as F

        rel, label = self.items[index]
        with PIL.Image.open(self.root / rel) as img:
            rgb = img.convert("RGB")
            written = rgb.size
            image = F.pil_to_tensor(rgb if self.size is None else rgb.resize((self.size, self.size)))
        image = image.to(torch.float32) / 255.0
        if self.annotations is None:
            return image, label
        return image, self.target(index, written)

    def target(self, index: int, size: tuple[int, int]) -> dict[str, Any]:
        """Item ``index``'s target: its output's labels as the job wrote them (``size``:
        the output's ``(width, height)``), resized with the image where ``size`` is set."""
        from torchvision.transforms.v2 import functional as F

        rel = self.items[index][0]
        found = self.annotations.image(rel)
        target = detection_target(found.labels(size) if found is not None else _empty(size), _image_id(found, index))
        if self.size is not None:
            for key in ("boxes", "masks", "keypoints"):
                if key in target:
                    target[key] = F.resize(target[key], [self.size, self.size])
        return target


def detection_target(labels: Any, image_id: int) -> dict[str, Any]:
    """One image's :class:`~augment.labels.model.Labels` as torchvision's detection
    references take a target: ``boxes``, ``labels``, ``image_id``, and ``masks`` (an
    object without a mask has an empty one), ``keypoints`` and ``keypoints_visible`` (an
    object without keypoints has ``K`` invisible ones) where any object has them."""
    import numpy as np
    import torch
    from torchvision import tv_tensors

    width, height = labels.size
    canvas = (height, width)
    n = len(labels)
    target: dict[str, Any] = {
        "boxes": tv_tensors.BoundingBoxes(torch.as_tensor(labels.boxes, dtype=torch.float32).reshape(n, 4),
                                          format="XYXY", canvas_size=canvas),
        "labels": torch.as_tensor(labels.categories, dtype=torch.int64),
        "image_id": image_id,
    }
    if any(m is not None for m in labels.masks or ()):
        planes = np.zeros((n, height, width), dtype=np.uint8)
        for i, mask in enumerate(labels.masks):
            if mask is not None:
                planes[i] = mask
        target["masks"] = tv_tensors.Mask(torch.from_numpy(planes))
    points = labels.keypoints or ()
    if any(k is not None for k in points):
        most = max(len(k) for k in points if k is not None)
        values = np.zeros((n, most, 3), dtype=np.float32)
        for i, k in enumerate(points):
            if k is not None:
                values[i, : len(k)] = k
        target["keypoints"] = tv_tensors.KeyPoints(torch.from_numpy(values[..., :2].copy()), canvas_size=canvas)
        target["keypoints_visible"] = torch.from_numpy(values[..., 2] > 0)
    return target


def _image_id(found: Any, index: int) -> int:
    """COCO's id of the output's entry (what an evaluation against the job's file matches), else the item's index."""
    entry = getattr(found, "image", None)
    return int(entry["id"]) if isinstance(entry, dict) and "id" in entry else index


def _empty(size: tuple[int, int]) -> Any:
    from augment.labels.model import Labels

    return Labels.empty(tuple(size))


def _fetched(output: str, cache: str | None, owner: Any) -> Path:
    """An ``s3://`` output downloaded into ``cache`` (a temporary folder, removed with ``owner``)."""
    import shutil
    import tempfile
    import weakref

    root = Path(cache or tempfile.mkdtemp(prefix="augment-batch-"))
    if cache is None:  # one folder per batch, for the whole training run: not left behind
        weakref.finalize(owner, shutil.rmtree, root, ignore_errors=True)
    prefix, s3 = output.rstrip("/") + "/", s3_client()
    for rel, nbytes in list_location(prefix, s3=s3):
        target = root / safe_rel(rel, f"output {output}")
        target.parent.mkdir(parents=True, exist_ok=True)
        download(prefix + rel, target, size=nbytes, s3=s3)
    return root


def _written_labels(root: Path, output: str) -> Any:
    """The labels a labelled job wrote under ``root`` (its summaries name their format),
    opened as its input's were; ``None`` for a job without them."""
    from augment.labels.formats import COCO_OUTPUT, GROUND_TRUTH_OUTPUT, MASKS_FOLDER, open_annotations

    formats = set()
    for path in root.glob("_augment/summary-*.json"):
        labels = json.loads(path.read_text()).get("labels")
        if isinstance(labels, dict) and labels.get("format"):
            formats.add(labels["format"])
    if not formats:
        return None
    if len(formats) > 1:
        raise UsageError(f"{output}: its hosts wrote labels in {' and '.join(sorted(formats))}")
    fmt = formats.pop()
    where = {"coco": root / COCO_OUTPUT, "groundtruth": root / GROUND_TRUTH_OUTPUT, "yolo": "yolo", "voc": root,
             "masks": root / MASKS_FOLDER}[fmt]
    if fmt in ("coco", "groundtruth") and not Path(where).exists():
        raise UsageError(f"{output}: a labelled job without its {Path(where).name}: a sharded job's hosts' parts "
                         f"are merged when it completes (augment.engine.labels.merge_parts({output!r}))")
    prefix = output.rstrip("/") + "/" if is_s3(output) else str(root.resolve()) + "/"
    return open_annotations(where, format=fmt, input_dir=root, input_uri=prefix)
