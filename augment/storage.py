"""Where bytes live: a local folder or an ``s3://`` prefix, and one handler for each.

Every S3 call of the package goes through here: the client (:func:`s3_client`), URI parsing
(:func:`is_s3`, :func:`split_s3_uri`), the one list-and-page loop (:func:`list_s3`), and the
transfers (:func:`get_file`, :func:`put_file`, :func:`each_concurrently`). A location-level
API (:func:`read_bytes`, :func:`write_bytes`, :func:`list_location`, :func:`exists`,
:func:`delete`, :func:`download`, :func:`upload`) picks the handler by scheme (:func:`handler`),
as papermill's ``iorw`` does: a new scheme is one more handler in :data:`HANDLERS`.

What to say when AWS refuses is :mod:`augment.aws`'s and :func:`augment.keys.bucket_refusal`'s;
this module raises what boto3 raises. Nothing here imports boto3 at import time, and nothing
here imports another module of the package but :mod:`augment.files` (atomic writes).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

# Objects in flight at once when staging and uploading. A transfer of a small object is one
# round trip, so one at a time left the runtime waiting on latency (2,000 tiny objects took
# about 50 s to stage and upload around 3 s of work); boto3's clients are thread-safe, and
# each large object is still split into parts by s3transfer's own threads.
TRANSFERS = 16

# Below this size an object moves in one request. s3transfer's download_file and upload_file
# (which split larger objects into parts on threads of their own) first ask for the size,
# then set up a transfer manager: three times the time of one GET for a small image.
ONE_REQUEST = 64 * 1024 * 1024

S3 = "s3://"


def s3_client() -> Any:
    """A boto3 S3 client with a connection for each transfer in flight (botocore keeps 10);
    it honours ``AWS_ENDPOINT_URL`` (moto's server in the tests, any S3-compatible one)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=TRANSFERS))


def is_s3(uri: object) -> bool:
    """Whether ``uri`` names an S3 location (``s3://``, lower case, as S3 and SageMaker write it)."""
    return isinstance(uri, str) and uri.startswith(S3)


def expand(path: str | os.PathLike[str]) -> str:
    """A local path with ``~`` (the home folder) expanded, as every place where a path enters
    the kit reads it (``input="~/photos"``, ``spec="~/my.yaml"``, a sweep's ``out``); an
    ``s3://`` URI is left as it is (a key may hold ``~``), and so is any other text.
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text if is_s3(text) else os.path.expanduser(text)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    rest = uri.removeprefix(S3)
    bucket, _, key = rest.partition("/")
    return bucket, key


def list_s3(bucket: str, prefix: str, *, s3: Any = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every object whose key starts with ``prefix``, in key order, as ``ListObjectsV2``
    describes it (``Key``, ``Size``...), page after page: the package's one paging loop.

    Args:
        s3: the client to use (a backend's own session); :func:`s3_client` by default.
        limit: stop after this many objects (a probe: is anything there?).
    """
    s3 = s3 if s3 is not None else s3_client()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, **({"PaginationConfig": {"PageSize": limit}} if limit else {}))
    n = 0
    for page in pages:
        for obj in page.get("Contents", []):
            yield obj
            n += 1
            if limit is not None and n >= limit:
                return


def get_file(s3: Any, bucket: str, key: str, dst: Path, size: int | None = None) -> None:
    """Download one object to ``dst`` (in one GET below :data:`ONE_REQUEST` bytes)."""
    if size is not None and size >= ONE_REQUEST:
        s3.download_file(bucket, key, str(dst))
        return
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with open(dst, "wb") as f:
        shutil.copyfileobj(body, f, 1024 * 1024)


def put_file(s3: Any, path: Path, bucket: str, key: str) -> None:
    """Upload one file (in one PUT below :data:`ONE_REQUEST` bytes)."""
    if path.stat().st_size >= ONE_REQUEST:
        s3.upload_file(str(path), bucket, key)
        return
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f)


