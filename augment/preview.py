"""See what a spec does to your images, exactly as the job will write them.

:func:`render` is a pure function: a spec and a handful of images in, a
:class:`Preview` out. It takes the job's own path for every variant: the input's bytes
opened as a :class:`~augment.images.Source` for as many outputs as the job makes of it,
the seed from :func:`~augment.pipeline.derive_seed` with the path relative to the input
root, :meth:`~augment.pipeline.Pipeline.apply`, and the output encoded in the format and
quality the job would write and decoded again. So a variant's pixels are the pixels of
the job's output file, and its parameters are the manifest's (tests compare both). Only
the grid scales the images down, after all that.

Where the images come from (``source``): ``None`` for the bundled samples, a local
folder or one file, or an ``s3://bucket/prefix/`` (any endpoint, through
``AWS_ENDPOINT_URL``), listed once; only the images shown are read or downloaded. The
images are picked from the inputs the job would take: the spec's ``input`` filters
(include, exclude and the operating-system junk always excluded) apply, by the job's own
function (:func:`augment.keys.apply_filters`).

:func:`from_job` builds the same grid from a finished job: inputs beside the outputs
it wrote, captioned from the manifest.

The widget, :class:`Previewer` (ipywidgets), is thin wiring around :func:`render`; it
is imported from :mod:`augment._previewer` on first use, so this module needs no
ipywidgets.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from augment import variant
from augment.errors import UsageError
from augment.export import to_code  # noqa: F401  (augment.preview.to_code stays importable)
from augment.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    list_images,
    open_image,
    read_input,
)
from augment.pipeline import Pipeline
from augment.spec import Spec, load_spec
from augment.storage import expand, is_s3, s3_client, split_s3_uri
from augment.text import all_excluded, plural

DEFAULT_N = 4


# ---------------------------------------------------------------------------
# Where the images come from.


class Images:
    """The images under a source, listed once, each read at most once.

    Args:
        source: ``None`` (the bundled samples), a local folder or file, or
            ``s3://bucket/prefix``. An S3 prefix maps keys to relative paths as the job
            stages them: the part of the key after the prefix's last ``/``; one file is
            named by its name, as ``augment run`` stages it.

    Raises:
        UsageError: a folder or file that does not exist, or an S3 prefix with nothing under it.
    """

    def __init__(self, source: str | os.PathLike[str] | None = None) -> None:
        from augment.samples import samples_dir

        self.source = str(samples_dir()) if source is None else expand(source)
        self._data: dict[str, bytes] = {}
        self._keys: list[str] | None = None
        self.fetched: list[str] = []
        """Relative paths read so far, in order (each once)."""
        self.excluded: list[dict[str, Any]] = []
        """What the input filters left out at the last :meth:`pick`, as the job lists it."""
        self._file: str | None = None
        from augment.keys import check_uri

        check_uri(self.source, "--input")  # S3://, https://...: the form to use, not "no such folder"
        if self.is_s3:
            self._bucket, prefix = split_s3_uri(self.source)
            self._base = prefix[: prefix.rfind("/") + 1]
        elif Path(self.source).is_file():  # one file: `augment run` stages it by its name
            self._file = Path(self.source).name
        elif not Path(self.source).is_dir():
            raise UsageError(f"--input {self.source}: no such folder or file (give a folder, an image file, an "
                             "s3:// prefix, or nothing for the bundled samples)")

    @property
    def is_s3(self) -> bool:
        return is_s3(self.source)

    def keys(self) -> list[str]:
        """Every input, as the job names it: its path relative to the root, sorted."""
        if self._keys is None:
            self._keys = self.keys_under("")
            if not self._keys:
                raise UsageError(f"--input {self.source}: no files found")
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
        return [folder + k for k in list_images(path, flag="--input")] if os.path.isdir(path) else []

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
                    body = s3_client().get_object(Bucket=self._bucket, Key=self._base + rel)["Body"].read()
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

    def pick(self, n: int = DEFAULT_N, pick_seed: int = 0, paths: list[str] | None = None,
             inputs: Any = None) -> list[str]:
        """The inputs to show: ``paths`` as given (checked; each once), else ``n`` drawn
        with ``pick_seed`` from the inputs the job would take.

        Args:
            n, pick_seed, paths: as in :func:`render`.
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
                raise UsageError(f"--input {self.source}: no inputs: "
                                 f"{all_excluded(len(self.excluded))} ({excluded_counts(self.excluded)}); change the "
                                 "spec's input.include/input.exclude "
                                 "(the command line's --include/--exclude add to them)")
        if paths:
            paths = list(dict.fromkeys(paths))  # a path named twice is one input: shown once
            known = set(keys)
            left_out = {e["source"]: e for e in self.excluded}
            for p in paths:
                if p in left_out:
                    e = left_out[p]
                    why = f"pattern {e['pattern']!r}" if e["pattern"] else "no include pattern matches it"
                    raise UsageError(f"--paths: {p} is not an input of the job: the spec's input filters leave it "
                                     f"out ({why}; see the spec's input.include/input.exclude, or --include/--exclude "
                                     "on the command line)")
            missing = [p for p in paths if p not in known]
            if missing:
                raise UsageError(f"--paths: {', '.join(missing)} not under {self.source} (paths are relative to "
                                 f"it; e.g. {', '.join(keys[:3])})")
            return paths
        if n < 1:
            raise UsageError(f"n (--n) must be >= 1, got {n}")
        return sorted(random.Random(pick_seed).sample(keys, min(n, len(keys))))


