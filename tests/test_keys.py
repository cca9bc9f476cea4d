"""S3 keys that a file system cannot hold as distinct files (issue 20, item 2): one policy
for all of them, in every launch mode. Every object is an input: a key that can be staged
is staged, a key that cannot is recorded as failed (``unstageable_key``) with the reason
and the key it would collide with, and a folder marker is listed as excluded. Before,
``a//b.jpg`` and ``a/./b.jpg`` were normalised onto ``a/b.jpg``: a standalone job
"Completed" with objects never recorded, and hosts of a sharded job recorded ``a/b.jpg``
with different checksums while one output overwrote the other."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import boto3
import PIL.Image
import pytest

from augment.errors import UsageError
from augment.keys import FOLDER_MARKER, UNSTAGEABLE, check_uri, split_keys
from augment.manifest import iter_manifest
from augment.samples import list_samples, samples_dir

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0"

PLAIN = ["a/b.jpg", "c.jpg/x.jpg", "d\\e.jpg", "z.jpg"]
"""Keys (after the input prefix) that can be staged: a backslash is a plain character on Linux."""
ODD = {
    "a//b.jpg": "doubled '/'); on disk it would be 'a/b.jpg', another object's path",
    "a/./b.jpg": "'.' or '..' path segment; on disk it would be 'a/b.jpg'",
    "./z.jpg": "'.' or '..' path segment; on disk it would be 'z.jpg'",
    "/lead.jpg": "leading '/'",
    "data.jpg/": "trailing '/'",
    "c.jpg": "also the folder of 'c.jpg/x.jpg'",
    "up/../z.jpg": "'.' or '..' path segment",
    "http://host/k.jpg": "doubled '/'",
    "n" * 256 + ".jpg": "longer than 255 bytes",
}
"""Keys that cannot, with a part of why."""
MARKERS = ["cats/"]


def test_every_key_is_staged_or_recorded_with_why():
    sizes = {**dict.fromkeys(PLAIN, 10), **dict.fromkeys(ODD, 10), **dict.fromkeys(MARKERS, 0), "x\0y.jpg": 3}
    split = split_keys(sizes.items())
    failed = {f["source"]: f for f in split.failed}
    assert split.staged == sorted(PLAIN) and split.markers == MARKERS
    assert sorted(failed) == sorted([*ODD, "x\0y.jpg"]), "nothing lost, nothing twice"
    assert {f["reason"] for f in failed.values()} == {UNSTAGEABLE}
    for key, why in ODD.items():
        assert why in failed[key]["error"], key
    assert "NUL byte" in failed["x\0y.jpg"]["error"]
    assert len(split.sizes) == len(PLAIN) + len(ODD) + 1, "markers are no inputs"


def test_a_zero_byte_key_ending_in_slash_is_a_marker_only_when_empty():
    split = split_keys([("", 0), ("f/", 0), ("g/", 5), ("", 7)])
    assert split.markers == ["", "f/"] and [f["source"] for f in split.failed] == ["", "g/"]


@pytest.mark.parametrize(("uri", "message"), [
    ("S3://b/in/", "write s3://b/in/ (lower case 's3://'"),
    ("s3a://b/in/", "write s3://b/in/"),
    ("s3:///in/", "no bucket"),
    ("https://b.s3.us-east-1.amazonaws.com/in/x.jpg", "not https://; for this URL that is s3://b/in/x.jpg"),
    ("https://s3.amazonaws.com/b/in/", "for this URL that is s3://b/in/"),
    ("ftp://host/in/", "only s3://BUCKET/PREFIX URIs or local folders are read, not ftp://"),
])  # fmt: skip
def test_other_schemes_are_refused_with_the_form_to_use(uri, message):
    with pytest.raises(UsageError, match="input=" + uri.replace(".", r"\.").replace("?", r"\?")) as e:
        check_uri(uri)
    assert message in str(e.value)
    assert check_uri("s3://b/in/") == "s3://b/in/" and check_uri("/tmp/in") == "/tmp/in"


@pytest.mark.parametrize("uri", ["S3://b/in/", "http://b.s3.amazonaws.com/in/"])
def test_run_refuses_another_scheme_before_any_work(uri, tmp_path, capsys):
    from augment import cli

    assert cli.main(["run", "--input", uri, "--output", str(tmp_path / "out"), "--spec", "light"]) == 2
    assert f"--input {uri}:" in capsys.readouterr().err and not (tmp_path / "out").exists()


# --- through the launchers, on moto -------------------------------------------------------


def _jpeg(n: int) -> bytes:
    """A small real photo, different for each ``n``."""
    with PIL.Image.open(samples_dir() / list_samples()[n % len(list_samples())]) as img:
        img = img.convert("RGB")
        img.thumbnail((48 + n, 48 + n))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        return buf.getvalue()


def _fill(bucket: str, prefix: str = "in/") -> dict[str, bytes]:
    """Every kind of key under ``prefix``; returns each input key's bytes (markers left out)."""
    s3 = boto3.client("s3")
    data = {}
    for n, key in enumerate([*PLAIN, *ODD]):
        data[key] = _jpeg(n)
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=data[key])
    for key in MARKERS:
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=b"")
    return data


