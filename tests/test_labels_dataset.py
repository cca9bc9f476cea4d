"""AugmentedImages yields a labelled job's targets (#28 item 5): boxes, masks, keypoints and
labels as torchvision's detection references take them, equal to the files the job wrote
(read here by pycocotools, not by the kit), resized with the image, through a DataLoader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from augment import samples
from augment.jobs import AugmentedImages, LocalBackend, launch

pytestmark = pytest.mark.slow

SPEC = "version: 1\nseed: 11\ncopies: 1\nops:\n  - RandomResizedCrop: {size: [120, 96], scale: [0.5, 1.0]}\n" \
       "  - RandomHorizontalFlip: {p: 1.0}\n"


@pytest.fixture(scope="module")
def job_output(tmp_path_factory) -> str:
    """A standalone job of the local runtime on the samples and their COCO annotations."""
    root = tmp_path_factory.mktemp("labelled")
    spec = root / "crop.yaml"
    spec.write_text(SPEC)
    job = launch(LocalBackend(), str(spec), str(samples.samples_dir()), str(root / "out"), workers=1,
                 annotations=str(samples.annotations_path()), attached=True)
    assert job.status() == "Completed"
    return str(root / "out")


def test_each_item_yields_the_targets_the_job_wrote(job_output):
    from pycocotools.coco import COCO

    coco = COCO(f"{job_output}/annotations.json")
    by_name = {entry["file_name"]: entry for entry in coco.dataset["images"]}
    data = AugmentedImages(job_output, size=None)
    assert len(data) == len(by_name) == len(samples.list_samples())
    seen = {"masks": 0, "keypoints": 0, "objects": 0}
    for n in range(len(data)):
        image, target = data[n]
        entry = by_name[data.items[n][0]]
        assert image.dtype == torch.float32 and image.shape == (3, entry["height"], entry["width"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=entry["id"]))
        assert target["image_id"] == entry["id"]
        assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
        assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
        assert target["boxes"].canvas_size == (entry["height"], entry["width"])
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        np.testing.assert_allclose(target["boxes"].reshape(-1, 4).numpy(), np.reshape(xyxy, (-1, 4)), atol=1e-4)
        assert target["labels"].tolist() == [a["category_id"] for a in anns]
        seen["objects"] += len(anns)
        if "masks" in target:
            assert isinstance(target["masks"], tv_tensors.Mask)
            for a, mask in zip(anns, target["masks"], strict=True):
                truth = coco.annToMask(a) if a.get("segmentation") else np.zeros(mask.shape, np.uint8)
                assert np.array_equal(mask.numpy(), truth)
            seen["masks"] += 1
        else:
            assert not any(a.get("segmentation") for a in anns)
        if "keypoints" in target:
            assert isinstance(target["keypoints"], tv_tensors.KeyPoints)
            for a, points, visible in zip(anns, target["keypoints"], target["keypoints_visible"], strict=True):
                if "keypoints" in a:
                    k = np.reshape(a["keypoints"], (-1, 3))
                    np.testing.assert_allclose(points[: len(k)].numpy(), k[:, :2], atol=1e-4)
                    assert visible[: len(k)].tolist() == (k[:, 2] > 0).tolist()
                else:
                    assert not visible.any()
            seen["keypoints"] += 1
    assert seen["objects"] and seen["masks"] and seen["keypoints"], "the samples' annotations have all three"


def test_targets_are_resized_with_the_image_and_a_detection_dataloader_iterates(job_output):
    from torchvision.transforms.v2 import functional as F

    full, small = AugmentedImages(job_output, size=None), AugmentedImages(job_output, size=48)
    for n in range(len(full)):
        _, whole = full[n]
        image, target = small[n]
        assert image.shape == (3, 48, 48) and target["boxes"].canvas_size == (48, 48)
        assert torch.equal(target["boxes"], F.resize(whole["boxes"], [48, 48]))
        for key in ("masks", "keypoints"):
            if key in whole:
                assert torch.equal(target[key], F.resize(whole[key], [48, 48]))
        assert torch.equal(target["labels"], whole["labels"])
    loader = torch.utils.data.DataLoader(small, batch_size=3, collate_fn=detection_collate)
    images, targets = [], []
    for batch_images, batch_targets in loader:
        images += batch_images
        targets += batch_targets
    assert len(images) == len(targets) == len(small)
    assert torch.stack(images).shape == (len(small), 3, 48, 48)
    assert sorted(t["image_id"] for t in targets) == list(range(1, len(small) + 1))


def detection_collate(batch):
    """torchvision's detection references' collate: images and targets as tuples (sizes may differ)."""
    return tuple(zip(*batch, strict=True))


def test_an_output_without_labels_yields_class_indices_as_before(tmp_path, small_samples):
    from augment.engine import run_job

    run_job("light", small_samples, tmp_path / "out", workers=1, progress="off")
    data = AugmentedImages(str(tmp_path / "out"), size=16)
    image, label = data[0]
    assert image.shape == (3, 16, 16) and isinstance(label, int) and data.annotations is None


def test_a_sharded_output_whose_parts_were_not_merged_says_how(job_output, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(job_output, out)
    (out / "annotations.json").unlink()
    with pytest.raises(Exception, match=r"without its annotations\.json: .*merge_parts"):
        AugmentedImages(str(out))
    summary = json.loads((out / "_augment/summary-algo-1.json").read_text())
    assert summary["labels"]["format"] == "coco"
