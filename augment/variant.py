"""Make copy k of an input: the one place a variant is made, with the one error ladder.

A job's worker, the preview (its grid and its step-through) and replay all call
:func:`make`, so what they show or re-create is what the job writes, by construction:
the input's bytes opened as a :class:`~augment.images.Source` for as many outputs as the
caller makes of it, the seed from :func:`~augment.pipeline.derive_seed` with the path
relative to the input root, :meth:`~augment.pipeline.Pipeline.apply`, and the output
encoded in the spec's format and quality. Only writing the bytes is the caller's.

A bad input never raises: each copy comes back as a :class:`Variant` whose ``error`` and
``reason`` are what the manifest records (the same reasons, the same words).

Given the input's labels (an object whose ``.labels(size)`` gives them, from
:meth:`augment.labels.formats.AnnotationIndex.image`), each copy is made by
:meth:`~augment.pipeline.Pipeline.apply_labelled` instead: the same pixels, and the
copy's labels with what became of them. Labels that cannot go with their image fail its
copies (``bad_labels``, the format's own reason in ``label_reason``): an output written
without its objects would teach a model they are background.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import PIL.Image

from augment.images import DEFAULT_MAX_PIXELS, EncodeError, ImageError, encode, open_image, output_format
from augment.manifest import ORIGINAL
from augment.pipeline import OpFailed, Pipeline, derive_seed

OUT_OF_MEMORY = ("out of memory while decoding, augmenting or encoding this image; give the job more memory "
                 "(or fewer --workers), or lower --max-pixels to refuse such images unread")


@dataclass
class Variant:
    """One (input, copy) as the job writes it, or why it cannot be made.

    Attributes:
        source: the input's path relative to the input root.
        copy: the copy index (:data:`~augment.manifest.ORIGINAL` for a kept original).
        seed: the copy's seed (``None`` for a kept original).
        data: the bytes to write: the encoded output (a kept original's: the input's own).
        format: the output format (``jpeg``, ``png``, ``webp``); a kept original's is
            its detected format as Pillow names it (``JPEG``).
        params: every parameter drawn, one record per op, as the manifest has them.
        size: the output's ``[width, height]``.
        source_sha256: SHA-256 of the input's bytes (``None`` where they could not be read).
        output_sha256: SHA-256 of ``data``.
        error, reason: why the copy could not be made (``None`` when it was).
        broken_input: the failure is the input's own (it cannot be read or decoded):
            no copy of it can be made.
        cause: the exception behind ``error``, for a caller that raises it (replay).
        labels: the output's labels (a labelled job only; a kept original's are its input's).
        counts: what became of the input's objects in this output
            (:class:`~augment.labels.follow.Counts`).
        label_reason: why the input's labels could not be read (with ``reason``
            ``bad_labels``): the format's reason (``size_mismatch``, ``bad_mask``...).
        finish: where :func:`make` was asked to ``defer`` the labels: the function that
            gives ``labels`` and ``counts`` (:meth:`~augment.pipeline.Pipeline.apply_deferred`),
            which raises :class:`~augment.pipeline.OpFailed` where an op failed on them.
    """

    source: str
    copy: int
    seed: int | None
    data: bytes | None = None
    format: str | None = None
    params: list[dict[str, Any]] | None = None
    size: list[int] | None = None
    source_sha256: str | None = None
    output_sha256: str | None = None
    error: str | None = None
    reason: str | None = None
    broken_input: bool = False
    cause: BaseException | None = field(default=None, repr=False, compare=False)
    labels: Any = field(default=None, repr=False, compare=False)
    counts: Any = None
    label_reason: str | None = None
    finish: Callable[[], tuple[Any, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None


def seed_of(spec_seed: int, rel: str, copy: int) -> int | None:
    """The seed of (input, copy): ``None`` for a kept original, which draws nothing."""
    return None if copy == ORIGINAL else derive_seed(spec_seed, rel, copy)


def make(pipeline: Pipeline, data: bytes | Callable[[], bytes], rel: str, copies: tuple[int, ...] | list[int], *,
         max_pixels: int = DEFAULT_MAX_PIXELS, outputs: int | None = None, fmt: str | None = None,
         steps: list[PIL.Image.Image] | None = None, labels: Any = None,
         rules: Any = None, step_labels: list[Any] | None = None, defer: bool = False) -> Iterator[Variant]:
    """Make the given copies of one input, one :class:`Variant` per copy, in order.

    Augmented copies should come before :data:`~augment.manifest.ORIGINAL`: an input
    whose pixels turn out broken is not kept either.

    Args:
        pipeline: the job's :class:`~augment.pipeline.Pipeline` (its spec gives the seed,
            the format, the quality and the kernels).
        data: the input's bytes, or a function that reads them (its ``OSError`` or
            :class:`~augment.images.ImageError` is recorded as the input's failure).
        rel: the input's path relative to the input root (``/`` separators).
        copies: the copies to make.
        max_pixels: inputs larger than this (from the header) are refused unread.
        outputs: the outputs made of this input, which lets a JPEG be decoded once in
            part (default: the augmented copies in ``copies``); speed only.
        fmt: the output format, instead of the spec's (replay encodes as recorded).
        steps: the image after each top-level op is appended to it (see
            :meth:`~augment.pipeline.Pipeline.apply`).
        labels: the input's labels, as an object whose ``.labels(size)`` reads them
            (``None``: an unlabelled job); each variant then has its ``labels`` and ``counts``.
        rules: what becomes of objects that leave the image
            (:class:`~augment.labels.follow.LabelRules`; default: the spec's ``annotations``).
        step_labels: with ``steps`` and ``labels``, the labels after each top-level op are
            appended to it (see :meth:`~augment.pipeline.Pipeline.apply_labelled`).
        defer: with ``labels``, a copy's labels are left to its ``finish`` (see
            :class:`Variant`) where the input has no masks (the memory a caller holding
            several inputs' labels would hold), and read then where the format can check
            them first (``labels_later``); a job's worker finishes several inputs' labels
            after their pixels.

    Yields:
        A :class:`Variant` per copy, made when asked for: a caller that writes each one
        holds one output's bytes at a time.
    """
    spec = pipeline.spec

    def failed(copy: int, error: str, reason: str, sha: str | None, cause: BaseException,
               broken: bool = False) -> Variant:
        return Variant(rel, copy, seed_of(spec.seed, rel, copy), source_sha256=sha, error=error, reason=reason,
                       broken_input=broken, cause=cause)

    sha = None
    try:
        if callable(data):
            data = data()  # refuses links out of the input, FIFOs, devices (read_input)
        sha = hashlib.sha256(data).hexdigest()
        # the header; pixels are decoded on demand, in part where one output needs only part
        source = open_image(data, max_pixels, outputs=sum(k != ORIGINAL for k in copies) if outputs is None
                            else outputs)
    except ImageError as e:
        yield from (failed(k, str(e), e.reason, sha, e, True) for k in copies)
        return
    except OSError as e:
        yield from (failed(k, f"cannot read: {e}", "unreadable", sha, e, True) for k in copies)
        return
    except MemoryError as e:
        yield from (failed(k, OUT_OF_MEMORY, "out_of_memory", sha, e, True) for k in copies)
        return
    out_fmt = fmt or output_format(spec.output.format, source.format)
    read = later = None
    if labels is not None:
        from augment.labels.follow import Counts
        from augment.labels.model import LabelError

        try:  # read now, or checked now and read after the pixels (a format that can say so)
            later = labels.labels_later(tuple(source.size)) if defer and hasattr(labels, "labels_later") else None
            read = labels.labels(tuple(source.size)) if later is None else None
        except LabelError as e:
            for k in copies:
                bad = failed(k, f"labels: {e}", "bad_labels", sha, e)
                bad.label_reason = e.reason
                yield bad
            return
        rules = rules if rules is not None else spec.annotations.rules()
    for i, k in enumerate(copies):
        if k == ORIGINAL:  # the input's own bytes
            kept = None if read is None else Counts(kept=len(read))
            yield Variant(rel, k, None, data, source.format, None, list(source.size), sha, sha, labels=read,
                          counts=kept, finish=None if later is None else _original(later))
            continue
        seed = derive_seed(spec.seed, rel, k)
        counts = out_labels = finish = None
        try:
            if labels is None:
                out, params = pipeline.apply(source, seed, steps=steps)
            elif later is not None or (defer and read.masks is None):
                out, params, finish = pipeline.apply_deferred(source, seed, later or read, rules, steps=steps)
            else:
                out, params, out_labels, counts = pipeline.apply_labelled(source, seed, read, rules, steps=steps,
                                                                          step_labels=step_labels)
            blob = encode(out, out_fmt, spec.output.quality)
        except ImageError as e:  # the pixels, decoded on demand, are broken: no copy can be made
            yield from (failed(c, str(e), e.reason, sha, e, True) for c in copies[i:])
            return
        except OpFailed as e:
            yield failed(k, str(e), "op_failed", sha, e)
            continue
        except EncodeError as e:  # too large for its format: this copy only
            yield failed(k, str(e), e.reason, sha, e)
            continue
        except OSError as e:  # an encoder's own error, recorded as the job always has
            yield failed(k, f"cannot write: {e}", "write_failed", sha, e)
            continue
        except MemoryError as e:  # this image, at this size, does not fit: the job goes on
            yield failed(k, OUT_OF_MEMORY, "out_of_memory", sha, e)
            continue
        yield Variant(rel, k, seed, blob, out_fmt, params, list(out.size), sha, hashlib.sha256(blob).hexdigest(),
                      labels=out_labels, counts=counts, finish=finish)


def _original(read: Callable[[], Any]) -> Callable[[], tuple[Any, Any]]:
    """A kept original's ``finish``: its input's labels, every object kept."""
    from augment.labels.follow import Counts

    def finish() -> tuple[Any, Any]:
        labels = read()
        return labels, Counts(kept=len(labels))

    return finish
