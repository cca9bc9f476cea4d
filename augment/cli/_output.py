"""What the commands print: ``--json`` as strict JSON, and a short summary beside it."""

from __future__ import annotations

import json
import sys
from typing import Any


def as_json(data: Any) -> str:
    """``--json`` output: strict JSON (no NaN or Infinity, which strict readers refuse; the
    number options are finite, so none should reach here), dates and paths as text."""
    return json.dumps(data, indent=2, default=str, allow_nan=False)


def show(lines: list[str], json_text: str | None) -> None:
    """The short summary on stdout; with --json, the JSON on stdout and the summary on stderr."""
    if json_text is not None:
        print(json_text)
    for line in lines:
        print(line, file=sys.stderr if json_text is not None else sys.stdout)
