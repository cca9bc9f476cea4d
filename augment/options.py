"""The job options of ``augment process`` (``--copies``, ``--quality``, ``--max-error-rate``...).

One definition of their checks and of their command-line form, shared by ``augment
process`` (which applies them), ``augment run`` and :func:`augment.jobs.build_request`
(which pass them on to every job as container arguments). A launcher checks them here,
before any request is sent, with the very rules the job applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from augment.errors import SpecError, UsageError
from augment.spec import Spec, load_spec

# options that override a field of the spec, by Spec.replace's names
SPEC_OPTIONS = ("seed", "copies", "format", "quality", "keep_original", "kernels")
# every option a launch passes on, in the order of the container arguments
JOB_OPTIONS = (*SPEC_OPTIONS, "max_pixels", "max_error_rate", "include", "exclude")


def flag(name: str) -> str:
    """The command-line flag of an option: ``keep_original`` -> ``--keep-original``."""
    return "--" + name.replace("_", "-")


def check_max_error_rate(value: Any) -> float:
    """``--max-error-rate``: the share of inputs that may fail, in [0, 1].

    Raises:
        UsageError: not a number in [0, 1].
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise UsageError(f"--max-error-rate must be in [0, 1] (a share of the inputs: 0.01 is 1%), got {value!r}")
    return float(value)


def check_max_pixels(value: Any) -> int:
    """``--max-pixels``: a whole number >= 1.

    Raises:
        UsageError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--max-pixels must be a whole number >= 1, got {value!r}")
    return value


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
