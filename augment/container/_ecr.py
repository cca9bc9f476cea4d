"""Where an image goes: an ECR repository (created idempotently), its URIs, and the
registry's credentials (``get_authorization_token``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from augment import aws
from augment.container._runner import BuildFailed

ACCOUNT_PLACEHOLDER = "<account>"
REGION_PLACEHOLDER = "<region>"
"""What a dry run shows where an AWS call would supply the value (it sends no request)."""


def ecr_uri(account: str, region: str, repository: str, tag: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"


def create_repository_command(repository: str, region: str) -> list[str]:
    """The AWS CLI equivalent of :func:`ensure_repository`'s call (what a dry run shows)."""
    return ["aws", "ecr", "create-repository", "--repository-name", repository, "--image-scanning-configuration",
            "scanOnPush=true", "--image-tag-mutability", "MUTABLE", "--region", region]


def ensure_repository(ecr: Any, name: str) -> str:
    """Create the ECR repository if missing (idempotent); return its URI."""
    try:
        repo = ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True},
                                     imageTagMutability="MUTABLE")["repository"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    return repo["repositoryUri"]


def registry_credentials(ecr: Any) -> tuple[str, str]:
    """(registry host, password) from ``get_authorization_token``."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if user != "AWS" or not password:
        raise BuildFailed("unexpected ECR authorization token")
    return data["proxyEndpoint"].removeprefix("https://"), password


@dataclass
class ImageTarget:
    """Where an image goes: account, region and repository (from the session by default)."""

    account: str
    region: str
    repository: str = "augment"

    @classmethod
    def from_session(cls, boto_session: Any = None, repository: str = "augment", account: str | None = None,
                     region: str | None = None, dry_run: bool = False) -> ImageTarget:
        """The target for ``account`` and ``region``, each from the session where not given:
        the region from its configuration, the account from STS ``GetCallerIdentity``.

        With ``dry_run`` no request is sent: a missing account is ``<account>``, and a
        region neither given nor configured ``<region>``.

        Raises:
            CredentialsError: no region, or no usable credentials to ask STS for the account.
        """
        boto_session = boto_session or aws.session(region)
        region = region or boto_session.region_name
        if dry_run:
            return cls(account or ACCOUNT_PLACEHOLDER, region or REGION_PLACEHOLDER, repository)
        region = aws.require_region("the image's registry", boto_session, "region")
        if not account:
            with aws.translated("the account of the image's registry; or pass account="):
                account = boto_session.client("sts").get_caller_identity()["Account"]
        return cls(str(account), region, repository)

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def uri(self, tag: str) -> str:
        return ecr_uri(self.account, self.region, self.repository, tag)
