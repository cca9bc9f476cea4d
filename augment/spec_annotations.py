"""The spec's ``annotations`` section: what becomes of labelled objects the ops move out of
the image. Validated here, torch- and numpy-free like the rest of :mod:`augment.spec`,
and carried to the pipeline as :class:`~augment.labels.follow.LabelRules`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.text import brief

ANNOTATION_KEYS = ("mode", "min_area", "min_visibility", "flip_pairs")
ANNOTATION_MODES = ("drop", "clamp")


@dataclass(frozen=True)
class AnnotationOptions:
    """What becomes of labelled objects the ops move out of the image (the fields of
    :class:`~augment.labels.follow.LabelRules`, validated here without numpy or torch).

    Attributes:
        mode: ``drop`` removes such an object; ``clamp`` keeps it, clamped and marked.
        min_area: objects whose clamped box covers fewer square pixels go.
        min_visibility: objects keeping less than this share of their box go (0 to 1).
            Neither drops a semantic mask's class (a region, not an instance: it is
            carried whole, and goes only with its last pixel).
        flip_pairs: keypoint names a mirroring flip swaps, beside ``left``/``right`` names.
    """

    mode: str = "drop"
    min_area: float = 0.0
    min_visibility: float = 0.0
    flip_pairs: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "min_area": self.min_area, "min_visibility": self.min_visibility,
                "flip_pairs": [list(p) for p in self.flip_pairs]}

    def rules(self) -> Any:
        """These options as the :class:`~augment.labels.follow.LabelRules` the pipeline takes."""
        from augment.labels.follow import LabelRules

        return LabelRules(self.mode, self.min_area, self.min_visibility, self.flip_pairs)


def _number_field(data: dict[str, Any], key: str, lo: float, hi: float, problems: list[str]) -> float:
    value = data.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        problems.append(f"annotations.{key}: must be a number in [{lo:g}, {hi:g}], got {brief(value)}")
        return 0.0
    return float(value)


def parse_annotations(data: Any, problems: list[str]) -> AnnotationOptions:
    """The spec's ``annotations`` section; each problem, naming its field, goes to ``problems``."""
    if data is None:
        return AnnotationOptions()
    if not isinstance(data, dict):
        problems.append(f"annotations: must be a mapping like {{mode: drop, min_visibility: 0.3}}, got {brief(data)}")
        return AnnotationOptions()
    for key in data:
        if key not in ANNOTATION_KEYS:
            problems.append(f"annotations: unknown field {brief(key)}; allowed: {', '.join(ANNOTATION_KEYS)}")
    mode = data.get("mode", "drop")
    if mode not in ANNOTATION_MODES:
        problems.append(f"annotations.mode: must be one of {', '.join(ANNOTATION_MODES)}, got {brief(mode)}")
        mode = "drop"
    min_area = _number_field(data, "min_area", 0, 1e12, problems)
    min_visibility = _number_field(data, "min_visibility", 0, 1, problems)
    raw = data.get("flip_pairs") or []
    pairs: list[tuple[str, str]] = []
    if not isinstance(raw, list):
        problems.append(f"annotations.flip_pairs: must be a list of [left, right] keypoint names, got {brief(raw)}")
        raw = []
    for i, pair in enumerate(raw):
        if (not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(n, str) and n for n in pair)
                or pair[0] == pair[1]):
            problems.append(f"annotations.flip_pairs[{i}]: must be two different keypoint names like "
                            f"[left_paw, right_paw], got {brief(pair)}")
        elif tuple(pair) not in pairs:
            pairs.append((pair[0], pair[1]))
    return AnnotationOptions(mode, min_area, min_visibility, tuple(pairs))
