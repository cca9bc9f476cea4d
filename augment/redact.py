"""Account ids never appear in what the kit shows: :func:`redact` and :class:`Redacting`
replace them in text and streams (notebook outputs, logs, printed commands), keeping AWS's own
public registries so that their image URIs can be copied. A text helper like those of
:mod:`augment.text`: it imports nothing of the package, so the launchers, the follow-up and
the sweep use it without importing the notebook helpers.
"""

from __future__ import annotations

import functools
import io
import re
import sys
from pathlib import Path
from typing import Any, TextIO

ACCOUNT = re.compile(r"""
    arn:aws[\w-]*:[\w-]*:[\w-]*:(?P<arn>\d{12})(?!\d)                 # an ARN's account field
  | (?<![\w.])(?P<ecr>\d{12})\.dkr\.ecr                              # an ECR registry's host
  | \bsagemaker-(?:[a-z]{2}(?:-[a-z]+)+-\d+-)(?P<bucket>\d{12})(?!\d)  # Studio's default bucket
  | \b[Aa]ccount(?:[ _-]?[Ii][Dd])?["']?\s*[:=]?\s*["']?(?P<named>\d{12})(?!\d)  # "Account": "..."
""", re.VERBOSE)
"""Where a 12-digit number is an account id: any other 12 digits (a size, a timestamp, a
job's count) are left as they are."""
PLACEHOLDER = "<account>"


def redact(text: str) -> str:
    """``text`` with every account id (in an ARN, an ECR host, Studio's default bucket
    ``sagemaker-<region>-<account>``, after ``Account:``) replaced by ``<account>``, and no
    other 12-digit number; AWS's own public
    registries (the Deep Learning Containers' ``763104351884``...) stay, so that their
    image URIs can be copied."""
    public = public_accounts()

    def hide(m: re.Match[str]) -> str:
        group = next(g for g in ("arn", "ecr", "bucket", "named") if m[g] is not None)
        if m[group] in public:
            return m[0]
        start, end = m.start(group) - m.start(), m.end(group) - m.start()
        return m[0][:start] + PLACEHOLDER + m[0][end:]

    return ACCOUNT.sub(hide, text)


@functools.cache
def public_accounts() -> frozenset[str]:
    """The accounts of AWS's public Deep Learning Container registries, every region's: from
    the SageMaker SDK's image table for PyTorch (read as a file; the SDK is not imported)."""
    import importlib.util
    import json

    found = {"763104351884"}  # the DLC registry of most regions, should the SDK's table move

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "registries" and isinstance(value, dict):
                    found.update(v for v in value.values() if isinstance(v, str))
                else:
                    walk(value)

    spec = importlib.util.find_spec("sagemaker")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        table = Path(folder) / "core" / "image_uri_config" / "pytorch.json"
        if table.is_file():
            walk(json.loads(table.read_text(encoding="utf-8")))
    return frozenset(found)


class Redacting(io.TextIOBase):
    """A text stream that writes to ``target`` with account ids redacted."""

    def __init__(self, target: TextIO | None = None) -> None:
        self.target = target

    def write(self, text: str) -> int:
        (self.target or sys.stdout).write(redact(text))
        return len(text)

    def flush(self) -> None:
        (self.target or sys.stdout).flush()