# ---------------------------------------------------------------------------
# The result.


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
    """

    rel_path: str
    copy: int
    seed: int | None
    image: PIL.Image.Image | None = None
    params: list[dict[str, Any]] | None = None
    error: str | None = None
    reason: str | None = None
    output_sha256: str | None = None

    @property
    def caption(self) -> str:
        """``#copy`` and a short summary of what was drawn, or the failure reason."""
        if self.error is not None:
            return f"#{self.copy} failed: {self.reason}"
        drawn = summarize(self.params or [])
        return f"#{self.copy} · {drawn}" if drawn else f"#{self.copy} · nothing applied"


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
    """

    spec: Spec
    items: list[Item]
    originals: dict[str, PIL.Image.Image | None]
    source: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[tuple[str, list[Item]]]:
        """(rel_path, its items) per image, in order."""
        return [(rel, [i for i in self.items if i.rel_path == rel]) for rel in self.originals]

    def grid(self, max_side: int = 256, highlight: int | None = None) -> PIL.Image.Image:
        """A row per image: the original, then its copies, each captioned.

        Args:
            max_side: the largest side of a tile, in pixels.
            highlight: an index into :attr:`items` whose tile gets a frame (the one
                being stepped through), or ``None``.
        """
        rows = []
        where = None
        chosen = self.items[highlight] if highlight is not None and 0 <= highlight < len(self.items) else None
        for r, (rel, items) in enumerate(self.rows()):
            original = self.originals[rel]
            head = (original, _original_caption(rel, original, self.errors.get(rel)), None)
            rows.append([head, *((i.image, i.caption, i.error) for i in items)])
            where = next(((r, 1 + c) for c, i in enumerate(items) if i is chosen), where)  # by identity: no
            # pixel comparison
        return draw_grid(rows, max_side, highlight=where)

    def png(self, max_side: int = 256, highlight: int | None = None) -> bytes:
        """The grid as PNG bytes (fast compression: it is for the screen)."""
        return png_bytes(self.grid(max_side, highlight))

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
                 "drawn": summarize(i.params or []), "params": i.params} for i in self.items]

    def to_json(self) -> str:
        """The spec digest, the source and every variant's parameters, as JSON."""
        return json.dumps({"spec_digest": self.spec.digest, "source": self.source, "items": self.table()},
                          indent=2)

    def html_table(self) -> str:
        """Every variant's sampled parameters as an HTML table."""
        import html

        rows = []
        for i in self.items:
            ops = "<br>".join(html.escape(_record_text(r)) for r in _flatten(i.params or []))
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


# ---------------------------------------------------------------------------
# Rendering.


