"""The numpy box moves (augment.labels.moves) give what torchvision's kernels give.

A labelled job moves boxes through the commonest geometric ops in numpy, for speed; these
tests hold each move to the op's own ``transform`` on BoundingBoxes, over many draws and
random boxes (inside, across and outside the image): bit for bit for crops, resizes and
flips, to 1e-9 px for rotation and affine (torch's matmul rounds by its operands' memory
alignment, a few units in the last place).
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from augment.labels.model import Boxes, Labels, from_tv, to_tv
from augment.labels.moves import MOVES
from augment.pipeline import Pipeline, seeded_draws

OPS = [
    ("RandomResizedCrop", v2.RandomResizedCrop(224)),
    ("RandomResizedCrop", v2.RandomResizedCrop((97, 161), scale=(0.05, 1.0))),
    ("RandomResizedCrop", v2.RandomResizedCrop(640)),  # upscaling
    ("RandomHorizontalFlip", v2.RandomHorizontalFlip(1.0)),
    ("RandomVerticalFlip", v2.RandomVerticalFlip(1.0)),
    ("Resize", v2.Resize(128)),
    ("Resize", v2.Resize((300, 211))),
    ("Resize", v2.Resize(200, max_size=260)),
    ("Resize", v2.Resize(480)),  # the short side already 480: nothing moves
    ("RandomCrop", v2.RandomCrop(200)),
    ("RandomCrop", v2.RandomCrop((480, 640))),  # the whole image: no crop
]


def random_boxes(rng: np.random.Generator, width: int, height: int, n: int = 40) -> np.ndarray:
    x = rng.uniform(-0.3 * width, 1.2 * width, (n, 2))
    y = rng.uniform(-0.3 * height, 1.2 * height, (n, 2))
    return np.stack([x.min(1), y.min(1), x.max(1) + 0.5, y.max(1) + 0.5], axis=1)


@pytest.mark.parametrize("name, op", OPS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPS)])
def test_each_numpy_move_gives_torchvisions_bits(name, op):
    rng = np.random.default_rng(7)
    image = PIL.Image.new("RGB", (640, 480))
    torch.manual_seed(0)
    for _ in range(25):
        array = random_boxes(rng, 640, 480)
        params = op.make_params([image])
        moved = MOVES[name](op, Boxes(array.copy(), (480, 640)), params)
        expected = op.transform(Boxes(array.copy(), (480, 640)).tv(), params)
        assert moved is not None
        assert moved.canvas == tuple(expected.canvas_size)
        assert moved.array.dtype == np.float64
        assert np.array_equal(moved.array, expected.as_subclass(torch.Tensor).numpy())


def test_a_padding_crop_is_left_to_torchvision():
    op = v2.RandomCrop(150, padding=8)
    params = op.make_params([PIL.Image.new("RGB", (200, 200))])
    assert MOVES["RandomCrop"](op, Boxes(np.zeros((1, 4)), (200, 200)), params) is None


def test_boxes_travel_as_numpy_and_come_back_as_they_went():
    labels = Labels((64, 48), [[1.5, 2.0, 30.25, 40.0]], [3], [9])
    target = to_tv(labels)
    assert isinstance(target["boxes"], Boxes) and target["boxes"].canvas == (48, 64)
    assert target["boxes"].array is not labels.boxes  # a copy: the ops never touch the input's labels
    back = from_tv(labels, {"boxes": target["boxes"].tv()}, (64, 48))
    assert np.array_equal(back.boxes, labels.boxes)
    assert isinstance(target["boxes"].tv(), tv_tensors.BoundingBoxes)


def test_a_spec_of_several_moves_moves_boxes_as_torchvision_alone_would():
    """Pipeline.apply_labelled moves boxes in numpy op after op; the result is what torchvision gives when
    every op runs its own kernels on BoundingBoxes with the same draws. The reference draws them under
    pipeline.seeded_draws, the very function Pipeline._run seeds an image's draws with: were the pipeline to
    seed otherwise (a derived seed, its own generator), this comparison would follow it."""
    spec = {"version": 1, "seed": 0, "copies": 1, "ops": [
        {"RandomResizedCrop": {"size": 200, "scale": [0.3, 1.0]}}, {"RandomHorizontalFlip": {"p": 0.5}},
        {"RandomRotation": {"degrees": 25}}, {"RandomVerticalFlip": {"p": 0.5}}, {"Resize": {"size": 150}}]}
    rng = np.random.default_rng(3)
    image = PIL.Image.new("RGB", (320, 240), (90, 120, 150))
    pipeline = Pipeline(spec)
    reference = v2.Compose([v2.RandomResizedCrop(200, scale=(0.3, 1.0)), v2.RandomHorizontalFlip(0.5),
                            v2.RandomRotation(25), v2.RandomVerticalFlip(0.5), v2.Resize(150)])
    for seed in range(12):
        boxes = random_boxes(rng, 320, 240, 10).clip(0, [320, 240, 320, 240])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = Labels((320, 240), boxes, np.ones(10), np.arange(10))
        moved = pipeline._run(image, seed, None, to_tv(labels))[1]["boxes"]
        with seeded_draws(seed):
            _, expected = reference(image, Boxes(boxes.copy(), (240, 320)).tv())
        array = moved.array if isinstance(moved, Boxes) else moved.as_subclass(torch.Tensor).numpy()
        assert np.allclose(array, expected.as_subclass(torch.Tensor).numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("op", [v2.RandomRotation(30), v2.RandomRotation((-5, 45)),
                                v2.RandomAffine(20, translate=(0.1, 0.2), scale=(0.7, 1.3), shear=(-10, 10, -5, 5)),
                                v2.RandomAffine(0, shear=15)], ids=["rotation", "rotation-range", "affine", "shear"])
def test_rotation_and_affine_moves_give_torchvisions_bits(op):
    rng = np.random.default_rng(11)
    image = PIL.Image.new("RGB", (640, 480))
    name = type(op).__name__
    torch.manual_seed(1)
    for _ in range(25):
        array = random_boxes(rng, 640, 480)
        params = op.make_params([image])
        moved = MOVES[name](op, Boxes(array.copy(), (480, 640)), params)
        expected = op.transform(Boxes(array.copy(), (480, 640)).tv(), params)
        assert moved is not None and moved.canvas == tuple(expected.canvas_size)
        assert np.allclose(moved.array, expected.as_subclass(torch.Tensor).numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("op", [v2.RandomRotation(30, expand=True), v2.RandomRotation(30, center=[10, 20]),
                                v2.RandomAffine(10, center=[5, 5])], ids=["expand", "centre", "affine-centre"])
def test_a_rotation_that_expands_or_turns_about_another_centre_is_left_to_torchvision(op):
    params = op.make_params([PIL.Image.new("RGB", (64, 48))])
    assert MOVES[type(op).__name__](op, Boxes(np.ones((2, 4)), (48, 64)), params) is None


def test_the_compiled_affine_gives_numpys_bits(monkeypatch):
    """A rotation's or an affine's boxes come from the compiled affine_boxes where the package
    has it: each corner as numpy maps it, the same bits (the zero's sign aside, which every
    writer drops)."""
    from augment.labels import moves

    if moves._affine_boxes is None:
        pytest.skip("built without a C compiler: numpy's calls alone")
    rng = np.random.default_rng(5)
    op = v2.RandomAffine(40, translate=(0.2, 0.2), scale=(0.5, 1.5), shear=(-20, 20, -10, 10))
    image = PIL.Image.new("RGB", (640, 480))
    for _ in range(200):
        boxes = Boxes(random_boxes(rng, 640, 480), (480, 640))
        params = op.make_params([image])
        compiled = MOVES["RandomAffine"](op, boxes, params).array
        monkeypatch.setattr(moves, "_affine_boxes", None)
        numpy = MOVES["RandomAffine"](op, boxes, params).array
        monkeypatch.undo()
        assert np.array_equal(compiled + 0.0, numpy + 0.0)
