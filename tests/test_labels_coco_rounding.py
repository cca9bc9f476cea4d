"""COCO's writer rounds a whole output's coordinates at once (augment.labels.coco.rounded),
and each number is exactly what Python's ``round(value, 6)`` gives, which it was before."""

from __future__ import annotations

import math

import numpy as np

from augment.labels.coco import DIGITS, rounded


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
