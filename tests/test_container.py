"""The processing image: Dockerfile lint and contract, build/push command construction,
ECR and CodeBuild against moto's server. No test needs a Docker engine."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import boto3
import pytest
from packaging.requirements import Requirement

from augment import __version__, container
from augment.jobs import Input, JobRequest, Output, run_local
from augment.samples import samples_dir
from tests.image.harness import extension_check

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = [*sorted((ROOT / "container").glob("Dockerfile*")), ROOT / "tests" / "image" / "base.Containerfile"]
AUGMENT = Path(sys.executable).with_name("augment")



@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_settings():
    text = (ROOT / "container" / "Dockerfile").read_text()
    assert text.count("FROM ") >= 3, "multi-stage: dependencies, package, runtime"
    assert text.index("requirements.txt") < text.index("COPY augment"), "dependency layers come first"
    assert "PYTHONUNBUFFERED=1" in text and "org.opencontainers.image.revision" in text
    assert "latest" not in text.lower()
    assert container.entrypoint_of() == ["augment", "process"]
    build_stage = text[text.index("AS package"):text.index("# --- runtime")]
    assert "gcc" in build_stage and "COPY pyproject.toml setup.py" in build_stage
    workdir, check = extension_check()
    assert "import augment._native" in check and "augment._jpeg" in check and "PARTIAL_JPEG" in check, \
        "an image without the compiled kernels or partial JPEG decoding fails to build"
    assert workdir != "/src" and "/opt/venv/bin/python -I " in check and "startswith('/opt/venv/')" in check, \
        "the check imports the installed package alone (tests/test_image.py proves it in the build)"
    assert "gcc" not in text[text.index("# --- runtime"):], "no compiler in the runtime image"


def test_image_pins_satisfy_the_package_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges = {Requirement(r).name.lower(): Requirement(r).specifier for r in project["dependencies"]}
    pins = {}
    for line in (ROOT / "container" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{line}: the image pins exact versions"
            pins[req.name.lower()] = spec.version
    assert pins.keys() == ranges.keys(), "the image installs exactly the runtime dependencies"
    for name, version in pins.items():
        assert ranges[name].contains(version), f"{name}=={version} is outside pyproject's {ranges[name]}"


def test_build_command_is_an_argument_list_with_version_tags():
    tags = container.image_tags("cpu", revision="abc1234")
    assert tags == [f"{__version__}-abc1234", __version__]
    assert container.image_tags("gpu", revision="abc1234") == [f"{__version__}-abc1234-gpu", f"{__version__}-gpu"]
    cmd = container.build_command("augment", tags, "gpu", revision="abc1234")
    assert isinstance(cmd, list) and all(isinstance(c, str) for c in cmd)
    assert cmd[:4] == ["docker", "build", "-f", str(ROOT / "container" / "Dockerfile")]
    assert f"TORCH_INDEX_URL={container.VARIANTS['gpu']}" in cmd and "GIT_REVISION=abc1234" in cmd
    labels = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--label"]
    assert labels == [f"org.opencontainers.image.version={__version__}", "org.opencontainers.image.revision=abc1234"], \
        "set on the command line too: podman reuses a cached LABEL layer whose build arguments differed"
    assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "-t"] == [f"augment:{t}" for t in tags]
    assert cmd[-1] == str(ROOT) and "--network" not in cmd
    assert "--network" in container.build_command("augment", tags, network="sagemaker")
    assert all("latest" not in t for t in tags)


def test_studio_builds_on_the_sagemaker_network(tmp_path, monkeypatch):
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text("{}")
    monkeypatch.setattr("augment.container._local.STUDIO_METADATA", metadata)  # what in_studio() reads
    run = container.Runner(dry_run=True, out=io.StringIO())
    container.build("augment", "cpu", run)
    (cmd,) = run.ran
    assert cmd[cmd.index("--network") + 1] == "sagemaker"


def test_git_revision_marks_uncommitted_changes(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("1")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "x"], check=True, env=env)
    clean = container.git_revision(tmp_path)
    assert len(clean) == 7 and "dirty" not in clean
    (tmp_path / "f").write_text("2")
    assert container.git_revision(tmp_path) == f"{clean}-dirty"
    assert container.git_revision(tmp_path / "nowhere") == "nogit"


def _recording_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """A `docker` first on PATH that answers `info` and `image inspect` and records every call
    (argv, and stdin where a password goes) in the file returned."""
    from augment import engines

    engines._cached.cache_clear()  # asked anew with the recording docker first on PATH
    request.addfinalizer(engines._cached.cache_clear)
    record = tmp_path / "calls.jsonl"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    "if sys.argv[1] == 'info': print(json.dumps({'ServerVersion': '27.0-recorded'}))\n"
                    "if sys.argv[1:3] == ['image', 'inspect']: print(123_000_000)\n"
                    f"stdin = sys.stdin.read() if '--password-stdin' in sys.argv else None\n"
                    f"open({str(record)!r}, 'a').write(json.dumps({{'argv': sys.argv[1:], 'stdin': stdin}}) + '\\n')\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    return record


def test_push_creates_the_repository_idempotently_and_sends_the_password_on_stdin(aws, tmp_path, monkeypatch,
                                                                                 request):
    """A recording `docker` on PATH shows what the real client would receive."""
    record = _recording_docker(tmp_path, monkeypatch, request)
    target = container.ImageTarget.from_session(region="us-east-1", repository="augment-test")
    printed = io.StringIO()
    uri = container.push(target, run=container.Runner(out=printed), engine="docker")
    assert printed.getvalue().startswith("engine: docker 27.0-recorded"), "the recording docker answers `info`"
    container.push(target, run=container.Runner(out=io.StringIO(), engine="docker"))  # again: the repository exists
    ecr = boto3.client("ecr", region_name="us-east-1")
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]].count("augment-test") == 1
    _, password = container.registry_credentials(ecr)
    calls = [c for c in map(json.loads, record.read_text().splitlines()) if c["argv"][0] != "info"][:5]
    login, *rest = calls
    assert login["argv"][:4] == ["login", "--username", "AWS", "--password-stdin"]
    assert login["stdin"] == password, "the password reaches docker on stdin"
    assert all(password not in " ".join(c["argv"]) for c in calls), "and never on a command line"
    assert password not in printed.getvalue() and container.REDACTED in printed.getvalue()
    tags = container.image_tags()
    assert [c["argv"] for c in rest] == [
        ["tag", f"augment-test:{tags[0]}", target.uri(tags[0])], ["push", target.uri(tags[0])],
        ["tag", f"augment-test:{tags[1]}", target.uri(tags[1])], ["push", target.uri(tags[1])],
    ]  # fmt: skip
    assert uri == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/augment-test:{tags[0]}"


def test_build_image_builds_here_and_pushes(aws, tmp_path, monkeypatch, request):
    """Notebook 01's method='local' with dry_run=False: the build, then the push to ECR."""
    record = _recording_docker(tmp_path, monkeypatch, request)
    target = container.ImageTarget.from_session(region="us-east-1", repository="augment-test")
    shown = io.StringIO()
    built = container.build_image("local", target, dry_run=False, engine="docker", out=shown)
    tags = container.image_tags()
    assert (built.uri, built.local, built.engine) == (target.uri(tags[0]), f"augment-test:{tags[0]}", "docker")
    calls = [c["argv"][0] for c in map(json.loads, record.read_text().splitlines()) if c["argv"][0] != "info"]
    assert calls == ["build", "image", "login", "tag", "push", "tag", "push"]
    assert "built: augment-test:" in shown.getvalue() and "123456789012" not in shown.getvalue()


