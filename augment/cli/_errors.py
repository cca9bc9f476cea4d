"""How a command that failed says so: one line on stderr (``augment COMMAND: error: ...``),
the reason in ``/opt/ml/output/message`` inside a processing job, and the exit status.

Exit status: 0 success, 1 the job ran but failed (too many bad inputs, a replay that is
not bit-exact, a launched job that failed) or a bug, 2 a usage or spec error found before
any work, 130/143 stopped by SIGINT/SIGTERM (each :class:`~augment.errors.AugmentError`
carries its own), 141 the reader of the output went away (``augment ops | head -1``).

The library's errors are worded here for the command line, in one place. The library names
the parameters of its Python API (``instance_count=3: exceeds quota=2``, ``pass input_dir=PATH``,
``resume=True``), which a notebook reads as written; :func:`in_command_terms` names the
command's flags instead (``--instance-count 3: exceeds --quota 2``, ``pass --input-dir PATH``,
``--resume``). A job's "the job's --X argument" (its container's arguments) becomes
``augment run``'s ``--X`` (:func:`_in_run_terms`), and an operating system's refusal of a path
becomes a refusal of the argument that named it (:func:`_path_error`).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import traceback

from augment import __version__
from augment.cli._commands import command_parser
from augment.cli._streams import pipe_closed, reader_gone
from augment.errors import AugmentError, UsageError
from augment.text import brief

# what the operating system may say of a path an argument named (the wording: augment.files.path_reason)
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOTDIR})

# the options whose value is a file or folder: only these may be blamed for a path's error
_PATH_DESTS = frozenset({"spec", "input_dir", "output_dir", "input", "output", "workdir", "plot", "calibrate",
                         "compare", "paths", "out", "json", "manifest", "notebook", "grid"})


def report_failure(args: argparse.Namespace, e: BaseException, *, leave_at_once: bool = False) -> int:
    """Say why ``args.command`` failed with ``e``; return the exit status.

    Errors are one readable line (or a list of spec problems), never a bare traceback;
    a bug keeps its traceback for us, above the line. With ``leave_at_once`` (the command
    itself, not a caller of :func:`augment.cli.main`), a second Ctrl-C leaves at once.
    """
    interrupted = False
    if isinstance(e, AugmentError):
        error, message, code = e, str(e), e.exit_code
    elif isinstance(e, KeyboardInterrupt):  # a second Ctrl-C (the first one stops gracefully)
        error, message, code, interrupted = e, str(e) or "interrupted", 130, True
        if args.command == "process" and not str(e):
            message += "; everything recorded is intact: re-run with --resume to finish"
    else:
        if isinstance(e, BrokenPipeError) and (pipe_closed(sys.stdout) or pipe_closed(sys.stderr)):
            return reader_gone()  # `augment ops | head -1`
        from augment.aws import aws_error

        # missing or refused credentials wherever AWS was first asked, or no AWS to ask; a
        # path the user named that the operating system refused, wherever it was first used
        error = aws_error(e) or _path_error(args, e) or e
        if isinstance(error, AugmentError):
            message, code = str(error), error.exit_code
        else:  # a bug: keep the traceback for us, and a reason for the user
            message, code = _internal_error(e), 1
    message = in_command_terms(message, args.command)
    try:
        print(f"augment {args.command}: error: {message}", file=sys.stderr, flush=True)
    except BrokenPipeError:  # `augment ... 2>&1 | head -1`: the reader left; the exit status still tells
        reader_gone()
    if args.command == "process":
        from augment.contract import failure_message, write_failure_message

        write_failure_message(failure_message(error, message))  # labelled where a retry cannot pass
    if interrupted and leave_at_once:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the interpreter's teardown (torch's modules) takes seconds, even with no work left
    return code


# a parameter as the library writes it: name=VALUE, name=True/False, or name= alone; not a
# field's (output.format=), not inside another word or option (x_copies=, --copies=), nor inside
# a path or URL (/data/seed=5/, ?workers=2&x=1, s3://b/k=v)
_PARAMETER = re.compile(r"(?<![\w.=/?&:-])([a-z][a-z0-9_]*)=((?:True|False)\b|(?=[^\s,;:)])(?!\.(?:\s|$)))?")
# a command to run, quoted, keeps what it says
_QUOTED = re.compile(r"(`[^`]*`|\"[^\"]*\")")
# parameters of the Python API whose command option has another name
_SAME_AS: dict[str, dict[str, str]] = {
    "plan": {"modes": "mode", "instance_types": "instance_type", "instance_counts": "instance_count",
             "startup_s": "startup", "job": "compare"},
    "run": {"modes": "mode", "instance_types": "instance_type", "instance_counts": "instance_count"},
    "sweep": {"params": "param"},
}


def _options(command: str) -> dict[str, tuple[str, bool, bool]]:
    """The command's options by parameter name: the flag (a positional's name), whether
    ``--no-FLAG`` turns it off, and whether it repeats (``--include=GLOB`` each, as the
    container's arguments say it, so that a glob starting with ``-`` stays a value)."""
    options = {}
    for action in command_parser(command)._actions:
        if action.dest in ("help", argparse.SUPPRESS):
            continue
        longs = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
        named = longs[0] if longs else action.option_strings[0] if action.option_strings else \
            action.metavar or action.dest  # a positional as the usage line names it
        options[action.dest] = (named, isinstance(action, argparse.BooleanOptionalAction),
                                isinstance(action, argparse._AppendAction))
    for parameter, dest in _SAME_AS.get(command, {}).items():
        if dest in options and parameter not in options:
            options[parameter] = options[dest]
    return options


def in_command_terms(message: str, command: str) -> str:
    """A library message in the terms of ``augment COMMAND``: each parameter the command has
    an option for becomes its flag (``instance_count=3:`` -> ``--instance-count 3:``,
    ``input_dir=PATH`` -> ``--input-dir PATH``, ``resume=True`` -> ``--resume``,
    ``keep_original=False`` -> ``--no-keep-original``, ``workers=`` -> ``--workers``,
    ``include='*.jpg'`` -> ``--include='*.jpg'``); one it has
    none for stays as the library wrote it. Commands quoted as advice stay as written; for
    ``run``, "the job's --X argument" becomes ``--X`` where run has that flag."""
    try:
        options = _options(command)
    except KeyError:  # not one of the subcommands: nothing to map
        return message

    def flag(m: re.Match[str]) -> str:
        if m[1] not in options:
            return m[0]
        named, negatable, repeated = options[m[1]]
        if m[2] == "True":
            return named
        if m[2] == "False":
            return f"--no-{named[2:]}" if negatable else f"{named} False"
        if m[2] is None:
            return named
        return f"{named}=" if repeated else f"{named} "

    parts = _QUOTED.split(message)
    mapped = "".join(part if i % 2 else _PARAMETER.sub(flag, part) for i, part in enumerate(parts))
    return _in_run_terms(mapped) if command == "run" else mapped


def _in_run_terms(message: str) -> str:
    """A job's message in the terms of ``augment run``: "the job's --X argument" (what a job's
    host says, not knowing what launched it) becomes ``--X`` where ``run`` has that flag."""
    flags = {f for action in command_parser("run")._actions for f in action.option_strings}
    return re.sub(r"the job's (--[a-z][a-z-]*) argument", lambda m: m[1] if m[1] in flags else m[0], message)


def _names(value: str, failed: str) -> bool:
    """Whether the path ``failed`` is the argument ``value`` or lies under it. A folder that
    holds far more than the argument means (``/``, the current folder as ``.``) names only
    itself: else an error in the cache or /opt/ml would be blamed on ``--input-dir .``."""
    absolute = os.path.abspath(value)
    if failed in (value, absolute) or os.path.abspath(failed) == absolute:
        return True
    if absolute in ("/", os.getcwd()):
        return False
    return os.path.abspath(failed).startswith(absolute.rstrip("/") + "/")


def _path_error(args: argparse.Namespace, e: BaseException) -> UsageError | None:
    """An :class:`OSError` on a path an argument named (a name too long for any file system,
    which ``Path.is_file()`` raises rather than answers, wherever it was first used), as a
    refusal that names the argument; ``None`` for any other error."""
    if not isinstance(e, OSError) or e.errno not in _PATH_ERRNOS or e.filename is None:
        return None
    from augment.files import path_reason

    failed = os.fsdecode(e.filename)
    named = []
    for action in command_parser(args.command)._actions:
        if action.dest not in _PATH_DESTS:
            continue
        values = getattr(args, action.dest, None)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and value and _names(value, failed):
                flag = max(action.option_strings, key=len) if action.option_strings else action.dest.upper()
                named.append((len(value), flag, value))
    if not named:
        return None
    _, flag, value = max(named)
    return UsageError(f"{flag} {brief(value)}: {path_reason(e, failed) or e.strerror or e}")


def _internal_error(e: BaseException) -> str:
    """A bug's message; its traceback goes to stderr first, for us."""
    traceback.print_exc()
    return (f"internal error: {type(e).__name__}: {e}. This is a bug in augment {__version__}; the traceback "
            "above has the details")
