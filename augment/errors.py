"""Exceptions that users see. Each maps to one exit status of the CLI."""

from __future__ import annotations

from typing import Any


class AugmentError(Exception):
    """Base class of the errors the kit raises on purpose."""

    exit_code = 1


class SpecError(AugmentError, ValueError):
    """A pipeline spec (or a value in it) is invalid.

    ``problems`` holds one line per problem, each starting with the path of the
    offending field (``ops[2].ColorJitter.hue``), so a user sees everything that is
    wrong at once instead of fixing one field per run.
    """

    exit_code = 2

    MAX_SHOWN = 50
    """At most this many problems are printed (all stay in ``problems``), each cut at
    :data:`MAX_LINE` characters: a huge spec gets a readable message, not megabytes."""
    MAX_LINE = 500

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"invalid spec {source}" if source else "invalid spec"
        lines = [p if len(p) <= self.MAX_LINE else f"{p[:self.MAX_LINE]}... (cut; {len(p):,} characters)"
                 for p in self.problems[:self.MAX_SHOWN]]
        if len(self.problems) > self.MAX_SHOWN:
            lines.append(f"... and {len(self.problems) - self.MAX_SHOWN} more problems")
        body = "\n".join(f"  - {p}" for p in lines)
        super().__init__(f"{head}:\n{body}")


class UsageError(AugmentError):
    """A command-line argument or path is wrong; nothing was processed.

    Attributes:
        transient: the cause lies in the machine, not in what was asked (a full or
            read-only disk): a job that fails so is retried (see
            :func:`augment.contract.failure_message`), where a bad argument is not.
    """

    exit_code = 2

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class JobFailed(AugmentError):
    """The job ran but its result is not acceptable (for example too many bad inputs).

    Attributes:
        summary: the job's :class:`~augment.engine.Summary`, where there is one.
    """

    exit_code = 1

    def __init__(self, message: str, summary: Any = None) -> None:
        super().__init__(message)
        self.summary = summary


class TooManyBadInputs(JobFailed):
    """More inputs failed than ``max_error_rate`` allows: the data, not the run, is at
    fault, so running the job again fails the same way (launchers do not retry it)."""


class JobStopped(JobFailed):
    """SIGTERM or SIGINT stopped the job; what was recorded is intact.

    The exit status is the shell's convention for that signal (143, 130).
    """

    def __init__(self, message: str, signum: int, summary: Any = None) -> None:
        super().__init__(message, summary)
        self.exit_code = 128 + int(signum)
