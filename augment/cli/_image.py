"""``augment image``: build, push or name the processing image (:mod:`augment.container`)."""

from __future__ import annotations

import argparse

from augment.errors import UsageError


def add_image(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "image", help="build, push or name the processing image",
        description="build: build container/Dockerfile here with Docker, or podman where Docker is absent (in "
                    "SageMaker Studio with --network sagemaker); try the image with `augment run --backend local "
                    "--image NAME`. push: create the ECR repository if missing, log in (the password goes to the "
                    "engine on stdin, never printed), tag and push. uri: print the image URI for the launcher. "
                    "--codebuild builds "
                    "and pushes with AWS CodeBuild instead, for Studio without Docker; --dlc prints the AWS "
                    "PyTorch Deep Learning Container for the region (no build; run jobs with --ship-code). "
                    "Tags: <version>-<git revision>[-gpu] and <version>[-gpu], never 'latest'.",
    )  # fmt: skip
    p.add_argument("action", choices=("build", "push", "uri"), help="what to do")
    p.add_argument("--variant", choices=("cpu", "gpu"), default="cpu", help="CPU (default) or CUDA wheels")
    p.add_argument("--repository", default="augment", help="ECR repository name (default: augment)")
    p.add_argument("--account", default=None, help="AWS account (default: from STS for the session; <account> in a "
                                                    "dry run)")
    p.add_argument("--region", default=None, help="AWS region (default: the session's)")
    p.add_argument("--dry-run", action="store_true",
                   help="print every step (AWS calls as AWS CLI commands) and send no request; <account> and "
                        "<region> stand where AWS would supply them")
    p.add_argument("--codebuild", action="store_true",
                   help="build and push with AWS CodeBuild (needs --bucket and --role)")
    p.add_argument("--bucket", default=None, help="CodeBuild: bucket for the zipped build context")
    p.add_argument("--role", default=None, help="CodeBuild: the project's service role ARN")
    p.add_argument("--dlc", action="store_true", help="uri: the AWS PyTorch Deep Learning Container instead")
    p.add_argument("--engine", choices=("auto", "docker", "podman"), default="auto",
                   help="build and push: the container engine (default auto: Docker, else podman)")
    p.add_argument("--network", default=None,
                   help="build: the build's network (default: the engine's; sagemaker in SageMaker Studio)")
    p.add_argument("--torch-index-url", default=None, metavar="URL",
                   help="build: the index torch and torchvision come from (default: PyTorch's CPU or CUDA index for "
                        "--variant), e.g. a mirror")
    p.add_argument("--base-image", default=None, metavar="IMAGE",
                   help="build: the Python 3.11 image the stages start from (default python:3.11-slim-bookworm)")
    p.set_defaults(func=_cmd_image)


def _cmd_image(args: argparse.Namespace) -> int:
    from augment import container

    here_only = [f for f, v in (("--torch-index-url", args.torch_index_url), ("--base-image", args.base_image),
                                ("--network", args.network)) if v]
    if here_only and (args.codebuild or args.action != "build"):
        raise UsageError(f"{here_only[0]} applies to `augment image build` here; CodeBuild builds with the "
                         "Dockerfile's defaults")
    if args.action == "build" and not args.codebuild:
        from augment import engines

        if not args.dry_run:
            engines.require(args.engine, "augment image build", hint="Or use --codebuild (SageMaker Studio without "
                            "Docker), --dry-run to see the commands, or `augment image uri --dlc` to skip the build")
        run = container.Runner(dry_run=args.dry_run)
        for name in container.build(args.repository, args.variant, run, args.network, engine=args.engine,
                                    torch_index_url=args.torch_index_url, base_image=args.base_image):
            print(name)
        return 0
    if args.dlc:
        from augment import aws

        print(container.dlc_image_uri(args.region or aws.session().region_name or "us-east-1"))
        return 0
    # a dry run asks no AWS service: <account> (and <region>) stand where STS would answer
    dry_run = args.dry_run
    target = container.ImageTarget.from_session(repository=args.repository, account=args.account,
                                                region=args.region, dry_run=dry_run)
    if args.action == "uri":
        print(target.uri(container.image_tags(args.variant)[0]))
        return 0
    if args.codebuild:
        if not dry_run and not (args.bucket and args.role):
            raise UsageError("--codebuild needs --bucket (for the build context) and --role (the project's role)")
        print(container.codebuild(target, args.bucket or "<bucket>", args.role or "<role>", args.variant,
                                  dry_run=dry_run))
        return 0
    print(container.push(target, args.variant, container.Runner(dry_run=args.dry_run), engine=args.engine))
    return 0
