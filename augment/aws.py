"""AWS sessions and clients, and what a user is told when AWS has no usable credentials,
cannot be reached, or refuses a bucket (:func:`bucket_refusal`).

Every entry point that talks to AWS (S3 inputs and outputs, SageMaker, ECR, CodeBuild,
the Price List API) builds its session here or lets its errors pass through
:func:`credentials_error`, so missing, incomplete, invalid or expired credentials and a
missing region all end in one :class:`CredentialsError`: what is missing and how to
provide it, exit status 2, never a traceback.

``AWS_ENDPOINT_URL`` is honoured by boto3 itself: tests point it at moto's server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from augment.errors import UsageError

HOW_TO_PROVIDE = (
    "Provide them one of these ways: a profile (`aws configure`, or `aws configure --profile NAME` and "
    "AWS_PROFILE=NAME); the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, plus AWS_SESSION_TOKEN "
    "for temporary credentials); or SageMaker Studio, whose execution role supplies them."
)
HOW_TO_REGION = "set AWS_DEFAULT_REGION, or set one with `aws configure`"
"""How to give a region, said by every caller: one with a region parameter says ``pass region=`` first
(:func:`require_region`), so that a command without ``--region`` names none."""

REFUSED_CODES = frozenset({
    "InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "InvalidSignatureException", "IncompleteSignature", "IncompleteSignatureException", "MissingAuthenticationToken",
    "MissingAuthenticationTokenException", "AuthFailure", "InvalidToken", "ExpiredToken", "ExpiredTokenException",
    "RequestExpired", "TokenRefreshRequired",
})  # fmt: skip
"""Error codes with which AWS refuses the credentials themselves (not a permission)."""
_SSO_ERRORS = ("SSOTokenLoadError", "UnauthorizedSSOTokenError", "TokenRetrievalError", "SSOError")


class CredentialsError(UsageError):
    """AWS has no usable credentials (or no region) here; the message says how to provide them."""


def credentials_error(exc: BaseException, what: str | None = None) -> CredentialsError | None:
    """The :class:`CredentialsError` that ``exc`` stands for, or ``None`` when it is another error.

    Args:
        exc: any exception, typically from botocore.
        what: what needed AWS, for the message (``--input s3://...``).
    """
    if isinstance(exc, CredentialsError):
        return exc
    if "botocore" not in sys.modules:  # nothing from botocore can have been raised
        return None
    current: BaseException | None = exc
    for _ in range(4):  # boto3's S3UploadFailedError wraps the ClientError it caught
        if current is None:
            break
        error = _credentials_error(current, what)
        if error is not None:
            return error
        current = current.__cause__ or current.__context__
    return None


def _credentials_error(exc: BaseException, what: str | None) -> CredentialsError | None:
    from botocore import exceptions as bx

    need = f" (needed for {what})" if what else ""
    if isinstance(exc, bx.NoCredentialsError):
        return CredentialsError(f"no AWS credentials found{need}. {HOW_TO_PROVIDE}")
    if isinstance(exc, bx.PartialCredentialsError):
        return CredentialsError(f"incomplete AWS credentials{need}: {exc}. {HOW_TO_PROVIDE}")
    if isinstance(exc, bx.ProfileNotFound):
        profile = exc.kwargs.get("profile", "NAME")
        return CredentialsError(f"{exc}{need}: create it with `aws configure --profile {profile}`, or unset "
                                f"AWS_PROFILE to use the default credentials. {HOW_TO_PROVIDE}")
    if type(exc).__name__ in _SSO_ERRORS:
        return CredentialsError(f"the AWS SSO session cannot supply credentials{need} ({exc}): run "
                                f"`aws sso login`. {HOW_TO_PROVIDE}")
    if isinstance(exc, bx.CredentialRetrievalError):
        return CredentialsError(f"AWS credentials could not be retrieved{need}: {exc}. {HOW_TO_PROVIDE}")
    if isinstance(exc, bx.NoRegionError):
        return CredentialsError(f"no AWS region{need}: {HOW_TO_REGION}")
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in REFUSED_CODES:
            expired = "Expired" in code or code in ("RequestExpired", "TokenRefreshRequired")
            state = "have expired" if expired else "are invalid"
            detail = f"{code}: {error.get('Message', '')}"
            return CredentialsError(
                f"AWS refused the credentials{_credential_source()}{need}: they {state} ({detail}). "
                f"Renew them (`aws sso login`, a new session token) or provide others. {HOW_TO_PROVIDE}")
    return None


def connection_error(exc: BaseException) -> UsageError | None:
    """The :class:`~augment.errors.UsageError` for ``exc`` when AWS could not be reached at
    all (no network, a VPC without the service's endpoint, a wrong ``AWS_ENDPOINT_URL``),
    or ``None`` for another error. It is transient: the same call may pass later."""
    if "botocore" not in sys.modules:
        return None
    from botocore import exceptions as bx

    current: BaseException | None = exc
    for _ in range(4):  # as in credentials_error: a wrapper's cause may be the one
        if current is None:
            return None
        if isinstance(current, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
                                bx.ConnectionClosedError, bx.ProxyConnectionError, bx.SSLError)):
            url = getattr(current, "kwargs", {}).get("endpoint_url", "")
            return UsageError(
                f"AWS could not be reached{' at ' + url if url else ''} ({type(current).__name__}). Check the "
                "network connection, the region given or configured (AWS_DEFAULT_REGION) and AWS_ENDPOINT_URL if set; "
                "inside a VPC without internet access, the service needs a VPC endpoint", transient=True)
        current = current.__cause__ or current.__context__
    return None


def aws_error(exc: BaseException, what: str | None = None) -> UsageError | None:
    """What to tell a user for ``exc`` when AWS is the cause: no usable credentials or
    region (:func:`credentials_error`) or no AWS to reach (:func:`connection_error`);
    ``None`` for another error."""
    return credentials_error(exc, what) or connection_error(exc)


def bucket_refusal(error: BaseException, flag: str, uri: str, *, reading: bool = False,
                   instead: str = "") -> UsageError | None:
    """What to say when S3 refused the location ``uri`` (named by ``flag``) because its
    bucket is missing or closed to these credentials; ``None`` for any other failure.

    Args:
        reading: the refusal was of reading the object ``uri`` (``s3:GetObject``), not of
            listing under it (``s3:ListBucket``).
        instead: what the user may do without the permission (``"download ..."``).
    """
    response = getattr(error, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    from augment.storage import split_s3_uri

    bucket = split_s3_uri(uri)[0]
    if code == "NoSuchBucket":
        return UsageError(f"{flag}={uri}: there is no bucket {bucket!r} (check the name, and the account "
                          "these credentials belong to)")
    if code not in ("AccessDenied", "AllAccessDisabled", "403"):
        return None
    if reading:
        return UsageError(f"cannot read {uri}: access denied (these credentials need s3:GetObject on it)"
                          + (f"; or {instead}" if instead else ""))
    return UsageError(f"{flag}={uri}: these credentials may not list it ({code}); they need "
                      f"s3:ListBucket on arn:aws:s3:::{bucket}")


def _credential_source() -> str:
    """Where boto3 found its credentials, as `` from ...`` for a message (empty when unknown)."""
    try:
        import boto3

        method = getattr(boto3.Session().get_credentials(), "method", None)
    except Exception:  # only decorates a message about credentials that already failed
        return ""
    names = {"env": "the environment (AWS_ACCESS_KEY_ID)", "shared-credentials-file": "the credentials file",
             "config-file": "the config file", "assume-role": "an assumed role", "sso": "AWS SSO",
             "iam-role": "the instance role", "container-role": "the container role"}
    return f" from {names.get(method, method)}" if method else ""


@contextmanager
def translated(what: str | None = None) -> Iterator[None]:
    """Turn credential and region errors raised inside into :class:`CredentialsError`."""
    try:
        yield
    except Exception as e:
        error = credentials_error(e, what)
        if error is None or error is e:
            raise
        raise error from None


def session(region: str | None = None) -> Any:
    """A ``boto3.Session`` for ``region`` (default: the configured one); a profile named by
    AWS_PROFILE that does not exist is a :class:`CredentialsError`."""
    import boto3

    with translated():
        return boto3.Session(region_name=region)


def require_credentials(what: str, boto_session: Any = None) -> None:
    """Fail before any work when the credential chain finds nothing (sends no request to AWS).

    Credentials that exist but are invalid or expired are found by the first request,
    whose error :func:`credentials_error` turns into the same message.

    Raises:
        CredentialsError: none found, incomplete, or their profile or SSO session is broken.
    """
    with translated(what):
        if (boto_session or session()).get_credentials() is None:
            import botocore.exceptions

            raise botocore.exceptions.NoCredentialsError()


def require_region(what: str, boto_session: Any, parameter: str | None = None) -> str:
    """The session's region.

    Args:
        parameter: the caller's parameter that gives a region (``region``), named first in
            the advice; ``None`` where the caller has none.

    Raises:
        CredentialsError: none given or configured.
    """
    if not boto_session.region_name:
        how = f"pass {parameter}=, {HOW_TO_REGION}" if parameter else HOW_TO_REGION
        raise CredentialsError(f"no AWS region (needed for {what}): {how}")
    return str(boto_session.region_name)


def check_identity(what: str, boto_session: Any) -> str:
    """Ask STS who the credentials belong to (``GetCallerIdentity`` needs no permission), so
    invalid or expired credentials fail before anything is uploaded or submitted.

    Returns:
        The account id.

    Raises:
        CredentialsError: none found, or AWS refused them.
    """
    require_credentials(what, boto_session)
    with translated(what):
        return str(boto_session.client("sts").get_caller_identity()["Account"])
