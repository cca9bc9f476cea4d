"""Labels follow the pixels (augment.labels, Pipeline.apply_labelled): truth read from the output pixels.

A synthetic image holds solid-colour objects, and small solid markers where an object's keypoints
are; after the ops, each object's box must match the extent of its colour in the output, its mask
the colour's pixels, each keypoint must sit on its marker. Under both kernels, and through a JPEG
Source (the first op run on the source, at reduced size or on a partial decode)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest

from augment import samples, variant
from augment.images import encode, open_image
from augment.labels.follow import LabelRules, applied_ops, flip_permutation
from augment.labels.model import LabelError, Labels, pack_masks, unpack_masks
from augment.labels.refuse import refusals
from augment.pipeline import Pipeline, derive_seed

W, H = 480, 360
BACKGROUND = (128, 128, 128)
# object: colour, box (x0, y0, x1, y1) in pixels
OBJECTS = {
    1: ((230, 20, 20), (40, 40, 150, 130)),
    2: ((20, 200, 20), (300, 60, 420, 200)),
    3: ((20, 20, 230), (120, 220, 260, 330)),
}
# keypoints of object 3, on markers: name -> (colour, centre pixel)
MARKERS = {
    "left_eye": ((250, 250, 20), (220, 250)),
    "right_eye": ((20, 240, 240), (160, 250)),
    "nose": ((240, 20, 240), (190, 290)),
}
NAMES = tuple(MARKERS)
R = 4  # marker half size


def scene() -> tuple[PIL.Image.Image, Labels]:
    """The synthetic image and its labels (object 3, facing us, has its left eye on the image's right)."""
    image = PIL.Image.new("RGB", (W, H), BACKGROUND)
    draw = PIL.ImageDraw.Draw(image)
    masks = []
    for colour, (x0, y0, x1, y1) in OBJECTS.values():
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=colour)
        mask = np.zeros((H, W), bool)
        mask[y0:y1, x0:x1] = True
        masks.append(mask)
    points = []
    for colour, (cx, cy) in MARKERS.values():
        draw.rectangle((cx - R, cy - R, cx + R, cy + R), fill=colour)
        masks[2][cy - R:cy + R + 1, cx - R:cx + R + 1] = False  # the marker's pixels are not the object's colour
        points.append([cx + 0.5, cy + 0.5, 2])
    boxes = [box for _, box in OBJECTS.values()]
    labels = Labels((W, H), boxes, [1, 1, 2], list(OBJECTS), masks=masks,
                    keypoints=[None, None, np.array(points, np.float64)], keypoint_names={2: NAMES})
    return image, labels


def colour_mask(image: PIL.Image.Image, colour: tuple[int, int, int]) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB"), np.int32)
    return np.abs(pixels - np.array(colour)).sum(-1) < 100


