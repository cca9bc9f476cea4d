"""The op registry: op name -> torchvision v2 transform class + parameter schema.

The schema (:mod:`augment.schema`: :class:`Param` and the canonical form of a value) is
the single description of what an op accepts. It drives three things:

* validation (:func:`canonical_op`): every value is checked and brought to one
  canonical JSON form, with defaults filled in, before any image is touched;
* construction (:func:`build_transform`): the canonical values are passed to the
  torchvision class unchanged;
* introspection (:func:`extract_params`): the canonical values are read back from a
  built transform's attributes, so ``spec -> pipeline -> spec`` is the identity and a
  test proves our reading of each parameter agrees with torchvision's own.

The preview generates its widgets from the same schema, so every parameter of every
op carries a kind, bounds or choices, a default and a one-line help.

The registry is data: it names each torchvision class by its dotted path and imports
torch and torchvision only to build or read a transform. Validating a spec, listing
the ops and describing one (``augment validate``, ``augment ops``) import neither, so
they answer at once; a test proves every value the schema accepts also builds.
"""
from __future__ import annotations

import difflib
import enum
import functools
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augment.errors import SpecError
from augment.schema import (  # noqa: F401  (KINDS: augment.ops.KINDS... stay importable)
    INTERPOLATIONS,
    KINDS,
    BadValue,
    Param,
    canonical_value,
)
from augment.text import brief

if TYPE_CHECKING:
    from torchvision.transforms import v2


