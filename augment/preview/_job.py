"""The preview's grid from a finished job: the inputs beside the outputs it wrote.

Nothing is rendered: the outputs are read as written, and captioned from the manifests
(the parameters each output drew, or why it failed). Only ``_augment/`` is listed, never
the whole output, which may hold millions of images.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.images import ImageError, open_image
from augment.preview._inputs import DEFAULT_N, Images
from augment.preview._render import Item, Preview, decode_output
from augment.spec import load_spec
from augment.storage import is_s3


def from_job(output: str | os.PathLike[str], input: str | os.PathLike[str] | None = None, *, n: int = DEFAULT_N,
             pick_seed: int = 0, paths: list[str] | None = None) -> Preview:
    """Inputs beside the outputs a finished job wrote, captioned from its manifests.

    Args:
        output: the job's output folder or ``s3://`` prefix (its ``_augment/`` holds
            the spec and the manifests).
        input: the job's input (folder or ``s3://`` prefix), for the originals;
            default: the input folder the job recorded, where it still exists.
        n, pick_seed, paths: which inputs to show, as in :func:`~augment.preview.render`.

    Raises:
        UsageError: no job there.
    """
    output = os.fspath(output)
    if is_s3(output) and not output.endswith("/"):
        output += "/"  # the job's prefix itself, not its parent: keys are relative to it
    out = Images(output)
    meta = out.keys_under("_augment/")  # not the whole output, which may be millions of images
    manifests = [k for k in meta if k.startswith("_augment/manifest-") and k.endswith(".jsonl")]
    if "_augment/spec.yaml" not in meta or not manifests:
        raise UsageError(f"{output}: no finished job here (no _augment/spec.yaml and manifests)")
    spec = load_spec(_yaml(out.read("_augment/spec.yaml")))
    records: dict[str, list[dict[str, Any]]] = {}
    for key in manifests:
        for line in out.read(key).decode().splitlines():
            rec = json.loads(line)
            if rec["copy"] >= 0:
                records.setdefault(rec["source"], []).append(rec)
    if input is None:
        input = _recorded_input(out, meta)
    inputs = Images(input) if input is not None else None
    if paths:
        missing = [p for p in paths if p not in records]
        if missing:
            raise UsageError(f"paths=: {', '.join(missing)} not in the job's manifests")
        chosen = list(paths)
    else:
        chosen = sorted(random.Random(pick_seed).sample(sorted(records), min(n, len(records))))
    items, originals, errors = [], {}, {}
    for rel in chosen:
        for rec in sorted(records[rel], key=lambda r: r["copy"]):
            image = decode_output(out.read(rec["output"])) if rec["status"] == "ok" else None
            items.append(Item(rel, rec["copy"], rec["seed"], image, rec["params"], rec["error"], rec["reason"],
                              rec.get("output_sha256")))
        originals[rel] = None
        if inputs is None:
            errors[rel] = "original not available (pass input=)"
            continue
        try:
            originals[rel] = open_image(inputs.read(rel), sys.maxsize).load()  # the job accepted it
        except (ImageError, OSError) as e:
            errors[rel] = str(e)
    return Preview(spec, items, originals, inputs.source if inputs else "", errors)


def _yaml(data: bytes) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(data)


def _recorded_input(out: Images, meta: list[str]) -> str | None:
    """The input folder a job's summary names, where it still exists here."""
    for key in meta:
        if key.startswith("_augment/summary-"):
            folder = json.loads(out.read(key)).get("input_dir")
            if folder and Path(folder).is_dir():
                return folder
    return None

