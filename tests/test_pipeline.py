"""Seeding and capture of sampled parameters, on real photos, for every op."""

from __future__ import annotations

import json

import PIL.Image
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from augment.kernels import color_jitter, to_pil, to_tensor
from augment.pipeline import SEED_BITS, OpFailed, Pipeline, derive_seed
from augment.spec import KERNELS, load_spec
from tests.op_cases import case_id, cases, one_op_spec

SEEDS = [derive_seed(7, "chelsea.jpg", k) for k in range(4)]


def test_derive_seed_is_a_stable_function_of_seed_path_and_copy():
    # Golden values: changing them changes every output of every existing job.
    assert derive_seed(0, "a.jpg", 0) == 4521317409881426
    values = {derive_seed(s, p, k) for s in (0, 1) for p in ("a.jpg", "b/a.jpg") for k in (0, 1)}
    assert len(values) == 8, "each of seed, path and copy changes the seed"
    assert all(0 <= v < 2**SEED_BITS for v in values)


@pytest.mark.parametrize("case", cases(), ids=case_id)
@pytest.mark.parametrize("which", ["rgb", "gray"])
def test_every_op_runs_deterministically_and_records_json_params(case, which, rgb_image, gray_image):
    name, _, params = case
    image = rgb_image if which == "rgb" else gray_image
    pipeline = Pipeline(one_op_spec(name, params))
    if which == "gray" and any(isinstance(params.get(k), list) and len(params[k]) == 3 for k in ("fill", "value")):
        # A colour fill cannot apply to a one-channel image: the op is named in the error.
        with pytest.raises(OpFailed, match=f"^{name} failed on a 1x"):
            pipeline.apply(image, SEEDS[0])
        return
    for seed in SEEDS:
        out, rec = pipeline.apply(image, seed)
        again, rec2 = pipeline.apply(image, seed)
        assert out.dtype == torch.uint8 and out.shape[0] == image.shape[0], "channels are kept"
        assert torch.equal(out, again) and rec == rec2, "same seed, same output and params"
        assert json.loads(json.dumps(rec)) == rec, "params are plain JSON"
        assert len(rec) == 1 and rec[0]["op"] == name and isinstance(rec[0]["applied"], bool)


@pytest.mark.parametrize("kernels", KERNELS)
def test_the_pipeline_is_torchvision_itself(rgb_image, kernels):
    """Running the plain v2.Compose under the same seed gives the same pixels as apply()."""
    pipeline = Pipeline({**load_spec("strong").to_dict(), "kernels": kernels})
    image = to_pil(rgb_image) if kernels == "fast" else rgb_image
    for seed in SEEDS:
        out, _ = pipeline.apply(image, seed)
        torch.manual_seed(seed)
        assert _same(pipeline.transform(image), out)


def test_the_result_has_the_type_given_and_does_not_depend_on_it(rgb_image):
    for kernels in KERNELS:
        pipeline = Pipeline({**load_spec("strong").to_dict(), "kernels": kernels})
        from_tensor, rec = pipeline.apply(rgb_image, SEEDS[0])
        from_pil, rec2 = pipeline.apply(to_pil(rgb_image), SEEDS[0])
        assert isinstance(from_tensor, torch.Tensor) and isinstance(from_pil, PIL.Image.Image)
        assert _same(from_tensor, from_pil) and rec == rec2


def test_apply_restores_the_global_generator(rgb_image):
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    Pipeline("light").apply(rgb_image, SEEDS[0])
    assert torch.equal(torch.rand(3), expected)


def test_a_record_is_not_changed_by_later_images(rgb_image):
    for spec in ("strong", one_op_spec("AugMix", {}), one_op_spec("RandAugment", {})):
        pipeline = Pipeline(spec)
        _, rec = pipeline.apply(rgb_image, SEEDS[0])
        snapshot = json.dumps(rec)
        for seed in SEEDS[1:]:
            pipeline.apply(rgb_image, seed)
        assert json.dumps(rec) == snapshot


def test_copies_differ(rgb_image):
    pipeline = Pipeline("light")
    outs = [pipeline.apply(rgb_image, s) for s in SEEDS]
    assert len({json.dumps(rec) for _, rec in outs}) == len(SEEDS)


# The recorded parameters are the truth: re-applying them with torchvision's functional
# API (on the image type the kernels run on) reproduces the output exactly.


def _same(a, b) -> bool:
    return torch.equal(to_tensor(a).as_subclass(torch.Tensor), to_tensor(b).as_subclass(torch.Tensor))


def _spec(name, params, kernels):
    return {**one_op_spec(name, params), "kernels": kernels}


@pytest.mark.parametrize("kernels", KERNELS)
def test_crop_box_reproduces_the_output(rgb_image, kernels):
    """Both kernels resize with torchvision's tensor kernel (fast: on the PIL image's memory)."""
    pipeline = Pipeline(_spec("RandomResizedCrop", {"size": 64}, kernels))
    image = to_pil(rgb_image) if kernels == "fast" else rgb_image
    for seed in SEEDS:
        out, (rec,) = pipeline.apply(image, seed)
        p = rec["params"]
        expected = F.resized_crop(rgb_image, p["top"], p["left"], p["height"], p["width"], [64, 64], antialias=True)
        assert _same(out, expected)


