"""A moved output with boxes only is written from its input's templates (each annotation's
JSON encoded once per input, the numbers put in per output): the very text the
annotation-by-annotation encoding makes, whatever the annotations' other fields hold,
their order, which objects were dropped, and where the numbers round."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from augment.labels import coco, coco_lines
from augment.labels.coco import CocoImage, CocoOutput
from augment.labels.coco_lines import coco_line

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["%s", "%%", "%(x)s", "\t", "\n", "\0augment-bbox\0", "\0augment-area\0", "bbox", '"bbox":', "category_id"])
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | TEXT
                      | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                      max_leaves=6)


def slow_line(out: CocoOutput) -> str:
    """The line as written before templates: every annotation's dict encoded by itself."""
    return "\t".join([coco._ENCODE(coco._image_entry(out)), *map(coco._ENCODE, coco._annotations(out.labels))])


@contextmanager
def templates_made(compiled: bool) -> Iterator[None]:
    """Templates made by the compiled ``coco_templates``, or (``compiled=False``) as a build
    without a C compiler makes them."""
    kept = coco_lines._coco_templates
    if not compiled:
        coco_lines._coco_templates = None
    try:
        yield
    finally:
        coco_lines._coco_templates = kept


@st.composite
def images(draw: st.DrawFn) -> CocoImage:
    anns = []
    for k in range(draw(st.integers(1, 6))):
        extra = draw(st.dictionaries(TEXT.filter(lambda t: t not in ("id", "image_id", "category_id", "bbox",
                                                                      "area", "segmentation", "keypoints")),
                                     VALUES, max_size=3))
        box = [float(v) for v in draw(st.lists(st.floats(0, 200), min_size=4, max_size=4))]
        order = draw(st.sampled_from(["area-first", "bbox-first", "no-area", "extra-last"]))
        ann = {"id": 10 + 7 * k, "image_id": 1, "category_id": draw(st.integers(1, 3))}
        if order == "area-first":
            ann.update(area=1.5, **extra, bbox=box)
        elif order == "bbox-first":
            ann.update(bbox=box, iscrowd=0, area=2, segmentation=[])
        elif order == "no-area":
            ann.update(bbox=box, **extra)
        else:
            ann.update(bbox=box, area=3.0, **extra)
        anns.append(ann)
    return CocoImage({"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}, anns,
                     {c: {"id": c, "name": f"c{c}"} for c in (1, 2, 3)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images(), data=st.data())
def test_templates_write_what_encoding_each_annotation_writes(image: CocoImage, data: st.DataObject) -> None:
    # read as a job's worker reads it (the templates then start from its fields), or at once
    labels = image.labels_later(image.size)() if data.draw(st.booleans()) else image.labels()
    compiled = data.draw(st.booleans(), label="compiled templates")  # else the encoder's, with stand-ins
    keep = data.draw(st.lists(st.sampled_from(range(len(labels))), unique=True).map(sorted))
    scale = data.draw(st.sampled_from([1.0, 1e-3, 0.37, 1 / 3]))
    moved = labels.select(keep).evolve(
        moved=True, size=(224, 224),
        boxes=labels.select(keep).boxes * scale + data.draw(st.sampled_from([0.0, 0.5e-6, -1e-7, 1234.5])))
    out = CocoOutput("out/a.jpg.aug0.jpg", image, moved)
    with templates_made(compiled):
        line = coco_line(out)
    assert line == slow_line(out)
    for entry in line.split("\t"):
        json.loads(entry)  # each entry JSON by itself


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_the_templates_are_used_and_made_once_per_input(compiled: bool) -> None:
    if compiled and coco_lines._coco_templates is None:
        pytest.skip("augment._native was not built")
    image = CocoImage({"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
                      [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 4.0,
                        "bbox": [1, 1, 2, 2], "iscrowd": 0, "note": "100%"}], {1: {"id": 1, "name": "x"}})
    labels = image.labels().evolve(moved=True, boxes=np.array([[0.25, 0.5, 3.125, 2.0]]))
    with templates_made(compiled):
        first = coco_line(CocoOutput("a.aug0.jpg", image, labels))
    templates = image._templates
    assert templates and templates.whole == ('{"category_id":1,"segmentation":[],"area":%s,"bbox":[%s,%s,%s,%s],'
                                             '"iscrowd":0,"note":"100%%"}')
    assert coco_line(CocoOutput("a.aug1.jpg", image, labels)).endswith(first.split("\t", 1)[1])
    assert image._templates is templates
    assert first.split("\t")[1] == ('{"category_id":1,"segmentation":[],"area":4.3125,"bbox":[0.25,0.5,2.875,'
                                    '1.5],"iscrowd":0,"note":"100%"}')


@pytest.mark.parametrize("field", [coco_lines._BBOX, f"a\"{coco_lines._AREA}",
                                   [{"category_id": 1}, {"category_id": 2}]])
def test_a_field_a_template_could_not_tell_from_its_own_text_is_encoded_as_before(field: Any) -> None:
    """The encoder's templates find their stand-ins in the text: where a field's own text holds
    one, the output is encoded annotation by annotation. The compiled templates write each
    field where it goes, so they are made for it."""
    image = CocoImage({"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
                      [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "x": field},
                       {"id": 2, "image_id": 1, "category_id": 2, "bbox": [2, 2, 3, 3]}], {1: {"id": 1, "name": "x"}})
    out = CocoOutput("a.aug0.jpg", image, image.labels().evolve(moved=True))
    with templates_made(False):
        assert coco_line(out) == slow_line(out)
    assert image._templates is False
    image.release()
    assert coco_line(out) == slow_line(out)
    assert bool(image._templates) is (coco_lines._coco_templates is not None)


@pytest.mark.parametrize("value", [math.nan, [1.0, math.inf], "\ud800", {"k": -math.inf}, (1, 2), 2**70])
def test_what_the_compiled_templates_cannot_spell_goes_the_encoders_way(value: Any) -> None:
    """A value JSON cannot hold, or one json.loads never makes: the compiled templates give way,
    and the line is what encoding each annotation makes (or its error)."""
    image = CocoImage({"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
                      [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "x": value}],
                      {1: {"id": 1, "name": "x"}})
    out = CocoOutput("a.aug0.jpg", image, image.labels().evolve(moved=True))
    try:
        expected: Any = slow_line(out)
    except ValueError as e:
        expected = type(e)
    if expected is ValueError:
        with pytest.raises(ValueError):
            coco_line(out)
    else:
        assert coco_line(out) == expected


@pytest.mark.parametrize("box", [[0.0, 0.0, 1e5, 1e5], [1.0, 2.0, 1.00004 + 5e-7, 3.5], [0.25, 0.5, 3.0, 4.0]])
def test_numbers_the_compiled_spelling_leaves_to_python_are_spelled_as_before(box) -> None:
    """An area of 2^33 px or more, or a near-tie below 1e-4, is Python's to round: the line is
    still the one each annotation's encoding makes."""
    image = CocoImage({"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
                      [{"id": 1, "image_id": 1, "category_id": 1, "area": 1.0, "bbox": [1, 1, 2, 2]},
                       {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 1.0}],
                      {1: {"id": 1, "name": "x"}})
    labels = image.labels().evolve(moved=True, boxes=np.array([box, [1.5, 2.5, 3.5, 4.75]]))
    out = CocoOutput("a.aug0.jpg", image, labels)
    assert coco_line(out) == slow_line(out)


SPOILS = st.sampled_from([
    None, None, None, ("id", True), ("id", "3"), ("id", 2), ("id", 2**70), ("image_id", 9), ("image_id", 2),
    ("category_id", 4), ("category_id", True), ("category_id", 1.0), ("keypoints", [1, 2, 2]), ("keypoints", [1]),
    ("keypoints", []), ("segmentation", [[1, 1, 5, 1, 5, 5]]), ("segmentation", []), ("segmentation", "x"),
    ("bbox", (1, 2, 3)), ("bbox", [1, 2, 3]), ("bbox", [1, 2, 3, 4, 5]), ("bbox", "0 0 1 1"), ("drop", "id"),
    ("drop", "image_id"), ("drop", "category_id"), ("drop", "bbox")])
BAD = st.sampled_from([math.nan, math.inf, -math.inf, True, False, "1", None, -5, 0, 0.0, -0.0, 2**64, 1e300])


@settings(max_examples=1000, deadline=None)
@given(box=st.tuples(*[st.integers(-2, 400) | st.floats(-2.0, 400.0)] * 2,
                     *[st.integers(-1, 241) | st.floats(-1.0, 241.0)] * 2).map(list), spoil=SPOILS,
       bad=st.tuples(st.integers(0, 3), BAD) | st.none())
def test_what_the_index_says_valid_at_once_every_check_says_valid(box: list, spoil: Any, bad: Any) -> None:
    """read_coco says the commonest annotation valid without every check (_plainly_valid):
    never one that a check would refuse, and the index's verdict is every check's."""
    ann: dict[str, Any] = {"id": 1, "image_id": 1, "category_id": 1, "bbox": box}
    if bad is not None:
        box[bad[0]] = bad[1]
    if spoil is not None and spoil[0] == "drop":
        del ann[spoil[1]]
    elif spoil is not None:
        ann[spoil[0]] = spoil[1]
    images = {1: {"id": 1, "width": 640, "height": 480}, 2: {"id": 2, "width": 20, "height": 10}}
    categories = {1: {"id": 1, "name": "a", "keypoints": ["nose"]}}
    seen = {2}
    if coco._plainly_valid(ann, images, categories, seen):
        assert coco._checked(ann, images, categories, seen) is None
    assert coco._annotation_problem(ann, images, categories, seen) == coco._checked(ann, images, categories, seen)


EDGE = st.sampled_from([-2, -1.5, -1, -1.0, -0.9999999, 0, 0.5, 3])  # about -BOX_TOLERANCE
ENDS = st.sampled_from([641, 641.0, 641.0000001, 640.9999999, 642, 100, 481, 481.0000001, 480.9999999, 482, 3])
BOXES = (st.tuples(*[st.integers(-2, 400) | st.floats(-2.0, 400.0)] * 2,
                   *[st.integers(-1, 241) | st.floats(-1.0, 241.0)] * 2)
         | st.tuples(EDGE, EDGE, ENDS, ENDS).map(lambda t: (t[0], t[1], t[2] - t[0], t[3] - t[1])))
ANNOTATIONS = st.tuples(BOXES.map(list),
                        SPOILS, st.tuples(st.integers(0, 3), BAD) | st.none(), st.sampled_from([1, 2, 2, 3]))
MORE_SPOILS = st.sampled_from([None, ("image_id", [1]), ("category_id", {}), ("image_id", 1.0), ("id", 2**63),
                               ("category_id", 1.0), ("bbox", [2**60, 0, 1, 1]), ("bbox", [0, 0, 2**53, 1])])


@settings(max_examples=500, deadline=None)
@given(drawn=st.lists(st.tuples(ANNOTATIONS, MORE_SPOILS), max_size=8),
       size=st.sampled_from([(640, 480), (2**53, 5), (True, 480)]))
def test_the_compiled_index_is_the_index_python_makes(drawn: list, size: tuple) -> None:
    """coco_index says annotations valid, in order, up to the first it cannot (Python's checks
    go on from there): the index is the one Python's checks alone make, problems and all."""
    anns: list[Any] = []
    for (box, spoil, bad, ident), more in drawn:
        ann: dict[str, Any] = {"id": ident, "image_id": 1, "category_id": 1, "bbox": list(box)}
        if bad is not None:
            ann["bbox"][bad[0]] = bad[1]
        for change in (spoil, more):
            if change is not None and change[0] == "drop":
                ann.pop(change[1], None)
            elif change is not None:
                ann[change[0]] = change[1]
        if size[0] > 10**6:  # no polygon on a vast image: pycocotools would make its mask (and crash)
            ann.pop("segmentation", None)
        anns.append(ann)
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": size[0], "height": size[1]},
                      {"id": 2, "file_name": "b.jpg", "width": 20, "height": 10}],
           "categories": [{"id": 1, "name": "a", "keypoints": ["nose"]}], "annotations": anns}

    def index() -> Any:
        found = coco.read_coco(doc)
        return found.problems, {k: [id(a) for a in v] for k, v in found.annotations.items()}

    compiled = index()
    with mock.patch.object(coco, "_coco_index", None):
        assert index() == compiled


@pytest.mark.skipif(coco_lines._coco_templates is None, reason="augment._native was not built")
def test_the_compiled_passes_give_way_to_what_json_loads_never_makes() -> None:
    """A dict subclass whose encoding changes the annotations under the compiled templates, a
    value whose truth raises: they give way (Python's paths then say what they say), never
    read what was freed."""
    from augment import _native

    anns: list[Any] = []

    class Shrinking(dict):
        def items(self):  # the encoder asks: the annotations go, and their memory is reused
            anns.clear()
            [dict(zz=i, yy=[i] * 20) for i in range(1000)]
            return super().items()

    anns.append({"category_id": 1, "x": [Shrinking(a=1)], **{f"k{i}": "v" * 50 for i in range(50)}})
    assert _native.coco_templates(anns, coco_lines.encode_basestring, coco._ENCODE) is None

    class Untrue:
        def __bool__(self) -> bool:
            raise RuntimeError("no truth")

    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": Untrue()}
    assert _native.coco_arrays([ann], bytearray(32), bytearray(8), bytearray(8)) is None
    assert _native.coco_index([ann], 0, {1: {"width": 5, "height": 5}}, {1: {}}, set(), {}, 1.0) == 0