def _records(bucket: str, prefix: str, tmp_path: Path) -> list[dict]:
    """Every record of every manifest under ``prefix`` (all hosts, all batches)."""
    s3 = boto3.client("s3")
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if "/_augment/manifest-" in "/" + o["Key"]:
                local = tmp_path / hashlib.sha256(o["Key"].encode()).hexdigest()
                s3.download_file(bucket, o["Key"], str(local))
                records += list(iter_manifest(local))
    return records


def _check_every_object_once(records: list[dict], data: dict[str, bytes], bucket: str, out_prefix: str) -> None:
    by_source = {}
    for r in records:
        assert (r["source"], r["copy"]) not in by_source, f"{r['source']} recorded twice"
        by_source[(r["source"], r["copy"])] = r
    assert sorted(s for s, _ in by_source) == sorted(data), "every object is an input, once"
    s3 = boto3.client("s3")
    for key in PLAIN:
        r = by_source[(key, 0)]
        assert r["status"] == "ok" and r["source_sha256"] == hashlib.sha256(data[key]).hexdigest(), \
            f"{key} was made from its own bytes, not another object's"
        body = s3.get_object(Bucket=bucket, Key=out_prefix + r["output"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == r["output_sha256"], f"{key}'s output is the one recorded"
    for key, why in ODD.items():
        r = by_source[(key, 0)]
        assert r["status"] == "failed" and r["reason"] == UNSTAGEABLE and why in r["error"], key


@pytest.mark.parametrize("mode", ["standalone", "sharded"])
def test_run_records_every_object_of_an_odd_prefix(mode, bucket, tmp_path, capsys):
    from augment import cli

    data = _fill(bucket, f"{mode}/")
    code = cli.main(["run", "--backend", "local", "--mode", mode, "--input", f"s3://{bucket}/{mode}/", "--output",
                     f"s3://{bucket}/out-{mode}/", "--spec", "light", "--copies", "1", "--workers", "1",
                     "--max-error-rate", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"{len(ODD)} failed inputs, 1 file excluded, in " in out.out, "run's totals count them"
    _check_every_object_once(_records(bucket, f"out-{mode}/_augment/", tmp_path), data, bucket, f"out-{mode}/")
    s3 = boto3.client("s3")
    excluded = [json.loads(line) for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"out-{mode}/_augment/excluded-")
                ["Contents"] for line in s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].iter_lines()]
    assert [(e["source"], e["rule"]) for e in excluded] == [("cats/", FOLDER_MARKER)], "the marker is listed"


def test_batched_records_every_object_of_an_odd_prefix(bucket, tmp_path, capsys):
    from augment import cli

    data = _fill(bucket)
    code = cli.main(["run", "--backend", "local", "--mode", "batched", "--batch-size", "2", "--input",
                     f"s3://{bucket}/in/", "--output", f"s3://{bucket}/out/", "--spec", "light", "--copies", "1",
                     "--workers", "1", "--max-error-rate", "1"])
    assert code == 0, capsys.readouterr().err
    records = _records(bucket, "out/batch-", tmp_path)
    by_batch = {}
    for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/batch-"):
        for o in page["Contents"]:
            by_batch.setdefault(o["Key"].split("/")[1], []).append(o["Key"])
    outputs = {r["output"]: r for r in records if r["output"]}
    for r in records:  # each batch's outputs lie under its own prefix: check them there
        if r["output"]:
            assert any(k.endswith("/" + r["output"]) for keys in by_batch.values() for k in keys)
    assert len(outputs) == len(PLAIN)
    report = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key="out/_batches/report.json")["Body"].read())
    assert f"of {len(PLAIN) + len(ODD)} inputs" in report["summary"]
    excluded = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key="out/_batches/excluded.json")["Body"].read())
    assert excluded == [{"source": "cats/", "rule": FOLDER_MARKER, "pattern": None}]
    _check_records(records, data)