@functools.cache
def _resolve(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class OpDef:
    """A registered op.

    Attributes:
        name: the name used in specs (torchvision's class name).
        category: ``geometric``, ``photometric``, ``policy``, ``erasing`` or ``container``.
        help: one line.
        params: the schema, in constructor order.
        finish: cross-field validation on the canonical params; returns problems and may
            fill in defaults that depend on other fields.
        make: converters from canonical values to constructor arguments, where
            torchvision wants another type (an enum).
        read: per-parameter readers for attributes that torchvision stores in another
            shape than the canonical one.
        module: the module of the class it builds (see :attr:`path` and :attr:`cls`).
    """

    name: str
    category: str
    help: str
    params: tuple[Param, ...]
    finish: Callable[[dict[str, Any]], list[str]] | None = None
    make: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    read: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    module: str = "torchvision.transforms.v2"

    @property
    def path(self) -> str:
        """The dotted name of the torchvision class it builds (no import needed)."""
        return f"{self.module}.{self.name}"

    @property
    def cls(self) -> type[v2.Transform]:
        """The torchvision class it builds (imports torchvision on first use)."""
        return _resolve(self.module, self.name)

    @property
    def is_container(self) -> bool:
        return any(p.kind == "ops" for p in self.params)


# ---------------------------------------------------------------------------
# Parameter helpers, to keep the registry table short and uniform.

_P_HELP = "probability of applying the op"


def _p(default: float = 0.5) -> Param:
    return Param("p", "float", default, _P_HELP, min=0.0, max=1.0)


def _interp(default: str) -> Param:
    return Param("interpolation", "choice", default, "resampling filter", choices=INTERPOLATIONS)


def _fill(nullable: bool = False) -> Param:
    return Param(
        "fill", "fill", None if nullable else 0.0,
        "value (0-255) for pixels outside the image" + (" (null: black)" if nullable else ""),
        min=0, max=255, nullable=nullable,
    )  # fmt: skip


def _crop_size(default: int = 224) -> Param:
    return Param("size", "size", [default, default], "output [height, width] in pixels", min=1, max=65535,
                 required=True)


_ANTIALIAS = Param("antialias", "bool", True, "low-pass filter when shrinking (as PIL does)")


def _as_float_list(value: Any) -> Any:
    return None if value is None else [float(v) for v in value]


def _read_jitter(center: float) -> Callable[[Any], Any]:
    # torchvision stores "no change" as None; the canonical form is [center, center].
    return lambda v: [center, center] if v is None else [float(x) for x in v]


def _read_padding(value: Any) -> Any:
    # torchvision keeps padding as [left, right, top, bottom]; the spec uses its
    # documented order [left, top, right, bottom].
    return None if value is None else [value[0], value[2], value[1], value[3]]


def _check_resize(params: dict[str, Any]) -> list[str]:
    size, max_size = params["size"], params["max_size"]
    if size is None and max_size is None:
        return ["size: null needs max_size"]
    if max_size is not None and isinstance(size, list):
        return ["max_size: only allowed when size is one integer (the shorter side)"]
    if max_size is not None and isinstance(size, int) and max_size <= size:
        return [f"max_size: must be greater than size ({size}), got {max_size}"]
    return []


def _check_kernel(params: dict[str, Any]) -> list[str]:
    k = params["kernel_size"]
    return [] if all(v % 2 == 1 for v in k) else [f"kernel_size: must be odd, got {k}"]


def _check_choice(params: dict[str, Any]) -> list[str]:
    p, n = params["p"], len(params["ops"])
    if p is None:
        params["p"] = [1 / n] * n  # what v2.RandomChoice computes for p=None
    elif len(p) != n:
        return [f"p: needs one weight per op ({n}), got {len(p)}"]
    return []


def _check_randaugment(params: dict[str, Any]) -> list[str]:
    if params["magnitude"] >= params["num_magnitude_bins"]:
        return [f"magnitude: must be < num_magnitude_bins ({params['num_magnitude_bins']})"]
    return []


def _policy(value: str) -> Any:
    return _resolve("torchvision.transforms.v2", "AutoAugmentPolicy")(value)


_OPS_PARAM = Param("ops", "ops", [], "the ops inside this container", required=True)

_POLICY_COMMON = (_interp("nearest"), _fill(nullable=True))

REGISTRY: dict[str, OpDef] = {}


def _register(*defs: OpDef) -> None:
    for d in defs:
        REGISTRY[d.name] = d


_register(
    # geometric
    OpDef("Resize", "geometric", "resize to a size; one integer sets the shorter side", (
        Param("size", "resize", 256, "shorter side, or [height, width]; null with max_size", min=1, max=65535,
              required=True, nullable=True),
        _interp("bilinear"),
        Param("max_size", "int", None, "cap on the longer side after resizing", min=1, max=65535, nullable=True),
        _ANTIALIAS,
    ), finish=_check_resize, read={"size": lambda v: v[0] if v is not None and len(v) == 1 else v}),
    OpDef("CenterCrop", "geometric", "crop the center to a size (pads if smaller)",
          (_crop_size(),)),
    OpDef("RandomCrop", "geometric", "crop at a random position", (
        _crop_size(),
        Param("padding", "padding", None, "pad borders first, [left, top, right, bottom]", min=0, max=65535,
              nullable=True),
        Param("pad_if_needed", "bool", False, "pad when the image is smaller than size"),
        _fill(),
        Param("padding_mode", "choice", "constant", "how padding is filled",
              choices=("constant", "edge", "reflect", "symmetric")),
    ), read={"padding": _read_padding}),
    OpDef("RandomResizedCrop", "geometric",
          "crop a random area and aspect ratio, then resize", (
        _crop_size(),
        Param("scale", "range", [0.08, 1.0], "area of the crop as a fraction of the image", min=0.0, max=1.0),
        # torchvision draws log(ratio): 0 is refused (every image failed with "from is out of bounds")
        Param("ratio", "range", [3 / 4, 4 / 3], "aspect ratio (width / height) of the crop", min=0.01, max=100.0),
        _interp("bilinear"),
        _ANTIALIAS,
    ), read={"scale": _as_float_list, "ratio": _as_float_list}),
    OpDef("RandomHorizontalFlip", "geometric", "mirror left-right", (_p(),)),
    OpDef("RandomVerticalFlip", "geometric", "mirror top-bottom", (_p(),)),
    OpDef("RandomRotation", "geometric", "rotate by a random angle", (
        Param("degrees", "range", [-15.0, 15.0], "angle range in degrees", min=-360.0, max=360.0, scalar="sym",
              required=True),
        _interp("nearest"),
        Param("expand", "bool", False, "grow the canvas to hold the whole rotated image"),
        Param("center", "point", None, "rotation center [x, y] in pixels (null: image center)", nullable=True),
        _fill(),
    )),
    OpDef("RandomAffine", "geometric", "random rotation, translation, scale and shear", (
        Param("degrees", "range", [0.0, 0.0], "rotation range in degrees", min=-360.0, max=360.0, scalar="sym",
              required=True),
        Param("translate", "pair", None, "max shift as a fraction of [width, height]", min=0.0, max=1.0,
              nullable=True),
        Param("scale", "range", None, "scale factor range", min=0.01, max=100.0, nullable=True),
        Param("shear", "shear", None, "shear range in degrees", min=-360.0, max=360.0, nullable=True),
        _interp("nearest"),
        _fill(),
        Param("center", "point", None, "center [x, y] in pixels (null: image center)", nullable=True),
    ), read={"translate": _as_float_list, "scale": _as_float_list}),
    OpDef("RandomPerspective", "geometric", "random perspective distortion", (
        Param("distortion_scale", "float", 0.5, "strength of the distortion", min=0.0, max=1.0),
        _p(),
        _interp("bilinear"),
        _fill(),
    )),
    OpDef("ElasticTransform", "geometric", "random elastic (rubber sheet) distortion", (
        Param("alpha", "pair", [50.0, 50.0], "displacement strength along [x, y]", min=0.0, max=10000.0),
        Param("sigma", "pair", [5.0, 5.0], "smoothness of the displacement along [x, y]", min=0.0, max=1000.0),
        _interp("bilinear"),
        _fill(),
    )),
    # photometric
    OpDef("ColorJitter", "photometric", "random brightness, contrast, saturation and hue", (
        Param("brightness", "range", [1.0, 1.0], "brightness factor range (1: unchanged)", min=0.0, max=100.0,
              scalar="center1"),
        Param("contrast", "range", [1.0, 1.0], "contrast factor range (1: unchanged)", min=0.0, max=100.0,
              scalar="center1"),
        Param("saturation", "range", [1.0, 1.0], "saturation factor range (1: unchanged)", min=0.0, max=100.0,
              scalar="center1"),
        Param("hue", "range", [0.0, 0.0], "hue shift range, in turns (0: unchanged)", min=-0.5, max=0.5,
              scalar="sym"),
    ), read={k: _read_jitter(1.0) for k in ("brightness", "contrast", "saturation")} | {"hue": _read_jitter(0.0)}),
    OpDef("RandomGrayscale", "photometric", "convert to grayscale (keeps the channel count)",
          (_p(0.1),)),
    OpDef("GaussianBlur", "photometric", "blur with a random Gaussian sigma", (
        Param("kernel_size", "size", [5, 5], "odd kernel size, or [width, height]", min=1, max=255, required=True),
        Param("sigma", "range", [0.1, 2.0], "sigma range in pixels", min=0.001, max=100.0, scalar="same"),
    ), finish=_check_kernel, read={"kernel_size": list}),
    OpDef("GaussianNoise", "photometric", "add Gaussian noise (on a 0-1 intensity scale)", (
        Param("mean", "float", 0.0, "noise mean, as a fraction of full scale", min=-1.0, max=1.0),
        Param("sigma", "float", 0.1, "noise standard deviation, as a fraction of full scale", min=0.0, max=1.0),
        Param("clip", "bool", True, "clip to the valid range (false wraps uint8 values around)"),
    )),
    OpDef("RandomInvert", "photometric", "invert the colours", (_p(),)),
    OpDef("RandomPosterize", "photometric", "keep only the top bits of each channel", (
        Param("bits", "int", 4, "bits to keep per channel", min=0, max=8, required=True),
        _p(),
    )),
    OpDef("RandomSolarize", "photometric", "invert pixels above a threshold", (
        Param("threshold", "float", 128.0, "threshold on the 0-255 scale", min=0.0, max=255.0, required=True),
        _p(),
    )),
    OpDef("RandomAdjustSharpness", "photometric", "sharpen (>1) or soften (<1)", (
        Param("sharpness_factor", "float", 2.0, "0 blurs, 1 keeps, 2 doubles the sharpness", min=0.0, max=100.0,
              required=True),
        _p(),
    )),
    OpDef("RandomAutocontrast", "photometric", "stretch each channel to full range",
          (_p(),)),
    OpDef("RandomEqualize", "photometric", "equalize the histogram", (_p(),)),
    OpDef("JPEG", "photometric", "JPEG compress and decompress at a random quality", (
        Param("quality", "int_range", [75, 75], "JPEG quality range, 1-100", min=1, max=100, required=True),
    )),
    # policies
    OpDef("AutoAugment", "policy", "learned AutoAugment policy", (
        Param("policy", "choice", "imagenet", "which learned policy", choices=("imagenet", "cifar10", "svhn")),
        *_POLICY_COMMON,
    ), make={"policy": _policy}),
    OpDef("RandAugment", "policy", "num_ops random ops at a fixed magnitude", (
        Param("num_ops", "int", 2, "ops applied in a row", min=0, max=20),
        Param("magnitude", "int", 9, "magnitude bin of every op", min=0, max=100),
        Param("num_magnitude_bins", "int", 31, "number of magnitude bins", min=2, max=101),
        *_POLICY_COMMON,
    ), finish=_check_randaugment),
    OpDef("TrivialAugmentWide", "policy", "one random op at a random magnitude", (
        Param("num_magnitude_bins", "int", 31, "number of magnitude bins", min=2, max=101),
        *_POLICY_COMMON,
    )),
    OpDef("AugMix", "policy", "mix several random augmentation chains", (
        Param("severity", "int", 3, "magnitude bound of the base ops", min=1, max=10),
        Param("mixture_width", "int", 3, "number of chains", min=1, max=10),
        Param("chain_depth", "int", -1, "ops per chain (-1: random 1-3)", min=-1, max=10),
        Param("alpha", "float", 1.0, "Dirichlet/Beta concentration", min=0.01, max=100.0),
        Param("all_ops", "bool", True, "include brightness, contrast, color and sharpness"),
        _interp("bilinear"),
        _fill(nullable=True),
    )),
    # erasing
    OpDef("RandomErasing", "erasing", "erase a random rectangle", (
        _p(),
        Param("scale", "range", [0.02, 0.33], "erased area as a fraction of the image", min=0.0, max=1.0),
        Param("ratio", "range", [0.3, 3.3], "aspect ratio of the erased area", min=0.001, max=1000.0),
        Param("value", "erase_value", [0.0], "fill value(s) on the 0-255 scale, or 'random'", min=0, max=255),
    ), read={"scale": _as_float_list, "ratio": _as_float_list, "value": lambda v: "random" if v is None else v}),
    # containers
    OpDef("RandomApply", "container", "apply the ops in order, or none of them",
          (_OPS_PARAM, _p())),
    OpDef("RandomChoice", "container", "apply one op picked at random", (
        _OPS_PARAM,
        Param("p", "weights", None, "relative weight of each op (null: equal)", min=0.0, nullable=True),
    ), finish=_check_choice),
    OpDef("RandomOrder", "container", "apply all ops in a random order", (_OPS_PARAM,)),
)


# ---------------------------------------------------------------------------
# Public helpers.


def op_names() -> list[str]:
    """Registered op names, in registry order."""
    return list(REGISTRY)


def get_op(name: str, where: str = "ops") -> OpDef:
    """Return the registered op called ``name``.

    Raises:
        SpecError: unknown name; the message suggests the closest registered names.
    """
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise SpecError([_unknown_op_message(name, where)]) from None


def _unknown_op_message(name: Any, where: str) -> str:
    close = difflib.get_close_matches(str(name), REGISTRY, n=3, cutoff=0.5)
    if not close:
        lowered = {n.lower(): n for n in REGISTRY}
        close = [lowered[n] for n in difflib.get_close_matches(str(name).lower(), lowered, n=3, cutoff=0.5)]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{where}: unknown op {brief(name)}{hint} (see `augment ops` for all {len(REGISTRY)})"


MAX_NESTING = 10
"""How deep containers (``RandomApply``, ``RandomChoice``, ``RandomOrder``) may nest in
one another: deeper specs are refused with a message, not a ``RecursionError``."""


def canonical_op(entry: Any, where: str, problems: list[str], depth: int = 0) -> dict[str, dict[str, Any]] | None:
    """Validate one op entry of a spec and return it canonical: ``{Name: {param: value}}``.

    ``entry`` is ``{Name: {params}}``, ``{Name: null}`` or the bare string ``Name``.
    Problems are appended to ``problems`` (so every problem of a spec is reported at
    once); the return value is ``None`` when the entry is unusable. ``depth`` counts the
    containers around the entry (at most :data:`MAX_NESTING`).
    """
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, dict) or len(entry) != 1:
        problems.append(f"{where}: each op must be a mapping with one key, the op name (like "
                        f"'- RandomHorizontalFlip: {{p: 0.5}}'), got {brief(entry)}")
        return None
    (name, given), = entry.items()
    if name not in REGISTRY:
        problems.append(_unknown_op_message(name, where))
        return None
    op = REGISTRY[name]
    where = f"{where}.{name}"
    given = {} if given is None else given
    if not isinstance(given, dict):
        problems.append(f"{where}: parameters must be a mapping of field: value, got {brief(given)}")
        return None
    known = [p.name for p in op.params]
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{where}: unknown field {brief(key)}; {hint}allowed: {', '.join(known)}")
    out: dict[str, Any] = {}
    before = len(problems)
    for p in op.params:
        if p.name not in given:
            if p.required:
                problems.append(f"{where}.{p.name}: required; {p.help}; {p.describe()}")
                continue
            out[p.name] = _copy(p.default)
            continue
        value = given[p.name]
        if p.kind == "ops":
            if not isinstance(value, list) or not value:
                problems.append(f"{where}.ops: must be {p.describe()}, got {brief(value)}")
                continue
            if depth + 1 > MAX_NESTING:
                problems.append(f"{where}.ops: containers nest more than {MAX_NESTING} deep; at most {MAX_NESTING} "
                                "containers may hold one another (flatten the spec)")
                continue
            children = [canonical_op(c, f"{where}.ops[{i}]", problems, depth + 1) for i, c in enumerate(value)]
            out["ops"] = children
            continue
        try:
            out[p.name] = canonical_value(p, value)
        except BadValue as e:
            problems.append(f"{where}.{p.name}: {e}: must be {p.describe()}, got {brief(value)}")
    if len(problems) == before and op.finish is not None:
        problems.extend(f"{where}.{msg}" for msg in op.finish(out))
    return {name: out} if len(problems) == before else None


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def build_transform(op: dict[str, dict[str, Any]], children: list[v2.Transform] | None = None) -> v2.Transform:
    """Build the torchvision transform of one canonical op.

    Args:
        op: a canonical op, ``{Name: {param: value}}``.
        children: for a container, its already built children (default: built here
            from ``params["ops"]``).
    """
    (name, params), = op.items()
    opdef = REGISTRY[name]
    kwargs = {k: opdef.make[k](v) if k in opdef.make else v for k, v in params.items() if k != "ops"}
    if opdef.is_container:
        kwargs["transforms"] = children if children is not None else [build_transform(c) for c in params["ops"]]
    return opdef.cls(**kwargs)


