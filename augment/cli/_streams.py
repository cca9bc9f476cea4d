"""The standard streams of the command, whatever it was started with: closed descriptors
(``2>&-``) on the null device, text that never fails on a character the terminal's encoding
lacks, and a quiet exit when the reader of the output has gone (``augment ops | head -1``)."""

from __future__ import annotations

import os
import sys
from typing import Any

from augment.text import escape_surrogates

# What a terminal or log that cannot show a character gets instead: ASCII for the punctuation
# the kit prints (a caption's '·'), the escape for anything else; a file name's undecodable
# bytes (os.fsdecode's surrogates) as \xff escapes: readers that decode the output (logs,
# CloudWatch, a test's capture) get valid text.
_ASCII = {"\u00b7": "-", "\u00d7": "x", "\u2192": "->", "\u2190": "<-", "\u2014": "--", "\u2013": "-",
          "\u2026": "...", "\u2264": "<=", "\u2265": ">=", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u00b0": " deg", "\u00b5": "u", "\u2212": "-", "\u00b1": "+/-", "\u2248": "~"}


def _tolerant(error: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start:error.end]
    return "".join(escape_surrogates(c) if 0xD800 <= ord(c) <= 0xDFFF
                   else _ASCII.get(c, c.encode("ascii", "backslashreplace").decode("ascii")) for c in text), error.end


def usable_std_streams() -> None:
    """Make stdin, stdout and stderr safe to use, whatever the caller left them as.

    A closed descriptor (``2>&-``) gets the null device: else Python's ``sys.stderr`` is
    ``None`` (the first log line crashed the job after its summary said ``running``), and
    the first file opened would take descriptor 2 and receive whatever a worker writes to
    its stderr. Text streams get an error handler that never fails on a character the
    encoding lacks (``LC_ALL=C`` has no ``·``).
    """
    import codecs

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            closed = False
        except OSError:
            closed = True
        if closed:  # the null device takes the lowest free descriptor: this one
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:  # on the null device: fd itself, or a new one if fd was taken since
            target = fd if closed else os.open(os.devnull, os.O_RDWR)
            setattr(sys, name, open(target, "r" if fd == 0 else "w", encoding="utf-8", closefd=not closed))
    try:
        codecs.lookup_error("augment.tolerant")
    except LookupError:
        codecs.register_error("augment.tolerant", _tolerant)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a TextIOWrapper; Jupyter's streams write text as it is
            try:
                reconfigure(errors="augment.tolerant")
            except (ValueError, OSError):  # a stream that cannot change now: keep its own handler
                pass


def pipe_closed(stream: Any) -> bool:
    """Whether ``stream`` is a pipe whose reader has gone (``augment ops | head -1``)."""
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def reader_gone() -> int:
    """Leave quietly, as Unix tools do when the reader of their output has gone: what was
    still buffered goes nowhere (not to a traceback at exit). The status is the shell's
    for a command stopped by SIGPIPE."""
    for fd in (1, 2):
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except OSError:
            pass
    return 128 + 13
