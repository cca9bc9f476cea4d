"""Pipeline specs: load, validate, normalise, dump; presets.

A spec is YAML or JSON::

    version: 1          # format version (required)
    seed: 1234          # the root of all randomness of a job
    copies: 2           # augmented variants per input image
    output: {format: same, quality: 95}
    kernels: fast       # or torchvision: see below
    input: {exclude: ["*.json"]}   # optional: which files under the input are inputs
    annotations: {mode: drop, min_visibility: 0.3}   # optional: labels that leave the image
    ops:
      - RandomResizedCrop: {size: [224, 224], scale: [0.5, 1.0]}
      - RandomHorizontalFlip: {p: 0.5}

:func:`load_spec` validates everything before any image is read and raises
:class:`~augment.errors.SpecError` listing every problem with its field path.
The canonical (normalised) form has every default filled in; ``Spec.to_dict()`` returns
it, and ``load_spec(spec.to_dict()) == spec``.

``kernels`` chooses how the ops' pixels are computed; the parameters torchvision draws
are the same either way. ``fast`` (the default) runs the pipeline on PIL images with
the fastest kernel per op (see :mod:`augment.kernels`, whose differences from
torchvision's tensor kernels are bounded by tests). ``torchvision`` runs every op's own
uint8 tensor kernel, the reference. The choice is part of the spec (and its digest)
because it changes output bytes.

``input`` chooses which files under the input root are inputs: ``include`` and
``exclude`` globs matched on each file's path relative to the root (see
:class:`InputOptions`); :data:`DEFAULT_EXCLUDES` (operating-system junk) is always
excluded too. It appears in the canonical form only when it holds a pattern, and it is
not part of the digest: it picks which outputs a job makes, never what an output's
bytes are, so a replay may name other filters than the job started with (a resume may
not: it would make one job of two input sets, and the engine refuses it).

``annotations`` says what becomes of labelled objects (a job given ``annotations=``) that
the ops move partly or wholly out of the image (see :class:`AnnotationOptions`, carried
as :class:`~augment.labels.follow.LabelRules`). It appears in the canonical form, and so
in the digest, only when it differs from the defaults: it changes the labels written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from augment.errors import SpecError
from augment.limits import MAX_COPIES, MAX_SEED
from augment.ops import canonical_op
from augment.spec_annotations import AnnotationOptions, parse_annotations
from augment.text import brief

SPEC_VERSION = 1
FORMATS = ("same", "jpeg", "png", "webp")
MAX_SIDE = {"jpeg": 65_500, "webp": 16_383}
"""The longest side each output format can hold (PNG's limit, 2**31 - 1, is never near)."""
_TOP_KEYS = ("version", "seed", "copies", "output", "kernels", "input", "annotations", "ops")
KERNELS = ("fast", "torchvision")
_OUTPUT_KEYS = ("format", "quality", "keep_original")
_INPUT_KEYS = ("include", "exclude")
DEFAULT_EXCLUDES = (
    ".DS_Store", "._*", ".AppleDouble/", "__MACOSX/", ".Spotlight-V100/", ".Trashes/", ".fseventsd/",  # macOS
    "Thumbs.db", "ehthumbs.db", "desktop.ini", "Desktop.ini", "$RECYCLE.BIN/",  # Windows
    ".Trash-*/", ".directory",  # Linux desktops
    "_SUCCESS", ".ipynb_checkpoints/",  # Hadoop/Spark markers, Jupyter
)
"""Operating-system and tool junk, excluded from every job's inputs (see
:class:`InputOptions`). Never an image format, ``*.json`` or ``*.txt``: sidecar and
checksum files are excluded by the user's ``input.exclude`` (``--exclude``), so nothing
that could be an input disappears without being asked for."""


def glob_matches(rel: str, pattern: str) -> bool:
    """Whether an input's relative path (POSIX separators) matches a glob.

    ``*``, ``?`` and ``[...]`` as in :mod:`fnmatch`, case-sensitive, and ``*`` also
    matches ``/``: ``raw/*`` is everything under ``raw/``, ``*.json`` every JSON file at
    any depth. A pattern without ``/`` also matches the file's name alone
    (``.DS_Store`` in any folder). A pattern ending in ``/`` matches folders: everything
    under any folder of that name (``.ipynb_checkpoints/``), or under that path
    (``raw/tmp/``).
    """
    if pattern.endswith("/"):
        folder = pattern.rstrip("/")
        return fnmatchcase(rel, folder + "/*") or (
            "/" not in folder and any(fnmatchcase(part, folder) for part in rel.split("/")[:-1]))
    return fnmatchcase(rel, pattern) or ("/" not in pattern and fnmatchcase(rel.rpartition("/")[2], pattern))


@dataclass(frozen=True)
class InputOptions:
    """Which files under the input root are inputs (the spec's ``input`` section).

    A file is an input when it matches an ``include`` pattern (or there are none), and
    neither an ``exclude`` pattern nor one of :data:`DEFAULT_EXCLUDES`. Patterns match
    the path relative to the input root, as :func:`glob_matches` describes.

    Attributes:
        include: globs; when any are given, only matching files are inputs.
        exclude: globs of files that are not inputs (on top of the defaults).
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def excluded_by(self, rel: str) -> tuple[str, str | None] | None:
        """Why ``rel`` is not an input: ``("exclude", pattern)``, ``("default",
        pattern)`` or ``("include", None)`` (no include pattern matched); ``None`` when
        it is an input."""
        for pattern in self.exclude:
            if glob_matches(rel, pattern):
                return "exclude", pattern
        for pattern in DEFAULT_EXCLUDES:
            if glob_matches(rel, pattern):
                return "default", pattern
        if self.include and not any(glob_matches(rel, pattern) for pattern in self.include):
            return "include", None
        return None

    def to_dict(self) -> dict[str, list[str]]:
        return {"include": list(self.include), "exclude": list(self.exclude)}


@dataclass(frozen=True)
class OutputOptions:
    """How augmented images are encoded.

    Attributes:
        format: ``same`` (JPEG, PNG and WebP inputs keep their format; everything
            else becomes PNG), ``jpeg``, ``png`` or ``webp``.
        quality: JPEG/WebP quality, 1-100 (ignored for PNG, which is lossless).
        keep_original: also copy each input, byte for byte, next to its augmented
            copies (as ``<name>.orig.<ext>``).
    """

    format: str = "same"
    quality: int = 95
    keep_original: bool = False


@dataclass(frozen=True)
class Spec:
    """A validated, canonical pipeline spec. Build one with :func:`load_spec`."""

    version: int
    seed: int
    copies: int
    output: OutputOptions
    ops: tuple[dict[str, dict[str, Any]], ...]
    kernels: str = "fast"
    input: InputOptions = field(default_factory=InputOptions)
    annotations: AnnotationOptions = field(default_factory=AnnotationOptions)

    def to_dict(self) -> dict[str, Any]:
        """The canonical spec as plain data (every default filled in; ``input`` only
        when it holds a pattern)."""
        data = {
            "version": self.version,
            "seed": self.seed,
            "copies": self.copies,
            "output": {"format": self.output.format, "quality": self.output.quality,
                       "keep_original": self.output.keep_original},
            "kernels": self.kernels,
        }
        if self.input != InputOptions():
            data["input"] = self.input.to_dict()
        if self.annotations != AnnotationOptions():
            data["annotations"] = self.annotations.to_dict()
        data["ops"] = json.loads(json.dumps(list(self.ops)))
        return data

    def to_yaml(self) -> str:
        """The canonical spec as YAML (op order and parameter order kept)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical spec; equal digests mean equal outputs.

        ``input`` is left out: which files are inputs changes which outputs a job
        makes, never an output's bytes."""
        data = {k: v for k, v in self.to_dict().items() if k != "input"}
        canon = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def replace(self, **changes: Any) -> Spec:
        """A copy with top-level fields changed, validated again."""
        data = self.to_dict()
        for key, value in changes.items():
            if key in _OUTPUT_KEYS:
                data["output"][key] = value
            else:
                data[key] = value
        return load_spec(data)


def _int_field(data: dict[str, Any], key: str, default: int | None, lo: int, hi: int, problems: list[str]) -> int:
    value = data.get(key, default)
    if value is None:
        problems.append(f"{key}: required; an integer in [{lo}, {hi}]")
        return lo
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        problems.append(f"{key}: must be an integer in [{lo}, {hi}], got {brief(value)}")
        return lo
    return value


def _output(data: Any, problems: list[str]) -> OutputOptions:
    if data is None:
        return OutputOptions()
    if not isinstance(data, dict):
        problems.append(f"output: must be a mapping like {{format: jpeg, quality: 90}}, got {brief(data)}")
        return OutputOptions()
    for key in data:
        if key not in _OUTPUT_KEYS:
            problems.append(f"output: unknown field {brief(key)}; allowed: {', '.join(_OUTPUT_KEYS)}")
    fmt = data.get("format", "same")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        problems.append(f"output.format: must be one of {', '.join(FORMATS)}, got {brief(fmt)}")
        fmt = "same"
    quality = _int_field({"output.quality": data.get("quality", 95)}, "output.quality", 95, 1, 100, problems)
    keep = data.get("keep_original", False)
    if not isinstance(keep, bool):
        problems.append(f"output.keep_original: must be true or false, got {brief(keep)}")
        keep = False
    return OutputOptions(fmt.lower(), quality, keep)


def _input(data: Any, problems: list[str]) -> InputOptions:
    if data is None:
        return InputOptions()
    if not isinstance(data, dict):
        problems.append(f"input: must be a mapping like {{exclude: ['*.json']}}, got {brief(data)}")
        return InputOptions()
    for key in data:
        if key not in _INPUT_KEYS:
            problems.append(f"input: unknown field {brief(key)}; allowed: {', '.join(_INPUT_KEYS)}")
    lists = {}
    for key in _INPUT_KEYS:
        value = data.get(key) or []
        if not isinstance(value, list):
            problems.append(f"input.{key}: must be a list of globs like ['*.jpg', 'raw/*'], got {brief(value)}")
            value = []
        good = []
        for i, pattern in enumerate(value):
            if not isinstance(pattern, str) or not pattern.strip("/"):
                problems.append(f"input.{key}[{i}]: must be a non-empty glob string, got {brief(pattern)}")
            elif pattern.startswith("/"):
                problems.append(f"input.{key}[{i}]: {brief(pattern)} starts with '/'; patterns match the path relative "
                                "to the input root (write it without the leading '/')")
            elif pattern not in good:
                good.append(pattern)
        lists[key] = tuple(good)
    return InputOptions(**lists)


def parse_spec(data: Any, source: str | None = None) -> Spec:
    """Validate spec data (already parsed from YAML/JSON) into a canonical :class:`Spec`.

    Raises:
        SpecError: with every problem found, each naming its field.
    """
    if isinstance(data, Spec):
        return data
    try:
        return _parse_spec(data, source)
    except RecursionError:  # a value nested hundreds deep (the ops themselves are capped)
        raise SpecError([f"nested too deeply (at most {MAX_YAML_DEPTH} levels)"], source) from None


def _parse_spec(data: Any, source: str | None) -> Spec:
    if not isinstance(data, dict):
        raise SpecError([f"the spec must be a mapping with {', '.join(_TOP_KEYS)}, got {type(data).__name__}"],
                        source)
    problems: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{key}: unknown top-level field; allowed: {', '.join(_TOP_KEYS)}")
    if "version" not in data:
        problems.append(f"version: required; this kit reads version {SPEC_VERSION}")
    elif isinstance(data["version"], bool) or data["version"] != SPEC_VERSION:  # True == 1 in Python
        problems.append(f"version: this kit reads version {SPEC_VERSION}, got {brief(data['version'])}")
    seed = _int_field(data, "seed", 0, 0, MAX_SEED, problems)
    copies = _int_field(data, "copies", 1, 1, MAX_COPIES, problems)
    output = _output(data.get("output"), problems)
    inputs = _input(data.get("input"), problems)
    annotations = parse_annotations(data.get("annotations"), problems)
    kernels = data.get("kernels", "fast")
    if kernels not in KERNELS:
        problems.append(f"kernels: must be one of {', '.join(KERNELS)}, got {brief(kernels)}")
    raw_ops = data.get("ops")
    ops: list[dict[str, dict[str, Any]]] = []
    if raw_ops is None:
        problems.append("ops: required; a list of ops (an empty list only re-encodes)")
    elif not isinstance(raw_ops, list):
        problems.append(f"ops: must be a list of ops, got {type(raw_ops).__name__}")
    else:
        for i, entry in enumerate(raw_ops):
            op = canonical_op(entry, f"ops[{i}]", problems)
            if op is not None:
                ops.append(op)
    if not problems:
        problems.extend(_too_large(ops, output.format))
    if problems:
        raise SpecError(problems, source)
    return Spec(SPEC_VERSION, seed, copies, output, tuple(ops), kernels, inputs, annotations)


_SIZED = ("Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop")


def _too_large(ops: list[dict[str, dict[str, Any]]], fmt: str) -> list[str]:
    """The problem when every output would be too large for the output format: the last
    top-level op that sets the size sets a side over :data:`MAX_SIDE` (ops after it keep or
    grow the size; ops inside a container may not run, so they are not counted). Under
    ``same`` the format is the input's, so each such output fails alone, naming the cause."""
    limit = MAX_SIDE.get(fmt)
    last: tuple[int, str, int] | None = None
    for i, op in enumerate(ops):
        (name, params), = op.items()
        if name in _SIZED:
            size = params["size"]
            side = max(size) if isinstance(size, list) else size  # Resize's one integer: the shorter side
            last = (i, name, side) if side is not None else None  # Resize(null, max_size) is capped
        elif "ops" in params and any(next(iter(c)) in _SIZED for c in _walk(params["ops"])):
            last = None  # a container may shrink it
    if limit is None or last is None or last[2] <= limit:
        return []
    i, name, side = last
    return [f"ops[{i}].{name}.size: every output would be {side:,} px or more on a side; {fmt.upper()} holds at most "
            f"{limit:,} (make the size smaller, or write format: png)"]


def _walk(ops: list[dict[str, dict[str, Any]]]) -> list[dict[str, dict[str, Any]]]:
    out = []
    for op in ops:
        out.append(op)
        params = next(iter(op.values()))
        if "ops" in params:
            out.extend(_walk(params["ops"]))
    return out


def load_spec(spec: str | Path | dict[str, Any] | Spec) -> Spec:
    """Load and validate a spec.

    Args:
        spec: a :class:`Spec`, spec data (a dict), a path to a ``.yaml``/``.yml``/
            ``.json`` file, or the name of a shipped preset (``light``, ``strong``,
            ``defense``; see :func:`list_presets`).

    Returns:
        The canonical spec.

    Raises:
        SpecError: the spec is invalid, unreadable or not found.
    """
    if isinstance(spec, (Spec, dict)):
        return parse_spec(spec)
    from augment.storage import expand

    path = Path(expand(spec))  # "~/my.yaml": the home folder's
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except (OSError, ValueError) as e:  # a name too long for the file system, a NUL byte
        raise SpecError([f"cannot read {brief(str(spec))} as a spec file: {getattr(e, 'strerror', None) or e}"],
                        brief(str(spec))) from None
    if not is_file:
        if str(spec) in list_presets():
            return load_preset(str(spec))
        if is_dir:
            raise SpecError([f"{brief(str(spec))} is a folder, not a spec file: name the .yaml, .yml or .json file "
                             f"in it, or a preset ({', '.join(list_presets())})"], str(spec))
        raise SpecError([f"no such spec file, and no preset named {brief(str(spec))}; "
                         f"presets: {', '.join(list_presets())}"], str(spec))
    return parse_spec(_parse_text(_read_text(path), path.name), str(path))


MAX_SPEC_BYTES = 1_000_000
"""The largest spec file read (a spec is a few hundred bytes; the largest preset ~2 KB)."""
MAX_YAML_DEPTH = 64
"""How deep YAML/JSON mappings and lists may nest in a spec file (containers of ops nest
3 levels each; see :data:`augment.ops.MAX_NESTING`)."""


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError([f"the file is {size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,} bytes "
                             "(is this the right file?)"], str(path))
        data = path.read_bytes()[:MAX_SPEC_BYTES + 1]  # a file that grew since stat() is cut, then refused
    except OSError as e:
        raise SpecError([f"cannot read the file: {e.strerror or e}"], str(path)) from None
    return _decode(data, str(path))


def _decode(data: bytes, name: str) -> str:
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([f"the file is over {MAX_SPEC_BYTES:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}"],
                        name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SpecError([f"the file is not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}); "
                         "save it as UTF-8"], name) from None


def spec_from_bytes(data: bytes, name: str) -> Spec:
    """The spec in a file's bytes read from elsewhere (an output's ``_augment/spec.yaml`` on
    S3), with every check :func:`load_spec` makes of a file: size, UTF-8, no aliases, no
    duplicate keys, depth. ``name`` names it in errors (its suffix picks JSON or YAML).

    Raises:
        SpecError: the bytes hold no valid spec.
    """
    return parse_spec(_parse_text(_decode(data, name), name), name)


class YAMLRefused(ValueError):
    """YAML text that :func:`load_yaml_strict` refuses; the message says where and why
    (``line 3, column 1: duplicate key 'x'; give each field once``)."""


class _Refused(Exception):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, mark


class _SpecLoader(yaml.SafeLoader):
    """YAML's safe loader, stricter where a spec could explode or mislead.

    * aliases (``*name``) are refused: expanding them is how a few hundred bytes become
      gigabytes ("billion laughs"), and a spec has no need for them;
    * nesting is capped at :data:`MAX_YAML_DEPTH` (deeper specs would hit Python's
      recursion limit);
    * a key given twice in one mapping is refused (YAML's loader keeps the last one
      silently, hiding an edit that does nothing).
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(f"an alias (*{event.anchor}); aliases are not allowed, write the value out",
                           event.start_mark)
        if self._depth >= MAX_YAML_DEPTH:
            raise _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: the base class says so
                    continue
                if duplicate:
                    raise _Refused(f"duplicate key {brief(key)}; give each field once", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def load_yaml_strict(text: str) -> Any:
    """YAML text read as strictly as a spec file: YAML's safe loader that also refuses
    aliases, a key given twice in one mapping, and nesting deeper than
    :data:`MAX_YAML_DEPTH` (a spec, a sweep's grid, a ``-p`` value).

    Raises:
        YAMLRefused: its message says where and why, for the caller to put after the
            name of what it read (``--grid g.yaml: line 3, column 1: duplicate key 'x'; ...``).
    """
    try:
        return yaml.load(text, Loader=_SpecLoader)
    except _Refused as e:
        raise YAMLRefused(f"line {e.mark.line + 1}, column {e.mark.column + 1}: {e.problem}") from None
    except RecursionError:
        raise YAMLRefused(f"nested too deeply (at most {MAX_YAML_DEPTH} levels)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise YAMLRefused(f"not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None


def _parse_text(text: str, name: str) -> Any:
    try:
        if name.endswith(".json"):
            return json.loads(text, object_pairs_hook=_json_object)
        return load_yaml_strict(text)
    except json.JSONDecodeError as e:
        raise SpecError([f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"], name) from None
    except YAMLRefused as e:
        raise SpecError([str(e)], name) from None
    except _DuplicateKey as e:
        raise SpecError([f"duplicate key {brief(e.args[0])}; give each field once"], name) from None
    except RecursionError:
        raise SpecError([f"nested too deeply (at most {MAX_YAML_DEPTH} levels)"], name) from None


def dump_spec(spec: Spec, path: str | Path) -> Path:
    """Write the canonical spec to ``path`` (JSON if it ends in ``.json``, else YAML), atomically.

    Raises:
        UsageError: ``cannot write PATH: reason`` (see :func:`augment.files.write_output`).
    """
    from augment.files import write_output
    from augment.storage import expand

    path = Path(expand(path))  # "~/spec.yaml" is the home folder's, not a folder "~" here
    return write_output(path, spec.to_json() if path.suffix == ".json" else spec.to_yaml())


# ---------------------------------------------------------------------------
# Presets ship as YAML files inside the package.


def list_presets() -> list[str]:
    """Names of the presets that ship with the package."""
    folder = resources.files("augment") / "presets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML text of a preset, with its comments.

    Raises:
        SpecError: no such preset.
    """
    if name not in list_presets():
        raise SpecError([f"no preset named {name!r}; presets: {', '.join(list_presets())}"])
    return (resources.files("augment") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")


def load_preset(name: str) -> Spec:
    """Load a shipped preset by name."""
    return parse_spec(yaml.safe_load(preset_text(name)), f"preset {name!r}")
