"""COCO's writer rounds a whole output's coordinates at once (augment.labels.coco.rounded),
and each number is exactly what Python's ``round(value, 6)`` gives, which it was before; the
compiled spelling of a moved box's numbers (augment._native.coco_numbers) is the text
Python's str() gives those numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augment.labels.coco import DIGITS, rounded
from augment.labels.coco_lines import _numbers

try:
    from augment import _native
except ImportError:
    _native = None


def python_round(value: float) -> float | int:
    value = round(value, DIGITS) + 0.0
    return int(value) if value.is_integer() else value


def same(values: np.ndarray) -> None:
    got = rounded(values)
    want = [python_round(float(v)) for v in values]
    assert [type(g) for g in got] == [type(w) for w in want]
    bad = [(float(v), g, w) for v, g, w in zip(values, got, want, strict=True) if g != w or repr(g) != repr(w)]
    assert not bad, bad[:5]


def test_random_coordinates_round_as_python_does():
    rng = np.random.default_rng(0)
    for scale in (1.0, 100.0, 700.0, 5000.0, 99999.0):
        same(rng.uniform(-scale, scale, 50_000))
    same(rng.uniform(0, 700, 50_000) * rng.uniform(0, 700, 50_000))  # areas


def test_halves_and_their_neighbours_round_as_python_does():
    # values whose sixth decimal is a tie, or one unit in the last place from it: where
    # rint of the scaled value could pick another integer than the decimal rounding
    k = np.arange(-2000, 2000, dtype=np.float64) * 997.0
    ties = (k + 0.5) / 1e6
    same(np.concatenate([ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf)]))
    same(np.array([1 / 128, -1 / 128, 3 / 256, 12345.0000005, 0.0000005, 2.5e-6, 224.0, 0.0, -0.0, -3.0]))


def test_whole_numbers_are_ints_and_negative_zero_is_zero():
    out = rounded(np.array([3.0, -0.0, -1e-9, 223.9999999]))
    assert out == [3, 0, 0, 224] and all(type(v) is int for v in out)
    assert not any(math.copysign(1.0, v) < 0 for v in out)


def spelled_alike(values: np.ndarray) -> None:
    """The compiled spelling of each number is str() of what rounded() gives, or None where
    rounded() asks Python's round; augment.labels.coco_lines._numbers fills those in."""
    texts = _native.coco_numbers(np.ascontiguousarray(values, np.float64))
    want = [str(v) for v in rounded(values)]
    bad = [(float(v), t, w) for v, t, w in zip(values, texts, want, strict=True) if t is not None and t != w]
    assert not bad, bad[:5]
    assert [str(v) for v in _numbers(values)] == want


@pytest.mark.skipif(_native is None, reason="built without a C compiler: Python spells the numbers")
def test_the_compiled_spelling_is_pythons():
    rng = np.random.default_rng(1)
    for scale in (1e-4, 1e-3, 1.0, 100.0, 700.0, 5000.0, 99999.0):
        spelled_alike(rng.uniform(-scale, scale, 50_000))
    spelled_alike(rng.uniform(0, 700, 50_000) * rng.uniform(0, 700, 50_000))
    k = np.arange(-3000, 3000, dtype=np.float64)
    spelled_alike(np.concatenate([k / 1e6, k / 1e4, k, (k * 997.0 + 0.5) / 1e6, np.nextafter((k + 0.5) / 1e6, 1)]))
    spelled_alike(np.array([0.0, -0.0, 1e-7, -1e-7, 5e-7, 1e-5, 9.9e-5, 1e-4, -1e-4, 99999.9999994, 1e5, 1e11, 1e300]))
    big = rng.uniform(1e5, 5e8, 50_000)  # areas: beyond where rint(v * 1e6) rounds surely
    spelled_alike(np.concatenate([big, -big, np.round(big, 2) + 5e-7, (np.round(big) * 1e6 + 0.5) / 1e6]))
    assert _native.coco_numbers(np.array([0.1234565, 123456.0000005, 5e-5 + 5e-7, 1e10])) == (
        "0.123456", "123456.000001", None, None)  # near-ties by dtoa, but under 1e-4; beyond 2^33