def extract_params(transform: v2.Transform) -> dict[str, dict[str, Any]]:
    """Read a built transform back into a canonical op (the inverse of :func:`build_transform`)."""
    name = type(transform).__name__
    opdef = REGISTRY[name]
    out: dict[str, Any] = {}
    for p in opdef.params:
        if p.kind == "ops":
            out["ops"] = [extract_params(t) for t in transform.transforms]
            continue
        raw = getattr(transform, p.name)
        reader = opdef.read.get(p.name)
        value = reader(raw) if reader else to_json(raw)
        if p.kind in ("float", "range", "pair", "point", "shear") and value is not None:
            value = float(value) if p.kind == "float" else [float(v) for v in value]
        out[p.name] = to_json(value)
    return {name: out}


_JSON_SCALARS = frozenset({int, float, str, bool})


def to_json(value: Any, max_elems: int = 64) -> Any:
    """Convert transform attributes and sampled params to plain JSON values.

    Tensors with more than ``max_elems`` elements (an elastic displacement field, a
    random erasing patch) are summarised by shape, dtype and a SHA-256 of their bytes,
    which identifies them without bloating the manifest.
    """
    if value is None or type(value) in _JSON_SCALARS:  # most values: no isinstance chain
        return value
    torch = sys.modules.get("torch")  # a tensor means torch is imported: never import it here
    if torch is not None and isinstance(value, torch.Tensor):
        if value.numel() <= max_elems:
            return to_json(value.tolist())
        import hashlib

        digest = hashlib.sha256(value.detach().contiguous().cpu().numpy().tobytes()).hexdigest()
        return {"tensor": list(value.shape), "dtype": str(value.dtype).removeprefix("torch."), "sha256": digest}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_json(v, max_elems) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v, max_elems) for k, v in value.items()}
    return value
