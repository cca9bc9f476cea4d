"""What the label format tests share: labels run through a pipeline on a blank image, and
an array written as PNG bytes."""

from __future__ import annotations

import io

import PIL.Image

from augment.pipeline import Pipeline

IDENTITY = Pipeline({"version": 1, "ops": []})


def through(pipeline, size, labels):
    """``labels`` through ``pipeline`` on a blank image of ``size``: the output's labels."""
    _, _, out, _ = pipeline.apply_labelled(PIL.Image.new("RGB", size), 0, labels)
    return out


def png(array, mode=None):
    out = io.BytesIO()
    PIL.Image.fromarray(array, mode).save(out, format="PNG")
    return out.getvalue()
