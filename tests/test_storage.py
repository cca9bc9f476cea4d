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
    assert storage.read_bytes(f"{root}/a/1.bin", limit=2) == b"un"
    assert storage.read_bytes(f"{root}/a/1.bin", limit=99) == b"uno"
    assert storage.list_location(root, limit=1) == [("a/1.bin", 3)]
    _missing_is_file_not_found(root, tmp_path)


def _missing_is_file_not_found(root: str, tmp_path: Path) -> None:
    """Nothing there is the same error on every medium, naming the location, and leaves no file."""
    for call in (lambda: storage.read_bytes(f"{root}/none.bin"),
                 lambda: storage.download(f"{root}/none.bin", tmp_path / "none.bin")):
        with pytest.raises(FileNotFoundError) as e:
            call()
        assert e.value.filename == f"{root}/none.bin"
    assert not (tmp_path / "none.bin").exists()


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


@pytest.mark.parametrize("medium", ["folder", "s3"])
def test_a_tree_is_uploaded_once_and_an_empty_object_reads_empty(medium, tmp_path, request):
    root = str(tmp_path / "store") if medium == "folder" else f"s3://{request.getfixturevalue('bucket')}/code/"
    files = []
    for i in range(20):
        (tmp_path / "src" / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        path = tmp_path / "src" / f"d{i % 3}" / f"{i:02d}.bin"
        path.write_bytes(bytes([i]) * i)  # 00.bin is empty
        files.append((path, path.relative_to(tmp_path / "src").as_posix()))
    assert storage.upload_tree(files[:5], root, only_missing=True) == 5
    assert storage.upload_tree(files, root, only_missing=True) == 15, "what is there is not copied again"
    assert storage.upload_tree(files[:2], root) == 2, "unless asked"
    assert storage.list_location(root) == sorted((rel, path.stat().st_size) for path, rel in files)
    assert storage.read_bytes(storage.join(root, "d0/00.bin")) == b""
    assert storage.read_bytes(storage.join(root, "d0/00.bin"), limit=10) == b"", "S3 has no byte 0 to range over"
    assert storage.read_bytes(storage.join(root, "d1/10.bin"), limit=0) == b""


def test_an_s3_handler_uses_the_client_it_is_given(bucket, tmp_path):
    """A backend's own session (its region, its role) reaches S3, and one client serves a batch."""
    given = boto3.client("s3")
    calls = []
    given.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    (tmp_path / "f.bin").write_bytes(b"f")
    storage.upload(tmp_path / "f.bin", f"s3://{bucket}/x/f.bin", s3=given)
    assert storage.list_location(f"s3://{bucket}/x", s3=given) == [("f.bin", 1)]
    assert storage.upload_tree([(tmp_path / "f.bin", "g.bin")], f"s3://{bucket}/x", only_missing=True, s3=given) == 1
    assert calls == ["PutObject", "ListObjectsV2", "ListObjectsV2", "PutObject"]
    store = storage.handler(f"s3://{bucket}/x/")
    assert store.client is store.client, "made once, on first use"


def test_an_s3_refusal_passes_as_boto3_raises_it_for_aws_to_word(aws):
    from botocore.exceptions import ClientError

    from augment.aws import bucket_refusal

    with pytest.raises(ClientError) as e:
        storage.read_bytes("s3://no-such-bucket-here/k")
    refused = bucket_refusal(e.value, "input", "s3://no-such-bucket-here/k")
    assert str(refused) == ("input=s3://no-such-bucket-here/k: there is no bucket 'no-such-bucket-here' (check "
                            "the name, and the account these credentials belong to)")


def test_compare_reads_every_hosts_summary_past_a_thousand_keys(bucket):
    """plan._measure asked ListObjectsV2 for one page: a job's 1,001st summary was never read."""
    import json

    from augment.plan._measure import _output_summaries

    s3 = boto3.client("s3")
    for i in range(1001):
        s3.put_object(Bucket=bucket, Key=f"out/_augment/summary-algo-{i + 1}.json", Body=json.dumps({"host": i}))
    s3.put_object(Bucket=bucket, Key="out/_augment/manifest-algo-1.jsonl", Body=b"{}\n")
    description = {"ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": f"s3://{bucket}/out/"}}]}}
    assert sorted(s["host"] for s in _output_summaries(description)) == list(range(1001))


def test_uris_are_parsed_and_formed_here():
    assert storage.s3_uri("b", "k/x.jpg") == "s3://b/k/x.jpg" and storage.split_s3_uri(storage.s3_uri("b", "k/")) \
        == ("b", "k/")
    assert storage.join("s3://b/out/", "_augment", "spec.yaml") == storage.join("s3://b/out", "_augment/spec.yaml") \
        == "s3://b/out/_augment/spec.yaml"
    assert storage.join(Path("/tmp/out"), "a") == "/tmp/out/a"
    assert storage.is_local("/tmp/x") and storage.is_local(Path("s3:/b")) and storage.is_local("rel/x")
    assert not storage.is_local("s3://b/k") and not storage.is_local("gs://b/k")
    assert storage.valid_s3_uri("s3://my-bucket/p/") and storage.valid_s3_uri("s3://b.c.d")
    assert not storage.valid_s3_uri("s3://B/p") and not storage.valid_s3_uri("s3://b/p") and not \
        storage.valid_s3_uri("s3:///p")


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
