"""The storage layer (#27 item 2): one handler per scheme, the same round trip on a folder and
on S3 (moto's server), and the one list-and-page loop, over more than a page of keys."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from augment import storage


def _round_trip(root: str, tmp_path: Path) -> None:
    """Write, list, read, download, upload, test and delete under ``root`` (a folder or a prefix)."""
    assert storage.list_location(root) == []
    storage.write_bytes(f"{root}/a/1.bin", b"one")
    storage.write_bytes(f"{root}/a/1.bin", b"uno")  # replaced whole
    storage.write_bytes(f"{root}/b.bin", b"two!")
    assert storage.read_bytes(f"{root}/a/1.bin") == b"uno"
    assert storage.list_location(root) == [("a/1.bin", 3), ("b.bin", 4)]
    assert storage.list_location(root + "/") == [("a/1.bin", 3), ("b.bin", 4)]
    assert storage.exists(f"{root}/b.bin") and not storage.exists(f"{root}/b.bi")
    assert not storage.exists(f"{root}/b")  # a prefix of a name is not the name
    storage.download(f"{root}/b.bin", tmp_path / "got.bin")
    assert (tmp_path / "got.bin").read_bytes() == b"two!"
    (tmp_path / "up.bin").write_bytes(b"up")
    storage.upload(tmp_path / "up.bin", f"{root}/c/up.bin")
    assert storage.read_bytes(f"{root}/c/up.bin") == b"up"
    storage.delete(f"{root}/b.bin")
    storage.delete(f"{root}/b.bin")  # nothing there is no error
    assert [rel for rel, _ in storage.list_location(root)] == ["a/1.bin", "c/up.bin"]


def test_a_folder_round_trip_leaves_no_temporary_file(tmp_path):
    root = tmp_path / "store"
    _round_trip(str(root), tmp_path)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == ["a/1.bin", "c/up.bin"]


def test_an_s3_round_trip(bucket, tmp_path):
    _round_trip(f"s3://{bucket}/store", tmp_path)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["store/a/1.bin", "store/c/up.bin"]


def test_listing_pages_past_a_thousand_keys_once(bucket):
    """Moto pages at 1,000 keys, as S3 does: the one loop follows every page, in key order."""
    s3 = boto3.client("s3")
    keys = [f"many/{i:05d}.bin" for i in range(1005)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object(Bucket=bucket, Key="manyother.bin", Body=b"x")
    assert [o["Key"] for o in storage.list_s3(bucket, "many/")] == keys
    assert [o["Key"] for o in storage.list_s3(bucket, "many/", limit=3)] == keys[:3]
    assert [rel for rel, _ in storage.list_location(f"s3://{bucket}/many")] == [k[5:] for k in keys]
    from augment.keys import list_s3

    assert list_s3(f"s3://{bucket}/many/")[1] == [(k[5:], 1) for k in keys]


def test_a_scheme_has_one_handler():
    assert isinstance(storage.handler("s3://b/k"), storage.S3Handler)
    assert isinstance(storage.handler("/tmp/x"), storage.FolderHandler)
    assert isinstance(storage.handler(Path("rel/x")), storage.FolderHandler)
    with pytest.raises(ValueError, match="no storage handler for gs://"):
        storage.handler("gs://b/k")
    assert storage.is_s3("s3://b/k") and not storage.is_s3("S3://b/k") and not storage.is_s3(Path("s3:/b"))
    assert storage.split_s3_uri("s3://b/k/x.jpg") == ("b", "k/x.jpg")


def test_the_old_homes_still_answer():
    """``augment.jobs.local`` kept these names: notebooks and users import them from there."""
    from augment.jobs import local

    for name in ("s3_client", "split_s3_uri", "get_file", "put_file", "each_concurrently", "TRANSFERS"):
        assert getattr(local, name) is getattr(storage, name)
