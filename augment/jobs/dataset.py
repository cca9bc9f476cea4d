"""The images a job (or one batch) wrote, as a torch ``Dataset``: :class:`AugmentedImages`,
and the classes its items are numbered by (:func:`class_of`, :func:`classes_of`)."""

from __future__ import annotations

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
    one item: ``(image, label)``, the image a ``float32`` tensor ``3 x size x size`` in
    [0, 1], the label the index in ``classes`` of its input's class (:func:`class_of`: its
    top folder, for an input of class folders; else the input file itself). Pass the same
    ``classes`` to every batch's dataset (``Prefetch.classes``, ``BatchReport.classes``), so
    that a label means the same class in every batch. An ``s3://`` output is downloaded
    first, into ``cache`` (default: a temporary folder, removed when the dataset is
    garbage-collected or the interpreter exits).

    Args:
        output: the job's or batch's output folder or ``s3://`` prefix.
        size: the side images are resized to.
        cache: where an S3 output is downloaded.
        classes: every class of the input, in label order (default: this output's own,
            which another batch numbers differently).

    Raises:
        UsageError: the output holds no manifest, or an input of a class not in ``classes``.
    """

    def __init__(self, output: str, size: int = 64, cache: str | None = None,
                 classes: list[str] | None = None) -> None:
        from augment.manifest import read_manifest

        root = Path(expand(output))
        if is_s3(output):
            import shutil
            import tempfile
            import weakref

            root = Path(cache or tempfile.mkdtemp(prefix="augment-batch-"))
            if cache is None:  # one folder per batch, for the whole training run: not left behind
                weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
            prefix, s3 = output.rstrip("/") + "/", s3_client()
            for rel, nbytes in list_location(prefix, s3=s3):
                target = root / safe_rel(rel, f"output {output}")
                target.parent.mkdir(parents=True, exist_ok=True)
                download(prefix + rel, target, size=nbytes, s3=s3)
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

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        import PIL.Image
        import torch
        from torchvision.transforms.v2 import functional as F

        rel, label = self.items[index]
        with PIL.Image.open(self.root / rel) as img:
            image = F.pil_to_tensor(img.convert("RGB").resize((self.size, self.size)))
        return image.to(torch.float32) / 255.0, label