def each_concurrently(calls: list[Callable[[], None]], workers: int = TRANSFERS) -> None:
    """Run every call, ``workers`` at a time, and return when all have ended.

    The guarantee is the one of a plain loop: each call runs at most once, and if any
    fails, the first failure in the list's order is raised, once every started call has
    ended: every call before it ran, and calls after a failure that had not started do
    not start. A partial transfer never passes for a whole one.
    """
    if len(calls) <= 1 or workers <= 1:
        for call in calls:
            call()
        return
    from concurrent.futures import ThreadPoolExecutor

    first_failed = [len(calls)]  # the lowest index that failed so far
    lock = threading.Lock()

    def guarded(index: int, call: Callable[[], None]) -> None:
        if index > first_failed[0]:  # a loop would have stopped before it
            return
        try:
            call()
        except BaseException:
            with lock:
                first_failed[0] = min(first_failed[0], index)
            raise

    with ThreadPoolExecutor(max_workers=min(workers, len(calls)), thread_name_prefix="augment-transfer") as pool:
        futures = [pool.submit(guarded, i, call) for i, call in enumerate(calls)]
    for future in futures:
        future.result()  # the first failure, in order


class Handler(Protocol):
    """What a location's scheme must do. ``uri`` names one object (a file, a key); a listing
    takes a folder (a prefix) and yields ``(path relative to it, size)`` in sorted order."""

    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def list(self, uri: str) -> Iterator[tuple[str, int]]: ...
    def exists(self, uri: str) -> bool: ...
    def delete(self, uri: str) -> None: ...
    def download(self, uri: str, dst: Path) -> None: ...
    def upload(self, path: Path, uri: str) -> None: ...


class FolderHandler:
    """A local path. Writes are atomic (:func:`augment.files.atomic_write`)."""

    def read_bytes(self, uri: str) -> bytes:
        return Path(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> None:
        from augment.files import atomic_write

        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(uri, data)

    def list(self, uri: str) -> Iterator[tuple[str, int]]:
        root = Path(uri)
        if not root.is_dir():
            return
        found = []
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath, name)
                found.append((path.relative_to(root).as_posix(), path.lstat().st_size))
        yield from sorted(found)

    def exists(self, uri: str) -> bool:
        return os.path.lexists(uri)

    def delete(self, uri: str) -> None:
        Path(uri).unlink(missing_ok=True)

    def download(self, uri: str, dst: Path) -> None:
        shutil.copyfile(uri, dst)

    def upload(self, path: Path, uri: str) -> None:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, uri)


class S3Handler:
    """An ``s3://bucket/key`` location. A PUT is atomic on S3: readers see the old object or
    the new one, never a part."""

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_s3_uri(uri)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data)

    def list(self, uri: str) -> Iterator[tuple[str, int]]:
        bucket, prefix = split_s3_uri(uri)
        prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        for obj in list_s3(bucket, prefix):
            yield obj["Key"][len(prefix):], obj["Size"]

    def exists(self, uri: str) -> bool:
        bucket, key = split_s3_uri(uri)
        return any(obj["Key"] == key for obj in list_s3(bucket, key, limit=1))

    def delete(self, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)

    def download(self, uri: str, dst: Path) -> None:
        bucket, key = split_s3_uri(uri)
        get_file(s3_client(), bucket, key, dst)

    def upload(self, path: Path, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        put_file(s3_client(), path, bucket, key)


# scheme ("" for a local path) -> its handler
HANDLERS: dict[str, Handler] = {"": FolderHandler(), "s3": S3Handler()}


def handler(uri: str | os.PathLike[str]) -> Handler:
    """The handler of ``uri``'s scheme: ``s3://`` or a local path (no scheme)."""
    text = os.fspath(uri)
    scheme = text.partition("://")[0] if "://" in text else ""
    try:
        return HANDLERS[scheme]
    except KeyError:
        raise ValueError(f"{text}: no storage handler for {scheme}:// (known: s3://, local paths)") from None


def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    """The bytes of one object or file."""
    return handler(uri).read_bytes(os.fspath(uri))


def write_bytes(uri: str | os.PathLike[str], data: bytes) -> None:
    """Write one object or file, whole or not at all."""
    handler(uri).write_bytes(os.fspath(uri), data)


def list_location(uri: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """``(path relative to the folder or prefix, size)`` of everything under it, sorted."""
    return list(handler(uri).list(os.fspath(uri)))


def exists(uri: str | os.PathLike[str]) -> bool:
    """Whether the object or file is there."""
    return handler(uri).exists(os.fspath(uri))


def delete(uri: str | os.PathLike[str]) -> None:
    """Remove one object or file (nothing there is no error)."""
    handler(uri).delete(os.fspath(uri))


def download(uri: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy one object or file to the local path ``dst``."""
    handler(uri).download(os.fspath(uri), Path(dst))


def upload(path: str | os.PathLike[str], uri: str | os.PathLike[str]) -> None:
    """Copy the local file ``path`` to the object or file ``uri``."""
    handler(uri).upload(Path(path), os.fspath(uri))
