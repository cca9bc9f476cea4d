"""Object keys as inputs: which keys of an input can be staged as files, and what becomes
of the others.

SageMaker stages an ``S3Prefix`` or ``ManifestFile`` input by writing each object to
``<LocalPath>/<key after the prefix>``. Some keys cannot be a file of their own there:

* an empty path segment: a leading ``/``, a doubled ``//`` or a trailing ``/``
  (``a//b.jpg`` would land on ``a/b.jpg``, another object's path);
* a ``.`` or ``..`` segment (``a/./b.jpg``, ``a/../b.jpg``);
* a NUL byte, or a segment longer than 255 bytes (no Linux file name can hold either);
* a key that is also a folder of other keys (``c.jpg`` beside ``c.jpg/x.jpg``).

**The policy: every object is an input.** A key that can be staged is staged; a key that
cannot is never staged, so it can neither overwrite another input nor be overwritten, and
it gets a failed record in the job's manifest (reason ``unstageable_key``, the error saying
why and which key it would collide with), as an unreadable file does. The launchers
(:func:`augment.jobs.launch.launch`, ``augment run``, batched and prefetch) list the input
before anything is sent; when some keys cannot be staged, the job's images input becomes a
``ManifestFile`` of the others, and the job gets the list of the rest (a processing input
named ``unstaged``), whose records its hosts write. A zero-byte key ending in ``/`` is how
S3 consoles draw a folder, not data: it is listed as excluded (rule ``folder_marker``), as
operating-system junk is, not failed.

Input URIs: ``s3://bucket/prefix`` or a local folder. Another scheme, or ``S3://``, is
refused with the form to use, before any request.

Nothing here imports torch, boto3 or Pillow at import time.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augment.aws import bucket_refusal
from augment.errors import UsageError
from augment.storage import is_s3, s3_uri, split_s3_uri
from augment.text import all_excluded

UNSTAGEABLE = "unstageable_key"
"""The reason recorded for a key that cannot be staged as a file of its own."""
FOLDER_MARKER = "folder_marker"
"""The rule recorded for a zero-byte key ending in ``/`` (a console's folder)."""
UNSTAGED_INPUT = "unstaged"
"""The processing input that carries the keys a job's hosts record without staging."""
UNSTAGED_FILE = "unstaged.json"
NAME_MAX = 255


def key_problem(rel: str) -> str | None:
    """Why the relative key ``rel`` cannot be staged as a file of its own (a phrase such
    as "it has a NUL byte..."), or ``None``.

    Only the key itself is judged here; a key that is also a folder of other keys is
    found by :func:`split_keys`, which sees them all.
    """
    if rel == "":
        return "it is the prefix itself, with data"
    if "\0" in rel:
        return "it has a NUL byte, which no file name can hold"
    parts = rel.split("/")
    if "" in parts:
        where = "leading" if parts[0] == "" else "trailing" if parts[-1] == "" else "doubled"
        return f"it has an empty path segment (a {where} '/')"
    if "." in parts or ".." in parts:
        return "it has a '.' or '..' path segment"
    if any(len(p.encode("utf-8", "surrogateescape")) > NAME_MAX for p in parts):
        return f"it has a path segment longer than {NAME_MAX} bytes, the file-name limit"
    return None


def _on_disk(rel: str) -> str:
    """Where a file system would put ``rel``: empty and ``.`` segments dropped."""
    return "/".join(p for p in rel.split("/") if p not in ("", "."))


@dataclass
class KeySplit:
    """The keys of an input, split by the policy (see module docs).

    Attributes:
        staged: keys staged as files, sorted.
        failed: ``{"source", "reason", "error"}`` per key that cannot be staged.
        markers: zero-byte keys ending in ``/``.
        sizes: the sizes of the objects that are inputs (staged or failed), for estimates.
    """

    staged: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def failed_line(self, limit: int = 3) -> str:
        shown = "; ".join(f"{f['source']!r}: {f['error']}" for f in self.failed[:limit])
        return shown + ("; ..." if len(self.failed) > limit else "")


def split_keys(objects: Iterable[tuple[str, int]]) -> KeySplit:
    """Split ``(relative key, size)`` pairs into the keys staged and the others."""
    split = KeySplit()
    candidates: dict[str, int] = {}
    problems: dict[str, str] = {}
    for rel, size in objects:
        if (rel == "" or rel.endswith("/")) and size == 0 and "\0" not in rel:
            split.markers.append(rel)
            continue
        why = key_problem(rel)
        if why is None:
            candidates[rel] = size
        else:
            problems[rel] = why
            split.sizes.append(size)
    folders = {}  # every folder a candidate needs, with one key under it
    for rel in candidates:
        i = rel.find("/")
        while i != -1:
            folders.setdefault(rel[:i], rel)
            i = rel.find("/", i + 1)
    for rel, size in sorted(candidates.items()):
        if rel in folders:
            problems[rel] = f"it is also the folder of {folders[rel]!r}, and a path cannot be both"
            split.sizes.append(size)
        else:
            split.staged.append(rel)
            split.sizes.append(size)
    for rel in sorted(problems):
        why = problems[rel]
        disk = _on_disk(rel)
        if disk in candidates and disk != rel:
            why += f"; on disk it would be {disk!r}, another object's path"
        split.failed.append({"source": rel, "reason": UNSTAGEABLE,
                             "error": f"the key cannot be staged as a file of its own: {why}"})
    split.markers.sort()
    return split


def check_uri(uri: str, flag: str = "input") -> str:
    """``uri`` if it is an ``s3://bucket/...`` URI or a local path; otherwise raise.

    Raises:
        UsageError: an empty location (which a path would read as the current folder),
            another scheme (``http://``, ``S3://``, ``s3a://``...), or no bucket, with the form to use.
    """
    if not uri.strip():
        raise UsageError(f"{flag}=: empty; name a folder or an s3://BUCKET/PREFIX")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    if scheme == "s3":
        if not rest.partition("/")[0]:
            raise UsageError(f"{flag}={uri}: no bucket; write s3://BUCKET/PREFIX")
        return uri
    if scheme.lower() in ("s3", "s3a", "s3n"):
        raise UsageError(f"{flag}={uri}: write s3://{rest} (lower case 's3://', as S3 and SageMaker name it)")
    hint = ""
    host, _, path = rest.partition("/")
    if scheme.lower() in ("http", "https") and host.endswith(".amazonaws.com"):
        if host.startswith(("s3.", "s3-")):  # path style: s3.REGION.amazonaws.com/BUCKET/KEY
            hint = f"; for this URL that is s3://{path}"
        elif ".s3." in host or ".s3-" in host:  # virtual-hosted style: BUCKET.s3.REGION.amazonaws.com/KEY
            hint = f"; for this URL that is s3://{host.partition('.s3')[0]}/{path}"
    raise UsageError(f"{flag}={uri}: only s3://BUCKET/PREFIX URIs or local folders are read, not {scheme}://{hint}")


def input_root(uri: str) -> str:
    """Where an input's relative keys are taken from, ending in ``/``: an ``s3://`` URI up
    to its last ``/``, as SageMaker stages a prefix (``s3://b/train/x.jpg`` is ``x.jpg``
    under ``s3://b/train/`` and ``train/x.jpg`` under ``s3://b/train``); one local file's
    folder (the runtime stages the file by its name); any other local path itself."""
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        return s3_uri(bucket, key[: key.rfind("/") + 1])
    return ((os.path.dirname(uri) or ".") if os.path.isfile(uri) else uri).rstrip("/") + "/"


def list_s3(uri: str, flag: str = "input") -> tuple[str, list[tuple[str, int]]]:
    """Every object under the ``s3://`` prefix ``uri``: the key base the relative keys
    are taken from (the prefix up to its last ``/``, as SageMaker stages them), and
    ``(relative key, size)`` pairs in key order."""
    from botocore.exceptions import ClientError

    from augment import storage

    bucket, prefix = split_s3_uri(uri)
    base = prefix[: prefix.rfind("/") + 1]
    try:
        return base, [(o["Key"][len(base):], o["Size"]) for o in storage.list_s3(bucket, prefix)]
    except ClientError as e:
        refused = bucket_refusal(e, flag, uri)
        if refused is None:
            raise  # refused credentials and the like: the CLI says how to provide them
        raise refused from None


def list_input(uri: str, flag: str = "input") -> KeySplit:
    """The keys of an input, ``s3://`` prefix or local folder, split by the policy.

    A local folder's files are all staged (a file system holds no key it cannot), found
    by :func:`augment.images.list_images`: links, FIFOs and the like are kept, to be
    recorded by the job with their reason.

    Raises:
        UsageError: a bad URI, a missing folder, or a folder that cannot be listed.
    """
    check_uri(uri, flag)
    if is_s3(uri):
        return split_keys(list_s3(uri, flag)[1])
    from augment.images import list_images

    root = Path(uri)
    if root.is_file():  # one file: the local runtime stages it by its name
        return KeySplit(staged=[root.name], sizes=[root.stat().st_size])
    if not root.is_dir():
        raise UsageError(f"{flag}={uri}: neither an s3:// prefix nor a local folder or file")
    rels = list_images(root, flag=flag)
    return KeySplit(staged=rels, sizes=[os.lstat(root / r).st_size for r in rels])


def excluded_counts(excluded: list[dict[str, Any]]) -> str:
    """``".DS_Store: 2, *.json: 1"``: how many keys each pattern (or rule) left out."""
    counts = Counter(e["pattern"] or ("folder marker" if e["rule"] == FOLDER_MARKER else "no include= matched")
                     for e in excluded)
    return ", ".join(f"{pattern}: {n}" for pattern, n in counts.most_common())


def apply_filters(rels: Iterable[str], inputs: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Split relative paths by the input filters ``inputs`` (a spec's ``input`` section):
    those kept, in order, and the excluded ones, each with the rule and pattern that left
    it out."""
    kept: list[str] = []
    excluded: list[dict[str, Any]] = []
    for rel in rels:
        why = inputs.excluded_by(rel)
        if why is None:
            kept.append(rel)
        else:
            excluded.append({"source": rel, "rule": why[0], "pattern": why[1]})
    return kept, excluded


def select_inputs(split: KeySplit, inputs: Any, uri: str, flag: str = "input") -> tuple[
        list[str], list[dict[str, str]], list[dict[str, Any]]]:
    """What of ``split`` (the keys of the input ``uri``) a job takes as inputs, by the
    spec's input filters ``inputs`` (a spec's ``input`` section, or ``None``): the staged
    keys and the failed ones the filters keep, and the excluded keys (folder markers and
    what the filters leave out, each with its rule and pattern).

    Raises:
        UsageError: the input holds nothing, the filters leave nothing in it, or
            nothing left can be staged; said before any job is sent (a job would only
            fail on it).
    """
    if not split.staged and not split.failed:
        raise UsageError(f"{flag}={uri}: " + ("no objects found" if is_s3(uri) else "no files found"))
    excluded: list[dict[str, Any]] = [{"source": m, "rule": FOLDER_MARKER, "pattern": None} for m in split.markers]
    keys, failed = split.staged, split.failed
    if inputs is not None:
        left_out = apply_filters([*keys, *(f["source"] for f in failed)], inputs)[1]
        if left_out:
            out = {e["source"] for e in left_out}
            keys, failed = [k for k in keys if k not in out], [f for f in failed if f["source"] not in out]
            excluded += left_out
        if not keys and not failed:
            raise UsageError(
                f"{flag}={uri}: no inputs: "
                + all_excluded(len(left_out), "object" if is_s3(uri) else "file")
                + f" ({excluded_counts(left_out)}); change the spec's input.include/input.exclude "
                "(include= or exclude=)")
    if not keys:
        filtered = len(failed) < len(split.staged) + len(split.failed)
        of = f"the {len(failed)} objects the filters leave" if filtered else \
            f"its {len(failed)} objects"
        raise UsageError(f"{flag}={uri}: none of {of} can be staged as files "
                         f"({KeySplit(failed=failed).failed_line()}); copy them to plain keys")
    return keys, failed, excluded


def unstaged_document(failed: list[dict[str, str]], markers: list[str], input_uri: str) -> dict[str, Any]:
    """The ``unstaged`` input's content: the keys a job records without staging them (the
    failed ones as failed inputs, the folder markers as excluded)."""
    return {"version": 1, "input_uri": input_uri, "failed": failed,
            "excluded": [{"source": m, "rule": FOLDER_MARKER, "pattern": None} for m in markers]}


def read_unstaged(path: str | Path) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The failed and the excluded keys of an ``unstaged`` input file.

    Raises:
        UsageError: the file is not one (naming it).
    """
    try:
        data = json.loads(Path(path).read_bytes())
        failed, excluded = data["failed"], data["excluded"]
        if not all(isinstance(f.get("source"), str) and isinstance(f.get("error"), str) for f in failed):
            raise TypeError
        if not all(isinstance(e.get("source"), str) for e in excluded):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UsageError(f"the '{UNSTAGED_INPUT}' processing input {path} is not a list of unstaged keys "
                         f"({type(e).__name__}: {e}); it is written by augment's launchers") from None
    return [{"source": f["source"], "reason": f.get("reason") or UNSTAGEABLE, "error": f["error"]} for f in failed], \
        [{"source": e["source"], "rule": e.get("rule") or FOLDER_MARKER, "pattern": e.get("pattern")} for e in excluded]


def host_share(entries: list[Any], host: str, hosts: list[str]) -> list[Any]:
    """The entries this host records: every host of a job gets the same list, and host
    *i* of *n* (in the job's order) takes entries *i*, *i + n*..."""
    if host not in hosts:
        return entries
    return entries[hosts.index(host)::len(hosts)]
