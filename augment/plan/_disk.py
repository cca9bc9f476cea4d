"""What a job takes of its input, and the disk each of its instances needs for it.

**What a job takes.** :func:`taken` lists an input as a launch does and splits it by the
very functions the launchers and the engine use (:func:`augment.keys.select_inputs`,
which applies :func:`augment.keys.apply_filters`): folder markers, operating-system junk
and what the spec's ``input`` section (with ``--include``/``--exclude``) leaves out are
not inputs, so the plan counts exactly what the job would take.

**Disk.** A processing job in ``File`` mode downloads its whole share of the input to the
instance's ML storage volume before the script starts, and the outputs are written there
until they are uploaded at the end (``EndOfJob``): ``VolumeSizeInGB`` must hold both. The
share is the input for a standalone job, the largest ``ShardedByS3Key`` share could be
for a sharded one (SageMaker documents no assignment of objects to instances, so the
largest ``ceil(n / count)`` objects together), the largest batch for batched jobs.
Outputs are the share's bytes times ``copies x`` the bytes of an output per byte of its
input (measured by ``augment plan --calibrate``, else assumed), plus the input again with
``keep_original``. The need adds a 25% and 1 GB margin; the volume asked for is that, and
never less than :data:`DEFAULT_VOLUME_GB`.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from augment.errors import UsageError
from augment.storage import is_s3

GB = 1 << 30  # SageMaker's volume gigabytes are EBS's GiB: counting in GiB never falls short
DEFAULT_VOLUME_GB = 30
MAX_VOLUME_GB = 16384  # CreateProcessingJob's limit for VolumeSizeInGB
MARGIN = 0.25
RESERVE_GB = 1.0
DEFAULT_MEAN_INPUT_BYTES = 128 * 1024
"""Assumed size of an input when none was counted (``--images`` without ``--input``):
an ImageNet-sized JPEG."""
ASSUMED_OUTPUT_RATIO = {"png": 7.0}
"""Bytes of an output per byte of its input, when not measured: a PNG of a JPEG photo is
about 6x its size (measured on the bundled samples: 2.5x to 6.4x); other formats are
re-encoded lossily, taken as 1.5x (a higher quality than the input's can grow them)."""
LOSSY_OUTPUT_RATIO = 1.5


@dataclass
class Taken:
    """What a job takes of an input.

    Attributes:
        uri: the input.
        keys: the keys it stages and processes, in key order.
        failed: keys it records as failed without staging (they cannot be files).
        excluded: what it leaves out, each with its rule and pattern.
        sizes: bytes of every key in ``keys`` and ``failed``.
        split: every key of the input, split by :func:`augment.keys.split_keys` (what a
            launch hands the hosts, which apply the filters themselves).
    """

    uri: str
    keys: list[str]
    failed: list[dict[str, str]]
    excluded: list[dict[str, Any]]
    sizes: dict[str, int] = field(repr=False)
    split: Any = field(default=None, repr=False)

    @property
    def images(self) -> int:
        """Inputs, as the job's summary counts them (failed ones included)."""
        return len(self.keys) + len(self.failed)

    @property
    def staged_sizes(self) -> list[int]:
        """The staged keys' sizes, in key order (what lands on the instances' disks)."""
        return [self.sizes[k] for k in self.keys]

    @property
    def mean_bytes(self) -> float:
        counted = [self.sizes[k] for k in self.keys] + [self.sizes[f["source"]] for f in self.failed]
        return sum(counted) / len(counted)


def taken(uri: str, inputs: Any = None, flag: str = "input") -> Taken:
    """List ``uri`` (a folder, a file or an ``s3://`` prefix; nothing is downloaded) and
    split it as a launch does, by the spec's input filters ``inputs``.

    Raises:
        UsageError: a bad URI, an empty input, or one the filters leave nothing of,
            naming ``flag``.
    """
    from augment.keys import check_uri, list_input, list_s3, select_inputs, split_keys

    check_uri(uri, flag)
    if is_s3(uri):
        pairs = list_s3(uri, flag)[1]
        split = split_keys(pairs)
        sizes = dict(pairs)
    else:
        split = list_input(uri, flag)
        sizes = dict(zip(split.staged, split.sizes, strict=True))
    keys, failed, excluded = select_inputs(split, inputs, uri, flag)
    return Taken(uri, keys, failed, excluded, sizes, split)


def share_images(images: int, mode: str, count: int, batch_size: int) -> int:
    """Inputs in the largest share an instance gets."""
    if mode == "sharded":
        return math.ceil(images / count)
    if mode in ("batched", "prefetch"):
        return min(batch_size, images)
    return images


def share_bytes(sizes: list[int], mode: str, count: int, batch_size: int) -> int:
    """Bytes of the largest share an instance downloads (``sizes`` in key order).

    Sharded: SageMaker documents no rule for which objects ``ShardedByS3Key`` gives which
    instance, only that each gets about ``1/count`` of them; the bound is the largest
    ``ceil(n / count)`` objects together, which no instance's share can exceed whatever
    the assignment. Batched and prefetch: the batches are cut in key order, as the batch
    launcher cuts them.
    """
    if mode == "sharded":
        return sum(heapq.nlargest(math.ceil(len(sizes) / count), sizes)) if sizes else 0
    if mode in ("batched", "prefetch"):
        return max((sum(sizes[i:i + batch_size]) for i in range(0, len(sizes), batch_size)), default=0)
    return sum(sizes)


def output_ratio(spec: Any, labelled: str | None = None) -> tuple[float, str]:
    """Bytes of an output per byte of its input for ``spec`` (a :class:`~augment.spec.Spec`),
    and where the figure comes from; ``labelled``: the key of its labelled measurements,
    looked up first (see :func:`augment.plan._labels.labelled_key`)."""
    from augment.plan._model import output_ratio as measured

    ratio = measured(labelled) if labelled else None
    if ratio is not None:
        return ratio, f"measured for this spec with its labels: {ratio:.2f}x its input"
    ratio = measured(spec.digest)
    if ratio is not None:
        return ratio, f"measured for this spec: {ratio:.2f}x its input"
    fmt = spec.output.format
    assumed = ASSUMED_OUTPUT_RATIO.get(fmt, LOSSY_OUTPUT_RATIO)
    what = "PNG of a JPEG photo" if fmt == "png" else "a lossy re-encoding"
    return assumed, f"assumed {assumed:g}x its input ({what}; `augment plan --calibrate` measures it)"


@dataclass(frozen=True)
class Disk:
    """The disk one instance needs: its share of the input and its outputs (bytes), the
    need with the margin, and the volume to ask for (GB)."""

    input_bytes: float
    output_bytes: float
    need_gb: int
    label_bytes: float = 0.0

    @property
    def volume_gb(self) -> int:
        return max(DEFAULT_VOLUME_GB, self.need_gb)

    def describe(self) -> str:
        labels = f" (their label files {gb_text(self.label_bytes)})" if self.label_bytes else ""
        return (f"{self.need_gb:,} GB: its input share {gb_text(self.input_bytes)} and outputs "
                f"{gb_text(self.output_bytes)}{labels}, plus {MARGIN:.0%} and {RESERVE_GB:g} GB")


def disk(share_input_bytes: float, copies: int, keep_original: bool, ratio: float, label_bytes: float = 0.0) -> Disk:
    """The disk for a share of ``share_input_bytes``: its outputs are ``copies x ratio``
    times it, and once more with ``keep_original``, with ``label_bytes`` of their label
    files (a labelled job)."""
    outputs = share_input_bytes * (copies * ratio + (1 if keep_original else 0)) + label_bytes
    need = math.ceil((share_input_bytes + outputs) * (1 + MARGIN) / GB + RESERVE_GB)
    return Disk(share_input_bytes, outputs, need, label_bytes)


def gb_text(n: float) -> str:
    """``1.4 GB``, ``230 MB``: sizes in the units of the volume (GiB), for people."""
    if n >= GB:
        return f"{n / GB:,.1f} GB"
    return f"{n / (1 << 20):,.0f} MB" if n >= 1 << 20 else f"{n / 1024:,.0f} KB"


def check_volume(need: Disk, given: Any, flag: str = "volume_gb", *, sagemaker: bool = True) -> int:
    """The ``VolumeSizeInGB`` to ask for: ``given`` when it holds ``need``, else the need.

    ``sagemaker``: the job runs on SageMaker, whose volumes hold at most
    :data:`MAX_VOLUME_GB`; the local runtime has no volume, so a larger need is not
    refused there (the request asks for at most the limit, which it ignores).

    Raises:
        UsageError: ``given`` is not a whole number of GB in SageMaker's range, or too
            small (naming the need); or, on SageMaker, the need is above its limit.
    """
    from augment.options import check_number

    if given is not None:
        check_number(flag, given, min=1, max=MAX_VOLUME_GB, integer=True)
    if sagemaker and need.need_gb > MAX_VOLUME_GB:
        raise UsageError(f"each instance needs {need.describe()}, more than SageMaker's {MAX_VOLUME_GB:,} GB "
                         "volume limit; use more instances (a sharded job splits the input) or smaller batches")
    if given is not None and given < need.need_gb:
        raise UsageError(f"{flag}={given}: too small: each instance needs {need.describe()}; pass "
                         f"{need.need_gb} or more, or leave it out to size the volume from the input")
    return given if given is not None else min(need.volume_gb, MAX_VOLUME_GB)