def render(
    spec: Spec | str | dict[str, Any],
    source: str | os.PathLike[str] | Images | None = None,
    *,
    n: int = DEFAULT_N,
    copies: int | None = None,
    pick_seed: int = 0,
    paths: list[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
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

    Returns:
        The :class:`Preview`. A bad image never raises: its variants carry the
        reason, as the manifest would record it.

    Raises:
        SpecError: the spec is invalid.
        UsageError: a bad source, path or count.
    """
    spec = load_spec(spec)
    if copies is not None:
        spec = spec.replace(copies=copies)
    images = source if isinstance(source, Images) else Images(source)
    pipeline = Pipeline(spec)
    items: list[Item] = []
    originals: dict[str, PIL.Image.Image | None] = {}
    errors: dict[str, str] = {}
    for rel in images.pick(n, pick_seed, paths, spec.input):
        row, original, error = _render_one(pipeline, images, rel, max_pixels)
        items += row
        originals[rel] = original
        if error:
            errors[rel] = error
    return Preview(spec, items, originals, images.source, errors, list(images.excluded))


def _render_one(pipeline: Pipeline, images: Images, rel: str, max_pixels: int,
                ) -> tuple[list[Item], PIL.Image.Image | None, str | None]:
    """One input's variants, made by :func:`augment.variant.make` as the job's worker makes them."""
    spec = pipeline.spec
    items, broken = [], None
    for v in variant.make(pipeline, lambda: images.read(rel), rel, tuple(range(spec.copies)),
                          max_pixels=max_pixels, outputs=spec.copies):
        if v.ok:
            assert v.data is not None
            items.append(Item(rel, v.copy, v.seed, _decode_output(v.data), v.params, output_sha256=v.output_sha256))
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


def png_bytes(image: PIL.Image.Image) -> bytes:
    """``image`` as PNG with fast compression: for the screen, where encoding time is
    waiting time (a third of the time Pillow's default level takes on a grid)."""
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _decode_output(blob: bytes) -> PIL.Image.Image:
    with PIL.Image.open(io.BytesIO(blob)) as img:
        img.load()
        return img.copy() if img.mode in ("RGB", "L") else img.convert("RGB")


def step_through(preview: Preview, index: int) -> list[tuple[str, PIL.Image.Image, dict[str, Any] | None]]:
    """One variant op by op: the input, the image after each op with what that op
    drew, and the output as written. One render with the variant's own seed, so the
    last step is the tile.

    Args:
        preview: a :class:`Preview` from :func:`render`.
        index: the variant's index in ``preview.items``.

    Returns:
        ``(label, image, record)`` per step: ``input``, one per top-level op, then
        ``written as <format>``.

    Raises:
        UsageError: no such item, or one that failed.
    """
    if not 0 <= index < len(preview.items):
        raise UsageError(f"no variant {index}: the preview has {len(preview.items)}")
    item = preview.items[index]
    if item.error is not None or item.seed is None:
        raise UsageError(f"{item.rel_path} copy {item.copy} failed ({item.reason}): nothing to step through")
    if not preview.source:
        raise UsageError(f"{item.rel_path}: the job's input is not available here (from_job(..., input=))")
    data = Images(preview.source).read(item.rel_path)
    spec = preview.spec
    steps: list[PIL.Image.Image] = []
    made, = variant.make(Pipeline(spec), data, item.rel_path, (item.copy,), outputs=spec.copies, steps=steps)
    if made.cause is not None:
        raise made.cause
    assert made.data is not None and made.params is not None and made.format is not None
    fmt, params = made.format, made.params
    result: list[tuple[str, PIL.Image.Image, dict[str, Any] | None]] = [("input", open_image(data).load(), None)]
    for record, image in zip(params, steps, strict=True):
        drawn = summarize([record])
        result.append((f"{record['op']}: {drawn or 'not applied'}", image, record))
    quality = f" q{spec.output.quality}" if fmt in ("jpeg", "webp") else ""
    result.append((f"written as {fmt}{quality}", _decode_output(made.data), None))
    return result


# ---------------------------------------------------------------------------
# From a finished job.


def from_job(output: str | os.PathLike[str], input: str | os.PathLike[str] | None = None, *, n: int = DEFAULT_N,
             pick_seed: int = 0, paths: list[str] | None = None) -> Preview:
    """Inputs beside the outputs a finished job wrote, captioned from its manifests.

    Args:
        output: the job's output folder or ``s3://`` prefix (its ``_augment/`` holds
            the spec and the manifests).
        input: the job's input (folder or ``s3://`` prefix), for the originals;
            default: the input folder the job recorded, where it still exists.
        n, pick_seed, paths: which inputs to show, as in :func:`render`.

    Raises:
        UsageError: no job there.
    """
    output = os.fspath(output)
    if is_s3(output) and not output.endswith("/"):
        output += "/"  # the job's prefix itself, not its parent: keys are relative to it
    out = Images(output)
    meta = out.keys_under("_augment/")  # not the whole output, which may be millions of images
    manifests = [k for k in meta if k.startswith("_augment/manifest-") and k.endswith(".jsonl")]
    if "_augment/spec.yaml" not in meta or not manifests:
        raise UsageError(f"{output}: no finished job here (no _augment/spec.yaml and manifests)")
    spec = load_spec(_yaml(out.read("_augment/spec.yaml")))
    records: dict[str, list[dict[str, Any]]] = {}
    for key in manifests:
        for line in out.read(key).decode().splitlines():
            rec = json.loads(line)
            if rec["copy"] >= 0:
                records.setdefault(rec["source"], []).append(rec)
    if input is None:
        input = _recorded_input(out, meta)
    inputs = Images(input) if input is not None else None
    if paths:
        missing = [p for p in paths if p not in records]
        if missing:
            raise UsageError(f"--paths: {', '.join(missing)} not in the job's manifests")
        chosen = list(paths)
    else:
        chosen = sorted(random.Random(pick_seed).sample(sorted(records), min(n, len(records))))
    items, originals, errors = [], {}, {}
    for rel in chosen:
        for rec in sorted(records[rel], key=lambda r: r["copy"]):
            image = _decode_output(out.read(rec["output"])) if rec["status"] == "ok" else None
            items.append(Item(rel, rec["copy"], rec["seed"], image, rec["params"], rec["error"], rec["reason"],
                              rec.get("output_sha256")))
        originals[rel] = None
        if inputs is None:
            errors[rel] = "original not available (pass input=)"
            continue
        try:
            originals[rel] = open_image(inputs.read(rel), sys.maxsize).load()  # the job accepted it
        except (ImageError, OSError) as e:
            errors[rel] = str(e)
    return Preview(spec, items, originals, inputs.source if inputs else "", errors)


def _yaml(data: bytes) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(data)


def _recorded_input(out: Images, meta: list[str]) -> str | None:
    """The input folder a job's summary names, where it still exists here."""
    for key in meta:
        if key.startswith("_augment/summary-"):
            folder = json.loads(out.read(key)).get("input_dir")
            if folder and Path(folder).is_dir():
                return folder
    return None


# ---------------------------------------------------------------------------
# Captions: what was drawn, in a few words.


def _num(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}".replace("-", "\u2212")


def _record_text(rec: dict[str, Any]) -> str:
    """One op's record in a line, to read: ``RandomResizedCrop: top 33, left 17, height 243,
    width 258``; ``AugMix: ops Contrast −0.1, Solarize 1.0; ...`` (the manifest keeps the
    whole record)."""
    params = rec.get("params")
    if not rec.get("applied"):
        return f"{rec['op']}: not applied"
    if not params:
        return f"{rec['op']}: applied"
    text = ", ".join(f"{k} {_value_text(v)}" for k, v in params.items() if v is not None)
    return f"{rec['op']}: {text if len(text) <= 300 else text[:299] + chr(0x2026)}"


def _value_text(value: Any) -> str:
    """A drawn value in a few characters: numbers rounded, named magnitudes as
    ``Name m``, a tensor by its shape; no JSON quotes or braces."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and not math.isfinite(value):  # int() of them raises
        return "nan" if math.isnan(value) else "\u2212inf" if value < 0 else "inf"
    if isinstance(value, float):
        return _num(value, 4).rstrip("0").rstrip(".") if value != int(value) else _num(value, 1)
    if isinstance(value, int):
        return str(value).replace("-", "\u2212")
    if isinstance(value, dict):
        if "tensor" in value:
            shape = "\u00d7".join(map(str, value["tensor"]))
            return f"{shape} {value.get('dtype', '')} tensor".replace("  ", " ")
        rest = [_value_text(v) if k == "name" else f"{k} {_value_text(v)}" if "name" not in value else _value_text(v)
                for k, v in value.items() if v is not None]
        return " ".join(rest) if "name" in value else "(" + ", ".join(rest) + ")"
    if isinstance(value, list | tuple):
        while len(value) == 1 and isinstance(value[0], list | tuple):  # [[[0.0]]]: one value
            value = value[0]
        if value and all(isinstance(v, dict) for v in value):
            return "; ".join(_value_text(v) for v in value)
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def _flatten(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Applied leaf records, containers opened, in the order they ran."""
    out = []
    for rec in records:
        if not rec.get("applied"):
            continue
        children = rec.get("ops")
        if children is not None and rec["op"] in ("RandomApply", "RandomChoice", "RandomOrder"):
            if rec["op"] == "RandomOrder":
                children = [children[i] for i in rec["order"]]
            out += _flatten(children)
        else:
            out.append(rec)
    return out


def _short(rec: dict[str, Any]) -> str:
    op, p = rec["op"], rec.get("params") or {}
    if op in ("RandomResizedCrop", "RandomCrop") and "width" in p:
        return f"crop {p['width']}\u00d7{p['height']} @ ({p['left']},{p['top']})"
    if op == "RandomRotation":
        return f"rot {_num(p['angle'], 1)}\u00b0"
    if op == "RandomAffine":
        parts = [f"affine {_num(p['angle'], 1)}\u00b0"]
        if any(p.get("translate", [0, 0])):
            parts.append(f"t({p['translate'][0]},{p['translate'][1]})")
        if p.get("scale", 1.0) != 1.0:
            parts.append(f"s{_num(p['scale'])}")
        if any(p.get("shear", [0, 0])):
            parts.append(f"sh{_num(p['shear'][0], 1)}")
        return " ".join(parts)
    if op == "ColorJitter":
        factors = [(k, p.get(f"{name}_factor")) for k, name in
                   (("b", "brightness"), ("c", "contrast"), ("s", "saturation"), ("h", "hue"))]
        return "jitter " + " ".join(f"{k}{_num(v)}" for k, v in factors if v is not None)
    if op == "GaussianBlur":
        return f"blur \u03c3{_num(p['sigma'][0])}"
    if op == "JPEG":
        return f"jpeg q{p['quality']}"
    if op == "RandomErasing":
        return f"erase {p['w']}\u00d7{p['h']}"
    if op in ("AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"):
        names = [o["name"] for o in p.get("ops", [])]
        label = {"AutoAugment": "auto", "RandAugment": "rand", "TrivialAugmentWide": "trivial", "AugMix": "augmix"}[op]
        return f"{label} " + (", ".join(names[:3]) + ("\u2026" if len(names) > 3 else "") if names else "identity")
    return _WORDS.get(op, op)


_WORDS = {
    "RandomHorizontalFlip": "flip", "RandomVerticalFlip": "vflip", "RandomPerspective": "perspective",
    "RandomGrayscale": "gray", "GaussianNoise": "noise", "RandomInvert": "invert", "RandomPosterize": "posterize",
    "RandomSolarize": "solarize", "RandomAdjustSharpness": "sharpen", "RandomAutocontrast": "autocontrast",
    "RandomEqualize": "equalize", "Resize": "resize", "CenterCrop": "center crop", "ElasticTransform": "elastic",
}  # fmt: skip


def summarize(records: list[dict[str, Any]]) -> str:
    """What was drawn, in a few words: ``crop 243×258 @ (33,17) · flip · rot −7.2°``."""
    return " \u00b7 ".join(_short(r) for r in _flatten(records))


# ---------------------------------------------------------------------------
# Drawing the grid.

_CAPTION_LINES = 3
_LINE_HEIGHT = 14
PAD = 6
_BACKGROUND = (255, 255, 255)
_FAILED = (250, 232, 232)
HIGHLIGHT = (255, 136, 0)
"""The frame around the tile being stepped through."""
MAX_SIDE = 4096
"""The largest tile side a grid draws (a tile is never enlarged: larger only wastes memory)."""
MAX_GRID_PIXELS = 100_000_000
"""The largest grid drawn, in pixels (300 MB of RGB)."""


def _font(size: int = 11) -> PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont:
    """DejaVu Sans from matplotlib where it is installed (it has ×, −, σ and °);
    Pillow's own font elsewhere."""
    import importlib.util

    found = importlib.util.find_spec("matplotlib")  # found, not imported: that takes a quarter of a second
    try:
        if found is None or not found.submodule_search_locations:
            raise OSError("no matplotlib")
        folder = found.submodule_search_locations[0]
        return PIL.ImageFont.truetype(os.path.join(folder, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf"), size)
    except OSError:
        return PIL.ImageFont.load_default(size=size)


_FONTS: dict[int, Any] = {}


def _cached_font(size: int = 11) -> Any:
    if size not in _FONTS:
        _FONTS[size] = _font(size)
    return _FONTS[size]


def _wrap(text: str, font: Any, width: int, lines: int) -> list[str]:
    out: list[str] = []
    words = text.split(" ")
    line = ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width or not line:
            line = candidate
        else:
            out.append(line)
            line = word
    out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1].rstrip() + " \u2026"
    return out


def _original_caption(rel: str, image: PIL.Image.Image | None, error: str | None) -> str:
    if image is None:
        return f"{rel} · {error or 'not available'}"
    return f"{rel} · original {image.width}\u00d7{image.height}"


def cell_size(max_side: int) -> tuple[int, int]:
    """(width, height) of one tile of a grid with its caption and margin; tile (row,
    col) starts at ``(PAD + col * width, PAD + row * height)``."""
    return max_side + PAD, max_side + PAD + _LINE_HEIGHT * _CAPTION_LINES


def draw_grid(rows: list[list[tuple[PIL.Image.Image | None, str, str | None]]], max_side: int = 256,
              highlight: tuple[int, int] | None = None) -> PIL.Image.Image:
    """Tiles in rows, each scaled to fit ``max_side`` (never enlarged) with its caption
    below; a tile without an image shows its error.

    Args:
        rows: per row, ``(image or None, caption, error or None)`` per tile.
        max_side: the largest side of a tile, in pixels (16 to :data:`MAX_SIDE`).
        highlight: ``(row, column)`` of a tile to frame, or ``None``.

    Raises:
        UsageError: ``max_side`` out of range, or a grid of more than
            :data:`MAX_GRID_PIXELS` pixels.
    """
    if not 16 <= max_side <= MAX_SIDE:
        raise UsageError(f"max_side (--max-side) must be between 16 and {MAX_SIDE} (pixels of a tile's largest "
                         f"side), got {max_side}")
    font = _cached_font(11)
    line_h = _LINE_HEIGHT
    cols = max((len(r) for r in rows), default=1)
    cell_w, cell_h = cell_size(max_side)
    size = (max(cols, 1) * cell_w + PAD, max(len(rows), 1) * cell_h + PAD)
    if size[0] * size[1] > MAX_GRID_PIXELS:
        raise UsageError(f"the grid would be {size[0]}\u00d7{size[1]} pixels, more than {MAX_GRID_PIXELS}: "
                         "lower max_side (--max-side), n (--n) or copies (--copies), or name fewer paths (--paths)")
    grid = PIL.Image.new("RGB", size, _BACKGROUND)
    draw = PIL.ImageDraw.Draw(grid)
    if highlight is not None:  # in the padding around the tile: the picture stays whole
        x, y = PAD + highlight[1] * cell_w, PAD + highlight[0] * cell_h
        draw.rectangle((x - 4, y - 4, x + max_side + 3, y + cell_h - PAD + 1), outline=HIGHLIGHT, width=3)
    for r, row in enumerate(rows):
        for c, (image, caption, error) in enumerate(row):
            x, y = PAD + c * cell_w, PAD + r * cell_h
            if image is not None:
                tile = image if image.mode == "RGB" else image.convert("RGB")
                scale = min(1.0, max_side / max(tile.width, tile.height))
                if scale < 1.0:
                    size = (max(1, round(tile.width * scale)), max(1, round(tile.height * scale)))
                    tile = tile.resize(size, PIL.Image.Resampling.BILINEAR, reducing_gap=2.0)
                grid.paste(tile, (x + (max_side - tile.width) // 2, y + (max_side - tile.height) // 2))
            else:
                draw.rectangle((x, y, x + max_side - 1, y + max_side - 1), fill=_FAILED, outline=(200, 80, 80))
                for n, line in enumerate(_wrap(error or "no image", font, max_side - 12, 12)):
                    draw.text((x + 6, y + 6 + n * line_h), line, font=font, fill=(150, 20, 20))
            for n, line in enumerate(_wrap(caption, font, max_side, _CAPTION_LINES)):
                draw.text((x, y + max_side + 2 + n * line_h), line, font=font,
                          fill=(150, 20, 20) if error else (30, 30, 30))
    return grid


def __getattr__(name: str) -> Any:
    if name == "Previewer":  # the widget needs ipywidgets: imported on first use
        from augment._previewer import Previewer

        return Previewer
    raise AttributeError(f"module 'augment.preview' has no attribute {name!r}")
