"""Where the preview's images come from, picked as the job would take them.

A source is ``None`` (the bundled samples), a local folder or one file, or an ``s3://``
prefix (any endpoint, through ``AWS_ENDPOINT_URL``). It is listed once, and only the
images shown are read or downloaded, each once. The picks are drawn from the inputs the
job would take: the spec's ``input`` filters (include, exclude and the operating-system
junk always excluded) apply, by the job's own function (:func:`augment.keys.apply_filters`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.images import list_images, read_input
from augment.storage import expand, is_s3, read_bytes, s3_uri, split_s3_uri
from augment.text import all_excluded

DEFAULT_N = 4
"""Images shown when none are named."""


class Images:
    """The images under a source, listed once, each read at most once.

    Args:
        source: ``None`` (the bundled samples), a local folder or file, or
            ``s3://bucket/prefix``. An S3 prefix maps keys to relative paths as the job
            stages them: the part of the key after the prefix's last ``/``; one file is
            named by its name, as ``augment run`` stages it.
        annotations: the images' labels: what :func:`augment.labels.open_annotations`
            opens (a COCO ``.json``, a Ground Truth manifest, a VOC or masks folder, a
            YOLO tree or ``yolo`` for ``source`` itself), opened once here, or an index
            already open; ``None``: no labels.
        annotation_format: the annotations' format, instead of detecting it.

    Raises:
        UsageError: a folder or file that does not exist, or an S3 prefix with nothing
            under it; annotations that cannot be opened.
    """

    def __init__(self, source: str | os.PathLike[str] | None = None, *, annotations: Any = None,
                 annotation_format: str | None = None) -> None:
        from augment.samples import samples_dir

        self.source = str(samples_dir()) if source is None else expand(source)
        self.annotations: Any = None
        """The labels' index (``image(rel)``, ``categories``), or ``None``."""
        self._data: dict[str, bytes] = {}
        self._keys: list[str] | None = None
        self.fetched: list[str] = []
        """Relative paths read so far, in order (each once)."""
        self.excluded: list[dict[str, Any]] = []
        """What the input filters left out at the last :meth:`pick`, as the job lists it."""
        self._file: str | None = None
        from augment.keys import check_uri

        check_uri(self.source, "input")  # S3://, https://...: the form to use, not "no such folder"
        if self.is_s3:
            self._bucket, prefix = split_s3_uri(self.source)
            self._base = prefix[: prefix.rfind("/") + 1]
        elif Path(self.source).is_file():  # one file: `augment run` stages it by its name
            self._file = Path(self.source).name
        elif not Path(self.source).is_dir():
            raise UsageError(f"input={self.source}: no such folder or file (give a folder, an image file, an "
                             "s3:// prefix, or nothing for the bundled samples)")
        self.annotate(annotations, annotation_format)

    def annotate(self, annotations: Any, annotation_format: str | None = None) -> None:
        """Use these annotations for the images' labels (``None``: none); a path or URI
        is opened here, once.

        Raises:
            UsageError: they cannot be opened.
        """
        from augment.preview._labels import open_index

        self.annotations = open_index(annotations, annotation_format, self.source)

    @property
    def is_s3(self) -> bool:
        return is_s3(self.source)

    def keys(self) -> list[str]:
        """Every input, as the job names it: its path relative to the root, sorted."""
        if self._keys is None:
            self._keys = self.keys_under("")
            if not self._keys:
                raise UsageError(f"input={self.source}: no files found")
        return self._keys

    def keys_under(self, folder: str) -> list[str]:
        """The files under ``folder`` (relative to the root, ``""`` for all of it), listed
        now, relative to the root."""
        if self._file is not None:
            return [self._file] if folder == "" else []
        if self.is_s3:
            from augment.keys import list_input  # the keys a job stages: those it can

            return [folder + k for k in list_input(self.source.rstrip("/") + "/" + folder).staged] if folder \
                else list_input(self.source).staged
        path = os.path.join(self.source, folder)
        return [folder + k for k in list_images(path, flag="input")] if os.path.isdir(path) else []

    def read(self, rel: str) -> bytes:
        """The bytes of one input (downloaded once for S3).

        Raises:
            OSError: it cannot be read.
            ImageError: a local entry that is not a file inside the folder (see
                :func:`~augment.images.read_input`).
        """
        if rel not in self._data:
            if self.is_s3:
                from botocore.exceptions import BotoCoreError, ClientError

                try:
                    body = read_bytes(s3_uri(self._bucket, self._base + rel))
                except (ClientError, BotoCoreError) as e:
                    raise OSError(f"cannot download s3://{self._bucket}/{self._base}{rel}: {e}") from None
            elif self._file is not None:
                if rel != self._file:
                    raise OSError(f"{rel}: the input is the one file {self.source}")
                body = Path(self.source).read_bytes()  # as `augment run` stages it: a copy of the file
            else:
                body = read_input(self.source, rel)  # as the job reads it: no link out, no FIFO
            self._data[rel] = body
            self.fetched.append(rel)
        return self._data[rel]

    def keep(self, rels: list[str]) -> None:
        """Forget the bytes of every input but ``rels`` (a widget re-picks often)."""
        wanted = set(rels)
        self._data = {k: v for k, v in self._data.items() if k in wanted}

    def _not_annotations(self, keys: list[str]) -> list[str]:
        """``keys`` but the annotations' own files in a local folder (a YOLO tree's
        ``labels/``, VOC's XML...), listed in :attr:`excluded` as the job lists them."""
        if self.annotations is None or self.is_s3:
            return keys
        from augment.labels.formats import AnnotationIndex, excluded_annotations

        if not isinstance(self.annotations, AnnotationIndex):  # an index of the caller's own: no files known
            return keys
        root = Path(self.source).parent if self._file is not None else Path(self.source)
        keys, own = excluded_annotations(self.annotations, root, keys)
        self.excluded += own
        return keys

    def pick(self, n: int = DEFAULT_N, pick_seed: int = 0, paths: list[str] | None = None,
             inputs: Any = None) -> list[str]:
        """The inputs to show: ``paths`` as given (checked; each once), else ``n`` drawn
        with ``pick_seed`` from the inputs the job would take.

        Args:
            n, pick_seed, paths: as in :func:`~augment.preview.render`.
            inputs: the spec's input filters (a spec's ``input`` section), applied by the
                job's own function; ``None`` takes every file. What they leave out is
                kept in :attr:`excluded`.

        Raises:
            UsageError: a path that is not an input (or one the filters leave out), ``n``
                below 1, or filters that leave nothing.
        """
        from augment.keys import apply_filters, excluded_counts

        keys = self.keys()
        self.excluded = []
        if inputs is not None:
            keys, self.excluded = apply_filters(keys, inputs)
            if not keys:
                raise UsageError(f"input={self.source}: no inputs: "
                                 f"{all_excluded(len(self.excluded))} ({excluded_counts(self.excluded)}); change the "
                                 "spec's input.include/input.exclude "
                                 "(include= and exclude= add to them)")
        keys = self._not_annotations(keys)
        if paths:
            paths = list(dict.fromkeys(paths))  # a path named twice is one input: shown once
            known = set(keys)
            left_out = {e["source"]: e for e in self.excluded}
            for p in paths:
                if p in left_out:
                    e = left_out[p]
                    if e["rule"] == "annotations":
                        raise UsageError(f"paths=: {p} is not an input of the job: it is a file of the annotations "
                                         f"({e['pattern']})")
                    why = f"pattern {e['pattern']!r}" if e["pattern"] else "no include pattern matches it"
                    raise UsageError(f"paths=: {p} is not an input of the job: the spec's input filters leave it "
                                     f"out ({why}; see the spec's input.include/input.exclude, or include= or exclude= "
                                     "on the command line)")
            missing = [p for p in paths if p not in known]
            if missing:
                raise UsageError(f"paths=: {', '.join(missing)} not under {self.source} (paths are relative to "
                                 f"it; e.g. {', '.join(keys[:3])})")
            return paths
        if n < 1:
            raise UsageError(f"n (--n) must be >= 1, got {n}")
        return sorted(random.Random(pick_seed).sample(keys, min(n, len(keys))))

