"""A spec rendered on a few images, each variant exactly as the job would write it.

:func:`render` is a pure function: a spec and a handful of images in, a :class:`Preview`
out. Every variant is made by :func:`augment.variant.make`, the function the job's worker
calls: the input's bytes, the seed from its path relative to the input root and the copy,
the pipeline, and the output encoded in the format and quality the job writes, decoded
again. So a variant's pixels are the pixels of the job's output file, and its parameters
are the manifest's (tests compare both). Only the grid scales the images down, after all
that. :func:`step_through` makes one variant again, keeping the image after each op.

Given annotations, each tile also shows its labels: an original's as the annotations
have them, an output's as :func:`augment.variant.make` makes them with its pixels, given
the input's label object as the job's worker gives it (:mod:`augment.preview._labels`),
drawn on the full-size image before the grid scales it; step-through shows them op by op.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from typing import Any

import PIL.Image

from augment import variant
from augment.errors import UsageError
from augment.images import DEFAULT_MAX_PIXELS, ImageError, open_image
from augment.labels.follow import Counts
from augment.labels.model import Labels
from augment.options import masks_as_annotations
from augment.pipeline import Pipeline
from augment.preview._captions import flatten, record_text, summarize
from augment.preview._grid import draw_grid, png_bytes
from augment.preview._inputs import DEFAULT_N, Images
from augment.preview._labels import counts_text, drawn, input_labels, label_object, refuse_unlabellable
from augment.spec import Spec, load_spec
from augment.text import plural


@dataclass
class Item:
    """One variant: an (input, copy) as the job would write it.

    Attributes:
        rel_path: the input's path relative to the source root.
        copy: the copy index.
        seed: the variant's seed.
        image: the output's pixels (decoded from the bytes the job would write), or None.
        params: the sampled parameters, one record per op, as in the manifest.
        error, reason: why the variant could not be made (as the manifest records it).
        output_sha256: SHA-256 of the bytes the job would write.
        labels: the output's labels as the job writes them (``None``: no annotations,
            or its input's labels could not be read).
        counts: what became of the input's objects (kept, clipped, dropped...).
    """

    rel_path: str
    copy: int
    seed: int | None
    image: PIL.Image.Image | None = None
    params: list[dict[str, Any]] | None = None
    error: str | None = None
    reason: str | None = None
    output_sha256: str | None = None
    labels: Labels | None = None
    counts: Counts | None = None

    @property
    def caption(self) -> str:
        """``#copy`` and a short summary of what was drawn (and of the labels), or the
        failure reason."""
        if self.error is not None:
            return f"#{self.copy} failed: {self.reason}"
        text = f"#{self.copy} · {summarize(self.params or []) or 'nothing applied'}"
        return f"{text} · {counts_text(self.counts)}" if self.counts is not None else text


@dataclass
class Preview:
    """A rendered preview: every (image, copy) of a spec on a few images.

    Attributes:
        spec: the spec rendered.
        items: one :class:`Item` per (image, copy), image by image.
        originals: ``rel_path`` -> the upright original (None where it failed to decode).
        source: where the images came from.
        errors: ``rel_path`` -> why the original could not be read or decoded.
        excluded: the files of the source that the spec's input filters leave out (the
            job lists them in ``excluded-<host>.jsonl``): never shown.
        annotations: the labels' index (``None``: the preview has no labels).
        labels: ``rel_path`` -> the input's labels (``None`` where they could not be read).
        label_errors: ``rel_path`` -> why its labels could not be read.
    """

    spec: Spec
    items: list[Item]
    originals: dict[str, PIL.Image.Image | None]
    source: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    annotations: Any = None
    labels: dict[str, Labels | None] = field(default_factory=dict)
    label_errors: dict[str, str] = field(default_factory=dict)
    _drawn: dict[int, tuple[PIL.Image.Image, PIL.Image.Image]] = field(default_factory=dict, repr=False,
                                                                      compare=False)

    @property
    def categories(self) -> dict[int, Any]:
        """Category id -> its entry (name, keypoints, skeleton), as the annotations have them."""
        return dict(getattr(self.annotations, "categories", None) or {})

    def shown(self, image: PIL.Image.Image | None, labels: Labels | None) -> PIL.Image.Image | None:
        """``image`` with ``labels`` drawn on it at full size (drawn once per preview)."""
        if image is None or labels is None:
            return image
        cached = self._drawn.get(id(image))
        if cached is None or cached[0] is not image:
            cached = self._drawn[id(image)] = (image, drawn(image, labels, self.categories))
        return cached[1]

    def rows(self) -> list[tuple[str, list[Item]]]:
        """(rel_path, its items) per image, in order."""
        return [(rel, [i for i in self.items if i.rel_path == rel]) for rel in self.originals]

    def grid(self, max_side: int = 256, highlight: int | None = None, labels: bool = True) -> PIL.Image.Image:
        """A row per image: the original, then its copies, each captioned.

        Args:
            max_side: the largest side of a tile, in pixels.
            highlight: an index into :attr:`items` whose tile gets a frame (the one
                being stepped through), or ``None``.
            labels: draw each tile's labels, where the preview has annotations.
        """
        rows = []
        where = None
        chosen = self.items[highlight] if highlight is not None and 0 <= highlight < len(self.items) else None
        for r, (rel, items) in enumerate(self.rows()):
            original = self.originals[rel]
            caption = _original_caption(rel, original, self.errors.get(rel))
            if self.annotations is not None and original is not None:
                caption += f" · {self.label_errors.get(rel) or counts_text(Counts(kept=len(self.labels[rel] or ())))}"
            if labels:
                head = (self.shown(original, self.labels.get(rel)), caption, None)
                tiles = [(self.shown(i.image, i.labels), i.caption, i.error) for i in items]
            else:
                head, tiles = (original, caption, None), [(i.image, i.caption, i.error) for i in items]
            rows.append([head, *tiles])
            where = next(((r, 1 + c) for c, i in enumerate(items) if i is chosen), where)  # by identity: no
            # pixel comparison
        return draw_grid(rows, max_side, highlight=where)

    def png(self, max_side: int = 256, highlight: int | None = None, labels: bool = True) -> bytes:
        """The grid as PNG bytes (fast compression: it is for the screen)."""
        return png_bytes(self.grid(max_side, highlight, labels))

    def figure(self, max_side: int = 256) -> Any:
        """The grid as a matplotlib figure (made without pyplot, so it is never left
        open in pyplot's registry; display it, save it, or let it go)."""
        from matplotlib.figure import Figure

        grid = self.grid(max_side)
        dpi = 100
        fig = Figure(figsize=(grid.width / dpi, grid.height / dpi), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(grid)
        ax.set_axis_off()
        return fig

    def table(self) -> list[dict[str, Any]]:
        """One row per variant: path, copy, seed, status and each applied op's parameters."""
        return [{"rel_path": i.rel_path, "copy": i.copy, "seed": i.seed,
                 "status": "failed" if i.error else "ok", "reason": i.reason, "error": i.error,
                 "drawn": summarize(i.params or []), "params": i.params,
                 **({"labels": i.counts.to_json()} if i.counts is not None else {})} for i in self.items]

    def to_json(self) -> str:
        """The spec digest, the source and every variant's parameters, as JSON."""
        return json.dumps({"spec_digest": self.spec.digest, "source": self.source, "items": self.table()},
                          indent=2)

    def html_table(self) -> str:
        """Every variant's sampled parameters as an HTML table."""
        import html

        rows = []
        for i in self.items:
            ops = "<br>".join(html.escape(record_text(r)) for r in flatten(i.params or []))
            ops = f"<span style='font-size:11px;font-family:monospace'>{ops}</span>" if ops else ops
            status = html.escape(f"{i.reason}: {i.error}") if i.error else ops or "nothing applied"
            rows.append(f"<tr><td>{html.escape(i.rel_path)}</td><td>{i.copy}</td><td>{i.seed}</td>"
                        f"<td style='text-align:left'>{status}</td></tr>")
        return ("<table class='augment-params'><thead><tr><th>image</th><th>copy</th><th>seed</th>"
                "<th>what each op drew</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:  # what Jupyter stores beside the picture: short, and no bucket name
        failed = sum(1 for i in self.items if i.error)
        return (f"<Preview: {plural(len(self.originals), 'image')} x {plural(self.spec.copies, 'copy')}, "
                f"{failed} failed, spec {self.spec.digest[:12]}>")



def _original_caption(rel: str, image: PIL.Image.Image | None, error: str | None) -> str:
    if image is None:
        return f"{rel} · {error or 'not available'}"
    return f"{rel} · original {image.width}\u00d7{image.height}"



def render(
    spec: Spec | str | dict[str, Any],
    source: str | os.PathLike[str] | Images | None = None,
    *,
    n: int = DEFAULT_N,
    copies: int | None = None,
    pick_seed: int = 0,
    paths: list[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    annotations: Any = None,
    annotation_format: str | None = None,
    masks: str | os.PathLike[str] | None = None,
) -> Preview:
    """Render a spec on a few images, as the job would write them.

    Args:
        spec: anything :func:`~augment.spec.load_spec` takes: a preset name, a path,
            a dict or a :class:`~augment.spec.Spec`.
        source: ``None`` (the bundled samples), a local folder or file, an ``s3://``
            prefix, or an :class:`Images` (which keeps what it has read, for re-renders).
            The images are picked among the inputs the job would take: the spec's
            ``input`` filters apply.
        n: images to pick at random when ``paths`` is not given.
        copies: variants per image (``None``: the spec's own).
        pick_seed: the random pick's seed: the same seed picks the same images.
        paths: the images to show, by their path relative to ``source`` (each once).
        max_pixels: inputs larger than this are refused from the header, as in a job.
        annotations: the images' labels, drawn on every tile: a path or ``s3://`` URI
            of the annotations, or an index already open; ``None``: those ``source``
            (an :class:`Images`) has, if any.
        annotation_format: the annotations' format, instead of detecting it.
        masks: semantic PNG masks mirroring the images' paths: the same as
            ``annotations=DIR, annotation_format="masks"`` (not with ``annotations=``).

    Returns:
        The :class:`Preview`. A bad image never raises: its variants carry the
        reason, as the manifest would record it; so do labels that cannot be read.

    Raises:
        SpecError: the spec is invalid, or has an op that cannot carry labels when
            there are annotations.
        UsageError: a bad source, path or count, or annotations that cannot be opened.
    """
    if masks is not None:
        annotations, annotation_format = masks_as_annotations(
            {"masks": os.fspath(masks), "annotations": annotations, "annotation_format": annotation_format})
    spec = load_spec(spec)
    if copies is not None:
        spec = spec.replace(copies=copies)
    if isinstance(source, Images):
        images = source
        if annotations is not None:
            images.annotate(annotations, annotation_format)
    else:
        images = Images(source, annotations=annotations, annotation_format=annotation_format)
    if images.annotations is not None:
        refuse_unlabellable(spec)
    pipeline = Pipeline(spec)
    preview = Preview(spec, [], {}, images.source, annotations=images.annotations)
    for rel in images.pick(n, pick_seed, paths, spec.input):
        entry = label_object(images.annotations, rel) if images.annotations is not None else None
        row, original, error = _render_one(pipeline, images, rel, max_pixels, entry)
        preview.items += row
        preview.originals[rel] = original
        if error:
            preview.errors[rel] = error
        elif entry is not None and original is not None:
            preview.labels[rel], problem = input_labels(entry, original.size)
            if problem is not None:
                preview.label_errors[rel] = problem
    preview.excluded = list(images.excluded)
    return preview


def _render_one(pipeline: Pipeline, images: Images, rel: str, max_pixels: int, labels: Any = None,
                ) -> tuple[list[Item], PIL.Image.Image | None, str | None]:
    """One input's variants, made by :func:`augment.variant.make` as the job's worker
    makes them, with its label object where the preview has annotations."""
    spec = pipeline.spec
    items, broken = [], None
    for v in variant.make(pipeline, lambda: images.read(rel), rel, tuple(range(spec.copies)),
                          max_pixels=max_pixels, outputs=spec.copies, labels=labels):
        if v.ok:
            assert v.data is not None
            items.append(Item(rel, v.copy, v.seed, decode_output(v.data), v.params, output_sha256=v.output_sha256,
                              labels=v.labels, counts=v.counts))
        else:
            items.append(Item(rel, v.copy, v.seed, error=v.error, reason=v.reason))
            broken = broken or (v.error if v.broken_input else None)
    if broken is not None:
        return items, None, broken
    try:
        original = open_image(images.read(rel), max_pixels).load()
    except ImageError as e:
        return items, None, str(e)
    return items, original, None


def decode_output(blob: bytes) -> PIL.Image.Image:
    with PIL.Image.open(io.BytesIO(blob)) as img:
        img.load()
        return img.copy() if img.mode in ("RGB", "L") else img.convert("RGB")


Step = tuple[str, PIL.Image.Image, dict[str, Any] | None]


def step_through(preview: Preview, index: int, labels: bool = True) -> list[Step]:
    """One variant op by op: the input, the image after each op with what that op
    drew, and the output as written. One render with the variant's own seed, so the
    last step is the tile.

    Args:
        preview: a :class:`Preview` from :func:`render`.
        index: the variant's index in ``preview.items``.
        labels: draw each step's labels on it, where the preview has annotations: the
            input's, then those after each op (the rules applied to the ops so far),
            then the output's, as the tile shows them.

    Returns:
        ``(label, image, record)`` per step: ``input``, one per top-level op, then
        ``written as <format>``.

    Raises:
        UsageError: no such item, or one that failed.
    """
    steps = labelled_steps(preview, index)
    if not labels:
        return [(text, image, record) for text, image, record, _labels in steps]
    return [(text, drawn(image, step_labels, preview.categories), record)
            for text, image, record, step_labels in steps]


def labelled_steps(preview: Preview, index: int,
                   ) -> list[tuple[str, PIL.Image.Image, dict[str, Any] | None, Labels | None]]:
    """:func:`step_through`'s steps, undrawn, each with its labels (``None`` without
    annotations): what the widget draws or not as its labels box says."""
    if not 0 <= index < len(preview.items):
        raise UsageError(f"no variant {index}: the preview has {len(preview.items)}")
    item = preview.items[index]
    if item.error is not None or item.seed is None:
        raise UsageError(f"{item.rel_path} copy {item.copy} failed ({item.reason}): nothing to step through")
    if not preview.source:
        raise UsageError(f"{item.rel_path}: the job's input is not available here (from_job(..., input=))")
    data = Images(preview.source).read(item.rel_path)
    spec = preview.spec
    pipeline = Pipeline(spec)
    steps: list[PIL.Image.Image] = []
    first = preview.labels.get(item.rel_path) if item.labels is not None else None
    entry = label_object(preview.annotations, item.rel_path) if first is not None else None
    after: list[Labels | None] = []
    made, = variant.make(pipeline, data, item.rel_path, (item.copy,), outputs=spec.copies, steps=steps, labels=entry,
                         step_labels=after)
    if made.cause is not None:
        raise made.cause
    assert made.data is not None and made.params is not None and made.format is not None
    fmt, params = made.format, made.params
    if entry is None:
        after = [None] * len(steps)
    result: list[tuple[str, PIL.Image.Image, dict[str, Any] | None, Labels | None]] = [
        ("input", open_image(data).load(), None, first)]
    for record, image, step_labels in zip(params, steps, after, strict=True):
        drawn_by = summarize([record])
        result.append((f"{record['op']}: {drawn_by or 'not applied'}", image, record, step_labels))
    quality = f" q{spec.output.quality}" if fmt in ("jpeg", "webp") else ""
    result.append((f"written as {fmt}{quality}", decode_output(made.data), None, made.labels))
    return result
