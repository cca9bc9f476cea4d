"""Plan before you pay: the time and cost of every way to run a job, before launch, and
the estimate checked against what happened after.

    >>> plan = augment.plan.estimate("light", "s3://data/train/")   # counts, downloads nothing
    >>> plan                        # a table in a notebook, the recommended row highlighted
    >>> plan.plot("plan.png")       # cost and wall time against instance count, per mode
    >>> augment.plan.compare(job)   # after the job: estimate beside actual, throughput stored

**The arithmetic.** ``N`` images, ``C`` copies each, so ``W = N x C`` outputs. An instance
turns out ``R`` outputs per second: the throughput per vCPU times its workers (one per
vCPU, fewer when memory says so), times the CPU baseline for burstable ``ml.t3`` types.
Every job pays a start-up ``S`` before its script runs (default 300 s, range 120-480 s:
users report 2 to 8 minutes), counted as billed (see ``assumptions["startup_billed"]``).
Cost is billed instance-seconds times the hourly price / 3600.

* ``standalone``: 1 job, 1 instance. ``wall = S + W / R``; ``billed = wall``.
* ``sharded``: 1 job, ``K`` instances, start-up paid once. ``ShardedByS3Key`` deals objects
  round-robin, so the largest share is ``ceil(N / K)`` images: ``wall = S + ceil(N / K) x C / R``;
  every instance is billed until the job ends: ``billed = K x wall``.
* ``batched``: ``J = ceil(N / B)`` jobs of one instance, each paying ``S``, at most ``M`` at
  once (``max_in_flight``, never above ``quota``), the next submitted as one ends. A full
  job takes ``d = S + B x C / R``, the last ``d_last = S + (N - (J - 1) B) x C / R``; they run in
  rounds of ``M``: ``wall = floor((J - 1) / M) x d + (d if (J - 1) mod M else d_last)``;
  ``billed = J x S + W / R``.
* ``prefetch``: the batched jobs, consumed in order by a training loop
  (:class:`augment.jobs.Prefetch`). The first ``A`` (``ahead``) start together; batch
  ``b + A`` is submitted when batch ``b`` is handed over, which is when its job is done and
  the consumer asks for it; the consumer spends ``consume_s`` per batch. ``wall`` is when
  the consumer is done with the last batch, ``stall_s`` its time spent waiting;
  ``billed`` as batched.

Low and high figures take the start-up range and the throughput range (low: the least
measured x 0.6 for a vCPU that shares its core, at the highest start-up; high: the most
measured, burstable types at full speed, at the lowest start-up). The recommendation is
the cheapest option within the deadline, the quota and the cost limit (ties: the faster).

**Where the numbers come from.** Throughput: ``throughput=`` by hand; else the figures
measured by :func:`calibrate` or stored by :func:`compare` for the spec's digest (a cache
file under ``$AUGMENT_CACHE_DIR``, default ``~/.cache/augment/``); else the repository's
benchmark, labelled as such. Prices: the AWS Price List API, or the dated table shipped in
the package (``prices.json``), its date and source shown. Instance hardware: the same table.

**What is counted.** ``input`` is counted as the job would take it: the spec's input filters
(with ``include``/``exclude``), the junk list and folder markers apply (see
:mod:`augment.plan._disk`). **Disk.** Each option shows the ML storage volume an instance
needs (its input share and its outputs, with a margin); launches ask for that volume, and its
price (per GB-month) is in the cost.

**Labels.** ``estimate(..., annotations=)`` (``augment plan --annotations``) plans a labelled
job: the annotations are opened and checked as the job checks them (a spec with ops that
cannot carry labels is refused, the file's problems are counted in ``assumptions["labels"]``),
their own files in the input are not counted, the throughput is the one measured with labels
(``calibrate(..., annotations=)``, or ``compare`` of a labelled job, store it apart from the
spec's plain figure) and the disk holds the outputs' label files (see
:mod:`augment.plan._labels`).
"""

from augment.plan._data import InstanceType, Price, format_duration, instance_type, parse_duration
from augment.plan._estimate import DEFAULT_COUNTS, DEFAULT_TYPES, estimate
from augment.plan._measure import Calibration, Comparison, calibrate, compare
from augment.plan._model import MODES, Timing, batched, prefetch, sharded, standalone
from augment.plan._plan import Option, Plan
from augment.plan._plot import check_plot_path

__all__ = [
    "DEFAULT_COUNTS", "DEFAULT_TYPES", "MODES", "Calibration", "Comparison", "InstanceType", "Option", "Plan",
    "Price", "Timing", "batched", "calibrate", "check_plot_path", "compare", "estimate", "format_duration",
    "instance_type",
    "parse_duration", "prefetch", "sharded", "standalone",
]  # fmt: skip
