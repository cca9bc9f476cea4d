"""What the planner knows about instance types and their prices, and how it reads durations.

Prices come from the AWS Price List API (``boto3`` ``pricing`` client, service
``AmazonSageMaker``, product family ``ML Instance``, ``platoinstancetype`` ``Processing``,
the region's ``regionCode``) or from the dated table shipped beside this module
(``prices.json``), whose date and source every plan that uses it shows.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.text import brief

TABLE_FILE = Path(__file__).with_name("prices.json")
PRICING_REGION = "us-east-1"  # the Price List API answers in us-east-1 (also ap-south-1, eu-central-1)
PRICE_MODES = ("offline", "api", "auto")
_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5, "retries": {"max_attempts": 1}}


@dataclass(frozen=True)
class InstanceType:
    """One SageMaker instance type as the planner sees it.

    Attributes:
        name: ``ml.m5.large``.
        vcpu: vCPUs; a worker process runs on each.
        memory_gib: memory.
        baseline: for burstable types (``ml.t3.*``), the CPU share per vCPU a job can
            sustain once its CPU credits are spent; ``None`` for the others.
        gpus: GPUs (unused by augment's CPU pipeline, but priced).
    """

    name: str
    vcpu: int
    memory_gib: float
    baseline: float | None = None
    gpus: int = 0


@dataclass(frozen=True)
class Price:
    """An hourly price and where it came from."""

    usd_per_h: float
    source: str


@functools.cache
def table() -> dict[str, Any]:
    """The shipped table (instance hardware and offline prices)."""
    return json.loads(TABLE_FILE.read_text(encoding="utf-8"))


def instance_names() -> list[str]:
    return list(table()["instances"])


def instance_type(name: str, parameter: str = "instance_type") -> InstanceType:
    """The instance type called ``name``.

    Args:
        name: ``ml.m5.large``.
        parameter: the parameter to name in the error (``instance_types`` for one of a list).

    Returns:
        Its :class:`InstanceType` (vCPUs, memory, burstable baseline).

    Raises:
        UsageError: an unknown name, naming ``parameter`` and the closest known names.
    """
    entry = table()["instances"].get(name)
    if entry is None:
        close = difflib.get_close_matches(str(name), instance_names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"{parameter}=: unknown instance type {name!r}{hint} (known: {', '.join(instance_names())})")
    return InstanceType(name, entry["vcpu"], entry["memory_gib"], entry.get("baseline"), entry.get("gpus", 0))


def offline_price(name: str, region: str) -> Price | None:
    """The shipped table's price, labelled with its date and source (``None`` when it has none)."""
    data = table()
    entry = data["instances"].get(name, {})
    if "price" not in entry:
        return None
    where = data["region"] if region == data["region"] else f"{data['region']} figure used for {region}"
    return Price(entry["price"], f"offline table {data['date']} ({where}; {entry['price_source']})")


def pricing_client() -> Any:
    """A Price List API client with short timeouts and no retries: a plan never hangs on the network."""
    import boto3
    from botocore.config import Config

    return boto3.client("pricing", region_name=PRICING_REGION, config=Config(**_TIMEOUTS))


def api_price(client: Any, name: str, region: str) -> float | None:
    """The On-Demand hourly price of ``name`` for Processing in ``region``, from ``GetProducts``.

    Args:
        client: a ``pricing`` client.
        name: the instance type.
        region: the region code (``us-east-1``).

    Returns:
        USD per hour, or ``None`` when the API lists no such product.

    Raises:
        botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError: the API failed.
    """
    filters = [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in (
        ("productFamily", "ML Instance"), ("regionCode", region), ("instanceName", name),
        ("platoinstancetype", "Processing"))]  # fmt: skip
    response = client.get_products(ServiceCode="AmazonSageMaker", Filters=filters, FormatVersion="aws_v1",
                                   MaxResults=10)
    for item in response.get("PriceList", []):
        product = json.loads(item) if isinstance(item, str) else item
        attributes = product.get("product", {}).get("attributes", {})
        usage = attributes.get("usagetype", "")
        # the filters should already hold, but a product of another component must never price this one
        if attributes.get("instanceName", name) != name or (usage and not usage.endswith(f"Processing:{name}")):
            continue
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                if dimension.get("unit", "").lower() in ("hrs", "hr", "hour", "hours"):
                    return float(dimension["pricePerUnit"]["USD"])
    return None


def _has_credentials() -> bool:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session().get_credentials() is not None
    except BotoCoreError:  # a broken profile is the same as none here: the offline table is used
        return False


def prices(names: list[str], region: str, mode: str = "auto", client: Any = None) -> tuple[dict[str, Price], str]:
    """A price for each instance type, and a line saying where they came from.

    Args:
        names: instance types.
        region: the AWS region the jobs run in.
        mode: ``offline`` (the shipped table), ``api`` (the Price List API, or fail),
            ``auto`` (the API where credentials exist, else, or on any error, the table).
        client: a ``pricing`` client (default: one with short timeouts).

    Returns:
        ``({type: Price}, line)``: each price labelled with its source, and one line for
        the plan saying where the prices came from (the table's date when it was used).

    Raises:
        UsageError: an unknown mode; ``api`` mode and the API failed or lacks a type;
            a type has no price anywhere.
    """
    if mode not in PRICE_MODES:
        raise UsageError(f"prices={brief(mode)}: must be one of {', '.join(PRICE_MODES)}")
    found: dict[str, Price] = {}
    line = f"offline table dated {table()['date']} ({table()['source']})"
    from botocore.exceptions import BotoCoreError, ClientError

    if mode == "api" or (mode == "auto" and (client is not None or _has_credentials())):
        try:
            client = client or pricing_client()
            for name in names:
                value = api_price(client, name, region)
                if value is not None:
                    found[name] = Price(value, f"AWS Price List API ({region}, Processing, On-Demand)")
            line = f"AWS Price List API ({region}, Processing, On-Demand)"
        except (BotoCoreError, ClientError, KeyError, ValueError, TypeError) as e:  # no API, or an unreadable answer
            if mode == "api":
                from augment.aws import credentials_error

                raise credentials_error(e, "prices=api") or UsageError(
                    f"prices=api: the AWS Price List API did not answer: {e}") from None
            line = f"AWS Price List API unavailable ({type(e).__name__}); {line}"
            found = {}
    for name in names:
        if name in found:
            continue
        if mode == "api":
            raise UsageError(f"prices=api: the Price List API lists no Processing price for {name} in {region}")
        price = offline_price(name, region)
        if price is None:
            raise UsageError(f"instance_type={name}: no price for it in the offline table; use prices=api with AWS "
                             "credentials")
        found[name] = price
        if "Price List API (" in line and "offline" not in line:
            line += f"; offline table dated {table()['date']} for the types the API did not list"
    return found, line


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str | float | int, parameter: str = "deadline") -> float:
    """Seconds in ``90m``, ``2h``, ``1h30m``, ``45s``, ``1d`` or a plain number of seconds.

    Raises:
        UsageError: naming ``parameter`` when the text is not a positive duration.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        from augment.options import check_float

        seconds = float(check_float(parameter, text, above=0, what=" seconds (a positive, finite duration)"))
    else:
        raw = str(text).strip().lower().replace(" ", "")
        match = _DURATION.match(raw)
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            seconds = float(raw)
        elif raw and match and any(match.groups()):
            d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + s
        else:
            raise UsageError(f"{parameter}=: cannot read {brief(text)} as a duration; use e.g. 90m, 2h, 1h30m or 3600 "
                             "(seconds)")
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{parameter}={brief(text)}: must be a positive, finite duration")
    return seconds


def format_duration(seconds: float) -> str:
    """``42 s``, ``7.5 min``, ``2 h 05 min``, ``3 d 04 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        h, m = divmod(round(seconds / 60), 60)
        return f"{h} h {m:02d} min"
    d, h = divmod(round(seconds / 3600), 24)
    return f"{d} d {h:02d} h"
