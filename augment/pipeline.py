"""Spec -> torchvision pipeline, per-image seeding, and capture of sampled parameters.

The pipeline *is* torchvision: :attr:`Pipeline.transform` is a ``v2.Compose`` of the
registered ``v2`` classes (``v2.Identity`` for a spec with ``ops: []``, which only
re-encodes), and running it runs torchvision's own ``forward`` methods.
What this module adds:

* **Seeding.** Every (input, copy) gets its own seed, derived from the spec's seed,
  the input's path relative to the input root and the copy index
  (:func:`derive_seed`). The global torch generator is seeded with it for that one
  image (and restored afterwards), so an output does not depend on worker count,
  order or host.
* **Capture.** Each transform's ``forward`` and ``make_params`` are observed
  (instance attributes, no subclassing), so every output comes with the parameters
  torchvision drew for it: crop boxes, angles, jitter factors, which branch of
  ``RandomChoice`` fired, the order ``RandomOrder`` used, the ops a policy applied.
* **Kernels.** Under the spec's ``kernels: fast`` (the default) the image travels as a
  PIL image, so each op runs torchvision's PIL kernel, or the faster one in
  :mod:`augment.kernels` (``ColorJitter``, the resizes, ``GaussianNoise``); and a JPEG
  given as a :class:`~augment.images.Source` may be decoded at a reduced size when the
  first op discards that resolution, or only in part (a first ``RandomResizedCrop``'s
  box, to the same pixels). ``kernels: torchvision`` runs every op's uint8
  tensor kernel. Either way the parameters are drawn by torchvision's own
  ``make_params``, identically.
* **Labels.** :meth:`Pipeline.apply_labelled` runs the pixels exactly as
  :meth:`Pipeline.apply` does (the same calls, the same bytes); each geometric op notes
  the parameters it applied to the pixels, and the image's boxes, masks and keypoints
  (:mod:`augment.labels`) are then moved through those ops with those parameters: boxes
  in numpy or compiled code for the commonest ops (:mod:`augment.labels.moves`), the rest
  by torchvision's own kernels (a job's worker asks for several outputs' labels after
  their pixels, :meth:`Pipeline.apply_deferred`). The step-through moves them op by op as
  the pixels go. Photometric ops never see the labels; :meth:`Pipeline.apply` never
  touches them.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.functional import InterpolationMode, pil_modes_mapping

from augment._torchvision import ATTRIBUTES, fill_of
from augment._torchvision import RandomApplyTransform as _RandomApplyTransform
from augment._torchvision import attribute as private_attribute
from augment._torchvision import compute_resized_output_size as _resized_output_size
from augment.images import Source
from augment.kernels import FAST_TRANSFORMS, native_bilinear, resize_box, resize_rows, to_pil, to_tensor
from augment.labels.follow import Counts, LabelRules, follow, within_image
from augment.labels.model import Boxes, LabelError, Labels, from_tv, to_tv
from augment.labels.moves import MOVES
from augment.labels.refuse import refusal_message, refusals
from augment.ops import REGISTRY, build_transform, extract_params, to_json
from augment.spec import Spec, load_spec

SEED_BITS = 53
"""Seeds are < 2**53 so they survive a round trip through any JSON parser."""


def derive_seed(spec_seed: int, rel_path: str, copy: int) -> int:
    """The seed of one output: a hash of (spec seed, relative POSIX path, copy index).

    Args:
        spec_seed: the spec's ``seed``.
        rel_path: the input's path relative to the input root, with ``/`` separators.
            File names are bytes on Linux: one that is not valid UTF-8 arrives as
            Python decodes it (``surrogateescape``) and is hashed as its original
            bytes, so any name has a seed (and a valid UTF-8 name the same as before).
        copy: the copy index, from 0.

    Returns:
        An integer in ``[0, 2**53)``.
    """
    key = f"augment-v1\0{spec_seed}\0{rel_path}\0{copy}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> (64 - SEED_BITS)


class OpFailed(RuntimeError):
    """An op raised while augmenting one image; the message names the op."""


@dataclass
class _Node:
    """One op of the pipeline with what was observed during the current image."""

    name: str
    transform: v2.Transform
    children: list[_Node]
    calls: int = 0
    stamp: int = 0
    params: dict[str, Any] | None = None
    policy_ops: list[dict[str, Any]] = field(default_factory=list)
    mix: list[Any] = field(default_factory=list)
    move: Any = None  # a geometric leaf's: (labels, params) -> the labels moved as its pixels are

    def reset(self) -> None:
        self.calls, self.stamp, self.params = 0, 0, None
        self.policy_ops.clear()
        self.mix.clear()
        for c in self.children:
            c.reset()

    def record(self) -> dict[str, Any]:
        """What this op did to the current image, as plain JSON."""
        rec: dict[str, Any] = {"op": self.name, "applied": self.calls > 0}
        if not self.calls:
            return rec
        category = REGISTRY[self.name].category
        if self.name == "RandomApply":
            rec["applied"] = self.children[0].calls > 0
            if rec["applied"]:
                rec["ops"] = [c.record() for c in self.children]
        elif self.name == "RandomChoice":
            chosen = next(i for i, c in enumerate(self.children) if c.calls)
            rec["choice"] = chosen
            rec["ops"] = [self.children[chosen].record()]
        elif self.name == "RandomOrder":
            rec["order"] = sorted(range(len(self.children)), key=lambda i: self.children[i].stamp)
            rec["ops"] = [c.record() for c in self.children]
        elif category == "policy":
            rec["params"] = {"ops": list(self.policy_ops)}
            if self.mix:
                rec["params"]["weights"] = list(self.mix)
        elif isinstance(self.transform, _RandomApplyTransform) and self.params is None:
            rec["applied"] = False  # called, but its own coin said no
        else:
            rec["params"] = to_json(self.params or {})
        return rec


class Pipeline:
    """A spec built into torchvision transforms, with seeding and capture.

    Args:
        spec: anything :func:`augment.spec.load_spec` accepts.

    Example:
        >>> p = Pipeline("light")
        >>> out, record = p.apply(image, seed=derive_seed(p.spec.seed, "cat.jpg", 0))
    """

    def __init__(self, spec: Spec | str | dict[str, Any]) -> None:
        self.spec = load_spec(spec)
        self.fast = self.spec.kernels == "fast"
        self._counter = itertools.count(1)
        self._capture: Any = None  # while a render keeps its steps: called with each top-level op's output
        self._labels_ready = False
        self._moving: dict[str, Any] | None = None  # the current image's labels (tv_tensors), moved op by op
        self._pending: list[tuple[str, Any, dict[str, Any], Any]] | None = None  # or the moves to make later
        self._nodes = [self._build(op) for op in self.spec.ops]
        # ``ops: []`` only re-encodes each input; v2.Compose refuses an empty list.
        self.transform = v2.Compose([n.transform for n in self._nodes]) if self._nodes else v2.Identity()
        first = self._nodes[0] if self._nodes else None
        # Under fast kernels a JPEG may be decoded at a reduced size, or only in part,
        # when the first op keeps less than the whole image (see _first_from_source).
        reduces = first is not None and self.fast and _reduces(self.spec.ops[0])
        crops = first is not None and self.fast and first.name == "RandomResizedCrop"
        self._on_source = first if reduces or crops else None
        self._reduces = reduces
        rest = [n.transform for n in self._nodes[1:]]
        self._rest = v2.Compose(rest) if rest else v2.Identity()

    def _build(self, op: dict[str, dict[str, Any]]) -> _Node:
        (name, params), = op.items()
        children = [self._build(child) for child in params.get("ops", [])] if REGISTRY[name].is_container else []
        transform = build_transform(op, [c.transform for c in children] if children else None)
        node = _Node(name, transform, children)
        self._observe(node)
        if self.fast and name in FAST_TRANSFORMS:
            _use_fast_kernel(transform, FAST_TRANSFORMS[name])
        if REGISTRY[name].category == "geometric" and not children:
            self._carry(node)
        return node

    def _carry(self, node: _Node) -> None:
        """Make a geometric op move the current image's labels (:attr:`_moving`), when
        there are any, with the params it applies to the pixels: its ``transform`` runs on
        each of them as torchvision's ``forward`` would run it beside the image (boxes by
        the op's numpy move where it has one, :data:`augment.labels.moves.MOVES`, the same
        arithmetic). The pixels then take the very path, and the very calls, of an
        unlabelled run, and the photometric ops (which leave labels as they are) never
        see the labels."""
        transform = node.transform
        inner = transform.transform
        move_boxes = MOVES.get(node.name)

        def move(labels: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for key, value in labels.items():
                if isinstance(value, Boxes):
                    moved = move_boxes(transform, value, params) if move_boxes is not None else None
                    if moved is not None:
                        out[key] = moved
                        continue
                    value = value.tv()
                out[key] = inner(value, params)
            return out

        def transform_carrying(inpt: Any, params: dict[str, Any]) -> Any:
            out = inner(inpt, params)
            if self._pending is not None:
                self._pending.append((node.name, move, params, _shape(inpt)))
            elif self._moving:
                try:
                    self._moving = move(self._moving, params)
                except Exception as e:  # the labels', not the image's (which _observe would blame)
                    raise OpFailed(f"{node.name} failed on the labels of a {_describe(inpt)} image: {e}") from e
            return out

        transform.transform = transform_carrying
        node.move = move

    def _observe(self, node: _Node) -> None:
        """Wrap the node's transform so each call is counted and its params kept."""
        t = node.transform
        forward = t.forward

        def observed_forward(*inputs: Any) -> Any:
            node.calls += 1
            node.stamp = next(self._counter)
            try:
                out = forward(*inputs)
            except OpFailed:
                raise
            except Exception as e:  # name the op: torchvision's own messages rarely do
                raise OpFailed(f"{node.name} failed on a {_describe(inputs[0])} image: {e}") from e
            if self._capture is not None and any(node is top for top in self._nodes):
                self._capture(out)
            return out

        t.forward = observed_forward
        if REGISTRY[node.name].category == "policy":
            apply_name = private_attribute(t, "apply_policy_op")
            apply = getattr(t, apply_name)

            def observed_apply(image: Any, transform_id: str, magnitude: float, **kw: Any) -> Any:
                node.policy_ops.append({"name": transform_id, "magnitude": float(magnitude)})
                return apply(image, transform_id, magnitude, **kw)

            setattr(t, apply_name, observed_apply)
            if isinstance(t, v2.AugMix):
                sample_name = private_attribute(t, "sample_dirichlet")
                sample = getattr(t, sample_name)

                def observed_sample(params: torch.Tensor) -> torch.Tensor:
                    out = sample(params)
                    node.mix.append(to_json(out[0]))
                    return out

                setattr(t, sample_name, observed_sample)
        elif not node.children:
            make_params = t.make_params

            def observed_make_params(flat_inputs: list[Any]) -> dict[str, Any]:
                params = make_params(flat_inputs)
                node.params = params
                return params

            t.make_params = observed_make_params

    def to_spec(self) -> Spec:
        """Read the spec back from the built transforms (the round trip)."""
        ops = [extract_params(n.transform) for n in self._nodes]
        return load_spec({**self.spec.to_dict(), "ops": ops})

    def apply(self, image: Source | PIL.Image.Image | torch.Tensor, seed: int,
              steps: list[PIL.Image.Image] | None = None) -> tuple[Any, list[dict[str, Any]]]:
        """Augment one image with one seed.

        Args:
            image: a :class:`~augment.images.Source` (what a job passes: image bytes
                read by :func:`~augment.images.open_image`), an RGB or L PIL image, or a
                uint8 (C, H, W) tensor, C = 1 or 3. A decoded image gives the same
                result as a PIL image or a tensor; a ``Source`` gives the job's exact
                bytes, since under fast kernels it lets a JPEG be decoded at 1/2, 1/4
                or 1/8 of its size when the first op (``RandomResizedCrop`` or
                ``Resize``) keeps at most half of that resolution (and a first
                ``RandomResizedCrop`` decode only its box, which changes no byte).
            seed: from :func:`derive_seed`.
            steps: when given, the image after each top-level op is appended to it
                (a copy, as a PIL image), in order: the same render, op by op.

        Returns:
            The augmented image (a PIL image for a ``Source``, else of the type
            given) and the sampled parameters, one record per op.

        Raises:
            OpFailed: an op raised.
            augment.images.ImageError: a ``Source`` that cannot be decoded.
        """
        out, _ = self._run(image, seed, steps, None)
        out = to_tensor(out) if isinstance(image, torch.Tensor) else to_pil(out)
        return out, [n.record() for n in self._nodes]

    def apply_labelled(self, image: Source | PIL.Image.Image | torch.Tensor, seed: int, labels: Labels,
                       rules: LabelRules | None = None, steps: list[PIL.Image.Image] | None = None,
                       step_labels: list[Labels] | None = None,
                       ) -> tuple[Any, list[dict[str, Any]], Labels, Counts]:
        """Augment one image and its labels with one seed: the labels get the very
        parameters drawn for the pixels, which are byte for byte those of :meth:`apply`.

        Args:
            image, seed, steps: as for :meth:`apply`.
            labels: the image's labels (their ``size`` must be the image's).
            rules: what to do with objects that leave the image (default: drop them).
            step_labels: when given, the labels after each top-level op are appended to
                it, in order, as the output would have them had the pipeline ended
                there (the rules applied to the ops so far): the last are the output's.

        Returns:
            The augmented image, the records, the output's labels (boxes clamped,
            objects dropped or marked, keypoints hidden and swapped, see
            :func:`augment.labels.follow.follow`) and what became of them.

        Raises:
            augment.labels.LabelError: the spec has an op that cannot carry labels
                (:func:`augment.labels.refusals`), or the labels are another image's size.
            OpFailed, augment.images.ImageError: as for :meth:`apply`.
        """
        if step_labels is None:
            out, records, finish = self.apply_deferred(image, seed, labels, rules, steps=steps)
            return out, records, *finish()
        self._carry_labels(image, labels)
        rules = rules or LabelRules()
        targets: list[tuple[tuple[int, int], dict[str, Any]]] | None = []
        out, moved = self._run(image, seed, steps, to_tv(within_image(labels)), targets)
        out = to_tensor(out) if isinstance(image, torch.Tensor) else to_pil(out)
        records = [n.record() for n in self._nodes]
        followed, counts = follow(from_tv(labels, moved, _size_of(out)), records, rules)
        if targets is not None:
            step_labels.extend(follow(from_tv(labels, target, size), records[:k + 1], rules)[0]
                               for k, (size, target) in enumerate(targets))
        return out, records, followed, counts

    def apply_deferred(self, image: Source | PIL.Image.Image | torch.Tensor, seed: int,
                       labels: Labels | Callable[[], Labels],
                       rules: LabelRules | None = None, steps: list[PIL.Image.Image] | None = None,
                       ) -> tuple[Any, list[dict[str, Any]], Callable[[], tuple[Labels, Counts]]]:
        """:meth:`apply_labelled` in two halves: the pixels now (:meth:`apply`'s calls, each
        geometric op noting the params it applied), and ``finish()``, which moves the labels
        through those ops with those params and gives the output's labels and counts (or
        raises :class:`OpFailed`). A job's worker finishes several outputs' labels in a row,
        after their pixels, its code and data then in the caches (two to three times faster).
        ``labels`` may be a function that reads them then (their size checked already)."""
        self._carry_labels(image, labels if isinstance(labels, Labels) else None)
        rules = rules or LabelRules()
        pending: list[tuple[str, Any, dict[str, Any], Any]] = []  # op, move, params, its input's shape
        self._pending = pending
        try:
            out, _ = self._run(image, seed, steps, None)
        finally:
            self._pending = None
        out = to_tensor(out) if isinstance(image, torch.Tensor) else to_pil(out)
        records = [n.record() for n in self._nodes]
        out_size = _size_of(out)

        def finish() -> tuple[Labels, Counts]:
            given = labels if isinstance(labels, Labels) else labels()
            moved = to_tv(within_image(given))
            for name, move, params, shape in pending:
                if moved:
                    try:
                        moved = move(moved, params)
                    except Exception as e:  # as transform_carrying says it (a source's first op: WxH)
                        described = shape if isinstance(shape, str) else "x".join(map(str, shape)) + " (CxHxW)"
                        raise OpFailed(f"{name} failed on the labels of a {described} image: {e}") from e
            return follow(from_tv(given, moved, out_size), records, rules)

        return out, records, finish

    def _carry_labels(self, image: Source | PIL.Image.Image | torch.Tensor, labels: Labels | None) -> None:
        """Once per pipeline, before its first labels: refuse the ops that cannot carry
        them, and fill what a geometric op uncovers with 0 in masks (not with the pixels'
        fill, which would paint every object there), as torchvision lets a transform's
        fill differ by input type. Then refuse labels of another size than the image's (``None``: checked)."""
        if not self._labels_ready:
            found = refusals(self.spec)
            if found:
                raise LabelError(refusal_message(found))
            nodes = list(self._nodes)
            while nodes:
                node = nodes.pop()
                nodes.extend(node.children)
                if hasattr(node.transform, ATTRIBUTES["fill"][0]) and isinstance(fill_of(node.transform), dict):
                    fill_of(node.transform)[tv_tensors.Mask] = 0
            self._labels_ready = True
        size = _size_of(image)
        if labels is not None and tuple(labels.size) != size:
            raise LabelError(f"labels of a {labels.size[0]}x{labels.size[1]} image on a {size[0]}x{size[1]} image")

    def _run(self, image: Source | PIL.Image.Image | torch.Tensor, seed: int, steps: list[PIL.Image.Image] | None,
             target: dict[str, Any] | None, targets: list[tuple[tuple[int, int], dict[str, Any]]] | None = None,
             ) -> tuple[Any, dict[str, Any] | None]:
        """The pipeline on one image, and on ``target`` (tv_tensors) beside it when given
        (moved by the geometric ops themselves, see :meth:`_carry`); ``steps`` gets the
        image after each top-level op, ``targets`` its size and the labels then."""
        for n in self._nodes:
            n.reset()
        self._capture = _capturing(steps, targets, lambda: self._moving)
        threads = torch.get_num_threads()
        if threads != 1:
            # Some kernels reduce in parallel (the mean of adjust_contrast), and a sum's
            # rounding depends on how it was split: one thread, as in every worker, makes
            # a replay or a preview in a notebook give the job's exact bytes.
            torch.set_num_threads(1)
        try:
            with seeded_draws(seed):
                if isinstance(image, Source) and self._on_source is not None:
                    first, target = self._first_from_source(image, target)
                    self._moving = target
                    if self._capture is not None:
                        self._capture(first)
                    inputs = (first,)
                    transform = self._rest
                else:
                    decoded = image.load() if isinstance(image, Source) else image
                    inputs = (to_pil(decoded) if self.fast else to_tensor(decoded),)
                    transform = self.transform
                    self._moving = target
                out = transform(*inputs)
                return out, self._moving if target is not None else None
        finally:
            self._capture = None
            self._moving = None
            if threads != 1:
                torch.set_num_threads(threads)

    def _first_from_source(self, source: Source, target: dict[str, Any] | None = None,
                           ) -> tuple[PIL.Image.Image, dict[str, Any] | None]:
        """Run the first op (``RandomResizedCrop`` or ``Resize``) on a source.

        torchvision's ``make_params`` draws the crop box at full size, from the header,
        as always. Then, for a JPEG:

        * where the op antialiases and the crop is at least twice the output's size
          in both directions, it is decoded at the smallest DCT scale that keeps
          that (so Pillow's filter still does half the downscaling); the box is
          scaled onto the reduced image and resampled with the op's Pillow filter;
        * else ``RandomResizedCrop`` decodes only its box where it can
          (:meth:`~augment.images.Source.load_box`: the same pixels as a whole
          decode) and runs torchvision's tensor kernel on them, which is what its
          fast kernel runs on a decoded image: the same bytes;
        * else the op's own fast kernel runs, exactly as on a decoded image.

        ``target`` (labels as tv_tensors) gets the op's transform with the same params."""
        node = self._on_source
        assert node is not None
        t = node.transform
        node.calls += 1
        node.stamp = next(self._counter)
        w, h = source.size
        try:
            params = t.make_params([_SizeOnly(w, h)])  # observed: recorded as usual
            if node.name == "RandomResizedCrop":
                top, left, height, width = params["top"], params["left"], params["height"], params["width"]
                out_h, out_w = t.size
            else:
                top, left, height, width = 0, 0, h, w
                out_h, out_w = _resized_output_size((h, w), t.size, t.max_size)
        except Exception as e:
            raise OpFailed(f"{node.name} failed on a {w}x{h} image: {e}") from e
        # the op's own transform may make the pixels: the labels are moved (or noted) once, here
        pending, self._pending = self._pending, None
        try:
            pixels = self._first_pixels(source, params, (top, left, height, width), (out_h, out_w))
        finally:
            self._pending = pending
        if target is not None:
            try:
                target = node.move(target, params)
            except Exception as e:
                raise OpFailed(f"{node.name} failed on the labels of a {w}x{h} image: {e}") from e
        elif self._pending is not None:
            self._pending.append((node.name, node.move, params, f"{w}x{h}"))
        return pixels, target

    def _first_pixels(self, source: Source, params: dict[str, Any], crop: tuple[int, int, int, int],
                      out: tuple[int, int]) -> PIL.Image.Image:
        """The first op's pixels, from ``source``, with the params drawn for them (see
        :meth:`_first_from_source`); ``crop``: top, left, height, width; ``out``: height, width."""
        node = self._on_source
        assert node is not None
        t = node.transform
        w, h = source.size
        top, left, height, width = crop
        out_h, out_w = out
        reduce = 1
        if self._reduces:
            reduce = next((r for r in (8, 4, 2) if width >= 2 * out_w * r and height >= 2 * out_h * r), 1)
        if reduce == 1 and node.name == "RandomResizedCrop":
            box = (left, top, left + width, top + height)
            rows = source.load_box_rows(box) if native_bilinear(t) else None
            pixels = rows if rows is not None else source.load_box(box)
            if pixels is not None:
                try:  # as the op's fast kernel does with the box it cuts out of a decoded image
                    return resize_rows(t, pixels, params) if rows is not None else resize_box(t, pixels, params)
                except Exception as e:
                    raise OpFailed(f"{node.name} failed on a {_describe(pixels)} image: {e}") from e
        image = source.load(reduce)  # ImageError goes to the caller as is
        try:
            if image.size == (w, h):
                return t.transform(image, params)
            sx, sy = image.width / w, image.height / h
            box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
            return image.resize((out_w, out_h), pil_modes_mapping[InterpolationMode(t.interpolation)], box=box)
        except Exception as e:
            raise OpFailed(f"{node.name} failed on a {_describe(image)} image: {e}") from e


