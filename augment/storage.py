"""Where bytes live: a local folder or an ``s3://`` prefix, and one handler for each.

Every S3 call of the package goes through here: the client (:func:`s3_client`), URI parsing
and forming (:func:`is_s3`, :func:`is_local`, :func:`split_s3_uri`, :func:`s3_uri`,
:func:`join`), the one list-and-page loop (:func:`list_s3`), and the transfers
(:func:`get_file`, :func:`put_file`, :func:`each_concurrently`). A location-level API
(:func:`read_bytes`, :func:`write_bytes`, :func:`list_location`, :func:`exists`,
:func:`delete`, :func:`download`, :func:`upload`, :func:`upload_tree`) picks the handler by
scheme (:func:`handler`), as papermill's ``iorw`` does: a new scheme is one more handler in
:data:`HANDLERS`.

A missing object is :class:`FileNotFoundError` on every medium (S3's ``NoSuchKey`` or 404
becomes one, naming the URI), so a caller asks "is it there?" without knowing the scheme.
Any other refusal passes as boto3 raises it, and :mod:`augment.aws` words it, as for every
other AWS call: :func:`augment.aws.aws_error` (credentials, no connection) where a command
or job ends, :func:`augment.aws.bucket_refusal` (a bucket missing or closed) where a
location is named. Nothing here imports boto3 at import time, and nothing here imports
another module of the package but :mod:`augment.files` (atomic writes).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
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

# S3's rules for a bucket name (3 to 63 lower-case letters, digits, dots and hyphens, a
# letter or digit at each end), as CreateProcessingJob checks an S3Uri
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")

# S3's codes for "no such object" (GetObject says NoSuchKey; HeadObject, which
# download_file asks first, has no body and says 404)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def s3_client() -> Any:
    """A boto3 S3 client with a connection for each transfer in flight (botocore keeps 10);
    it honours ``AWS_ENDPOINT_URL`` (moto's server in the tests, any S3-compatible one)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=TRANSFERS))


def is_s3(uri: object) -> bool:
    """Whether ``uri`` names an S3 location (``s3://``, lower case, as S3 and SageMaker write it)."""
    return isinstance(uri, str) and uri.startswith(S3)


def _scheme(uri: str | os.PathLike[str]) -> str:
    """``s3`` of ``s3://...``; ``""`` for a local path (no scheme)."""
    text = os.fspath(uri)
    return text.partition("://")[0] if isinstance(text, str) and "://" in text else ""


def is_local(uri: str | os.PathLike[str]) -> bool:
    """Whether ``uri`` is a path on this machine (it names no scheme), where a folder can be
    looked at, resolved or made before anything is sent."""
    return _scheme(uri) == ""


def valid_s3_uri(uri: str) -> bool:
    """Whether ``uri`` is an ``s3://`` URI whose bucket name S3 accepts (as SageMaker checks
    a request's ``S3Uri``)."""
    return bool(_S3_URI.match(uri))


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


def s3_uri(bucket: str, key: str = "") -> str:
    """(bucket, key) -> ``s3://bucket/key``: :func:`split_s3_uri` the other way."""
    return f"{S3}{bucket}/{key}"


def join(uri: str | os.PathLike[str], *parts: str) -> str:
    """``uri`` (a folder or a prefix) and relative ``parts``, joined by ``/`` (one, whatever
    ``uri`` ends with): ``join("s3://b/out/", "_augment", "spec.yaml")``."""
    return "/".join([os.fspath(uri).rstrip("/"), *parts])


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
    takes a folder (a prefix) and yields ``(path relative to it, size)`` in sorted order. A
    missing object is :class:`FileNotFoundError`.

    A handler serves one operation or one batch of them: the S3 one makes its client on
    first use (or takes a backend's) and keeps it, so that a thousand downloads share one.
    """

    def read_bytes(self, uri: str, limit: int | None = None) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def list(self, uri: str, limit: int | None = None) -> Iterator[tuple[str, int]]: ...
    def exists(self, uri: str) -> bool: ...
    def delete(self, uri: str) -> None: ...
    def download(self, uri: str, dst: Path, size: int | None = None) -> None: ...
    def upload(self, path: Path, uri: str) -> None: ...


class FolderHandler:
    """A local path. Writes are atomic (:func:`augment.files.atomic_write`).

    Args:
        client: none is needed (taken for the shape every handler has).
    """

    def __init__(self, client: Any = None) -> None:
        del client

    def read_bytes(self, uri: str, limit: int | None = None) -> bytes:
        with open(uri, "rb") as f:
            return f.read() if limit is None else f.read(limit)

    def write_bytes(self, uri: str, data: bytes) -> None:
        from augment.files import atomic_write

        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(uri, data)

    def list(self, uri: str, limit: int | None = None) -> Iterator[tuple[str, int]]:
        root = Path(uri)
        if not root.is_dir():
            return
        found = []
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath, name)
                found.append((path.relative_to(root).as_posix(), path.lstat().st_size))
        yield from sorted(found)[:limit]

    def exists(self, uri: str) -> bool:
        return os.path.lexists(uri)

    def delete(self, uri: str) -> None:
        Path(uri).unlink(missing_ok=True)

    def download(self, uri: str, dst: Path, size: int | None = None) -> None:
        shutil.copyfile(uri, dst)

    def upload(self, path: Path, uri: str) -> None:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, uri)


def _code(error: BaseException) -> str:
    """The code of a botocore ``ClientError`` (``""`` for any other error)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


@contextmanager
def _missing_is_not_found(uri: str) -> Iterator[None]:
    """S3's "no such object" as the :class:`FileNotFoundError` a folder raises, naming ``uri``."""
    try:
        yield
    except Exception as e:
        if _code(e) not in _MISSING:
            raise
        raise FileNotFoundError(errno.ENOENT, "no such object", uri) from e


class S3Handler:
    """An ``s3://bucket/key`` location. A PUT is atomic on S3: readers see the old object or
    the new one, never a part.

    Args:
        client: the S3 client (a backend's own session); default: :func:`s3_client`, made
            on first use and kept by this handler.
    """

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._lock = threading.Lock()  # transfers run on threads; one client is made

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = s3_client()
            return self._client

    def read_bytes(self, uri: str, limit: int | None = None) -> bytes:
        bucket, key = split_s3_uri(uri)
        if limit is not None and limit <= 0:
            return b""
        ranged = {} if limit is None else {"Range": f"bytes=0-{limit - 1}"}
        with _missing_is_not_found(uri):
            try:
                return self.client.get_object(Bucket=bucket, Key=key, **ranged)["Body"].read()
            except Exception as e:
                if ranged and _code(e) == "InvalidRange":  # an empty object has no byte 0
                    return b""
                raise

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_s3_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def list(self, uri: str, limit: int | None = None) -> Iterator[tuple[str, int]]:
        bucket, prefix = split_s3_uri(uri)
        prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        for obj in list_s3(bucket, prefix, s3=self.client, limit=limit):
            yield obj["Key"][len(prefix):], obj["Size"]

    def exists(self, uri: str) -> bool:
        bucket, key = split_s3_uri(uri)
        return any(obj["Key"] == key for obj in list_s3(bucket, key, s3=self.client, limit=1))

    def delete(self, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def download(self, uri: str, dst: Path, size: int | None = None) -> None:
        bucket, key = split_s3_uri(uri)
        with _missing_is_not_found(uri):
            get_file(self.client, bucket, key, dst, size)

    def upload(self, path: Path, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        put_file(self.client, path, bucket, key)


HANDLERS: dict[str, Callable[[Any], Handler]] = {"": FolderHandler, "s3": S3Handler}
"""Scheme (``""`` for a local path) -> its handler's class, called with the client or ``None``."""


def handler(uri: str | os.PathLike[str], *, s3: Any = None) -> Handler:
    """A handler for ``uri``'s scheme: ``s3://`` or a local path (no scheme).

    Args:
        s3: the S3 client an ``s3://`` location uses (a backend's own session); default:
            one made on first use.

    Raises:
        ValueError: no handler for the scheme.
    """
    scheme = _scheme(uri)
    try:
        kind = HANDLERS[scheme]
    except KeyError:
        raise ValueError(f"{os.fspath(uri)}: no storage handler for {scheme}:// (known: s3://, local paths)") from None
    return kind(s3)


def read_bytes(uri: str | os.PathLike[str], *, limit: int | None = None, s3: Any = None) -> bytes:
    """The bytes of one object or file (the first ``limit`` of them, when given).

    Raises:
        FileNotFoundError: nothing there.
    """
    return handler(uri, s3=s3).read_bytes(os.fspath(uri), limit)


def write_bytes(uri: str | os.PathLike[str], data: bytes, *, s3: Any = None) -> None:
    """Write one object or file, whole or not at all."""
    handler(uri, s3=s3).write_bytes(os.fspath(uri), data)


def list_location(uri: str | os.PathLike[str], *, limit: int | None = None, s3: Any = None
                  ) -> list[tuple[str, int]]:
    """``(path relative to the folder or prefix, size)`` of everything under it, sorted
    (the first ``limit`` of them, when given); nothing for a location that holds nothing."""
    return list(handler(uri, s3=s3).list(os.fspath(uri), limit))


def exists(uri: str | os.PathLike[str], *, s3: Any = None) -> bool:
    """Whether the object or file is there."""
    return handler(uri, s3=s3).exists(os.fspath(uri))


def delete(uri: str | os.PathLike[str], *, s3: Any = None) -> None:
    """Remove one object or file (nothing there is no error)."""
    handler(uri, s3=s3).delete(os.fspath(uri))


def download(uri: str | os.PathLike[str], dst: str | os.PathLike[str], *, size: int | None = None,
             s3: Any = None) -> None:
    """Copy one object or file to the local path ``dst``.

    Args:
        size: its size where a listing gave it (a large object moves in parts).

    Raises:
        FileNotFoundError: nothing there.
    """
    handler(uri, s3=s3).download(os.fspath(uri), Path(dst), size)


def upload(path: str | os.PathLike[str], uri: str | os.PathLike[str], *, s3: Any = None) -> None:
    """Copy the local file ``path`` to the object or file ``uri``."""
    handler(uri, s3=s3).upload(Path(path), os.fspath(uri))


def upload_tree(files: Iterable[tuple[str | os.PathLike[str], str]], uri: str | os.PathLike[str], *,
                only_missing: bool = False, s3: Any = None) -> int:
    """Copy local files under the folder or prefix ``uri``, each at its relative path,
    :data:`TRANSFERS` at a time (see :func:`each_concurrently` for a failure).

    Args:
        files: ``(local file, path relative to uri)`` pairs.
        only_missing: leave a path already there as it is: under a prefix named by its
            content the same bytes are there, and a second upload copies nothing.
        s3: the S3 client an ``s3://`` location uses.

    Returns:
        How many files were copied.
    """
    where = handler(uri, s3=s3)
    root = os.fspath(uri)
    present = {rel for rel, _ in where.list(root)} if only_missing else set()
    calls = [partial(where.upload, Path(path), join(root, rel)) for path, rel in files if rel not in present]
    each_concurrently(calls)
    return len(calls)
