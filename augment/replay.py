"""Re-create one output of a job from its manifest record, bit-exactly."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.images import atomic_write_bytes, encode, open_image
from augment.manifest import ORIGINAL, read_manifest
from augment.pipeline import Pipeline, derive_seed
from augment.spec import Spec, load_spec


@dataclass
class ReplayResult:
    """Outcome of :func:`replay`.

    Attributes:
        record: the manifest record replayed.
        out: where the re-created image was written.
        sha256: SHA-256 of the re-created bytes.
        bit_exact: the bytes equal the original output's (by recorded SHA-256).
        params_match: torchvision drew the same parameters as recorded.
    """

    record: dict[str, Any]
    out: Path
    sha256: str
    bit_exact: bool
    params_match: bool


def replay(
    manifest: str | Path,
    record: int,
    out: str | Path,
    *,
    input_dir: str | Path | None = None,
    spec: Spec | str | Path | None = None,
) -> ReplayResult:
    """Re-create one output of a job from its manifest record.

    Args:
        manifest: a ``manifest-<host>.jsonl``.
        record: the record's line number in the manifest, from 1.
        out: where to write the re-created image.
        input_dir: the job's input root (default: the one in the job's summary).
        spec: the job's spec (default: ``spec.yaml`` beside the manifest).

    Raises:
        UsageError: no such record, a failed record, missing input or spec, or an
            input whose bytes changed since the job ran.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise UsageError(f"manifest {manifest}: no such file")
    records = read_manifest(manifest)
    if not 1 <= record <= len(records):
        raise UsageError(f"--record {record}: the manifest has records 1 to {len(records)}")
    rec = records[record - 1]
    if rec["status"] != "ok":
        raise UsageError(f"record {record} ({rec['source']}, copy {rec['copy']}) failed in the job, "
                         f"so there is no output to re-create: {rec['error']}")
    spec = load_spec(spec if spec is not None else manifest.parent / "spec.yaml")
    if input_dir is None:
        summary_path = manifest.parent / manifest.name.replace("manifest-", "summary-").replace(".jsonl", ".json")
        if not summary_path.is_file():
            raise UsageError(f"no {summary_path.name} beside the manifest; pass --input-dir")
        input_dir = json.loads(summary_path.read_text())["input_dir"]
    source = Path(input_dir) / rec["source"]
    if not source.is_file():
        raise UsageError(f"input {source} not found; pass --input-dir with the job's input root")
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != rec["source_sha256"]:
        raise UsageError(f"input {source} changed since the job ran (SHA-256 differs)")
    out = Path(out)
    if rec["copy"] == ORIGINAL:  # a kept original is the input's own bytes
        atomic_write_bytes(out, data)
        return ReplayResult(rec, out, rec["source_sha256"], True, True)
    seed = derive_seed(spec.seed, rec["source"], rec["copy"])
    if seed != rec["seed"]:
        raise UsageError(f"record {record}: seed {rec['seed']} does not match this spec (expected {seed}); "
                         "is this the job's spec?")
    source = open_image(data, max_pixels=sys.maxsize)  # the job already accepted this input
    image, params = Pipeline(spec).apply(source, seed)  # a source, as the job passed it
    blob = encode(image, rec["format"], spec.output.quality)
    atomic_write_bytes(out, blob)
    digest = hashlib.sha256(blob).hexdigest()
    return ReplayResult(rec, out, digest, digest == rec["output_sha256"], params == rec["params"])