@pytest.mark.parametrize("kernels", KERNELS)
def test_rotation_angle_reproduces_the_output(rgb_image, kernels):
    pipeline = Pipeline(_spec("RandomRotation", {"degrees": 40}, kernels))
    image = to_pil(rgb_image) if kernels == "fast" else rgb_image
    for seed in SEEDS:
        out, (rec,) = pipeline.apply(image, seed)
        assert -40 <= rec["params"]["angle"] <= 40
        assert _same(out, F.rotate(image, rec["params"]["angle"]))


@pytest.mark.parametrize("kernels", KERNELS)
def test_jitter_factors_and_order_reproduce_the_output(rgb_image, kernels):
    pipeline = Pipeline(_spec("ColorJitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
                              kernels))
    fns = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
    keys = ["brightness_factor", "contrast_factor", "saturation_factor", "hue_factor"]
    for seed in SEEDS:
        out, (rec,) = pipeline.apply(rgb_image, seed)
        p = rec["params"]
        assert sorted(p["fn_idx"]) == [0, 1, 2, 3]
        if kernels == "fast":  # the kit's own kernel (bounded against torchvision's in test_kernels)
            assert _same(out, color_jitter(to_pil(rgb_image), p))
            continue
        img = rgb_image
        for i in p["fn_idx"]:
            img = fns[i](img, p[keys[i]])
        assert torch.equal(out, img)


def test_random_apply_records_whether_it_fired(rgb_image):
    never = Pipeline(one_op_spec("RandomApply", {"ops": ["RandomInvert"], "p": 0.0}))
    out, (rec,) = never.apply(rgb_image, SEEDS[0])
    assert rec == {"op": "RandomApply", "applied": False} and torch.equal(out, rgb_image)
    always = Pipeline(one_op_spec("RandomApply", {"ops": [{"RandomInvert": {"p": 1.0}}], "p": 1.0}))
    out, (rec,) = always.apply(rgb_image, SEEDS[0])
    assert rec["applied"] and rec["ops"] == [{"op": "RandomInvert", "applied": True, "params": {}}]
    assert torch.equal(out, F.invert(rgb_image))


def test_random_choice_records_the_branch_that_fired(rgb_image):
    pipeline = Pipeline(one_op_spec("RandomChoice", {"ops": [{"RandomHorizontalFlip": {"p": 1.0}},
                                                             {"RandomVerticalFlip": {"p": 1.0}}]}))
    seen = set()
    for seed in range(16):
        out, (rec,) = pipeline.apply(rgb_image, seed)
        seen.add(rec["choice"])
        flip = F.horizontal_flip if rec["choice"] == 0 else F.vertical_flip
        assert torch.equal(out, flip(rgb_image))
        assert rec["ops"][0]["op"] == ["RandomHorizontalFlip", "RandomVerticalFlip"][rec["choice"]]
    assert seen == {0, 1}


def test_random_order_records_the_order(rgb_image):
    ops = [{"RandomHorizontalFlip": {"p": 1.0}}, {"RandomPosterize": {"bits": 2, "p": 1.0}},
           {"RandomRotation": {"degrees": [30, 30]}}]
    pipeline = Pipeline(one_op_spec("RandomOrder", {"ops": ops}))
    fns = [F.horizontal_flip, lambda im: F.posterize(im, 2), lambda im: F.rotate(im, 30.0)]
    orders = set()
    for seed in range(12):
        out, (rec,) = pipeline.apply(rgb_image, seed)
        assert sorted(rec["order"]) == [0, 1, 2]
        orders.add(tuple(rec["order"]))
        img = rgb_image
        for i in rec["order"]:
            img = fns[i](img)
        assert torch.equal(out, img)
    assert len(orders) > 1


def test_policies_record_the_ops_they_applied(rgb_image):
    for name in ("AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"):
        pipeline = Pipeline(one_op_spec(name, {}))
        _, (rec,) = pipeline.apply(rgb_image, SEEDS[1])
        assert rec["applied"]
        for op in rec["params"]["ops"]:
            assert isinstance(op["name"], str) and isinstance(op["magnitude"], float)
        if name == "RandAugment":
            assert len(rec["params"]["ops"]) == 2
        if name == "AugMix":
            assert len(rec["params"]["weights"]) == 2  # Beta split, then chain weights
            assert abs(sum(rec["params"]["weights"][0]) - 1) < 1e-6


def test_big_random_tensors_are_summarised(rgb_image):
    _, (rec,) = Pipeline(one_op_spec("ElasticTransform", {})).apply(rgb_image, SEEDS[0])
    disp = rec["params"]["displacement"]
    assert disp["tensor"] == [1, rgb_image.shape[1], rgb_image.shape[2], 2] and len(disp["sha256"]) == 64


def test_output_does_not_depend_on_the_callers_thread_count(rgb_image):
    """A notebook (many torch threads) previews and replays the bytes a worker (one thread) wrote."""
    from augment.images import decode
    from augment.samples import sample_path

    image = decode(sample_path("hubble_deep_field.jpg").read_bytes()).image  # full size, past parallel grain sizes
    pipeline = Pipeline(one_op_spec("ColorJitter", {"contrast": 0.5, "saturation": 0.5}))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        expected = pipeline.apply(image, SEEDS[0])[0]
        torch.set_num_threads(4)
        assert torch.equal(pipeline.apply(image, SEEDS[0])[0], expected)
        assert torch.get_num_threads() == 4, "the caller's setting is restored"
    finally:
        torch.set_num_threads(before)