@contextmanager
def seeded_draws(seed: int) -> Iterator[None]:
    """torchvision's draws seeded with ``seed`` for the block, the generator's state put
    back after: what :meth:`Pipeline.apply` runs an image under, so anything run under it
    with the same seed (a test's reference transforms) draws the very same parameters.

    Only the CPU generator: torchvision draws every parameter from it, and
    ``torch.manual_seed`` would also queue seeds for CUDA, MTIA and XPU, with a stack
    trace each, at a third of a millisecond per image."""
    generator = torch.default_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)


def _capturing(steps: list[PIL.Image.Image] | None, targets: list[tuple[tuple[int, int], dict[str, Any]]] | None,
               labels: Any) -> Any:
    """What keeps a top-level op's output image: a copy of it in ``steps``, its size and
    the labels then (``labels()``: the pipeline's moving labels) in ``targets``; ``None``
    when neither is asked for (the usual case: nothing to call)."""
    if steps is None and targets is None:
        return None

    def capture(image: Any) -> None:
        if steps is not None:
            steps.append(to_pil(image).copy())
        target = labels()
        if targets is not None and target is not None:
            targets.append((_size_of(image), target))

    return capture


def _reduces(op: dict[str, dict[str, Any]]) -> bool:
    """Whether a JPEG may be decoded at a reduced size when ``op`` comes first: a
    resize that antialiases with a filter Pillow has."""
    (name, params), = op.items()
    return (name in ("RandomResizedCrop", "Resize") and params["antialias"]
            and params["interpolation"] in ("bilinear", "bicubic"))


