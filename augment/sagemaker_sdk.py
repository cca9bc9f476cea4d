"""Every call into the SageMaker SDK (v3), so that an SDK major version touches one file:
its session, the defaults the session knows (the execution role, the default bucket
``sagemaker-<region>-<account>``), and the image URIs it resolves (the AWS PyTorch Deep
Learning Container).

The SageMaker backend (:mod:`augment.jobs.sagemaker`) falls back on the defaults for a job,
and the CodeBuild image build (:func:`augment.container.build_image`) for its project's
role and the bucket of its build context. Both take them from here, below either: the
image tooling must not import the launchers, which import it (source files, image URIs).
"""

from __future__ import annotations

from typing import Any

from augment import aws
from augment.errors import UsageError
from augment.text import brief


def sdk_session(boto_session: Any, bucket: str | None = None) -> Any:
    """The SDK's ``Session`` over ``boto_session``."""
    from sagemaker.core.helper.session_helper import Session

    # A default_bucket given up front also spares the SDK an STS call at a hard-coded endpoint.
    return Session(boto_session=boto_session, default_bucket=bucket)


def execution_role(session: Any) -> str:
    """The execution role of the Studio app this runs in, or the role of the session's identity.

    Raises:
        UsageError: neither (outside Studio, an identity that is not a role: a user's keys).
    """
    from sagemaker.core.helper.session_helper import get_execution_role

    try:
        return get_execution_role(session)
    except ValueError as e:  # outside Studio, an identity that is not a role (a user's keys)
        raise UsageError(f"no execution role: {e}. Pass role= with the ARN of an IAM role that "
                         "SageMaker can assume, or run in SageMaker Studio, whose execution role is the default"
                         ) from None


def session_defaults(boto_session: Any, role: str | None = None, bucket: str | None = None,
                     what: str = "the SageMaker backend") -> tuple[Any, str, str]:
    """The SDK session, the role and the bucket: ``role`` and ``bucket`` where given, else the
    session's. The region and the identity are checked first (before the SDK's own calls,
    some at fixed endpoints), and AWS's refusals are said in terms of ``what``.

    Returns:
        ``(sdk_session, role, bucket)``.

    Raises:
        UsageError, CredentialsError: no region, no identity, no execution role.
    """
    aws.require_region(what, boto_session, "region")
    aws.check_identity(what, boto_session)
    with aws.translated(what):
        session = sdk_session(boto_session, bucket)
        return session, role or execution_role(session), bucket or session.default_bucket()


def dlc_image_uri(region: str, framework_version: str = "2.6", py_version: str = "py312",
                  instance_type: str = "ml.m5.xlarge") -> str:
    """The AWS PyTorch Deep Learning Container (CPU) for ``region``, resolved by the SDK.

    Run jobs on it with ``ship_code=True``: the package then travels as code. Its
    runtime dependencies (torch, torchvision, numpy, Pillow, PyYAML, tqdm) are part of
    that image, so the job needs no pip access.

    Raises:
        UsageError: a region the SDK knows no such image in.
    """
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve("pytorch", region=region, version=framework_version, py_version=py_version,
                                   instance_type=instance_type, image_scope="training")
    except ValueError as e:  # the SDK's table of regions lacks it: a typo, or a region newer than the SDK
        if not str(e).startswith("Unsupported region"):
            raise
        raise UsageError(f"region={brief(region)}: no AWS PyTorch Deep Learning Container is known there; name an "
                         "AWS region such as us-east-1 (a region newer than the sagemaker package needs its upgrade)"
                         ) from None
