"""Build and push with AWS CodeBuild, for SageMaker Studio without Docker: the build
context is zipped to S3, a CodeBuild project builds and pushes, and the build is polled
with its logs shown."""

from __future__ import annotations

import sys
import time
from typing import Any

from augment import __version__, aws, storage
from augment.container._ecr import ImageTarget, create_repository_command, ensure_repository
from augment.container._runner import BuildFailed, Runner
from augment.container._sources import CONTEXT_FILES, VARIANTS, context_zip, git_revision, image_tags


def codebuild(target: ImageTarget, bucket: str, role_arn: str, variant: str = "cpu", boto_session: Any = None,
              project: str = "augment-image", poll: float = 10.0, timeout: float = 3600.0,
              out: Any = None, dry_run: bool = False) -> str:
    """Build and push with AWS CodeBuild; return the image URI.

    Zips the context to ``s3://bucket/augment/codebuild/<revision>.zip``, creates the
    project if missing, starts a build, polls it and shows its logs. With ``dry_run``
    it sends no request and prints each call as the AWS CLI command that does the same.

    Raises:
        BuildFailed: the build ended in another state than ``SUCCEEDED``.
        CredentialsError: no usable AWS credentials (not in a dry run).
    """
    out = out or sys.stdout
    tags = image_tags(variant)
    key = f"augment/codebuild/{tags[0]}.zip"
    env = {"AWS_REGION": target.region, "REGISTRY": target.registry,
           "TORCH_INDEX_URL": VARIANTS[variant], "VERSION": __version__, "GIT_REVISION": git_revision(),
           "IMAGE_URI": target.uri(tags[0]), "IMAGE_URI_VERSION": target.uri(tags[1])}
    if dry_run:
        _codebuild_dry_run(target, bucket, key, role_arn, project, env, Runner(dry_run=True, out=out))
        return env["IMAGE_URI"]
    with aws.translated("CodeBuild"):
        return _codebuild(target, bucket, key, role_arn, project, env, boto_session, poll, timeout, out)


def _codebuild_dry_run(target: ImageTarget, bucket: str, key: str, role_arn: str, project: str, env: dict[str, str],
                       run: Runner) -> None:
    run.show(create_repository_command(target.repository, target.region), note="unless it exists")
    run.show(["aws", "s3", "cp", "<build context zip>", f"s3://{bucket}/{key}"],
             note=f"{len(context_zip()) / 1e6:.1f} MB: {', '.join(CONTEXT_FILES)}, buildspec.yml")
    run.show(["aws", "codebuild", "create-project", "--name", project, "--source",
              f"type=S3,location={bucket}/{key}", "--artifacts", "type=NO_ARTIFACTS", "--environment",
              "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_MEDIUM,"
              "privilegedMode=true", "--service-role", role_arn, "--region", target.region], note="unless it exists")
    overrides = " ".join(f"name={k},value={v},type=PLAINTEXT" for k, v in env.items())
    run.show(["aws", "codebuild", "start-build", "--project-name", project, "--source-location-override",
              f"{bucket}/{key}", "--environment-variables-override", overrides, "--region", target.region])
    run.show(["aws", "codebuild", "batch-get-builds", "--ids", "<build id>", "--region", target.region],
             note="polled until the build ends; its logs are shown")


def _codebuild(target: ImageTarget, bucket: str, key: str, role_arn: str, project: str, env: dict[str, str],
               boto_session: Any, poll: float, timeout: float, out: Any) -> str:
    session = boto_session or aws.session(target.region)
    ensure_repository(session.client("ecr", region_name=target.region), target.repository)
    storage.write_bytes(storage.s3_uri(bucket, key), context_zip(), s3=session.client("s3"))
    cb = session.client("codebuild", region_name=target.region)
    existing = {p["name"] for p in cb.batch_get_projects(names=[project]).get("projects", [])}
    if project not in existing:
        cb.create_project(
            name=project, source={"type": "S3", "location": f"{bucket}/{key}"}, artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_MEDIUM", "privilegedMode": True},
            serviceRole=role_arn, logsConfig={"cloudWatchLogs": {"status": "ENABLED"}},
        )  # fmt: skip
    build_id = cb.start_build(
        projectName=project, sourceLocationOverride=f"{bucket}/{key}",
        environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in env.items()],
    )["build"]["id"]  # fmt: skip
    print(f"codebuild: started {build_id}", file=out, flush=True)
    deadline = time.monotonic() + timeout
    shown = 0
    while True:
        info = cb.batch_get_builds(ids=[build_id])["builds"][0]
        shown = _show_build_logs(session, info, shown, out)
        status = info["buildStatus"]
        if status != "IN_PROGRESS":
            break
        if time.monotonic() > deadline:
            raise BuildFailed(f"CodeBuild {build_id} still running after {timeout:.0f} s")
        print(f"codebuild: {info.get('currentPhase', status)}", file=out, flush=True)
        time.sleep(poll)
    if status != "SUCCEEDED":
        raise BuildFailed(f"CodeBuild {build_id} ended {status}; see its logs above or in the CodeBuild console")
    print(f"codebuild: {status}: {env['IMAGE_URI']}", file=out, flush=True)
    return env["IMAGE_URI"]


def _show_build_logs(session: Any, info: dict[str, Any], shown: int, out: Any) -> int:
    logs = info.get("logs") or {}
    group, stream = logs.get("groupName"), logs.get("streamName")
    if not group or not stream:
        return shown
    client = session.client("logs")
    try:
        events = client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    except client.exceptions.ResourceNotFoundException:
        return shown
    for event in events[shown:]:
        print(f"[codebuild] {event['message'].rstrip()}", file=out, flush=True)
    return len(events)
