"""Runs a build's steps (argument lists, never a shell string), or in a dry run shows them.
A step's secret goes to its process on stdin; what is shown never holds it, nor a URL's
user and password."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from augment.errors import AugmentError

REDACTED = "<password from ecr:GetAuthorizationToken, on stdin>"


class BuildFailed(AugmentError):
    """A docker or CodeBuild step failed; the message says which."""


@dataclass
class Runner:
    """Runs argument lists, or with ``dry_run`` only prints them.

    A step's secret goes to the process on stdin; printed commands never contain it.
    """

    dry_run: bool = False
    out: Any = None
    ran: list[list[str]] = field(default_factory=list)
    engine: str | None = None
    """The container engine its steps run (set by :func:`engine_for`, said once)."""

    def __call__(self, cmd: list[str], stdin: str | None = None) -> None:
        out = self.out or sys.stdout
        shown = " ".join(_quote(c) for c in cmd) + (f"   # stdin: {REDACTED}" if stdin is not None else "")
        print(("would run: " if self.dry_run else "+ ") + shown, file=out, flush=True)
        self.ran.append(list(cmd))
        if self.dry_run:
            return
        result = subprocess.run(cmd, input=stdin, text=True)
        if result.returncode != 0:
            raise BuildFailed(f"`{' '.join(cmd[:2])}` failed with exit status {result.returncode}")

    def show(self, *pipeline: list[str], note: str | None = None) -> None:
        """In a dry run, print a step that a real run does through an AWS API (or a shell
        pipeline), as the AWS CLI command that does the same; a real run prints nothing."""
        if not self.dry_run:
            return
        shown = " | ".join(" ".join(_quote(c) for c in cmd) for cmd in pipeline)
        print(f"would run: {shown}" + (f"   # {note}" if note else ""), file=self.out or sys.stdout, flush=True)
        self.ran.extend(list(cmd) for cmd in pipeline)


URL_USERINFO = re.compile(r"://[^/@\s]+@")


def _quote(arg: str) -> str:
    """``arg`` as a shell would need it, with the user and password of a URL (a private
    index's token, ``https://aws:TOKEN@...`` or ``https://TOKEN@...``) shown as
    ``<redacted>``: printed commands end up in logs and in saved notebooks."""
    arg = URL_USERINFO.sub("://<redacted>@", arg)
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"
