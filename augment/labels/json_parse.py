"""A JSON file's value, parsed by orjson where it gives what ``json.loads`` gives.

A COCO instances file is read once per host, and its parse was over half of that (a
million-image file takes seconds): orjson parses it about three times faster. orjson
refuses some text ``json`` reads (NaN and the infinities, a lone surrogate, a BOM), which
then goes to ``json``; and it reads an integer past 64 bits as a float, so a file with a
run of 19 digits or more anywhere goes to ``json`` too. ``tests/test_labels_coco.py`` holds
the two to the same values and errors. :func:`collector_paused` keeps the garbage collector
from walking the whole process while such a file's objects are made.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson


def parse_json(data: bytes) -> Any:
    """What ``json.loads(data)`` gives, by orjson (three times faster: most of indexing a
    COCO file was its parse) wherever orjson gives the same: UTF-8 without a BOM, no NaN
    or Infinity, no lone surrogate (orjson refuses each: then ``json`` reads it, or says
    why), and no run of 19 digits or more (an integer past 64 bits, which orjson would
    make a float; a long run anywhere, in a string too, leaves it to ``json``). One
    difference is left: orjson reads nesting up to 1,024 levels deep, ``json`` up to the
    interpreter's recursion limit (about 1,000), so a file nested between the two is read
    where ``json`` raised ``RecursionError``."""
    if not _long_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


_DIGIT_OR_NOT = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
"""A ``bytes.translate`` table: each ASCII digit to ``0``, every other byte to a space."""
_RUN = b"0" * 19
_SCAN = 1 << 26
"""Bytes translated at a time (a file of a million images is translated in pieces)."""


def _long_digit_run(data: bytes) -> bool:
    if len(data) <= _SCAN:
        return _RUN in data.translate(_DIGIT_OR_NOT)
    return any(_RUN in data[at:at + _SCAN + len(_RUN) - 1].translate(_DIGIT_OR_NOT)
               for at in range(0, len(data), _SCAN))


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a file's millions of objects are made: each
    collection the allocations brought on would walk every object of the process (a
    tenth of a second with torch's alone), and JSON's objects hold no cycle."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
