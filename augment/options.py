"""The job options of ``augment process`` (``--copies``, ``--quality``, ``--max-error-rate``...).

One definition of their checks and of their command-line form, shared by ``augment
process`` (which applies them), ``augment run`` and :func:`augment.jobs.build_request`
(which pass them on to every job as container arguments). A launcher checks them here,
before any request is sent, with the very rules the job applies.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augment.errors import SpecError, UsageError
from augment.text import brief

if TYPE_CHECKING:  # the command line imports this module to build its parser: no spec machinery for --help
    from augment.spec import Spec

MAX_SEED = 2**63 - 1
"""The largest seed (a spec's ``seed``, ``--seed``)."""
MAX_COPIES = 1000
"""The most copies per input (a spec's ``copies``, ``--copies``)."""

# options that override a field of the spec, by Spec.replace's names
SPEC_OPTIONS = ("seed", "copies", "format", "quality", "keep_original", "kernels")
# every option a launch passes on, in the order of the container arguments
JOB_OPTIONS = (*SPEC_OPTIONS, "max_pixels", "max_error_rate", "include", "exclude")


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
        name: the flag or parameter, as the message names it (``--max-cost``, ``max_cost``).
        min, max: inclusive bounds; ``None`` for none.
        integer: a whole number (``int``, not ``bool``) is required.
        above: an exclusive lower bound (``> 0``).

    Returns:
        ``value`` unchanged (an ``int`` given for a float parameter stays an ``int``).

    Raises:
        UsageError: ``{name} must be a finite number >= 0, got nan``: not a number, not
            finite, not whole where ``integer``, or out of range.
    """
    problem = _number_problem(value, min, max, integer, above)
    if problem is not None:
        raise UsageError(f"{name} must be {problem}, got {brief(value)}")
    return value


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
    raise UsageError(f"{name} must be {problem}{what}, got {brief(value)}")


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
        raise UsageError(f"--max-error-rate must be {problem} (a share of the inputs: 0.01 is 1%), got {brief(value)}")
    return float(value)


def check_max_pixels(value: Any) -> int:
    """``--max-pixels``: a whole number >= 1.

    Raises:
        UsageError: anything else.
    """
    return check_number("--max-pixels", value, min=1, integer=True)


def _globs(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or \
            not all(isinstance(g, str) and g for g in value):
        raise UsageError(f"{flag(name)}: expected a list of glob patterns (non-empty strings), got {value!r}")
    return tuple(value)


def apply_overrides(spec: Spec | str | Mapping[str, Any], options: Mapping[str, Any]) -> Spec:
    """The spec with the options that override its fields (``seed``, ``copies``, ``format``,
    ``quality``, ``keep_original``, ``kernels``; ``include`` and ``exclude`` add to its
    ``input`` lists); ``None`` keeps the spec's value.

    Raises:
        SpecError: the spec itself is invalid.
        UsageError: an option the spec refuses, named by its flag and the spec's field.
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
                return f"{flag(field)}: {problem}"
            return f"{flag(field)} {overrides[field]!r}: {problem}" if field in overrides else problem

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
        UsageError: an unknown option, or a value the job would refuse (named by its flag).
        SpecError: the spec itself is invalid.
    """
    unknown = sorted(set(options) - set(JOB_OPTIONS))
    if unknown:
        raise UsageError(f"unknown job option {', '.join(unknown)}; known: {', '.join(JOB_OPTIONS)}")
    apply_overrides(spec, options)
    args: list[str] = []
    for name in JOB_OPTIONS:
        value = options.get(name)
        if value is None:
            continue
        if name == "max_pixels":
            check_max_pixels(value)
        elif name == "max_error_rate":
            value = check_max_error_rate(value)
        if name in ("include", "exclude"):
            for glob in _globs(name, value):  # one argument: a glob that starts with '-' stays a value
                args.append(f"{flag(name)}={glob}")
        elif name == "keep_original":
            args.append(flag(name) if value else "--no-keep-original")
        else:
            args += [flag(name), str(value)]
    return tuple(args)
