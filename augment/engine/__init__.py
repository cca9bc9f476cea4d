"""Process many images: workers, outputs, manifest, summary, resume, graceful stop.

A package of one idea per module, the imports going downhill from :mod:`.job`:

* :mod:`augment.engine.job`: :func:`run_job` and :class:`JobOptions`, how a job runs.
* :mod:`augment.engine.claim`: the output folder's claim, what an earlier run did
  (resume), and the temporary files writers killed midway left.
* :mod:`augment.engine.pool`: the worker processes, their supervision, dying with the
  parent, and a stop (SIGTERM, Ctrl-C).
* :mod:`augment.engine.worker`: the work of one input, its copies made by
  :func:`augment.variant.make` and written.
* :mod:`augment.engine.summary`: the job's summary, versions and :class:`Wording`.

Output layout under the output directory::

    <rel dir>/<file name>.aug<copy>.<ext>   one augmented image per (input, copy)
    _augment/spec.yaml                      the canonical spec of the job
    _augment/manifest-<host>.jsonl          one JSON line per (input, copy)
    _augment/summary-<host>.json            counts, timings, versions, paths
    _augment/excluded-<host>.jsonl          files under the input that are not inputs, and why

The output name keeps the input's whole file name (extension included) and adds
``.aug<copy>.<ext>``, so it is a pure function of (relative path, copy, format):
``cats/chelsea.jpg`` -> ``cats/chelsea.jpg.aug0.jpg``. Reading a name from the right
recovers (path, copy, format), so two different outputs can never share a name, and
``chelsea.png`` and ``chelsea.jpg`` never overwrite each other.

With ``keep_original`` each input is also copied byte for byte as
``<name>.orig.<ext>`` (``ext`` from its detected format); the ``orig`` tag can never be
read as a copy index, so originals cannot collide with augmented outputs either.

Every image is written to a temporary file and renamed into place; its manifest
line is written only after the rename, so a line with ``"status": "ok"`` always points
at a complete file (see :mod:`augment.manifest`).

**Resume.** A job killed at any moment (SIGKILL included) is finished by running it
again with ``resume=True``: the torn manifest tail is cut off, stale temporary files
are removed, and exactly the (input, copy) pairs without a record are processed. As
outputs depend only on (spec, path, copy), the result equals an uninterrupted run
byte for byte, with one record per (input, copy). A resume with another spec, from
another input folder, or with other input filters (``--include``/``--exclude``), is
refused.

**Claim.** Before writing anything a job claims the output folder (see
:func:`_claim_output`): of two jobs with other specs, however close their starts, one
is refused, and a host's manifest is locked while its job runs.

**Inputs.** Every regular file under the input directory is an input, except those the
spec's ``input`` section (``--include``/``--exclude``) or :data:`~augment.spec.DEFAULT_EXCLUDES`
leaves out; each of those is listed, with the pattern that excluded it, in
``excluded-<host>.jsonl`` and counted in the summary (``excluded``): nothing is dropped
unseen.

**Stop.** SIGTERM (what ``StopProcessingJob`` sends) or SIGINT stops submitting work;
in-flight inputs finish and are recorded, the manifest is synced, and the job ends
with :class:`~augment.errors.JobStopped`. A second SIGINT (Ctrl-C) interrupts at once:
the workers are killed, the inputs in flight are abandoned (left for ``--resume``), the
manifest is synced, the summary says ``stopped``, and :class:`KeyboardInterrupt` is
raised with a message that says how to resume.
"""

from __future__ import annotations

from augment.cpus import default_workers
from augment.engine.claim import (
    _TEMP_WRITER,
    PIXEL_LIBRARIES,
    _alive,
    _cannot_write,
    _check_same_spec,
    _claim_output,
    _Previous,
    _previous_work,
    _remove_stale_temps,
    started_input_dir,
)
from augment.engine.job import JobOptions, run_job
from augment.engine.pool import MAX_CHUNK, _run_in_pool, _run_in_process, _Stop, chunk_size
from augment.engine.summary import DEFAULT_MAX_ERROR_RATE, PACKAGE_DIR, Summary, Wording, _write_summary, versions
from augment.engine.worker import ORIGINAL_EXTENSIONS, Result, Task, _failed, _Worker, output_name
from augment.images import atomic_write_bytes
from augment.locations import create_once
from augment.variant import OUT_OF_MEMORY

# with the private names that tests and benchmarks reach for, where they were before the split
__all__ = [
    "DEFAULT_MAX_ERROR_RATE", "MAX_CHUNK", "ORIGINAL_EXTENSIONS", "OUT_OF_MEMORY", "PACKAGE_DIR", "PIXEL_LIBRARIES",
    "_TEMP_WRITER", "JobOptions", "Result", "Summary", "Task", "Wording", "_Previous", "_Stop", "_Worker", "_alive",
    "_cannot_write", "_check_same_spec", "_claim_output", "_failed", "_previous_work", "_remove_stale_temps",
    "_run_in_pool", "_run_in_process", "_write_summary", "atomic_write_bytes", "chunk_size", "create_once",
    "default_workers", "output_name", "run_job", "started_input_dir", "versions",
]
