"""The job options of ``augment process`` (``--copies``, ``--quality``, ``--max-error-rate``...).

One table (:data:`OPTIONS`: name, flag, type, default, help, check) generates the
``argparse`` options of ``augment process`` (which applies them) and ``augment run``, the
container arguments every job gets (:func:`process_arguments`, for
:func:`augment.jobs.build_request`) and the job's reading of them back
(:func:`parse_job_arguments`). A launcher checks them here, before any request is sent,
with the very rules the job applies. The command line imports this module, never the
reverse.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from augment.errors import SpecError, UsageError
from augment.limits import MAX_COPIES, MAX_SEED  # a spec's limits too (augment.limits, below both)
from augment.text import brief

if TYPE_CHECKING:  # the command line imports this module to build its parser: no spec machinery for --help
    from augment.spec import Spec


def flag(name: str) -> str:
    """The command-line flag of an option: ``keep_original`` -> ``--keep-original``."""
    return "--" + name.replace("_", "-")


def number_range(*, min: float | None = None, max: float | None = None, integer: bool = False,
                 above: float | None = None, kind: bool = True) -> str:
    """The numbers :func:`check_number` accepts, in words: ``a whole number >= 1``,
    ``a finite number in [0, 1]``, ``a finite number > 0``; without ``kind``, the range
    alone (``>= 1``, ``in [0, 1]``)."""
    def shown(bound: float) -> str:
        return str(bound) if isinstance(bound, int) else f"{bound:g}"

    words = ["a whole number" if integer else "a finite number"] if kind else []
    if min is not None and max is not None and above is None:
        words.append(f"in [{shown(min)}, {shown(max)}]")
    else:
        low = f"> {shown(above)}" if above is not None else None if min is None else f">= {shown(min)}"
        words.append(" and ".join(b for b in (low, None if max is None else f"<= {shown(max)}") if b))
    return " ".join(w for w in words if w) or "a number"


def _number_problem(value: Any, min: float | None, max: float | None, integer: bool,
                    above: float | None) -> str | None:
    """What is wrong with ``value`` as such a number, or ``None``: the range alone when only
    the range is wrong (``>= 1``), with the kind when the kind is (``a whole number >= 1``)."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not (whole or (not integer and isinstance(value, float) and math.isfinite(value))):
        return number_range(min=min, max=max, integer=integer, above=above)
    # ints compare with the bounds exactly (math.isfinite(10**400) would overflow)
    if (min is not None and value < min) or (max is not None and value > max) or (above is not None and value <= above):
        return number_range(min=min, max=max, integer=integer, above=above, kind=False)
    return None


def check_number(name: str, value: Any, *, min: float | None = None, max: float | None = None,
                 integer: bool = False, above: float | None = None) -> Any:
    """``value`` when it is a finite number in range, else a :class:`UsageError` naming ``name``.

    The one check of every number option of the kit (the command's flags through
    :func:`number`, and the library's parameters of the same meaning): ``nan`` compares
    false with everything, so an unchecked ``nan`` limit turns its guard off, and ``inf``
    reaches JSON as ``Infinity``, which strict readers refuse.

    Args:
        name: the parameter (``max_cost``), or a field where a file is blamed.
        min, max: inclusive bounds; ``None`` for none.
        integer: a whole number (``int``, not ``bool``) is required.
        above: an exclusive lower bound (``> 0``).

    Returns:
        ``value`` unchanged (an ``int`` given for a float parameter stays an ``int``).

    Raises:
        UsageError: ``max_cost=nan: must be a finite number >= 0``: not a number, not
            finite, not whole where ``integer``, or out of range.
    """
    problem = _number_problem(value, min, max, integer, above)
    if problem is not None:
        raise UsageError(number_refused(name, value, problem))
    return value


def number_refused(name: str, value: Any, problem: str) -> str:
    """The refusal of ``value`` for ``name``: ``max_cost=nan: must be a finite number >= 0``
    (a parameter, which the command line names by its flag), or ``name must be ..., got v``
    where ``name`` is not one (a field of a file)."""
    if name.isidentifier():
        return f"{name}={brief(value)}: must be {problem}"
    return f"{name} must be {problem}, got {brief(value)}"


