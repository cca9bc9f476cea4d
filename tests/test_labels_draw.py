"""Labels drawn on their image (augment.labels.draw): the pixels change where the labels are, and only there."""

from __future__ import annotations

import itertools

import numpy as np
import PIL.Image
import pytest

from augment.labels.draw import FILL_ALPHA, category_colour, draw_labels, scale_of
from augment.labels.model import LabelError, Labels

GREY = 128
CATEGORIES = {1: {"name": "thing"},
              2: {"name": "face", "keypoints": ["left_eye", "right_eye", "nose"], "skeleton": [[1, 2], [1, 3]]}}


def canvas(size: tuple[int, int], mode: str = "RGB") -> PIL.Image.Image:
    return PIL.Image.new(mode, size, GREY if mode == "L" else (GREY,) * 3)


def changed(before: PIL.Image.Image, after: PIL.Image.Image) -> np.ndarray:
    """Where ``after`` differs from ``before`` (both seen as RGB)."""
    return np.any(np.asarray(before.convert("RGB")) != np.asarray(after.convert("RGB")), axis=-1)


def one_box(size: tuple[int, int], box: tuple[float, float, float, float], mark: str | None = None) -> Labels:
    return Labels(size, [box], [1], [7], marks=None if mark is None else [mark])


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("size", [(24, 16), (640, 480), (3000, 2000)])
def test_a_box_outline_changes_its_edge_and_nothing_far_from_it(size, mode):
    w, h = size
    box = (w * 0.25, h * 0.5, w * 0.75, h * 0.9)
    image = canvas(size, mode)
    out = draw_labels(image, one_box(size, box), CATEGORIES)
    diff = changed(image, out)
    x0, y0, x1, y1 = (round(v) for v in box)
    lw, _ = scale_of(size)
    assert diff[y0:y0 + lw, x0:x1].all() and diff[y1 - lw:y1, x0:x1].all(), "the top and bottom edges are drawn"
    assert diff[y0:y1, x0:x0 + lw].all() and diff[y0:y1, x1 - lw:x1].all(), "the left and right edges are drawn"
    assert not diff[y0 + lw + 1:y1 - lw - 1, x0 + lw + 1:x1 - lw - 1].any(), "the inside of the box is untouched"
    caption_rows = slice(max(0, y0 - 3 * scale_of(size)[1]), y1)
    outside = np.ones_like(diff)
    outside[caption_rows, x0:] = False
    assert not diff[outside].any(), "nothing far from the box (and its caption above it) changes"
    assert out.mode == "RGB" and out.size == size


def test_the_box_colour_is_its_category_colour():
    size = (200, 100)
    out = np.asarray(draw_labels(canvas(size), one_box(size, (50, 60, 150, 95)), CATEGORIES))
    assert tuple(out[80, 50]) == category_colour(1) and tuple(out[95 - 1, 100]) == category_colour(1)


def test_a_mask_is_a_translucent_fill_of_exactly_its_pixels():
    size = (120, 80)
    mask = np.zeros((80, 120), bool)
    mask[30:60, 10:50] = True
    mask[35:45, 20:30] = False  # a hole stays as it was
    labels = Labels(size, [(0, 0, 120, 80)], [1], [1], masks=[mask])
    image = canvas(size)
    out = draw_labels(image, labels, CATEGORIES)
    pixels = np.asarray(out).astype(int)
    lw = scale_of(size)[0]
    inside = mask.copy()
    inside[:lw + 12] = False  # the caption's tab sits inside the box's top edge, at the image's
    inside[:, :lw], inside[-lw:], inside[:, -lw:] = False, False, False
    expected = (GREY * (256 - FILL_ALPHA) + np.array(category_colour(1)) * FILL_ALPHA + 128) >> 8
    assert (pixels[inside] == expected).all(), "every mask pixel is blended with the category colour"
    assert (pixels[37:43, 22:28] == GREY).all(), "the mask's hole is untouched"
    assert (pixels[65:75, 60:110] == GREY).all(), "outside the mask is untouched"


def face(points: list[tuple[float, float, int]], size: tuple[int, int] = (200, 200)) -> Labels:
    return Labels(size, [(20, 20, 180, 180)], [2], [3], keypoints=[np.array(points, np.float64)],
                  keypoint_names={2: ("left_eye", "right_eye", "nose")})


