"""The rules' verdict on moved boxes (augment.labels.follow._rules) comes from the compiled
box_rules where the package has it: the same verdicts, and the same cut edges, as the numpy
arithmetic it replaces, on boxes inside, across and outside the image, degenerate and NaN."""

from __future__ import annotations

import numpy as np
import pytest

from augment.labels import follow
from augment.labels.follow import CUT, LabelRules

try:
    from augment import _native
except ImportError:
    _native = None


@pytest.mark.skipif(_native is None, reason="built without a C compiler: numpy's calls alone")
@pytest.mark.parametrize("rules", [LabelRules(), LabelRules(min_area=40.0), LabelRules(min_visibility=0.4),
                                   LabelRules(mode="clamp", min_area=5.0, min_visibility=0.9)])
def test_the_compiled_rules_say_what_numpy_says(rules):
    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        x0, y0 = rng.uniform(-80, 300, n), rng.uniform(-80, 260, n)
        raw = np.stack([x0, y0, x0 + rng.uniform(0, 120, n), y0 + rng.uniform(0, 120, n)], axis=1)
        flat = rng.random(n) < 0.1
        raw[flat, 2] = raw[flat, 0]  # some with no width
        raw[rng.random((n, 4)) < 0.01] = np.nan
        raw[rng.random((n, 4)) < 0.02] += rng.choice([CUT, -CUT, 1e-4, -1e-4])  # edges right at the cut
        boxes = np.maximum(raw, 0.0)
        np.minimum(boxes, (224, 200, 224, 200), out=boxes)
        reasons, cut = follow._rules(raw, boxes, rules)
        assert reasons == follow._reasons(raw, boxes, rules)
        assert cut.tolist() == np.any(np.abs(boxes - raw) > CUT, axis=1).tolist()