def check_float(name: str, value: Any, *, min: float | None = None, max: float | None = None,
                integer: bool = False, above: float | None = None, what: str = "") -> Any:
    """:func:`check_number` for a figure that is computed with as a ``float`` (a cost, a
    rate, a count the arithmetic divides): ``value`` as a ``float`` (an ``int`` with
    ``integer``), refused when no ``float`` holds it (``10**400``, which the arithmetic
    would raise ``OverflowError`` on).

    Args:
        what: the unit, after the range in the message (`` seconds``).

    Raises:
        UsageError: as :func:`check_number`, naming ``name``; or too large for a number.
    """
    problem = _number_problem(value, min, max, integer, above)
    if problem is None:
        try:
            as_float = float(value)
        except OverflowError:
            problem = number_range(min=min, max=max, integer=integer, above=above) + " that fits a float"
        else:
            return value if integer else as_float
    raise UsageError(number_refused(name, value, problem + what))


def number(*, min: float | None = None, max: float | None = None, integer: bool = False,
           above: float | None = None) -> Callable[[str], Any]:
    """An argparse ``type`` for a number option: finite, in range, whole where ``integer``.

    argparse names the flag: ``argument --max-cost: must be a finite number >= 0, got nan``
    (exit status 2). ``nan``, ``inf`` and ``1e999`` are refused, as are numbers too long to read.
    """
    def parse(text: str) -> Any:
        try:
            value: Any = int(text) if integer else float(text)
        except (ValueError, OverflowError):  # int('9' * 5000) is a ValueError of its own wording
            raise argparse.ArgumentTypeError(f"must be {number_range(min=min, max=max, integer=integer, above=above)}"
                                             f", got {brief(text)}") from None
        problem = _number_problem(value, min, max, integer, above)
        if problem is not None:
            shown = brief(value) if integer else format(value, "g")
            raise argparse.ArgumentTypeError(f"must be {problem}, got {shown}")
        return value

    parse.__name__ = "whole number" if integer else "number"  # argparse's wording, should it ever name the type
    return parse


def check_max_error_rate(value: Any) -> float:
    """``--max-error-rate``: the share of inputs that may fail, in [0, 1].

    Raises:
        UsageError: not a number in [0, 1].
    """
    problem = _number_problem(value, 0, 1, False, None)
    if problem is not None:
        raise UsageError(f"max_error_rate={brief(value)}: must be {problem} (a share of the inputs: 0.01 is 1%)")
    return float(value)


def check_max_pixels(value: Any) -> int:
    """``--max-pixels``: a whole number >= 1.

    Raises:
        UsageError: anything else.
    """
    return check_number("max_pixels", value, min=1, integer=True)


def _globs(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or \
            not all(isinstance(g, str) and g for g in value):
        raise UsageError(f"{name}={brief(value)}: expected a list of glob patterns (non-empty strings)")
    return tuple(value)


@dataclass(frozen=True)
class JobOption:
    """One job option: what generates its ``argparse`` option (of ``augment process`` and
    ``augment run``), its container argument and its ``launch()`` keyword.

    Attributes:
        name: the keyword (``keep_original``); the flag is :func:`flag` of it.
        help: the ``--help`` text.
        kind: ``value`` (``--copies 2``), ``bool`` (``--keep-original`` /
            ``--no-keep-original``) or ``globs`` (repeatable, ``--include=GLOB`` each).
        type: the argparse ``type`` of a value (a :func:`number`), ``None`` for text.
        choices: the values a text option takes.
        check: the library's check of a keyword's value (returns it as passed on), where
            the spec does not check it (:func:`apply_overrides`); ``None``: the spec does.
        spec: the option overrides the spec's field of its name.
        default: the value when not given (``None``: the spec's or the job's default).
        metavar: the value's name in ``--help``.
    """

    name: str
    help: str
    kind: str = "value"
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], Any] | None = None
    spec: bool = False
    default: Any = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        """``--keep-original``."""
        return flag(self.name)

    def add_to(self, parser: Any) -> None:
        """Add this option to an ``argparse`` parser or argument group."""
        if self.kind == "bool":
            parser.add_argument(self.flag, action=argparse.BooleanOptionalAction, default=self.default,
                                help=self.help)
        elif self.kind == "globs":
            parser.add_argument(self.flag, action="append", default=self.default, metavar=self.metavar or "GLOB",
                                help=self.help)
        else:
            extra: dict[str, Any] = {"choices": self.choices} if self.choices else {"type": self.type}
            if self.metavar:
                extra["metavar"] = self.metavar
            parser.add_argument(self.flag, default=self.default, help=self.help, **extra)

    def arguments(self, value: Any) -> list[str]:
        """The container arguments of ``value`` (not ``None``), checked."""
        if self.check is not None:
            value = self.check(value)
        if self.kind == "globs":  # one argument each: a glob that starts with '-' stays a value
            return [f"{self.flag}={glob}" for glob in _globs(self.name, value)]
        if self.kind == "bool":
            return [self.flag if value else "--no-" + self.flag[2:]]
        return [self.flag, str(value)]


