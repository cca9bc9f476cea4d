"""See what a spec does to your images, exactly as the job will write them.

:func:`render` takes a spec and a few images and returns a :class:`Preview`: every
variant made by the job's own function (:func:`augment.variant.make`), so its pixels,
parameters and SHA-256 are the job's output file's. :func:`step_through` shows one
variant op by op (:func:`labelled_steps`: with each step's labels, undrawn);
:func:`from_job` builds the same grid from a finished job's outputs and manifests
(with the labels it wrote, read back from its files, where it wrote any);
:func:`to_code` is the spec as plain torchvision code.

Where the images come from (``source``): ``None`` for the bundled samples, a local
folder or one file, or an ``s3://bucket/prefix/``, listed once; only the images shown
are read. They are picked among the inputs the job would take (the spec's ``input``
filters apply). Given ``annotations=``, every tile, and every step, shows its labels
(boxes, masks, keypoints) as the job writes them beside that output.

The modules, by idea: ``_inputs`` (the source and the pick), ``_render`` (the variants
and the :class:`Preview` with its views), ``_captions`` (what was drawn, in words),
``_grid`` (tiles in rows), ``_labels`` (the annotations and each tile's labels),
``_job`` (a finished job's outputs); the widget, :class:`Previewer`, in ``_widget``
with the controls its op schema generates in ``_controls``. The widget is imported on
first use, so the static preview (the CLI, papermill, nbval) never imports ipywidgets.
"""

from __future__ import annotations

from typing import Any

from augment.export import to_code
from augment.preview._captions import summarize
from augment.preview._grid import HIGHLIGHT, MAX_GRID_PIXELS, MAX_SIDE, PAD, cell_size, draw_grid, png_bytes
from augment.preview._inputs import DEFAULT_N, Images
from augment.preview._job import from_job
from augment.preview._render import Item, Preview, labelled_steps, render, step_through

__all__ = [
    "DEFAULT_N", "HIGHLIGHT", "MAX_GRID_PIXELS", "MAX_SIDE", "PAD", "Images", "Item", "Preview", "Previewer",
    "cell_size", "draw_grid", "from_job", "labelled_steps", "png_bytes", "render", "step_through", "summarize",
    "to_code",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name == "Previewer":  # the widget needs ipywidgets: imported on first use
        from augment.preview._widget import Previewer

        return Previewer
    raise AttributeError(f"module 'augment.preview' has no attribute {name!r}")
