"""Sample photos bundled with the package, for previews, demos and tests.

The photos are in ``photos/`` (so that folder can be a job's input as it is); their
sources and licences are in ``LICENSES.md`` beside it (:func:`licenses`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import PIL.Image

_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def samples_dir() -> Path:
    """The folder holding the sample photos and nothing else (a real directory of the
    installed package, usable as a job's ``--input-dir``)."""
    return Path(str(resources.files(__name__))) / "photos"


def list_samples() -> list[str]:
    """File names of the sample photos, sorted."""
    return sorted(p.name for p in samples_dir().iterdir() if p.suffix.lower() in _SUFFIXES)


def sample_path(name: str) -> Path:
    """Path of one sample photo.

    Raises:
        FileNotFoundError: no such sample; the message lists the samples.
    """
    if name not in list_samples():
        raise FileNotFoundError(f"no sample named {name!r}; samples: {', '.join(list_samples())}")
    return samples_dir() / name


def load_sample(name: str) -> PIL.Image.Image:
    """Open one sample photo as a fully loaded PIL image."""
    with PIL.Image.open(sample_path(name)) as img:
        img.load()
        return img.copy()


def annotations_path() -> Path:
    """The hand-made COCO instances file of the sample photos (boxes, polygons, keypoints).
    It lies beside ``photos/``, not in it, so a job on the samples never takes it as an input;
    its ``file_name`` entries are relative to ``photos/``."""
    return samples_dir().parent / "annotations.json"


def licenses() -> str:
    """The text of the samples' ``LICENSES.md``."""
    return (samples_dir().parent / "LICENSES.md").read_text(encoding="utf-8")
