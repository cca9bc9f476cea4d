"""How a sweep's refusals name what it was given: notebook 05's parameters (``out=/x``,
``resume=True``), the default, or ``augment sweep``'s flags (``--out /x``, ``--resume``) within
:func:`cli_terms`. Every module of the sweep words its refusals through :func:`_t`, so the
command line maps its flags here and nowhere else."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Terms:
    """How a sweep's refusals name what it was given: notebook 05's parameters
    (``out=/x: ...``, ``resume=True``), the default, or ``augment sweep``'s flags
    (``--out /x: ...``, ``--resume``): see :func:`cli_terms`."""

    names: Mapping[str, str]
    flags: bool = False

    def __call__(self, name: str, *value: Any) -> str:
        """``name`` as these terms say it, with ``value`` when one is given (``out=/x``, ``--out /x``)."""
        said = self.names.get(name, name)
        if not value:
            return said
        return f"{said} {value[0]}" if self.flags else f"{said}={value[0]}"


NOTEBOOK_TERMS = Terms({"resume": "resume=True"})
CLI_TERMS = Terms({"out": "--out", "grid": "--grid", "notebook": "NOTEBOOK", "params": "-p", "resume": "--resume",
                   "parallel": "--parallel"}, flags=True)
_TERMS: contextvars.ContextVar[Terms] = contextvars.ContextVar("augment_sweep_terms", default=NOTEBOOK_TERMS)


@contextlib.contextmanager
def cli_terms() -> Any:
    """Within it, a sweep's refusals name ``augment sweep``'s flags, not a notebook's parameters."""
    token = _TERMS.set(CLI_TERMS)
    try:
        yield
    finally:
        _TERMS.reset(token)


def _t(name: str, *value: Any) -> str:
    return _TERMS.get()(name, *value)