def _check_records(records: list[dict], data: dict[str, bytes]) -> None:
    seen = sorted(r["source"] for r in records)
    assert seen == sorted(data), "every object is an input, once"
    for r in records:
        if r["source"] in PLAIN:
            assert r["status"] == "ok" and r["source_sha256"] == hashlib.sha256(data[r["source"]]).hexdigest()
        else:
            assert r["reason"] == UNSTAGEABLE and ODD[r["source"]] in r["error"]


@pytest.mark.parametrize("mode", ["standalone", "sharded"])
def test_sagemaker_gets_a_manifest_of_the_stageable_keys_and_the_list_of_the_others(mode, bucket, capsys):
    """SageMaker stages what its input names: the job's images input lists only the keys a
    file can hold, and its 'unstaged' input the others, which its hosts record."""
    from augment import cli

    _fill(bucket, f"{mode}/")
    assert cli.main(["run", "--backend", "sagemaker", "--mode", mode, "--input", f"s3://{bucket}/{mode}/",
                     "--output", f"s3://{bucket}/out-{mode}/", "--spec", "light", "--image-uri", IMAGE, "--role",
                     ROLE, "--bucket", bucket, "--no-wait"]) == 0
    name = capsys.readouterr().out.strip()
    sent = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)["ProcessingInputs"]
    inputs = {i["InputName"]: i["S3Input"] for i in sent}
    assert inputs["images"]["S3DataType"] == "ManifestFile"
    assert inputs["images"]["S3DataDistributionType"] == ("ShardedByS3Key" if mode == "sharded" else "FullyReplicated")
    s3 = boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=inputs["images"]["S3Uri"].split("/", 3)[3])["Body"].read())
    assert manifest == [{"prefix": f"s3://{bucket}/{mode}/"}, *sorted(PLAIN)]
    assert inputs["images"]["S3Uri"] == f"s3://{bucket}/out-{mode}/_augment/launch/{name}/images.manifest.json"
    unstaged = json.loads(s3.get_object(Bucket=bucket, Key=inputs["unstaged"]["S3Uri"].split("/", 3)[3])["Body"].read())
    assert sorted(f["source"] for f in unstaged["failed"]) == sorted(ODD)
    assert [e["source"] for e in unstaged["excluded"]] == MARKERS


def test_a_plain_prefix_is_sent_as_it_is(bucket, capsys):
    from augment import cli

    boto3.client("s3").put_object(Bucket=bucket, Key="in/a.jpg", Body=_jpeg(0))
    assert cli.main(["run", "--backend", "sagemaker", "--input", f"s3://{bucket}/in/", "--output",
                     f"s3://{bucket}/out/", "--spec", "light", "--image-uri", IMAGE, "--role", ROLE, "--bucket",
                     bucket, "--no-wait"]) == 0
    name = capsys.readouterr().out.strip()
    sent = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)["ProcessingInputs"]
    assert [(i["InputName"], i["S3Input"]["S3DataType"], i["S3Input"]["S3Uri"]) for i in sent] == [
        ("images", "S3Prefix", f"s3://{bucket}/in/")]
    assert [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]] == ["in/a.jpg"]


def test_a_prefix_of_nothing_but_odd_keys_is_refused_before_any_work(bucket, tmp_path, capsys):
    from augment import cli

    boto3.client("s3").put_object(Bucket=bucket, Key="in//a.jpg", Body=_jpeg(0))
    assert cli.main(["run", "--input", f"s3://{bucket}/in/", "--output", str(tmp_path / "out"), "--spec",
                     "light"]) == 2
    err = capsys.readouterr().err
    assert "none of its 1 objects can be staged as files ('/a.jpg': the key cannot be staged" in err
    assert not (tmp_path / "out").exists()
    boto3.client("s3").put_object(Bucket=bucket, Key="in/.DS_Store", Body=b"junk")
    assert cli.main(["run", "--input", f"s3://{bucket}/in/", "--output", str(tmp_path / "out"), "--spec",
                     "light"]) == 2
    assert "none of the 1 objects the filters leave can be staged as files" in capsys.readouterr().err