def test_keypoints_are_dots_joined_by_their_skeleton_and_unlabelled_ones_are_not_drawn():
    image = canvas((200, 200))
    diff = changed(image, draw_labels(image, face([(60, 80, 2), (140, 80, 2), (100, 130, 0)]), CATEGORIES))
    assert diff[80, 60] and diff[80, 140], "each visible keypoint is a dot"
    assert diff[80, 100], "the skeleton joins the eyes (COCO's 1-based pair [1, 2])"
    assert not diff[125:136, 95:106].any(), "the nose is not labelled: neither its dot nor its bone is drawn"
    assert not diff[105, 80], "no bone towards the unlabelled nose"


def test_a_hidden_keypoint_is_a_ring_and_left_and_right_are_told_apart():
    image = canvas((200, 200))
    out = np.asarray(draw_labels(image, face([(0, 0, 0), (0, 0, 0), (100, 130, 1)]), CATEGORIES)).astype(int)
    assert (out[130, 100] == GREY).all(), "a labelled but hidden keypoint is a ring: its centre is untouched"
    assert (out[127:134, 97:104] != GREY).any()
    out = np.asarray(draw_labels(image, face([(60, 80, 2), (140, 80, 2), (100, 130, 0)]), CATEGORIES)).astype(int)
    assert out[80, 60].sum() > out[80, 140].sum(), "the left keypoint is lighter than the right one"


def test_a_marked_object_has_a_dashed_outline_and_its_mark_in_its_caption():
    size = (300, 200)
    image = canvas(size)
    plain = changed(image, draw_labels(image, one_box(size, (40, 60, 260, 180)), CATEGORIES))
    marked = changed(image, draw_labels(image, one_box(size, (40, 60, 260, 180), "outside"), CATEGORIES))
    bottom_plain, bottom_marked = plain[179, 40:260], marked[179, 40:260]
    assert bottom_plain.all() and bottom_marked.any() and not bottom_marked.all(), "dashes, with gaps between them"
    assert marked[:60, 40:].sum() > plain[:60, 40:].sum(), "the caption above says more: the name and the mark"


def test_drawing_is_deterministic_and_leaves_the_input_alone():
    image = canvas((160, 120))
    before = image.tobytes()
    mask = np.zeros((120, 160), bool)
    mask[20:90, 30:100] = True
    labels = Labels((160, 120), [(30, 20, 100, 90), (90, 40, 150, 110)], [1, 2], [1, 2], masks=[mask, None],
                    keypoints=[None, np.array([[100, 60, 2], [130, 60, 2], [115, 90, 1]], np.float64)],
                    marks=[None, "min_area"])
    first, second = draw_labels(image, labels, CATEGORIES), draw_labels(image, labels, CATEGORIES)
    assert first.tobytes() == second.tobytes()
    assert image.tobytes() == before


def test_empty_labels_draw_nothing_on_a_copy():
    for mode in ("RGB", "L"):
        image = canvas((50, 40), mode)
        out = draw_labels(image, Labels.empty((50, 40)), CATEGORIES)
        assert out is not image and out.tobytes() == image.convert("RGB").tobytes()


def test_an_image_with_transparency_keeps_it():
    image = PIL.Image.new("RGBA", (60, 40), (GREY, GREY, GREY, 100))
    out = draw_labels(image, one_box((60, 40), (10, 10, 50, 30)), CATEGORIES)
    assert out.mode == "RGBA" and np.asarray(out)[0, 0, 3] == 100


def test_labels_of_another_size_are_refused():
    with pytest.raises(LabelError, match="10x10 image on a 20x10 image"):
        draw_labels(canvas((20, 10)), Labels.empty((10, 10)))


def test_boxes_past_the_edge_and_categories_without_a_name_still_draw():
    size = (100, 60)
    labels = Labels(size, [(-20, -10, 130, 90), (99.6, 10, 140, 20)], [9, 9], [1, 2])
    out = draw_labels(canvas(size), labels)
    diff = changed(canvas(size), out)
    assert diff[:, 0].all() and diff[-1, :].all(), "a box past the edge is drawn clamped to it"


def test_colours_are_stable_and_neighbouring_categories_differ():
    assert category_colour(3) == category_colour(3) == (lambda: category_colour(3))()
    colours = [category_colour(i) for i in range(1, 16)]
    assert len(set(colours)) == len(colours)
    assert all(sum(abs(a - b) for a, b in zip(c, d, strict=True)) > 60 for c, d in itertools.pairwise(colours))


def test_line_width_and_font_grow_with_the_image():
    assert scale_of((16, 16)) == (1, 8)
    assert scale_of((640, 480))[0] < scale_of((4000, 3000))[0]
    assert scale_of((640, 480))[1] < scale_of((4000, 3000))[1]