ANNOTATION_FORMATS = ("coco", "yolo", "voc", "groundtruth", "masks")
"""The formats ``annotation_format=`` names (:data:`augment.labels.formats.FORMATS`, without its imports)."""


def check_annotations(value: Any, name: str = "annotations") -> str:
    """``value`` when it can name annotations (a non-empty string on one line), else a
    :class:`UsageError` naming the parameter (``annotations``, or ``masks``)."""
    if not isinstance(value, str) or not value.strip() or "\n" in value or "\x00" in value:
        raise UsageError(f"{name}={brief(value)}: must be a path or URI (one line, not empty)")
    return value


def check_masks(value: Any) -> str:
    """``masks=``: as :func:`check_annotations`, naming ``masks``."""
    return check_annotations(value, "masks")


def masks_as_annotations(options: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The ``(annotations, annotation_format)`` job options say, ``masks=DIR`` read as what it
    means: ``annotations=DIR, annotation_format='masks'`` (semantic PNG masks mirroring the
    images' paths).

    Raises:
        UsageError: ``masks=`` with ``annotations=`` (both name the annotations), or with
            another ``annotation_format=``.
    """
    masks, annotations, fmt = options.get("masks"), options.get("annotations"), options.get("annotation_format")
    if masks is None:
        return annotations, fmt
    masks = check_masks(masks)
    if annotations is not None:
        raise UsageError(f"masks={masks} and annotations={annotations}: both name the annotations; pass one "
                         "(masks=DIR is annotations=DIR with annotation_format='masks')")
    if fmt not in (None, "masks"):
        raise UsageError(f"masks={masks} and annotation_format={fmt!r}: masks= are semantic PNG masks; pass "
                         f"annotations= for {fmt} labels")
    return masks, "masks"


# The one table of job options, in the order of the container arguments.
OPTIONS: tuple[JobOption, ...] = (
    JobOption("seed", "override the spec's seed", type=number(min=0, max=MAX_SEED, integer=True), spec=True),
    JobOption("copies", "override the spec's copies per input", type=number(min=1, max=MAX_COPIES, integer=True),
              spec=True),
    JobOption("format", "override the spec's output format (same: JPEG/PNG/WebP keep theirs, others become PNG)",
              choices=("same", "jpeg", "png", "webp"), spec=True),
    JobOption("quality", "override the spec's JPEG/WebP quality (1-100)", type=number(min=1, max=100, integer=True),
              spec=True),
    JobOption("keep_original", "also copy each input, unchanged, next to its copies as <name>.orig.<ext> (default: "
                               "the spec's output.keep_original)", kind="bool", spec=True),
    JobOption("kernels", "override the spec's kernels: fast (default; PIL kernels and reduced JPEG decoding, "
                         "within tested bounds of torchvision) or torchvision (its uint8 tensor kernels, the "
                         "reference); the parameters drawn are the same", choices=("fast", "torchvision"), spec=True),
    JobOption("max_pixels", "refuse inputs whose header claims more pixels than this, without decoding them "
                            "(default: 100000000)", type=number(min=1, integer=True),
              check=check_max_pixels),
    JobOption("max_error_rate", "fail the job (exit 1) when more than this share of inputs fail (default: 0.01)",
              type=number(min=0, max=1), check=check_max_error_rate),
    JobOption("include", "only files whose path relative to the input matches are inputs (repeatable; added to "
                         "the spec's input.include). '*' also matches '/'; a pattern without '/' also matches the "
                         "file name alone", kind="globs"),
    JobOption("exclude", "files that match are not inputs, e.g. '*.json' sidecars (repeatable; added to the spec's "
                         "input.exclude). Operating-system junk (.DS_Store, Thumbs.db, _SUCCESS...) is always "
                         "excluded; every excluded file is listed in _augment/excluded-<host>.jsonl", kind="globs"),
    JobOption("annotations", "the inputs' labels, moved with their pixels and written in their format: a COCO "
                             ".json, 'yolo' (the input is a YOLO tree), a VOC .xml folder, a Ground Truth "
                             ".manifest or a folder of mask .png files (the spec's annotations: section says what "
                             "becomes of objects that leave the image)", check=check_annotations,
              metavar="PATH"),
    JobOption("annotation_format", "the annotations' format, instead of detecting it",
              choices=ANNOTATION_FORMATS),
    JobOption("masks", "the inputs' semantic masks: a folder of PNG files of class ids mirroring the inputs' paths "
                       "(a/b.jpg's is a/b.png), resampled nearest-neighbour only; the same as --annotations DIR "
                       "--annotation-format masks", check=check_masks,
              metavar="DIR"),
)
# the order of --help (the order the command always listed them in)
_HELP_ORDER = ("seed", "copies", "format", "quality", "kernels", "keep_original", "max_error_rate", "max_pixels",
               "include", "exclude", "annotations", "annotation_format", "masks")
BY_NAME = {o.name: o for o in OPTIONS}
# options that override a field of the spec, by Spec.replace's names
SPEC_OPTIONS = tuple(o.name for o in OPTIONS if o.spec)
# every option a launch passes on, in the order of the container arguments
JOB_OPTIONS = tuple(o.name for o in OPTIONS)


def add_job_options(parser: Any) -> None:
    """Add the job options to an ``argparse`` parser or group (``augment process``, ``augment run``)."""
    for name in _HELP_ORDER:
        BY_NAME[name].add_to(parser)


def parse_job_arguments(arguments: Sequence[str]) -> dict[str, Any]:
    """The job options among ``augment process`` arguments (others are ignored), parsed as
    the job parses them: ``{"copies": 1, "keep_original": False, "seed": None, ...}``.

    Raises:
        UsageError: a value the flag's type refuses, named by the flag.
    """
    parser = argparse.ArgumentParser(prog="augment process", add_help=False, exit_on_error=False)
    add_job_options(parser)
    try:
        known, _ = parser.parse_known_args(list(arguments))
    except argparse.ArgumentError as e:
        raise UsageError(str(e)) from None
    return vars(known)


def apply_overrides(spec: Spec | str | Mapping[str, Any], options: Mapping[str, Any]) -> Spec:
    """The spec with the options that override its fields (``seed``, ``copies``, ``format``,
    ``quality``, ``keep_original``, ``kernels``; ``include`` and ``exclude`` add to its
    ``input`` lists); ``None`` keeps the spec's value.

    Raises:
        SpecError: the spec itself is invalid.
        UsageError: an option the spec refuses, named by its parameter (``copies=0: must be ...``).
    """
    from augment.spec import load_spec

    loaded = load_spec(spec)  # type: ignore[arg-type]
    overrides = {k: options[k] for k in SPEC_OPTIONS if options.get(k) is not None}
    if options.get("include") or options.get("exclude"):  # the flags add to the spec's lists
        overrides["input"] = {"include": [*loaded.input.include, *_globs("include", options.get("include") or ())],
                              "exclude": [*loaded.input.exclude, *_globs("exclude", options.get("exclude") or ())]}
    if not overrides:
        return loaded
    try:
        return loaded.replace(**overrides)
    except SpecError as e:
        def named(problem: str) -> str:
            field = problem.split(":", 1)[0].removeprefix("output.").removeprefix("input.").split("[")[0]
            if field in ("include", "exclude"):
                return f"{field}=: {problem}"
            if field not in overrides:
                return problem
            return f"{field}={overrides[field]!r}: {problem.split(':', 1)[1].lstrip()}"

        raise UsageError("invalid job option:\n" + "\n".join(f"  - {named(p)}" for p in e.problems)) from None


def process_arguments(spec: Spec | str | Mapping[str, Any], **options: Any) -> tuple[str, ...]:
    """Check job options against ``spec``; return them as ``augment process`` arguments.

    Args:
        spec: the job's spec (a file, a preset name, a dict or a :class:`Spec`).
        options: any of :data:`JOB_OPTIONS`; ``None`` (or an empty list of globs) leaves
            the spec's or the command's default. ``keep_original=False`` is passed as
            ``--no-keep-original``; ``include`` and ``exclude`` are lists of globs, one
            ``--include=GLOB`` argument each (one argument, so that a glob starting with ``-`` stays a value).

    Returns:
        The arguments, e.g. ``("--copies", "1", "--format", "png")``.

    Raises:
        UsageError: an unknown option, or a value the job would refuse (named by its parameter).
        SpecError: the spec itself is invalid.
    """
    unknown = sorted(set(options) - set(JOB_OPTIONS))
    if unknown:
        raise UsageError(f"unknown job option {', '.join(unknown)}; known: {', '.join(JOB_OPTIONS)}")
    annotations, annotation_format = masks_as_annotations(options)  # the container reads the one form
    options = {**options, "annotations": annotations, "annotation_format": annotation_format, "masks": None}
    apply_overrides(spec, options)
    args: list[str] = []
    for option in OPTIONS:
        value = options.get(option.name)
        if value is not None:
            args += option.arguments(value)
    return tuple(args)
