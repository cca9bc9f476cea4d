"""The label flags of the commands that take annotations beside their own (``validate``,
``preview``, ``plan``, ``replay``); ``process`` and ``run`` take the same from the options
table. Each command says in its own words what ``--annotations`` is for it; the format's
choices and ``--masks`` are the same everywhere, and read by
:func:`augment.options.masks_as_annotations`."""

from __future__ import annotations

import argparse

from augment.options import ANNOTATION_FORMATS

MASKS_HELP = "semantic PNG masks mirroring the images' paths: the same as --annotations DIR --annotation-format masks"


def add_label_arguments(p: argparse.ArgumentParser, annotations_help: str, *,
                        format_help: str = "the annotations' format, instead of detecting it",
                        masks: bool = True) -> None:
    """``--annotations PATH`` (helped by ``annotations_help``), ``--annotation-format``
    (:data:`~augment.options.ANNOTATION_FORMATS`) and, with ``masks``, ``--masks DIR``."""
    p.add_argument("--annotations", default=None, metavar="PATH", help=annotations_help)
    p.add_argument("--annotation-format", default=None, choices=ANNOTATION_FORMATS, help=format_help)
    if masks:
        p.add_argument("--masks", default=None, metavar="DIR", help=MASKS_HELP)
