"""A job's input and output locations (local folders or ``s3://`` prefixes): what must hold
before any work, with the messages ``augment process`` and ``augment run`` share.

* The output must not contain the input, nor lie inside it: a second job would read the
  outputs and ``_augment/`` back as inputs. For ``s3://`` this is about prefixes, as S3
  lists them: ``s3://b/train`` also lists ``train-aug/...``.
* Outputs of two specs must not mix, and an output location that already holds a job is
  not used again: hosts of a new job would overwrite its manifests (one per host, named by
  host) and leave outputs that no manifest lists.
* What a job left there is read through :mod:`augment.storage`, whatever the medium: an
  earlier job's traces, every host's summary (:func:`host_summaries`).

Only messages and cheap checks here: nothing imports torch.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from augment import storage
from augment.aws import bucket_refusal
from augment.errors import UsageError
from augment.storage import expand, is_s3, join, split_s3_uri

META_DIR = "_augment"
BATCHES_DIR = "_batches"


def create_once(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data``, whole and only once: how a job claims its output
    folder (``spec.yaml``) and a sweep its folder (``sweep.json``).

    The file appears as a hard link of a complete temporary file, which fails if ``path``
    exists: of two processes that start together, one creates it and the other finds it
    whole, and compares. A file system without hard links gets an exclusive create.

    Returns:
        Whether this call created it (``False``: it was there, and is left as it is).

    Raises:
        OSError: the folder cannot be written (``path``'s folder must exist).
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                raise
            try:
                with open(path, "xb") as f:
                    f.write(data)
            except FileExistsError:
                return False
        return True
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def overlap_message(output: str, input: str, output_flag: str, input_flag: str) -> str:
    """The refusal of an output and an input that contain each other."""
    return (f"{output_flag}={output} and {input_flag}={input} must not contain each other: outputs would be read "
            "back as inputs")


def another_spec_message(location: str, spec_file: str, old_digest: str, new_digest: str, output_flag: str) -> str:
    """The refusal of a job whose spec differs from the one already in its output."""
    return (f"{location} holds a job made with another spec ({spec_file}, digest {old_digest[:12]}; this "
            f"spec: {new_digest[:12]}). Outputs of two specs must not mix: use a new {output_flag}=.")


def _folders_overlap(a: str, b: str) -> bool:
    i, o = Path(a).resolve(), Path(b).resolve()
    return i == o or i in o.parents or o in i.parents


def _prefixes_overlap(input_uri: str, output_uri: str) -> bool:
    """Whether listing either prefix (as S3 does: every key that starts with it) would
    list objects of the other."""
    (ib, ik), (ob, ok) = split_s3_uri(input_uri), split_s3_uri(output_uri)
    if ib != ob:
        return False
    out = ok.rstrip("/") + "/" if ok.strip("/") else ""
    return out.startswith(ik) or ik.startswith(out)


def check_disjoint(input_uri: str, output_uri: str, *, input_flag: str = "input",
                   output_flag: str = "output") -> None:
    """Refuse an output that contains the input or lies inside it (folders or S3 prefixes).

    Raises:
        UsageError: naming both flags.
    """
    s3_in, s3_out = is_s3(input_uri), is_s3(output_uri)
    if s3_in != s3_out:
        return
    if (_prefixes_overlap if s3_in else _folders_overlap)(input_uri, output_uri):
        raise UsageError(overlap_message(output_uri, input_uri, output_flag, input_flag))


def _earlier_job(output_uri: str) -> tuple[list[str], bytes | None]:
    """Paths under the output location that an earlier job left (``_augment/spec.yaml``, its
    manifests, ``_batches/``), relative to it, and the first bytes of its
    ``_augment/spec.yaml`` if there is one (no more than a spec may be, and one byte to
    tell). Other files under ``_augment/`` (a launch's key lists) are no job."""
    from augment.spec import MAX_SPEC_BYTES

    meta = storage.handler(output_uri)
    found = [f"{META_DIR}/{rel}" for rel, _ in meta.list(join(output_uri, META_DIR))
             if rel == "spec.yaml" or (rel.startswith("manifest-") and rel.endswith(".jsonl"))]
    found += [f"{BATCHES_DIR}/{rel}" for rel, _ in meta.list(join(output_uri, BATCHES_DIR), 20)]
    spec = None
    if f"{META_DIR}/spec.yaml" in found:
        with contextlib.suppress(FileNotFoundError):  # gone since it was listed: no spec to compare
            spec = meta.read_bytes(join(output_uri, META_DIR, "spec.yaml"), MAX_SPEC_BYTES + 1)
    return sorted(found), spec


def host_summaries(output: str) -> dict[str, dict[str, Any]]:
    """Every host's ``_augment/summary-<host>.json`` under a job's output (a folder, ``~``
    for the home folder, or an ``s3://`` prefix), by host."""
    meta = join(expand(output), META_DIR)
    where = storage.handler(meta)
    found = {}
    for rel, _ in where.list(meta):
        if rel.startswith("summary-") and rel.endswith(".json") and "/" not in rel:
            with contextlib.suppress(FileNotFoundError):  # gone since it was listed
                data = where.read_bytes(join(meta, rel))
                if data:
                    found[rel[len("summary-"):-len(".json")]] = json.loads(data)
    return found


def check_unused_output(spec: Any, output_uri: str, *, output_flag: str = "output") -> None:
    """Refuse an output location that already holds a job: its ``_augment/spec.yaml``, a
    manifest, or a batched launch's ``_batches/``.

    Args:
        spec: the new job's spec, as it will run (its overrides applied), to say whether
            the earlier job's spec differs.

    Raises:
        UsageError: with another spec, the message ``augment process`` gives; otherwise
            naming what was found there. Nothing was sent or written.
    """
    try:
        found, spec_bytes = _earlier_job(output_uri)
    except Exception as e:  # a missing bucket is named as --input's is, not an internal error
        refused = bucket_refusal(e, output_flag, output_uri)
        if refused is None:
            raise
        raise refused from None
    if not found:
        return
    if spec_bytes is not None:
        from augment.errors import SpecError
        from augment.spec import spec_from_bytes

        try:  # with the checks of a spec file: the bytes come from anywhere
            old = spec_from_bytes(spec_bytes, "spec.yaml")
        except SpecError:
            old = None
        if old is not None and old.digest != spec.digest:
            raise UsageError(another_spec_message(output_uri, join(output_uri, META_DIR, "spec.yaml"), old.digest,
                                                  spec.digest, output_flag))
    shown = ", ".join(join(output_uri, k) for k in found[:3]) + (", ..." if len(found) > 3 else "")
    raise UsageError(f"{output_uri} already holds a job ({shown}): a new job there would overwrite its manifests "
                     f"and leave outputs that no manifest lists. Use a new {output_flag}=.")