def test_push_dry_run_prints_the_exact_commands_and_no_password(aws):
    result = subprocess.run([str(AUGMENT), "image", "push", "--dry-run", "--region", "us-east-1", "--engine", "docker"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            timeout=300)
    assert result.returncode == 0, result.stderr
    engine, *lines = result.stdout.splitlines()
    assert engine.startswith("engine: "), "which engine would push, or that none answers here"
    registry = "'<account>.dkr.ecr.us-east-1.amazonaws.com"
    assert lines[0].startswith("would run: aws ecr create-repository --repository-name augment ")
    assert lines[1] == ("would run: aws ecr get-login-password --region us-east-1 | docker login --username AWS "
                        f"--password-stdin {registry}'")
    assert lines[2].startswith("would run: docker tag augment:") and lines[3].startswith("would run: docker push ")
    ecr = boto3.client("ecr", region_name="us-east-1")
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert "augment" not in names, "a dry run creates no repository"
    _, password = container.registry_credentials(ecr)
    assert password not in result.stdout + result.stderr
    uri = subprocess.run([str(AUGMENT), "image", "uri", "--region", "us-east-1"], capture_output=True, text=True,
                         timeout=300).stdout.strip()
    assert lines[-1] == uri.replace("123456789012", "<account>"), "the account is the one placeholder"
    assert uri.startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:")


def test_dry_runs_send_no_request_and_need_no_credentials(monkeypatch, tmp_path, capsys):
    """Every AWS call is shown, with placeholders where its answer would go; with no
    credentials and no endpoint that answers, any request would fail the run."""
    from augment.cli import main

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "empty").write_text("")
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing answers there
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    tag = container.image_tags()[0]

    assert main(["image", "push", "--dry-run", "--engine", "docker"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("engine: ")]
    assert out == [
        "would run: aws ecr create-repository --repository-name augment --image-scanning-configuration "
        "scanOnPush=true --image-tag-mutability MUTABLE --region '<region>'   # unless it exists",
        "would run: aws ecr get-login-password --region '<region>' | docker login --username AWS --password-stdin "
        "'<account>.dkr.ecr.<region>.amazonaws.com'",
        f"would run: docker tag augment:{tag} '<account>.dkr.ecr.<region>.amazonaws.com/augment:{tag}'",
        f"would run: docker push '<account>.dkr.ecr.<region>.amazonaws.com/augment:{tag}'",
        f"would run: docker tag augment:{__version__} '<account>.dkr.ecr.<region>.amazonaws.com/augment:{__version__}'",
        f"would run: docker push '<account>.dkr.ecr.<region>.amazonaws.com/augment:{__version__}'",
        f"<account>.dkr.ecr.<region>.amazonaws.com/augment:{tag}",
    ]  # fmt: skip

    assert main(["image", "push", "--dry-run", "--account", "111122223333", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert "<" not in out.replace("<password", ""), "given values replace every placeholder"
    assert out.splitlines()[-1] == f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/augment:{tag}"

    assert main(["image", "uri", "--account", "111122223333", "--region", "eu-west-1"]) == 0, "no STS call needed"
    assert capsys.readouterr().out.strip() == f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/augment:{tag}"
    assert main(["image", "build", "--dry-run", "--engine", "docker"]) == 0
    assert "would run: docker build " in capsys.readouterr().out

    assert main(["image", "push", "--codebuild", "--dry-run", "--region", "us-east-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2:4] for line in lines[:-1]] == [
        ["aws", "ecr"], ["aws", "s3"], ["aws", "codebuild"], ["aws", "codebuild"], ["aws", "codebuild"]]
    assert f"s3://<bucket>/augment/codebuild/{tag}.zip" in lines[1] and "--service-role '<role>'" in lines[2]
    assert "start-build" in lines[3] and "IMAGE_URI,value=<account>.dkr.ecr.us-east-1.amazonaws.com" in lines[3]
    assert lines[-1] == f"<account>.dkr.ecr.us-east-1.amazonaws.com/augment:{tag}"


def test_build_without_an_engine_says_what_to_do(tmp_path):
    """Neither docker nor podman on PATH: a refusal that names both and the ways without a build."""
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run([str(AUGMENT), "image", "build"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2 and "neither Docker nor podman answers" in result.stderr
    assert "--codebuild" in result.stderr and "--dlc" in result.stderr
    result = subprocess.run([str(AUGMENT), "image", "build", "--engine", "podman"], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 2 and "podman does not answer" in result.stderr
    dry = subprocess.run([str(AUGMENT), "image", "build", "--dry-run", "--engine", "podman"], capture_output=True,
                         text=True, timeout=300, env=env)
    assert dry.returncode == 0 and "engine: none answers here; showing what podman would run" in dry.stdout
    assert "would run: podman build -f" in dry.stdout


def test_build_arguments_for_a_mirror_and_a_base_and_no_token_in_what_is_printed():
    cmd = container.build_command("augment", ["t"], engine="podman", revision="abc1234", network="host",
                                  torch_index_url="https://aws:s3cr3t-t0ken@d.codeartifact.aws/pypi/r/simple/",
                                  base_image="registry.example/python:3.11-slim")
    assert cmd[:2] == ["podman", "build"] and cmd[cmd.index("--network") + 1] == "host"
    assert "TORCH_INDEX_URL=https://aws:s3cr3t-t0ken@d.codeartifact.aws/pypi/r/simple/" in cmd, "the engine gets it"
    assert "PYTHON_IMAGE=registry.example/python:3.11-slim" in cmd
    out = io.StringIO()
    container.Runner(dry_run=True, out=out)(cmd)
    assert "s3cr3t" not in out.getvalue() and "TORCH_INDEX_URL=https://<redacted>@d.codeartifact" in out.getvalue()
    out = io.StringIO()
    container.Runner(dry_run=True, out=out)(["pip", "--index-url", "https://t0kenAsUser@pypi.fury.io/me/"])
    assert "t0ken" not in out.getvalue() and "https://<redacted>@pypi.fury.io/me/" in out.getvalue()


def test_codebuild_refuses_the_arguments_of_a_build_here(capsys):
    from augment.cli import main

    for flag in (["--base-image", "b:1"], ["--torch-index-url", "https://m/simple"], ["--network", "host"]):
        assert main(["image", "push", "--codebuild", "--dry-run", "--region", "us-east-1", *flag]) == 2
        assert f"{flag[0]} applies to `augment image build` here" in capsys.readouterr().err


def test_codebuild_zips_the_context_creates_the_project_and_polls(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="build-context")
    target = container.ImageTarget.from_session(region="us-east-1", repository="augment-cb")
    out = io.StringIO()
    uri = container.codebuild(target, "build-context", "arn:aws:iam::123456789012:role/codebuild", poll=0.1,
                              timeout=60, out=out)
    tag = container.image_tags()[0]
    assert uri == target.uri(tag)
    body = s3.get_object(Bucket="build-context", Key=f"augment/codebuild/{tag}.zip")["Body"].read()
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert {"container/Dockerfile", "container/requirements.txt", "pyproject.toml", "setup.py", "buildspec.yml",
            "augment/cli/__init__.py", "augment/_native.c", "augment/_jpeg.c",
            "augment/_vendor/libjpeg-turbo/jpeglib.h", "augment/presets/light.yaml"} <= names
    assert not [n for n in names if n.endswith(".so")], "the image compiles its own extension"
    project = boto3.client("codebuild").batch_get_projects(names=["augment-image"])["projects"][0]
    assert project["environment"]["privilegedMode"] is True, "docker builds need privileged mode"
    assert "codebuild: started augment-image:" in out.getvalue() and "SUCCEEDED" in out.getvalue()
    container.codebuild(target, "build-context", "arn:aws:iam::123456789012:role/codebuild", poll=0.1,
                        out=io.StringIO())  # the project exists now: reused


def test_codebuild_takes_the_bucket_a_sagemaker_job_would(aws, monkeypatch):
    """build_image on CodeBuild without a bucket zips its context into the SageMaker session's
    default bucket, the one the SageMaker backend defaults to: both ask augment.sagemaker_sdk
    (the image tooling cannot import the backend, which imports it)."""
    from sagemaker.core.helper.session_helper import Session

    from augment.jobs.sagemaker import SageMakerBackend

    # the SDK names its default bucket after asking STS at AWS's own endpoint, not moto's
    monkeypatch.setattr(Session, "default_bucket", lambda self: "the-sessions-bucket")
    boto3.client("s3").create_bucket(Bucket="the-sessions-bucket")
    role = "arn:aws:iam::123456789012:role/codebuild"
    target = container.ImageTarget.from_session(region="us-east-1", repository="augment-cb")
    built = container.build_image("codebuild", target, dry_run=False, role=role, out=io.StringIO())
    tag = container.image_tags()[0]
    assert built.uri == target.uri(tag) and built.local is None
    assert SageMakerBackend(role=role, region="us-east-1").bucket == "the-sessions-bucket"
    context = boto3.client("s3").head_object(Bucket="the-sessions-bucket", Key=f"augment/codebuild/{tag}.zip")
    assert context["ContentLength"] > 0


def test_no_build_resolves_the_pytorch_dlc():
    uri = container.dlc_image_uri("eu-west-1")
    assert uri.startswith("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:") and "cpu" in uri


def _contract_request(entrypoint: list[str], out: Path) -> JobRequest:
    return JobRequest(
        job_name="contract", image_uri="augment:test", role_arn="arn:aws:iam::000000000000:role/x",
        entrypoint=tuple(entrypoint), arguments=("--spec", "light", "--workers", "1"),
        inputs=(Input("images", str(samples_dir()), "/opt/ml/processing/input/images"),),
        outputs=(Output("output", "/opt/ml/processing/output", str(out)),),
    )


@pytest.mark.slow
def test_the_images_entrypoint_serves_the_container_contract(tmp_path):
    """Run the Dockerfile's ENTRYPOINT, as declared, on a fake /opt/ml (local runtime, subprocess mode)."""
    entrypoint = container.entrypoint_of()
    description = run_local(_contract_request(entrypoint, tmp_path / "out"), log=io.StringIO())
    assert description["ProcessingJobStatus"] == "Completed", description.get("FailureReason")
    assert len(list((tmp_path / "out").glob("*.aug[01].jpg"))) == 14
    assert (tmp_path / "out" / "_augment" / "manifest-algo-1.jsonl").is_file()


@pytest.mark.slow
def test_an_entrypoint_the_package_cannot_serve_fails_the_contract(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text((ROOT / "container" / "Dockerfile").read_text().replace(
        'ENTRYPOINT ["augment", "process"]', 'ENTRYPOINT ["augment", "serve"]'))
    description = run_local(_contract_request(container.entrypoint_of(broken), tmp_path / "out"), log=io.StringIO())
    assert description["ProcessingJobStatus"] == "Failed"
    shell_form = tmp_path / "Dockerfile.shell"
    shell_form.write_text("FROM python:3.11-slim\nENTRYPOINT augment process\n")
    with pytest.raises(Exception, match="exec form"):
        container.entrypoint_of(shell_form)