def extent(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max(1, (a | b).sum())


def spec(ops: list, kernels: str = "fast") -> dict:
    return {"version": 1, "kernels": kernels, "ops": ops}


CASES = {
    "crop": [{"RandomResizedCrop": {"size": [200, 260], "scale": [0.4, 1.0]}}],
    "flip": [{"RandomHorizontalFlip": {"p": 1.0}}],
    "resize": [{"Resize": {"size": 150}}],
    "rotate": [{"RandomRotation": {"degrees": 35}}],
    "composed": [{"RandomResizedCrop": {"size": [240, 240], "scale": [0.5, 1.0]}},
                 {"RandomChoice": {"ops": [{"RandomHorizontalFlip": {"p": 1.0}}, {"RandomVerticalFlip": {"p": 1.0}}]}},
                 {"RandomRotation": {"degrees": 20}}, {"ColorJitter": {"brightness": 0.1}}],
}


def check_truth(case: str, out: PIL.Image.Image, labels: Labels, records: list, jpeg: bool) -> None:
    """Each object's box and mask against its colour's pixels in ``out``, each keypoint on its marker."""
    by_id = {int(i): k for k, i in enumerate(labels.ids)}
    for oid, (colour, _box) in OBJECTS.items():
        seen = colour_mask(out, colour)
        if seen.sum() < 400:  # (nearly) cropped away: too few pixels to read a box from
            continue
        assert oid in by_id, f"{case}: object {oid} is in the output ({seen.sum()} px) but was dropped"
        k = by_id[oid]
        box, truth = labels.boxes[k], extent(seen)
        if case in ("rotate", "composed"):
            assert np.all(box[:2] <= truth[:2] + 1.5) and np.all(box[2:] >= truth[2:] - 1.5), \
                f"{case}: object {oid}'s box {box} does not contain its pixels {truth}"
        else:
            assert iou(box, truth) >= 0.9, f"{case}: object {oid}: box {box}, its pixels {truth}"
        assert mask_iou(labels.masks[k], seen) >= (0.85 if jpeg else 0.9), f"{case}: object {oid}'s mask"
    if 3 not in by_id:
        return
    k = by_id[3]
    points = labels.keypoints[k]
    mirrored = sum(name in ("RandomHorizontalFlip", "RandomVerticalFlip") for name in applied_ops(records)) % 2
    for j, name in enumerate(NAMES):
        x, y, v = points[j]
        if v == 0:
            continue
        # after a mirroring flip the marker drawn as one eye is where the other eye now is
        marker = {"left_eye": "right_eye", "right_eye": "left_eye"}.get(name, name) if mirrored else name
        seen = colour_mask(out, MARKERS[marker][0])
        assert seen.sum() >= 4, f"{case}: {name} is labelled but its marker is gone"
        x0, y0, x1, y1 = extent(seen)
        assert x0 - 1.5 <= x <= x1 + 1.5 and y0 - 1.5 <= y <= y1 + 1.5, \
            f"{case}: {name} at ({x:.1f}, {y:.1f}) is off its marker {(x0, y0, x1, y1)}"


@pytest.mark.parametrize("kernels", ["fast", "torchvision"])
@pytest.mark.parametrize("case", list(CASES))
def test_labels_land_on_their_pixels(case, kernels):
    image, labels = scene()
    pipeline = Pipeline(spec(CASES[case], kernels))
    for copy in range(4):
        seed = derive_seed(0, "scene.png", copy)
        out, records, moved, counts = pipeline.apply_labelled(image, seed, labels)
        check_truth(case, out, moved, records, jpeg=False)
        assert counts.kept == len(moved) and counts.kept + sum(counts.dropped.values()) == len(labels)
        plain, plain_records = pipeline.apply(image, seed)
        assert plain.tobytes() == out.tobytes() and plain_records == records, "labels change no pixel"


@pytest.mark.parametrize("case", ["crop", "resize", "composed"])
def test_labels_follow_the_first_op_run_on_a_jpeg_source(case):
    """A first RandomResizedCrop or Resize runs on the JPEG itself (reduced or partial decode): the
    labels get the params drawn there."""
    image, labels = scene()
    big = image.resize((W * 2, H * 2), PIL.Image.NEAREST)  # large enough for a reduced decode
    labels = Labels((W * 2, H * 2), labels.boxes * 2, labels.categories, labels.ids,
                    masks=[np.kron(m, np.ones((2, 2), bool)) for m in labels.masks],
                    keypoints=[None, None, np.c_[labels.keypoints[2][:, :2] * 2, labels.keypoints[2][:, 2:]]],
                    keypoint_names=labels.keypoint_names)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    pipeline = Pipeline(spec(CASES[case]))
    assert pipeline._on_source is not None, "the first op runs on the source"
    for copy in range(4):
        seed = derive_seed(0, "scene.jpg", copy)
        out, records, moved, _ = pipeline.apply_labelled(open_image(data), seed, labels)
        check_truth(case, out, moved, records, jpeg=True)
        plain, _ = pipeline.apply(open_image(data), seed)
        assert plain.tobytes() == out.tobytes()


def test_a_flip_keeps_the_left_eye_on_the_left():
    """Object 3 faces us: its left eye is on the image's right. Mirrored left-right it still faces us,
    its left eye still on the right; mirrored top-bottom it is upside down, its left eye on the left;
    both flips are a half turn, which mirrors nothing (upside down too, left eye on the left)."""
    image, labels = scene()
    assert labels.keypoints[2][0][0] > labels.keypoints[2][1][0]
    for ops, left_on_the_right in (([{"RandomHorizontalFlip": {"p": 1.0}}], True),
                                   ([{"RandomVerticalFlip": {"p": 1.0}}], False),
                                   ([{"RandomHorizontalFlip": {"p": 1.0}}, {"RandomVerticalFlip": {"p": 1.0}}], False),
                                   ([{"RandomApply": {"ops": [{"RandomHorizontalFlip": {"p": 1.0}}], "p": 1.0}}],
                                    True)):
        _, _, moved, _ = Pipeline(spec(ops)).apply_labelled(image, 1, labels)
        left, right = moved.keypoints[2][0], moved.keypoints[2][1]
        assert (left[0] > right[0]) == left_on_the_right, ops


def test_flip_pairs_by_name_and_given():
    names = ("nose", "left_eye", "right_eye", "leftHand", "rightHand", "tail_a", "tail_b")
    assert flip_permutation(names) == [0, 2, 1, 4, 3, 5, 6]
    assert flip_permutation(names, (("tail_a", "tail_b"),)) == [0, 2, 1, 4, 3, 6, 5]


def test_objects_that_leave_the_image_are_dropped_or_marked_and_counted():
    image, labels = scene()
    crop = spec([{"CenterCrop": {"size": [200, 300]}}])  # keeps x 90-390, y 80-280
    _, _, kept, counts = Pipeline(crop).apply_labelled(image, 0, labels)
    # object 1 keeps 0.30 of its box (3000 px), object 2 0.64 (10800 px), object 3 0.55 (8400 px)
    assert kept.ids.tolist() == [1, 2, 3] and counts.clipped == 3 and counts.dropped == {}
    assert np.all(kept.boxes >= 0) and np.all(kept.boxes[:, [0, 2]] <= 300) and np.all(kept.boxes[:, [1, 3]] <= 200)
    assert counts.hidden_keypoints == 1 and kept.keypoints[2][2].tolist() == [0, 0, 0]  # the nose (y 290) left
    _, _, kept, counts = Pipeline(crop).apply_labelled(image, 0, labels, LabelRules(min_visibility=0.4))
    assert kept.ids.tolist() == [2, 3] and counts.dropped == {"min_visibility": 1} and counts.kept == 2
    _, _, marked, counts = Pipeline(crop).apply_labelled(image, 0, labels, LabelRules("clamp", min_area=5000))
    assert len(marked) == 3 and counts.marked == {"min_area": 1} and marked.marks == ["min_area", None, None]
    away = spec([{"RandomAffine": {"degrees": 0, "translate": [1.0, 1.0]}}])
    for seed in range(20):  # a shift by up to the image's size moves some objects out altogether
        _, _, left, counts = Pipeline(away).apply_labelled(image, seed, labels)
        assert counts.kept + counts.dropped.get("outside", 0) == 3
        assert all((b[2] - b[0]) > 0 and (b[3] - b[1]) > 0 for b in left.boxes)


def test_keypoints_outside_become_unlabelled_and_unlabelled_ones_stay_so():
    image, labels = scene()
    points = labels.keypoints[2].copy()
    points[2] = [0, 0, 0]  # the nose is not labelled
    labels.keypoints[2] = points
    _, _, moved, counts = Pipeline(spec([{"RandomHorizontalFlip": {"p": 1.0}}])).apply_labelled(image, 0, labels)
    assert moved.keypoints[2][2].tolist() == [0, 0, 0], "a flip does not move an unlabelled keypoint to x = width"
    crop = spec([{"CenterCrop": {"size": [60, 480]}}])  # rows 150-210: object 3 (rows 220-330) is outside
    _, _, moved, counts = Pipeline(crop).apply_labelled(image, 0, labels, LabelRules("clamp"))
    assert counts.marked == {"outside": 2} and moved.marks[2] == "outside"
    assert counts.hidden_keypoints == 2 and not moved.keypoints[2].any()


def test_masks_are_never_interpolated_and_pack_exactly():
    image, labels = scene()
    masks = [np.random.default_rng(i).random((H, W)) < 0.5 for i in range(11)]
    assert all((a == b).all() for a, b in zip(unpack_masks(pack_masks(masks, (W, H)), 11), masks, strict=True))
    out_spec = spec([{"RandomResizedCrop": {"size": [123, 77], "interpolation": "bicubic"}},
                     {"RandomRotation": {"degrees": 40, "interpolation": "bilinear", "fill": 255}},
                     {"ElasticTransform": {"alpha": [30, 30]}}], "torchvision")
    _, _, moved, _ = Pipeline(out_spec).apply_labelled(image, 3, labels)
    assert all(m.dtype == bool and m.shape == (123, 77) for m in moved.masks)


def test_an_identity_spec_changes_no_label():
    image, labels = scene()
    for kernels in ("fast", "torchvision"):
        _, _, same, counts = Pipeline(spec([], kernels)).apply_labelled(image, 0, labels)
        assert not same.moved and counts.kept == 3 and counts.clipped == 0
        np.testing.assert_array_equal(same.boxes, labels.boxes)
        assert all((a == b).all() for a, b in zip(same.masks, labels.masks, strict=True))
        np.testing.assert_array_equal(same.keypoints[2], labels.keypoints[2])
    _, _, same, _ = Pipeline(spec([{"ColorJitter": {"brightness": 0.5}}, {"RandomErasing": {"p": 1.0}}])
                             ).apply_labelled(image, 0, labels)
    assert not same.moved, "photometric ops (erasing too) leave labels where they are"


def test_ops_that_cannot_carry_labels_are_named():
    refused = spec([{"Resize": {"size": 64}},
                    {"RandomApply": {"ops": [{"TrivialAugmentWide": {}}]}},
                    {"RandomCrop": {"size": 32, "padding": [4, 4, 4, 4], "padding_mode": "reflect"}},
                    {"RandomCrop": {"size": 32, "padding": [4, 4, 4, 4], "padding_mode": "edge"}}])
    found = refusals(refused)
    assert [(w, op) for w, op, _ in found] == [("ops[1].RandomApply.ops[0]", "TrivialAugmentWide"),
                                                 ("ops[2]", "RandomCrop")]
    assert "refuses boxes" in found[0][2] and "mirrors" in found[1][2]
    image, labels = scene()
    with pytest.raises(LabelError, match=r"ops\[1\]\.RandomApply\.ops\[0\] TrivialAugmentWide"):
        Pipeline(refused).apply_labelled(image, 0, labels)
    assert not refusals(spec([{name: {}} for name in ("RandomHorizontalFlip", "ColorJitter", "RandomErasing")]))


@pytest.mark.parametrize("name", ["AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"])
def test_torchvision_refuses_labels_in_each_policy_refusals_names(name):
    """What refusals() says is what torchvision does: each policy raises on boxes."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    boxes = tv_tensors.BoundingBoxes(torch.tensor([[1.0, 1, 5, 5]]), format="XYXY", canvas_size=(8, 8))
    with pytest.raises(TypeError, match="BoundingBoxes are not supported"):
        getattr(v2, name)()(torch.zeros(3, 8, 8, dtype=torch.uint8), boxes)
    assert refusals(spec([{name: {}}]))


def test_labels_of_another_size_are_refused():
    image, labels = scene()
    with pytest.raises(LabelError, match="labels of a 480x360 image on a 240x360 image"):
        Pipeline(spec([])).apply_labelled(image.crop((0, 0, 240, 360)), 0, labels)


def test_unlabelled_outputs_are_what_variant_make_writes():
    """apply() is untouched by labels: variant.make's bytes on the bundled samples equal the pixels
    apply_labelled makes with (empty) labels, copy by copy."""
    pipeline = Pipeline("light")
    for name in samples.list_samples()[:3]:
        data = samples.sample_path(name).read_bytes()
        made = list(variant.make(pipeline, data, name, [0, 1]))
        for v in made:
            source = open_image(data)
            out, records, _, _ = pipeline.apply_labelled(source, v.seed, Labels.empty(source.size))
            assert records == v.params
            assert hashlib.sha256(encode(out, v.format, pipeline.spec.output.quality)).hexdigest() == v.output_sha256


def test_float_noise_and_a_tolerated_sliver_cut_nothing():
    """Resize scales by float32 ratios: a box on the right edge of a 999x500 image lands a few 1e-5 px past
    the 224-high output's edge, which no edge cut. A box a reader let lie past its image by under a pixel
    (BOX_TOLERANCE) is clamped before the ops move it, so a plain flip does not call it cut on the other
    side; an object an edge does cut is still clipped."""
    edge = Labels((999, 500), [[10, 10, 999, 400]], [1], [7])
    _, _, out, counts = Pipeline(spec([{"Resize": {"size": 224}}])).apply_labelled(
        PIL.Image.new("RGB", (999, 500)), 0, edge)
    assert (counts.kept, counts.clipped) == (1, 0) and out.clipped == [False]
    sliver = Labels((80, 60), [[-0.6, 10, 30, 40], [50, 10, 80.8, 60.5]], [1, 1], [1, 2])
    _, _, out, counts = Pipeline(spec([{"RandomHorizontalFlip": {"p": 1.0}}])).apply_labelled(
        PIL.Image.new("RGB", (80, 60)), 0, sliver)
    assert (counts.kept, counts.clipped) == (2, 0) and out.clipped == [False, False]
    np.testing.assert_allclose(out.boxes, [[50, 10, 80, 40], [0, 10, 30, 60]])
    _, _, out, counts = Pipeline(spec([{"CenterCrop": {"size": [60, 78]}}])).apply_labelled(
        PIL.Image.new("RGB", (80, 60)), 0, sliver)  # cols 1..79: both boxes lose a column
    assert counts.clipped == 2 and out.clipped == [True, True]


def test_a_label_move_that_fails_says_it_failed_on_the_labels(monkeypatch):
    """A geometric op moves the labels after the pixels, inside the op's forward: its failure there names the
    labels, not the image the op had just transformed (as the first op on a source already said)."""
    from augment.labels import moves
    from augment.pipeline import OpFailed

    def broken(transform, boxes, params):
        raise ValueError("no such box")

    monkeypatch.setitem(moves.MOVES, "RandomHorizontalFlip", broken)
    image, labels = scene()
    flip = Pipeline(spec([{"RandomHorizontalFlip": {"p": 1.0}}]))
    with pytest.raises(OpFailed, match=r"^RandomHorizontalFlip failed on the labels of a 3x\d+x\d+ \(CxHxW\) image: "
                                       r"no such box$"):
        flip.apply_labelled(image, 0, labels)
    assert flip.apply(image, 0)[0].size == image.size, "the pixels alone still go"