class _SizeOnly(PIL.Image.Image):
    """A pixel-less stand-in of a given size, for a transform's ``make_params``."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self._mode = "RGB"
        self._size = (width, height)


def _use_fast_kernel(transform: v2.Transform, make_kernel: Any) -> None:
    """Route PIL inputs of ``transform.transform(inpt, params)`` to
    ``make_kernel(original)``; the params still come from the transform's own
    ``make_params``."""
    original = transform.transform
    kernel = make_kernel(original)

    def transform_fast(inpt: Any, params: dict[str, Any]) -> Any:
        return kernel(inpt, params) if isinstance(inpt, PIL.Image.Image) else original(inpt, params)

    transform.transform = transform_fast


def _size_of(image: Source | PIL.Image.Image | torch.Tensor) -> tuple[int, int]:
    """``(width, height)`` of an image in any form the pipeline takes."""
    if isinstance(image, Source | PIL.Image.Image):
        return tuple(image.size)
    return int(image.shape[-1]), int(image.shape[-2])


def _describe(image: Any) -> str:
    """``CxHxW``, as torchvision's messages count channels."""
    return "x".join(map(str, _shape(image))) + " (CxHxW)"


def _shape(image: Any) -> tuple[int, ...]:
    """``(C, H, W)``, or a tensor's shape."""
    if isinstance(image, PIL.Image.Image):
        return PIL.Image.getmodebands(image.mode), image.height, image.width
    return tuple(getattr(image, "shape", ()))
