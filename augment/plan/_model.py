"""The planner's arithmetic (one pure function per launch mode) and its throughput figures
(measured and cached per spec digest, given by hand, or the benchmark's default).

See :mod:`augment.plan` for the model each function implements.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("standalone", "sharded", "batched", "prefetch")
"""The launch modes the model times (one function each, below), in the order a plan lists them."""
STARTUP_S = 300.0
"""Default start-up of a processing job: provisioning, image pull, input download, until
the script runs. Users report 2 to 8 minutes; 5 is the middle."""
STARTUP_RANGE_S = (120.0, 480.0)
VCPU_SHARE_LOW = 0.6
"""A vCPU is one hyperthread of a core (m5, c5, t3): two workers on the two threads of one
core do about 1.2x what one does alone, so the low figure takes 0.6 of a measured core."""
DEFAULT_THROUGHPUT = {
    "small": (942.3, "ImageNet-sized JPEGs (400-640 px)"),
    "large": (128.6, "6-megapixel JPEGs"),
}
"""Output images/s of one worker: augment's benchmark (``benchmarks/bench.py``, row ``kit``),
pipeline ``crop`` (RandomResizedCrop 224, flip, ColorJitter, rotation), 1 worker, on a
2-core x86 machine with AVX2."""
DEFAULT_BENCHMARK = ("augment's own benchmark (its crop pipeline: RandomResizedCrop 224, flip, ColorJitter, "
                     "rotation; 1 worker on a 2-core x86 machine)")
"""How the default figures are named to users: what was measured, not where the file lies."""
LARGE_INPUT_BYTES = 1 << 20
DEFAULT_PEAK_WORKER_MB = 690.5
"""The same benchmark's largest peak resident memory of a worker (1 worker, 6 MP photos)."""
MEMORY_RESERVE_MB = 512.0
"""Memory an instance keeps for the OS, SageMaker's agent, the container runtime and the
job's parent process: not available to workers (an assumption, not a documented figure)."""
CACHE_KEEP = 20


@dataclass(frozen=True)
class Timing:
    """What one way of running the work takes.

    Attributes:
        jobs: processing jobs launched.
        instances: instances running at once, at most.
        wall_s: from the first request to the last output (prefetch: until the consumer
            is done with the last batch).
        billed_instance_s: instance-seconds billed, start-up included.
        startup_instance_s: the part of ``billed_instance_s`` spent starting up.
        stall_s: prefetch only: time the consumer waited for batches.
    """

    jobs: int
    instances: int
    wall_s: float
    billed_instance_s: float
    startup_instance_s: float
    stall_s: float = 0.0


def standalone(images: int, copies: int, rate: float, startup_s: float) -> Timing:
    """One job on one instance: start-up, then every output at ``rate`` images/s."""
    work = images * copies / rate
    return Timing(1, 1, startup_s + work, startup_s + work, startup_s)


def sharded(images: int, copies: int, count: int, rate: float, startup_s: float) -> Timing:
    """One job on ``count`` instances. ``ShardedByS3Key`` deals the objects round-robin, so
    the largest share has ``ceil(images / count)``; the job (and every instance's bill)
    lasts until that share is done."""
    work = math.ceil(images / count) * copies / rate
    wall = startup_s + work
    return Timing(1, count, wall, count * wall, count * startup_s)


def batched(images: int, copies: int, batch_size: int, in_flight: int, rate: float, startup_s: float) -> Timing:
    """``ceil(images / batch_size)`` jobs of one instance, each paying the start-up, at
    most ``in_flight`` at once, the next submitted as one ends (as ``JobGroup`` does).

    With equal full batches the jobs run in rounds of ``in_flight``; the last batch may be
    smaller, and ends its round unless a full batch shares that round.
    """
    jobs = math.ceil(images / batch_size)
    full = startup_s + batch_size * copies / rate
    last = startup_s + (images - (jobs - 1) * batch_size) * copies / rate
    rounds_before, position = divmod(jobs - 1, in_flight)
    wall = rounds_before * full + (full if position else last)
    billed = jobs * startup_s + images * copies / rate
    return Timing(jobs, min(in_flight, jobs), wall, billed, jobs * startup_s)


def prefetch(images: int, copies: int, batch_size: int, ahead: int, rate: float, startup_s: float,
             consume_s: float = 0.0) -> Timing:
    """Batched jobs consumed by a training loop, as :class:`~augment.jobs.Prefetch` runs them.

    The first ``ahead`` jobs start at once. Batch ``b`` is handed over when its job is
    done and the consumer asks for it; the job of batch ``b + ahead`` is submitted at that
    moment. The consumer spends ``consume_s`` on each batch before asking for the next.
    """
    if consume_s == 0:  # a consumer that never waits on itself: the batched rounds, and it waits the whole time
        t = batched(images, copies, batch_size, ahead, rate, startup_s)
        return Timing(t.jobs, t.instances, t.wall_s, t.billed_instance_s, t.startup_instance_s, t.wall_s)
    jobs = math.ceil(images / batch_size)
    duration = [startup_s + min(batch_size, images - b * batch_size) * copies / rate for b in range(jobs)]
    submitted = [0.0] * jobs
    handed = [0.0] * jobs
    asked, stall = 0.0, 0.0
    for b in range(jobs):
        done = submitted[b] + duration[b]
        handed[b] = max(asked, done)
        stall += handed[b] - asked
        if b + ahead < jobs:
            submitted[b + ahead] = handed[b]
        asked = handed[b] + consume_s
    billed = jobs * startup_s + images * copies / rate
    return Timing(jobs, min(ahead, jobs), asked, billed, jobs * startup_s, stall)