def test_the_runtime_refuses_a_hand_built_request_that_would_stage_keys_onto_each_other(bucket, tmp_path):
    from augment.jobs import build_request, run_local

    _fill(bucket)
    request = build_request("light", f"s3://{bucket}/in/", str(tmp_path / "out"))
    with pytest.raises(UsageError, match=r"input 'images': 9 of the objects under .* cannot be staged as files of "
                                         r"their own \('./z.jpg': .*augment's launchers"):
        run_local(request, workdir=str(tmp_path / "wd"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("entry", "shown"), [(None, "null"), (7, "7"), ({"k": 1}, '{"k": 1}')])
def test_a_manifest_file_entry_that_is_no_key_is_refused_naming_it(entry, shown, tmp_path):
    from augment.jobs import build_request, run_local
    from augment.jobs.request import Input

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(_jpeg(0))
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"prefix": str(tmp_path / "photos") + "/"}, "a.jpg", entry]))
    request = build_request("light", str(tmp_path / "photos"), str(tmp_path / "out"))
    request = request.with_changes(inputs=(Input("images", str(manifest), "/opt/ml/processing/input/images",
                                                 data_type="ManifestFile"),))
    with pytest.raises(UsageError, match=f"manifest {manifest} entry 2 is {shown}: after the prefix"):
        run_local(request, workdir=str(tmp_path / "wd"))


def test_a_resume_of_a_job_with_unstaged_keys_records_them_once(tmp_path):
    """The records of keys not staged are written once per job: a resume skips them, and
    --retry-failed writes them again as redone (the latest record counts)."""
    from augment.engine import run_job
    from augment.keys import unstaged_document
    from augment.manifest import read_manifest

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(_jpeg(0))
    listed = tmp_path / "unstaged.json"
    split = split_keys([("a.jpg", 1), ("a//b.jpg", 1), (".DS_Store/", 0), ("x//.DS_Store", 1)])
    listed.write_text(json.dumps(unstaged_document(split.failed, split.markers, "s3://b/in/")))
    out = tmp_path / "out"
    summary = run_job("light", photos, out, workers=1, unstaged=listed, max_error_rate=1)
    assert (summary.inputs, summary.failed_inputs, summary.excluded) == (2, 1, 2), "junk is excluded, staged or not"
    manifest = out / "_augment" / "manifest-local.jsonl"
    lines = manifest.read_text().count("\n")
    run_job("light", photos, out, workers=1, unstaged=listed, max_error_rate=1, resume=True)
    assert manifest.read_text().count("\n") == lines, "nothing to do again"
    run_job("light", photos, out, workers=1, unstaged=listed, max_error_rate=1, resume=True, retry_failed=True)
    latest = {(r["source"], r["copy"]): r for r in read_manifest(manifest)}
    assert len(latest) == 2 * 2 and latest[("a//b.jpg", 0)]["redone"] == f"retry_{UNSTAGEABLE}"
    excluded = [json.loads(line) for line in (out / "_augment" / "excluded-local.jsonl").read_text().splitlines()]
    assert sorted((e["source"], e["rule"]) for e in excluded) == [(".DS_Store/", FOLDER_MARKER),
                                                                   ("x//.DS_Store", "default")]


def test_a_launch_that_creates_no_job_leaves_the_output_as_it_was(bucket):
    """The key lists are written before the job is sent; when sending fails, they go."""
    from augment.jobs import launch

    class Refusing:
        def submit(self, request):
            assert any(i.name == "unstaged" for i in request.inputs), "the job would have got the list"
            raise RuntimeError("CreateProcessingJob refused")

    _fill(bucket, "odd/")
    with pytest.raises(RuntimeError, match="refused"):
        launch(Refusing(), "light", f"s3://{bucket}/odd/", f"s3://{bucket}/out-refused/")
    assert boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="out-refused/").get("KeyCount") == 0


def test_preview_and_process_say_what_to_do_with_a_uri(tmp_path, capsys):
    from augment import cli

    assert cli.main(["preview", "light", "--input", "S3://b/in/", "--out", str(tmp_path / "g.png")]) == 2
    assert "--input S3://b/in/: write s3://b/in/" in capsys.readouterr().err
    assert cli.main(["process", "--spec", "light", "--input-dir", "s3://b/in/", "--output-dir",
                     str(tmp_path / "out")]) == 2
    assert "process reads a folder: to read s3:// objects, launch a job with augment run --input" in \
        capsys.readouterr().err


def test_a_missing_bucket_is_named_not_an_internal_error(aws, tmp_path, capsys):
    from augment import cli

    assert cli.main(["run", "--input", "s3://no-such-bucket-here/in/", "--output", str(tmp_path / "out"),
                     "--spec", "light"]) == 2
    assert "--input s3://no-such-bucket-here/in/: there is no bucket 'no-such-bucket-here'" in \
        capsys.readouterr().err
    assert cli.main(["plan", "--input", "s3://no-such-bucket-here/in/", "--prices", "offline"]) == 2
    assert "internal error" not in capsys.readouterr().err
