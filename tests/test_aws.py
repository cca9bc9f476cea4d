"""Every AWS entry point without usable credentials: one clean message that says what is
missing and how to provide it, exit status 2 before any work, no traceback.

No real endpoint is ever contacted: credentials are removed from the environment (and the
instance metadata service is disabled), and ``AWS_ENDPOINT_URL`` points at an unused
loopback port, or at moto's server for credentials it refuses.
"""

from __future__ import annotations

import os

import boto3
import pytest
import requests
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from augment.aws import CredentialsError, credentials_error
from augment.cli import main
from augment.samples import samples_dir

UNUSED = "http://127.0.0.1:9"  # the discard port: nothing answers there
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture()
def no_credentials(monkeypatch, tmp_path):
    """No credentials anywhere boto3 looks, a region, and every endpoint on an unused loopback port."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", UNUSED)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # its credentials are cached from earlier tests
    return tmp_path


def _entry_points(tmp: str) -> dict[str, list[str]]:
    samples = str(samples_dir())
    return {
        "run sagemaker": ["run", "--backend", "sagemaker", "--input", "s3://bkt/in/", "--output", "s3://bkt/out/",
                          "--spec", "light", "--image-uri", "img:1"],
        "run sagemaker, role and bucket given": [
            "run", "--backend", "sagemaker", "--input", "s3://bkt/in/", "--output", "s3://bkt/out/", "--spec",
            "light", "--image-uri", "img:1", "--role", ROLE, "--bucket", "bkt"],
        "run local, s3 input": ["run", "--input", "s3://bkt/in/", "--output", f"{tmp}/out", "--spec", "light",
                                "--workdir", f"{tmp}/work"],
        "run local, s3 output": ["run", "--input", samples, "--output", "s3://bkt/out/", "--spec", "light",
                                 "--workdir", f"{tmp}/work"],
        "run local batched": ["run", "--mode", "batched", "--input", "s3://bkt/in/", "--output", f"{tmp}/out",
                              "--spec", "light"],
        "local-run": ["local-run", "some-job"],
        "image push": ["image", "push", "--region", "us-east-1"],
        "image push, account given": ["image", "push", "--region", "us-east-1", "--account", "123456789012"],
        "image uri": ["image", "uri", "--region", "us-east-1"],
        "image push --codebuild": ["image", "push", "--codebuild", "--bucket", "bkt", "--role", ROLE, "--region",
                                   "us-east-1", "--account", "123456789012"],
        "plan --input s3": ["plan", "--input", "s3://bkt/in/"],
        "plan --prices api": ["plan", "--images", "1000", "--prices", "api"],
        "preview --input s3": ["preview", "light", "--input", "s3://bkt/in/", "--out", f"{tmp}/grid.png"],
    }


ENTRY_POINTS = list(_entry_points("TMP"))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_credentials_is_one_clean_message_before_any_work(no_credentials, capsys, entry):
    argv = _entry_points(str(no_credentials))[entry]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"augment {argv[0]}: error: no AWS credentials found"), err
    assert "aws configure" in err and "AWS_PROFILE" in err, "how: a profile"
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in err, "how: the environment"
    assert "Studio" in err and "execution role" in err, "how: the Studio role"
    assert "Traceback" not in err and "This is a bug" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (no_credentials / "work").exists() and not (no_credentials / "out").exists(), "before any work"


def test_incomplete_credentials_and_an_unknown_profile_say_so(no_credentials, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")  # no secret key
    assert main(["run", "--input", "s3://bkt/in/", "--output", str(no_credentials / "out"), "--spec", "light"]) == 2
    err = capsys.readouterr().err
    assert "incomplete AWS credentials" in err and "AWS_SECRET_ACCESS_KEY" in err and "Traceback" not in err
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    assert main(["image", "uri", "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "profile (nope) could not be found" in err and "`aws configure --profile nope`" in err
    assert "Traceback" not in err


def test_no_region_says_how_to_set_one(no_credentials, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for argv in (["local-run", "some-job"], ["image", "uri"],
                 ["run", "--backend", "sagemaker", "--input", "s3://bkt/in/", "--output", "s3://bkt/out/", "--spec",
                  "light", "--image-uri", "img:1", "--role", ROLE, "--bucket", "bkt"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "no AWS region" in err and "AWS_DEFAULT_REGION" in err, err
        # the command's own flag where it has one; local-run has none to name
        assert ("pass --region, " in err) == (argv[0] != "local-run") and "region=" not in err, err
        assert "Traceback" not in err


def test_aws_out_of_reach_is_one_clean_message_not_a_bug(no_credentials, capsys, monkeypatch):
    """No network, a VPC without the service's endpoint, or a wrong AWS_ENDPOINT_URL: each
    ended in a traceback and "internal error ... This is a bug in augment"."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the discard port refuses at once; no back-off between tries
    tmp = no_credentials
    for argv in (
        ["run", "--backend", "sagemaker", "--input", "s3://bkt/in/", "--output", "s3://bkt/out/", "--spec", "light",
         "--image-uri", "img:1", "--role", ROLE, "--bucket", "bkt"],
        ["run", "--input", "s3://bkt/in/", "--output", str(tmp / "out"), "--spec", "light", "--workdir",
         str(tmp / "work")],
        ["plan", "--input", "s3://bkt/in/"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith(f"augment {argv[0]}: error: AWS could not be reached at {UNUSED}"), err
        assert "AWS_ENDPOINT_URL" in err and "VPC endpoint" in err and "This is a bug" not in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp / "work").exists() and not (tmp / "out").exists()


@pytest.fixture()
def refusing_aws(aws):
    """moto's server checking credentials: it knows no access key, so it refuses every one."""
    boto3.client("s3").create_bucket(Bucket="refused")
    boto3.client("s3").put_object(Bucket="refused", Key="in/a.jpg", Body=(samples_dir() / "astronaut.jpg")
                                  .read_bytes())
    requests.post(f"{aws}/moto-api/reset-auth", data=b"0", timeout=30).raise_for_status()
    try:
        yield aws
    finally:
        requests.post(f"{aws}/moto-api/reset-auth", data=b"inf", timeout=30).raise_for_status()


def test_refused_credentials_are_one_clean_message(refusing_aws, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for argv in (
        ["run", "--input", "s3://refused/in/", "--output", str(tmp_path / "out"), "--spec", "light", "--workdir",
         str(tmp_path / "work")],
        ["run", "--backend", "sagemaker", "--input", "s3://refused/in/", "--output", "s3://refused/out/", "--spec",
         "light", "--image-uri", "img:1", "--role", ROLE, "--bucket", "refused"],
        ["image", "uri", "--region", "us-east-1"],
        ["plan", "--input", "s3://refused/in/"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, err
        assert "AWS refused the credentials from the environment (AWS_ACCESS_KEY_ID)" in err, err
        assert "are invalid" in err and "aws configure" in err and "Studio" in err
        assert "Traceback" not in err and "This is a bug" not in err
    assert not (tmp_path / "work").exists(), "refused at the listing, before any host"


@pytest.mark.parametrize(("code", "state"), [
    ("ExpiredToken", "have expired"), ("ExpiredTokenException", "have expired"), ("RequestExpired", "have expired"),
    ("InvalidClientTokenId", "are invalid"), ("UnrecognizedClientException", "are invalid"),
    ("SignatureDoesNotMatch", "are invalid"), ("InvalidAccessKeyId", "are invalid"),
])  # fmt: skip
def test_each_refusal_code_is_a_credentials_error(code, state):
    error = credentials_error(ClientError({"Error": {"Code": code, "Message": "m"}}, "ListObjectsV2"), "s3://b/")
    assert isinstance(error, CredentialsError) and error.exit_code == 2
    assert f"they {state} ({code}: m)" in str(error) and "(needed for s3://b/)" in str(error)


def test_other_errors_are_left_alone():
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "m"}}, "GetObject")
    assert credentials_error(denied) is None, "a permission, not the credentials"
    assert credentials_error(ValueError("x")) is None
    wrapped = RuntimeError("upload failed")
    wrapped.__context__ = NoCredentialsError()
    assert isinstance(credentials_error(wrapped), CredentialsError), "boto3 wraps upload errors"
    partial = credentials_error(PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"))
    assert isinstance(partial, CredentialsError) and "AWS_SECRET_ACCESS_KEY" in str(partial)