# --- throughput ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """Output images per second per vCPU (expected, low, high), peak memory per worker, and
    where the figures come from."""

    per_vcpu: float
    low: float
    high: float
    source: str
    peak_worker_mb: float
    memory_source: str


def cache_dir() -> Path:
    """``$AUGMENT_CACHE_DIR``, else ``~/.cache/augment``."""
    return Path(os.environ.get("AUGMENT_CACHE_DIR") or Path.home() / ".cache" / "augment")


def cache_file() -> Path:
    return cache_dir() / "throughput.json"


def read_cache() -> dict[str, list[dict[str, Any]]]:
    """Measurements by spec digest (an unreadable cache is treated as empty)."""
    path = cache_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    specs = data.get("specs") if isinstance(data, dict) else None
    return specs if isinstance(specs, dict) else {}


def check_cache_writable() -> Path:
    """The cache file, once it is certain that it can be written (before a measurement that
    would otherwise be lost); return it.

    Raises:
        UsageError: the cache folder cannot be created or written, naming it and the
            variable that moves it.
    """
    from augment.errors import UsageError

    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_suffix(f".{os.getpid()}.probe")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write the throughput cache {path}: {e.strerror or e}; set AUGMENT_CACHE_DIR to "
                         "a writable folder") from None
    return path


def record(digest: str, per_vcpu: float, peak_worker_mb: float, source: str, **details: Any) -> Path:
    """Add one measurement for a spec digest to the cache (the last few are kept); return the file.

    A measurement with a ``job`` detail replaces an earlier one of the same job: a job is
    one measurement, however often it is compared.

    Raises:
        OSError: the cache cannot be written.
    """
    specs = read_cache()
    entry = {"per_vcpu": round(per_vcpu, 3), "peak_worker_mb": round(peak_worker_mb, 1), "source": source,
             "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **details}
    kept = [m for m in specs.get(digest, []) if not (details.get("job") and m.get("job") == details["job"])]
    specs[digest] = [*kept, entry][-CACHE_KEEP:]
    path = cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": 1, "specs": specs}, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
    return path


def _positive(value: Any) -> bool:
    """Whether a cached figure is a finite number > 0 (a hand-edited cache may hold
    anything, ``1e999`` and 400-digit integers included): others are skipped."""
    from augment.errors import UsageError
    from augment.options import check_float

    try:
        check_float("figure", value, above=0)
    except UsageError:
        return False
    return True


def output_ratio(digest: str) -> float | None:
    """Bytes of an output per byte of its input, as measured for this spec (the largest
    cached figure), or ``None``."""
    ratios = [m["output_ratio"] for m in read_cache().get(digest, []) if _positive(m.get("output_ratio"))]
    return max(ratios) if ratios else None


def throughput(digest: str, given: float | None = None, mean_bytes: float | None = None) -> Throughput:
    """The throughput figures an estimate uses, in this order: ``given`` (by hand), the
    measurements cached for this spec digest, the benchmark's default.

    Measured figures give the expected value (the median of the cached measurements) and
    the range (their minimum times :data:`VCPU_SHARE_LOW`, their maximum).
    """
    measured = [m for m in read_cache().get(digest, []) if _positive(m.get("per_vcpu"))]
    peak = max((m.get("peak_worker_mb", 0.0) for m in measured), default=0.0)
    memory = (peak, f"measured: the largest of {len(measured)} cached measurement(s)") if peak > 0 else (
        DEFAULT_PEAK_WORKER_MB, f"default: {DEFAULT_BENCHMARK}, largest peak per worker")
    if given is not None:
        return Throughput(given, given, given, "given: throughput (`augment plan --throughput`)", *memory)
    if measured:
        rates = [m["per_vcpu"] for m in measured]
        last = measured[-1]
        source = (f"measured: median of {len(rates)} cached for spec {digest[:12]} "
                  f"(latest: {last.get('source', '?')}, {last.get('when', '?')})")
        return Throughput(statistics.median(rates), min(rates) * VCPU_SHARE_LOW, max(rates), source, *memory)
    size = "large" if mean_bytes is not None and mean_bytes >= LARGE_INPUT_BYTES else "small"
    value, what = DEFAULT_THROUGHPUT[size]
    low = DEFAULT_THROUGHPUT["large"][0] if mean_bytes is None else value
    source = (f"default: {DEFAULT_BENCHMARK}, {what}; not your spec or images: "
              "augment.plan.calibrate() or `augment plan --calibrate` measures them (see the README's 'Plan before "
              "you pay')")
    return Throughput(value, low * VCPU_SHARE_LOW, value, source, *memory)
