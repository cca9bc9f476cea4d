"""A job's input and output locations (local folders or ``s3://`` prefixes): what must hold
before any work, with the messages ``augment process`` and ``augment run`` share.

* The output must not contain the input, nor lie inside it: a second job would read the
  outputs and ``_augment/`` back as inputs. For ``s3://`` this is about prefixes, as S3
  lists them: ``s3://b/train`` also lists ``train-aug/...``.
* Outputs of two specs must not mix, and an output location that already holds a job is
  not used again: hosts of a new job would overwrite its manifests (one per host, named by
  host) and leave outputs that no manifest lists.

Only messages and cheap checks here: nothing imports torch.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.storage import expand, is_s3, split_s3_uri  # noqa: F401  (expand: augment.locations.expand stays importable)

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
    return (f"{output_flag} {output} and {input_flag} {input} must not contain each other: outputs would be read "
            "back as inputs")


def another_spec_message(location: str, spec_file: str, old_digest: str, new_digest: str, output_flag: str) -> str:
    """The refusal of a job whose spec differs from the one already in its output."""
    return (f"{location} holds a job made with another spec ({spec_file}, digest {old_digest[:12]}; this "
            f"spec: {new_digest[:12]}). Outputs of two specs must not mix: use a new {output_flag}.")


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


def check_disjoint(input_uri: str, output_uri: str, *, input_flag: str = "--input",
                   output_flag: str = "--output") -> None:
    """Refuse an output that contains the input or lies inside it (folders or S3 prefixes).

    Raises:
        UsageError: naming both flags.
    """
    s3_in, s3_out = is_s3(input_uri), is_s3(output_uri)
    if s3_in != s3_out:
        return
    if (_prefixes_overlap if s3_in else _folders_overlap)(input_uri, output_uri):
        raise UsageError(overlap_message(output_uri, input_uri, output_flag, input_flag))


def _join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def _earlier_job_s3(output_uri: str) -> tuple[list[str], bytes | None]:
    """Keys under the output prefix that an earlier job left (``_augment/spec.yaml``, its
    manifests, ``_batches/``), relative to it, and the bytes of its ``_augment/spec.yaml``
    if there is one. Other files under ``_augment/`` (a launch's key lists) are no job."""
    from augment.storage import list_s3, s3_client

    bucket, key = split_s3_uri(output_uri)
    base = key.rstrip("/") + "/" if key.strip("/") else ""
    s3 = s3_client()
    found = []
    for start in (f"{META_DIR}/spec.yaml", f"{META_DIR}/manifest-", f"{BATCHES_DIR}/"):  # as _earlier_job_local
        found += [o["Key"][len(base):] for o in list_s3(bucket, f"{base}{start}", s3=s3, limit=20)
                  if not o["Key"].startswith(f"{base}{META_DIR}/manifest-") or o["Key"].endswith(".jsonl")]
    spec = None
    if f"{META_DIR}/spec.yaml" in found:
        from augment.spec import MAX_SPEC_BYTES

        spec = s3.get_object(Bucket=bucket, Key=f"{base}{META_DIR}/spec.yaml",  # no more than a spec may be
                             Range=f"bytes=0-{MAX_SPEC_BYTES}")["Body"].read()
    return sorted(found), spec


def _earlier_job_local(output_uri: str) -> tuple[list[str], bytes | None]:
    root = Path(output_uri)
    meta = root / META_DIR
    found = []
    if meta.is_dir():
        found += [f"{META_DIR}/{p.name}" for p in meta.iterdir()
                  if p.name == "spec.yaml" or (p.name.startswith("manifest-") and p.name.endswith(".jsonl"))]
    if (root / BATCHES_DIR).is_dir():
        found += [f"{BATCHES_DIR}/{p.name}" for p in (root / BATCHES_DIR).iterdir()]
    spec_file = meta / "spec.yaml"
    if not spec_file.is_file():
        return sorted(found), None
    from augment.spec import MAX_SPEC_BYTES

    with open(spec_file, "rb") as f:
        return sorted(found), f.read(MAX_SPEC_BYTES + 1)  # no more than a spec may be, and one byte to tell


def check_unused_output(spec: Any, output_uri: str, *, output_flag: str = "--output") -> None:
    """Refuse an output location that already holds a job: its ``_augment/spec.yaml``, a
    manifest, or a batched launch's ``_batches/``.

    Args:
        spec: the new job's spec, as it will run (its overrides applied), to say whether
            the earlier job's spec differs.

    Raises:
        UsageError: with another spec, the message ``augment process`` gives; otherwise
            naming what was found there. Nothing was sent or written.
    """
    if is_s3(output_uri):
        from botocore.exceptions import ClientError

        from augment.keys import bucket_refusal

        try:
            found, spec_bytes = _earlier_job_s3(output_uri)
        except ClientError as e:  # a missing bucket is named as --input's is, not an internal error
            refused = bucket_refusal(e, output_flag, output_uri)
            if refused is None:
                raise
            raise refused from None
    else:
        found, spec_bytes = _earlier_job_local(output_uri)
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
            raise UsageError(another_spec_message(output_uri, _join(output_uri, META_DIR, "spec.yaml"), old.digest,
                                                  spec.digest, output_flag))
    shown = ", ".join(_join(output_uri, k) for k in found[:3]) + (", ..." if len(found) > 3 else "")
    raise UsageError(f"{output_uri} already holds a job ({shown}): a new job there would overwrite its manifests "
                     f"and leave outputs that no manifest lists. Use a new {output_flag}.")
